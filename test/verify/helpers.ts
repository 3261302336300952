import type { Action, AttributeValue, ObjectRef, PersonRef } from "../../src/model/types.js";
import type { VerifyRow } from "../../src/verify/pairs.js";

const ADD: Action = "add_relationships";

/** A row: person "id:42" or "email:a@b.c", object "1:acme" or "cio:abc". */
export function row(key: number, person: string, object: string, attributes?: Record<string, AttributeValue>, action: Action = ADD): VerifyRow {
  const [pk, pv] = person.split(":") as [PersonRef["key"], string];
  const [ot, ov] = object.split(":") as [string, string];
  const o: ObjectRef = ot === "cio" ? { cioObjectId: ov } : { typeId: ot, id: ov };
  const r: VerifyRow = { key, action, person: { key: pk, value: pv }, object: o };
  if (attributes !== undefined) r.attributes = attributes;
  return r;
}
