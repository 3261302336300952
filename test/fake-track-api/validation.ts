import { CIO_OBJECT_TYPE } from "./state.js";
import type { ObjectKey, PersonIdKey, PersonKeyValue } from "./state.js";

// Validation of one Track API v2 op, after the spec's schemas object_add_relationships,
// person_add_relationships, object_delete_relationships and person_delete_relationships
// (shared/customerio/track-openapi.json) and its "Track API limits" table.
// The limits are restated here on purpose rather than imported from src/: the fake must not
// share a wrong constant with the client it is testing.

/** `/batch` body limit, raw bytes (spec: "smaller than 500kb"; KB taken as 1,000 bytes). */
export const BATCH_LIMIT_BYTES = 500_000;
/** `/entity` body limit, and the limit of each op inside a batch (spec: "32kb or smaller"). */
export const OP_LIMIT_BYTES = 32_000;
/** Person id and object id (spec limits: "ID 150 bytes", "Object ID 150 bytes"). */
export const ID_LIMIT_BYTES = 150;
/** Attribute name (spec limits). */
export const ATTRIBUTE_NAME_LIMIT_BYTES = 150;
/** Attribute value (spec limits). */
export const ATTRIBUTE_VALUE_LIMIT_BYTES = 1_000;
/** Attributes per relationship (spec limits). */
export const ATTRIBUTES_LIMIT = 300;

/** One error as the Track API reports it (plus `batch_index` inside a 207). */
export interface OpError {
  reason: string;
  field: string;
  message: string;
}

/** One person–object pair carried by a valid op, with the attribute changes sent for it. */
export interface OpRelationship {
  object: ObjectKey;
  person: PersonKeyValue;
  attributes: Record<string, unknown>;
}

/** A valid relationship op, normalised to the pairs it carries. */
export interface ValidOp {
  type: "object" | "person";
  action: "add_relationships" | "delete_relationships";
  relationships: OpRelationship[];
}

/** The verdict on one op. */
export type OpVerdict = { ok: true; op: ValidOp } | { ok: false; error: OpError };

// Actions the spec lists for each op type that the fake does not model; they are refused as
// "unsupported" rather than silently accepted, because cio-rel never sends them and a stray one is a bug.
const UNMODELLED_ACTIONS: Record<"object" | "person", readonly string[]> = {
  person: ["identify", "delete", "event", "screen", "page", "add_device", "delete_device", "merge", "suppress", "unsuppress"],
  object: ["identify", "identify_anonymous", "delete"],
};
const RELATIONSHIP_ACTIONS = ["add_relationships", "delete_relationships"] as const;
// phone identifies the person of a person op only; an object's cio_relationships take id, email or cio_id (spec).
const PERSON_KEYS_OF_PERSON_OP: readonly PersonIdKey[] = ["id", "email", "cio_id", "phone"];
const PERSON_KEYS_IN_RELATIONSHIP: readonly PersonIdKey[] = ["id", "email", "cio_id"];
// The 150-byte limit is stated for ids; email and phone have their own formats and are not capped here.
const CAPPED_PERSON_KEYS: readonly PersonIdKey[] = ["id", "cio_id"];

class Invalid extends Error {
  constructor(
    readonly reason: string,
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const bytes = (s: string): number => Buffer.byteLength(s);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The size the fake measures an op by: UTF-8 bytes of its compact JSON (how cio-rel serialises it too). */
export function opBytes(op: unknown): number {
  return bytes(JSON.stringify(op) ?? "");
}

/** Validates one op of a batch or an `/entity` body. */
export function validateOp(op: unknown): OpVerdict {
  try {
    return { ok: true, op: parseOp(op) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { reason: e.reason, field: e.field, message: e.message } };
    throw e;
  }
}

function parseOp(op: unknown): ValidOp {
  if (!isRecord(op)) throw new Invalid("invalid", "", "an operation must be a JSON object");
  const size = opBytes(op);
  if (size > OP_LIMIT_BYTES) throw new Invalid("too_large", "", `operation is ${size} bytes; the limit is ${OP_LIMIT_BYTES}`);

  const type = op["type"];
  if (type === undefined) throw new Invalid("required", "type", "type is required");
  if (type !== "object" && type !== "person") throw new Invalid("invalid", "type", `unknown type ${JSON.stringify(type)}`);

  const action = op["action"];
  if (action === undefined) throw new Invalid("required", "action", "action is required");
  if (typeof action !== "string") throw new Invalid("invalid", "action", "action must be a string");
  if (UNMODELLED_ACTIONS[type].includes(action)) {
    throw new Invalid("unsupported", "action", `the fake Track API models only relationship actions, not ${action}`);
  }
  if (!(RELATIONSHIP_ACTIONS as readonly string[]).includes(action)) {
    throw new Invalid("invalid", "action", `unknown action ${JSON.stringify(action)} for type ${type}`);
  }

  const rels = op["cio_relationships"];
  if (rels === undefined) throw new Invalid("required", "cio_relationships", "cio_relationships is required");
  if (!Array.isArray(rels)) throw new Invalid("invalid", "cio_relationships", "cio_relationships must be an array");
  if (rels.length === 0) throw new Invalid("required", "cio_relationships", "cio_relationships must not be empty");

  const relationships: OpRelationship[] = [];
  if (type === "object") {
    const object = parseObjectIdentifiers(op["identifiers"], "identifiers");
    for (const item of rels) {
      const { identifiers, attributes } = parseItem(item);
      relationships.push({ object, person: parsePersonIdentifiers(identifiers, PERSON_KEYS_IN_RELATIONSHIP), attributes });
    }
  } else {
    const person = parsePersonIdentifiers(op["identifiers"], PERSON_KEYS_OF_PERSON_OP, "identifiers");
    for (const item of rels) {
      const { identifiers, attributes } = parseItem(item);
      relationships.push({ object: parseObjectIdentifiers(identifiers), person, attributes });
    }
  }
  return { type, action: action as ValidOp["action"], relationships };
}

// Errors inside cio_relationships name only the field "cio_relationships": the real API does not
// say which relationship of a multi-relationship op was bad (API.md), and a client must not rely on it.
const IN_RELATIONSHIPS = "cio_relationships";

function parseItem(item: unknown): { identifiers: unknown; attributes: Record<string, unknown> } {
  if (!isRecord(item)) throw new Invalid("invalid", IN_RELATIONSHIPS, "each relationship must be a JSON object");
  const attrs = item["relationship_attributes"];
  if (attrs === undefined) return { identifiers: item["identifiers"], attributes: {} };
  if (!isRecord(attrs)) throw new Invalid("invalid", IN_RELATIONSHIPS, "relationship_attributes must be an object");
  const names = Object.keys(attrs);
  if (names.length > ATTRIBUTES_LIMIT) {
    throw new Invalid("too_large", IN_RELATIONSHIPS, `${names.length} relationship attributes; the limit is ${ATTRIBUTES_LIMIT}`);
  }
  for (const [name, value] of Object.entries(attrs)) {
    if (bytes(name) > ATTRIBUTE_NAME_LIMIT_BYTES) {
      throw new Invalid("too_long", IN_RELATIONSHIPS, `attribute name is longer than ${ATTRIBUTE_NAME_LIMIT_BYTES} bytes`);
    }
    // API.md: a flat map of strings, numbers and booleans; null removes.
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
      throw new Invalid("invalid", IN_RELATIONSHIPS, `attribute ${JSON.stringify(name)} must be a string, number, boolean or null`);
    }
    if (
      (typeof value === "string" || typeof value === "number" || typeof value === "boolean") &&
      bytes(String(value)) > ATTRIBUTE_VALUE_LIMIT_BYTES
    ) {
      throw new Invalid("too_long", IN_RELATIONSHIPS, `attribute ${JSON.stringify(name)} is longer than ${ATTRIBUTE_VALUE_LIMIT_BYTES} bytes`);
    }
  }
  return { identifiers: item["identifiers"], attributes: attrs };
}

function parseObjectIdentifiers(ids: unknown, field = IN_RELATIONSHIPS): ObjectKey {
  if (ids === undefined) throw new Invalid("required", field, "object identifiers are required");
  if (!isRecord(ids)) throw new Invalid("invalid", field, "object identifiers must be an object");
  const keys = Object.keys(ids).sort().join(",");
  if (keys === "cio_object_id") {
    return { objectTypeId: CIO_OBJECT_TYPE, objectId: idString(ids["cio_object_id"], "cio_object_id", field) };
  }
  if (keys !== "object_id,object_type_id") {
    throw new Invalid("invalid", field, "object identifiers must be {object_type_id, object_id} or {cio_object_id}");
  }
  const typeId = ids["object_type_id"];
  // Spec: "string-formatted integers that begin at 1".
  if (typeof typeId !== "string" || !/^[1-9][0-9]*$/.test(typeId)) {
    throw new Invalid("invalid", field, "object_type_id must be a string holding a positive integer");
  }
  return { objectTypeId: typeId, objectId: idString(ids["object_id"], "object_id", field) };
}

function parsePersonIdentifiers(ids: unknown, allowed: readonly PersonIdKey[], field = IN_RELATIONSHIPS): PersonKeyValue {
  if (ids === undefined) throw new Invalid("required", field, "person identifiers are required");
  if (!isRecord(ids)) throw new Invalid("invalid", field, "person identifiers must be an object");
  const keys = Object.keys(ids);
  const [key] = keys;
  if (keys.length !== 1 || key === undefined) {
    throw new Invalid("invalid", field, `exactly one person identifier is required, got ${keys.length}`);
  }
  if (!(allowed as readonly string[]).includes(key)) {
    throw new Invalid("invalid", field, `person identifier must be one of ${allowed.join(", ")}, not ${key}`);
  }
  const value = ids[key];
  if (typeof value !== "string" || value === "") throw new Invalid("invalid", field, `${key} must be a non-empty string`);
  if (CAPPED_PERSON_KEYS.includes(key as PersonIdKey) && bytes(value) > ID_LIMIT_BYTES) {
    throw new Invalid("too_long", field, `${key} is longer than ${ID_LIMIT_BYTES} bytes`);
  }
  return { key: key as PersonIdKey, value };
}

function idString(value: unknown, name: string, field: string): string {
  if (typeof value !== "string" || value === "") throw new Invalid("invalid", field, `${name} must be a non-empty string`);
  if (bytes(value) > ID_LIMIT_BYTES) throw new Invalid("too_long", field, `${name} is longer than ${ID_LIMIT_BYTES} bytes`);
  return value;
}
