// --snapshot FILE and `cio-rel undo --snapshot FILE` (issue 13): what a sync read before applying, written
// so that it reads back as a desired state. Pure: lines in, lines out.
//
// Format (NDJSON): a header line, then one line per scope member — every one, also those with no
// relationships, so that undo empties what was empty:
//   {"cioRelSnapshot":1,"scope":"object","personKey":"id","objectTypes":["1"],"takenAt":"2026-12-02T07:00:00.000Z"}
//   {"object":{"object_type_id":"1","object_id":"acme"},"people":[{"cio_id":"c1","id":"42","email":null}]}
// or, with --scope person (person listings carry the relationship attributes):
//   {"person":{"id":"42"},"objects":[{"object_type_id":"1","object_id":"acme","cio_object_id":null,"attributes":{"role":"admin"}}]}
import type { AttributeValue, ObjectRef, PersonKey, PersonRef } from "../model/types.js";
import type { CurrentObject, CurrentPerson, DesiredPair, ScopeKind } from "./types.js";

/** The snapshot format's version: the header's `cioRelSnapshot`. */
export const SNAPSHOT_VERSION = 1;

/** The header line's content. */
export interface SnapshotHeader {
  scope: ScopeKind;
  /** The identifier the sync matched people on (informative: undo of an object scope matches on cio_id). */
  personKey: PersonKey;
  /** Object types in scope (person scope: only these of a person's objects were read and are restored). */
  objectTypes: string[];
  takenAt: string;
}

/** A snapshot read back. */
export type Snapshot = SnapshotHeader &
  (
    | { scope: "object"; objects: Array<{ object: ObjectRef; people: CurrentPerson[]; line: number }> }
    | { scope: "person"; people: Array<{ person: PersonRef; objects: CurrentObject[]; line: number }> }
  );

const objectJson = (o: ObjectRef): Record<string, string> =>
  "cioObjectId" in o ? { cio_object_id: o.cioObjectId } : { object_type_id: o.typeId, object_id: o.id };

/** The header line (no newline). */
export function snapshotHeaderLine(h: SnapshotHeader): string {
  return JSON.stringify({ cioRelSnapshot: SNAPSHOT_VERSION, scope: h.scope, personKey: h.personKey, objectTypes: h.objectTypes, takenAt: h.takenAt });
}

/** One scope object and the people Customer.io listed for it (no newline). */
export function snapshotObjectLine(object: ObjectRef, people: readonly CurrentPerson[]): string {
  return JSON.stringify({ object: objectJson(object), people: people.map((p) => ({ cio_id: p.cio_id, id: p.id, email: p.email })) });
}

/** One scope person and the objects (of the scope's types) Customer.io listed for them (no newline). */
export function snapshotPersonLine(person: PersonRef, objects: readonly CurrentObject[]): string {
  return JSON.stringify({ person: { [person.key]: person.value }, objects });
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null | undefined => (typeof v === "string" ? v : v === null ? null : undefined);

/** Reads a snapshot line by line; each call returns a problem text (the caller adds file:line) or undefined. */
export function createSnapshotParser(): { line(text: string, n: number): string | undefined; result(): Snapshot | { problem: string } } {
  let header: SnapshotHeader | undefined;
  const objects: Array<{ object: ObjectRef; people: CurrentPerson[]; line: number }> = [];
  const people: Array<{ person: PersonRef; objects: CurrentObject[]; line: number }> = [];
  return {
    line(text, n) {
      if (text.trim() === "") return undefined;
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        return "not JSON: a snapshot is the NDJSON file `cio-rel sync --snapshot` writes";
      }
      if (!isRecord(doc)) return "not a snapshot line (an object was expected)";
      if (header === undefined) {
        if (doc["cioRelSnapshot"] !== SNAPSHOT_VERSION)
          return `not a cio-rel snapshot (version ${SNAPSHOT_VERSION} header expected on the first line)`;
        const scope = doc["scope"];
        const key = doc["personKey"];
        const types = doc["objectTypes"];
        if (scope !== "object" && scope !== "person") return 'scope must be "object" or "person"';
        if (key !== "id" && key !== "email" && key !== "cio_id") return "personKey must be id, email or cio_id";
        if (!Array.isArray(types) || !types.every((t) => typeof t === "string")) return "objectTypes must be a list of type ids";
        header = { scope, personKey: key, objectTypes: types, takenAt: typeof doc["takenAt"] === "string" ? doc["takenAt"] : "" };
        return undefined;
      }
      if (header.scope === "object") {
        const o = doc["object"];
        let object: ObjectRef;
        if (isRecord(o) && typeof o["cio_object_id"] === "string") object = { cioObjectId: o["cio_object_id"] };
        else if (isRecord(o) && typeof o["object_type_id"] === "string" && typeof o["object_id"] === "string") {
          object = { typeId: o["object_type_id"], id: o["object_id"] };
        } else return "object must be {object_type_id, object_id} or {cio_object_id}";
        const list = doc["people"];
        if (!Array.isArray(list)) return "people must be a list";
        const ps: CurrentPerson[] = [];
        for (const p of list) {
          const cio = isRecord(p) ? str(p["cio_id"]) : undefined;
          if (!isRecord(p) || typeof cio !== "string" || cio === "") return "every person needs a cio_id";
          ps.push({ cio_id: cio, id: str(p["id"]) ?? null, email: str(p["email"]) ?? null });
        }
        objects.push({ object, people: ps, line: n });
        return undefined;
      }
      const p = doc["person"];
      const keys = isRecord(p) ? Object.keys(p) : [];
      const k = keys[0];
      if (!isRecord(p) || keys.length !== 1 || (k !== "id" && k !== "email" && k !== "cio_id") || typeof p[k] !== "string") {
        return "person must be exactly one of id, email or cio_id";
      }
      const list = doc["objects"];
      if (!Array.isArray(list)) return "objects must be a list";
      const os: CurrentObject[] = [];
      for (const o of list) {
        if (!isRecord(o) || typeof o["object_type_id"] !== "string" || typeof o["object_id"] !== "string")
          return "every object needs object_type_id and object_id";
        os.push({
          object_type_id: o["object_type_id"],
          object_id: o["object_id"],
          cio_object_id: typeof o["cio_object_id"] === "string" ? o["cio_object_id"] : null,
          attributes: isRecord(o["attributes"]) ? o["attributes"] : {},
        });
      }
      people.push({ person: { key: k, value: p[k] }, objects: os, line: n });
      return undefined;
    },
    result() {
      if (header === undefined) return { problem: "empty: no snapshot header" };
      return header.scope === "object" ? { ...header, scope: "object", objects } : { ...header, scope: "person", people };
    },
  };
}

/** Attribute values a relationship can be given back: scalars as they were; anything else as JSON text. */
function restorable(attrs: Record<string, unknown>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(attrs)) {
    out[k] = v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? v : JSON.stringify(v);
  }
  return out;
}

/**
 * A snapshot as the desired state of a sync (undo). Object scope: people are matched and addressed by
 * cio_id, which every listed person has, so nobody is unmatchable. Person scope: attributes restored exactly.
 */
export function desiredOfSnapshot(s: Snapshot): { desired: DesiredPair[]; personKey: PersonKey } {
  const desired: DesiredPair[] = [];
  if (s.scope === "object") {
    for (const { object, people, line } of s.objects) {
      for (const p of people) desired.push({ person: { key: "cio_id", value: p.cio_id }, object, line });
    }
    return { desired, personKey: "cio_id" };
  }
  for (const { person, objects, line } of s.people) {
    for (const o of objects) {
      const pair: DesiredPair = { person, object: { typeId: o.object_type_id, id: o.object_id }, line };
      if (Object.keys(o.attributes).length > 0) pair.attributes = restorable(o.attributes);
      desired.push(pair);
    }
  }
  return { desired, personKey: s.personKey };
}
