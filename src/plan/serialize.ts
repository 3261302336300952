import type { Action, AttributeValue, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import type { BodyEntry } from "./packed-batch.js";
import type { Batch, Operation } from "./types.js";

// The exact JSON cio-rel sends. Built from pieces so the packer can count bytes as it goes
// (op = head + rel,rel,... + OP_TAIL; body = BATCH_HEAD + op,op,... + BATCH_TAIL), and so that
// a dry run's --out file is byte for byte what the sender POSTs (issue 2).

/** Opens a `/api/v2/batch` body. */
export const BATCH_HEAD = '{"batch":[';
/** Closes a `/api/v2/batch` body. */
export const BATCH_TAIL = "]}";
/** Closes an operation. */
export const OP_TAIL = "]}";

/** `{"object_type_id":..,"object_id":..}` or `{"cio_object_id":..}`. */
export function objectIdentifiersJson(o: ObjectRef): string {
  return "cioObjectId" in o
    ? `{"cio_object_id":${JSON.stringify(o.cioObjectId)}}`
    : `{"object_type_id":${JSON.stringify(o.typeId)},"object_id":${JSON.stringify(o.id)}}`;
}

/** `{"id":..}`, `{"email":..}` or `{"cio_id":..}`: exactly one person identifier (API.md). */
export function personIdentifiersJson(p: PersonRef): string {
  return PERSON_OPEN[p.key] + JSON.stringify(p.value) + "}";
}

// The constant parts of person identifiers, so the per-relationship work is one JSON.stringify of
// the value (this runs once per input row; a million rows per run is the expected size).
const PERSON_OPEN: Readonly<Record<PersonRef["key"], string>> = { id: '{"id":', email: '{"email":', cio_id: '{"cio_id":' };
const REL_PERSON_OPEN: Readonly<Record<PersonRef["key"], string>> = {
  id: '{"identifiers":{"id":',
  email: '{"identifiers":{"email":',
  cio_id: '{"identifiers":{"cio_id":',
};

/** Whether a map has any key (without Object.keys' array). */
function isEmpty(map: object): boolean {
  for (const _ in map) return false;
  return true;
}

// The mapper shares one attributes object among the rows that carry the same values (a role column
// holds few of them), so their JSON is worth computing once per object rather than once per row.
const attributesJsonCache = new WeakMap<object, string>();
const attributesTailCache = new WeakMap<object, string>();

/** JSON of a relationship's attributes, computed once per attributes object. */
export function attributesJson(attributes: object): string {
  let json = attributesJsonCache.get(attributes);
  if (json === undefined) {
    json = JSON.stringify(attributes);
    attributesJsonCache.set(attributes, json);
  }
  return json;
}

/** `,"relationship_attributes":{...}}` closing a relationship entry, built once per attributes object. */
function attributesTail(attributes: object): string {
  let tail = attributesTailCache.get(attributes);
  if (tail === undefined) {
    tail = `,"relationship_attributes":${attributesJson(attributes)}}`;
    attributesTailCache.set(attributes, tail);
  }
  return tail;
}

/** Everything of an operation before its first relationship. */
export function operationHead(op: Pick<Operation, "type" | "action"> & { object?: ObjectRef; person?: PersonRef }): string {
  const ids = op.type === "object" ? objectIdentifiersJson(op.object as ObjectRef) : personIdentifiersJson(op.person as PersonRef);
  return `{"type":"${op.type}","identifiers":${ids},"action":"${op.action}","cio_relationships":[`;
}

/** The attributes a relationship entry carries: none when empty, and none for delete_relationships, where they mean nothing (API.md). */
function sentAttributes(action: Action, rel: Relationship): object | undefined {
  const a = rel.attributes;
  return action === "add_relationships" && a !== undefined && !isEmpty(a) ? a : undefined;
}

/** One entry of `cio_relationships`: the other side's identifiers, plus attributes when adding. */
export function relationshipJson(opType: "object" | "person", action: Action, rel: Relationship): string {
  const attributes = sentAttributes(action, rel);
  const tail = attributes === undefined ? "}" : attributesTail(attributes);
  if (opType === "object") return REL_PERSON_OPEN[rel.person.key] + JSON.stringify(rel.person.value) + "}" + tail;
  return `{"identifiers":${objectIdentifiersJson(rel.object)}${tail}`;
}

// writeRelationship's constant bytes: before the value, and after it (the entry's close, with its attributes).
const REL_PERSON_OPEN_BYTES: Readonly<Record<PersonRef["key"], Uint8Array>> = {
  id: Buffer.from(`${REL_PERSON_OPEN.id}"`),
  email: Buffer.from(`${REL_PERSON_OPEN.email}"`),
  cio_id: Buffer.from(`${REL_PERSON_OPEN.cio_id}"`),
};
const CLOSE_BYTES = Buffer.from('"}}');
const closeBytesCache = new WeakMap<object, Uint8Array>();
const QUOTE = 0x22;

/** `"}` and the tail of an entry that sends these attributes (the close alone when they are empty), once per attributes object. */
function closeBytes(attributes: object): Uint8Array {
  let bytes = closeBytesCache.get(attributes);
  if (bytes === undefined) {
    bytes = isEmpty(attributes) ? CLOSE_BYTES : Buffer.from(`"}${attributesTail(attributes)}`);
    closeBytesCache.set(attributes, bytes);
  }
  return bytes;
}

/**
 * relationshipJson's bytes written straight into `buf` at `at` (issue 16: no strings per relationship), for the
 * usual case — an operation of type "object" whose person value is printable ASCII with nothing JSON escapes —
 * when they take at most `limit` bytes; else -1 and nothing is promised about buf (use relationshipJson).
 */
export function writeRelationship(opType: "object" | "person", action: Action, rel: Relationship, buf: Buffer, at: number, limit: number): number {
  if (opType !== "object") return -1;
  const value = rel.person.value;
  // sentAttributes, with the emptiness check cached alongside the bytes.
  const close = action !== "add_relationships" || rel.attributes === undefined ? CLOSE_BYTES : closeBytes(rel.attributes);
  const open = REL_PERSON_OPEN_BYTES[rel.person.key];
  const n = value.length;
  if (open.length + n + close.length > limit) return -1;
  // TypedArray set copies the constant parts: packing 1M rows with a role took ~100 ms this way, ~160 ms by a byte loop.
  buf.set(open, at);
  let p = at + open.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    // JSON.stringify escapes control characters, the quote and the backslash; non-ASCII takes UTF-8.
    if (c < 0x20 || c >= 0x80 || c === QUOTE || c === 0x5c) return -1;
    buf[p++] = c;
  }
  buf.set(close, p);
  return p + close.length - at;
}

/** The full JSON of one operation. */
export function operationJson(op: Operation): string {
  const parts = op.relationships.map((r) => relationshipJson(op.type, op.action, r));
  return operationHead(op) + parts.join(",") + OP_TAIL;
}

/** A batch of the given operations, with its exact body and byte count. */
export function makeBatch(seq: number, operations: Operation[]): Batch {
  const body = Buffer.from(BATCH_HEAD + operations.map(operationJson).join(",") + BATCH_TAIL);
  return { seq, operations, body, bytes: body.length };
}

/** The rows (Row.index) a batch carries, in operation order. */
export function batchRows(batch: Pick<Batch, "operations">): number[] {
  const rows: number[] = [];
  for (const op of batch.operations) for (const r of op.relationships) rows.push(r.index);
  return rows;
}

/** A `cio_relationships` entry as this module writes it. */
interface EntryJson {
  identifiers: Record<string, string>;
  relationship_attributes?: Record<string, AttributeValue>;
}

/**
 * The relationships of a body this module wrote, per operation, as they were sent (issue 16: a batch in flight keeps
 * its body, not its rows; see packed-batch.ts): each entry's identifiers and attributes.
 */
export function readBody(body: Buffer): BodyEntry[][] {
  const parsed = JSON.parse(body.toString("utf8")) as { batch: { cio_relationships: EntryJson[] }[] };
  return parsed.batch.map((op) => op.cio_relationships.map(readEntry));
}

/** One entry: a person's identifiers (id, email or cio_id) or an object's (type and id, or cio_object_id). */
function readEntry(e: EntryJson): BodyEntry {
  const ids = e.identifiers;
  let other: PersonRef | ObjectRef;
  if (ids.cio_object_id !== undefined) other = { cioObjectId: ids.cio_object_id };
  else if (ids.object_type_id !== undefined) other = { typeId: ids.object_type_id, id: ids.object_id ?? "" };
  else if (ids.id !== undefined) other = { key: "id", value: ids.id };
  else if (ids.email !== undefined) other = { key: "email", value: ids.email };
  else other = { key: "cio_id", value: ids.cio_id ?? "" };
  return e.relationship_attributes === undefined ? { other } : { other, attributes: e.relationship_attributes };
}
