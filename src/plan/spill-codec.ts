import { JsonNumber, type Row } from "../input/types.js";
import type { AttributeValue, ObjectRef, PersonKey, Relationship } from "../model/types.js";

// The compact record a spilled relationship becomes in a temporary file (issue 16): everything settlement
// needs — Row.index, line, person, object, attributes — and, when the failures file is asked for, the input
// row's fields, so that no map of rows waiting for their outcome grows with the input. Binary rather than
// JSON: a record costs one Buffer.write per string to encode and one toString per string to decode.
//
//   u32 index | u32 line | u8 flags | [u32 attributes id] | strings, each u32 byte length + UTF-8:
//   person value, then object id (typed: type id, id; else cio_object_id), then attributes JSON, row JSON
//   flags: bits 0-1 person key (PERSON_KEY_CODES), bit 2 cio_object_id, bit 3 attributes JSON, bit 4 row,
//          bit 5 excluded (--resume settled it: planned for dedupe, then dropped), bit 6 attributes id
// Attributes are usually few distinct values (a role column): an AttributeTable gives each distinct JSON an id
// that the record carries instead of the JSON, up to a cap; past it the JSON goes in the record.

/** Person keys by their code in a record's flags. */
export const PERSON_KEY_CODES: readonly PersonKey[] = ["id", "email", "cio_id"];
/** Flag: the object is a cio_object_id (one string), else a type id and an id (two). */
export const CIO_OBJECT = 4;
/** Flag: the record carries its attributes' JSON. */
export const HAS_ATTRIBUTES = 8;
/** Flag: the record carries its input row's JSON. */
export const HAS_ROW = 16;
/** Flag: --resume settled the row. */
export const EXCLUDED = 32;
/** Flag: the record carries an AttributeTable id (u32 after the head). */
export const ATTRIBUTES_ID = 64;
/** Bytes before a record's first string (its attributes id, when it has one, comes first). */
export const HEAD_BYTES = 9;
/** Strings up to this many UTF-16 units are written by a JS loop when ASCII (a Buffer.write call costs more). */
const SHORT = 48;

/** Distinct attribute JSON of a spill, by id (at most `cap` of them): each read back as one shared object. */
export class AttributeTable {
  readonly #ids = new Map<string, number>();
  readonly #json: string[] = [];
  readonly #objects: (Record<string, AttributeValue> | undefined)[] = [];
  constructor(readonly cap = 4096) {}

  /** The id of this JSON, or -1 once the table is full. */
  idOf(json: string): number {
    let id = this.#ids.get(json);
    if (id === undefined) {
      if (this.#json.length >= this.cap) return -1;
      id = this.#json.length;
      this.#ids.set(json, id);
      this.#json.push(json);
    }
    return id;
  }

  /** The attributes object of an id (one object per id, so the serialiser's per-object cache works). */
  objectOf(id: number): Record<string, AttributeValue> {
    let a = this.#objects[id];
    if (a === undefined) {
      const json = this.#json[id];
      if (json === undefined) throw new Error(`internal error: no attributes with id ${id}`);
      a = JSON.parse(json) as Record<string, AttributeValue>;
      this.#objects[id] = a;
    }
    return a;
  }
}

/** What a record carries besides the relationship itself: the attributes' and row's JSON, already made. */
export interface SpillExtras {
  attributesJson: string | undefined;
  /** The attributes' AttributeTable id, when they have one (the JSON is then not written). */
  attributesId?: number | undefined;
  rowJson: string | undefined;
  /** The resumed journal settled the row: it takes part in dedupe, then is dropped (asked once, when it is spilled). */
  excluded?: boolean;
}

/** Upper bound of a record's encoded size (UTF-8 takes at most 3 bytes per UTF-16 unit). */
export function recordBound(rel: Relationship, extras: SpillExtras): number {
  const o = rel.object;
  let n = HEAD_BYTES + 4 * 6 + 3 * rel.person.value.length;
  n += "cioObjectId" in o ? 3 * o.cioObjectId.length : 3 * (o.typeId.length + o.id.length);
  if (extras.attributesJson !== undefined && extras.attributesId === undefined) n += 3 * extras.attributesJson.length;
  if (extras.rowJson !== undefined) n += 3 * extras.rowJson.length;
  return n;
}

/** Writes one record at `pos` (the caller made room for recordBound bytes); returns the position after it. */
export function encodeRecord(buf: Buffer, pos: number, rel: Relationship, extras: SpillExtras): number {
  const o = rel.object;
  const cio = "cioObjectId" in o;
  let flags = PERSON_KEY_CODES.indexOf(rel.person.key);
  if (cio) flags |= CIO_OBJECT;
  const id = extras.attributesId;
  if (id !== undefined) flags |= ATTRIBUTES_ID;
  else if (extras.attributesJson !== undefined) flags |= HAS_ATTRIBUTES;
  if (extras.rowJson !== undefined) flags |= HAS_ROW;
  if (extras.excluded === true) flags |= EXCLUDED;
  putU32(buf, pos, rel.index);
  putU32(buf, pos + 4, rel.line);
  buf[pos + 8] = flags;
  let p = pos + HEAD_BYTES;
  if (id !== undefined) {
    putU32(buf, p, id);
    p += 4;
  }
  p = writeString(buf, p, rel.person.value);
  if (cio) p = writeString(buf, p, o.cioObjectId);
  else p = writeString(buf, writeString(buf, p, o.typeId), o.id);
  if (id === undefined && extras.attributesJson !== undefined) p = writeString(buf, p, extras.attributesJson);
  if (extras.rowJson !== undefined) p = writeString(buf, p, extras.rowJson);
  return p;
}

/** A little-endian u32 without writeUInt32LE's argument checks (the caller made room). */
function putU32(buf: Buffer, p: number, n: number): void {
  buf[p] = n & 0xff;
  buf[p + 1] = (n >>> 8) & 0xff;
  buf[p + 2] = (n >>> 16) & 0xff;
  buf[p + 3] = n >>> 24;
}

/** A length-prefixed UTF-8 string; short ASCII strings (identifiers, mostly) by a JS loop, the rest by Buffer.write. */
function writeString(buf: Buffer, pos: number, s: string): number {
  const len = s.length;
  let n = -1;
  if (len <= SHORT) {
    const at = pos + 4;
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === len) n = len;
  }
  if (n < 0) n = buf.write(s, pos + 4, "utf8");
  putU32(buf, pos, n);
  return pos + 4 + n;
}

/** Node's Buffer has utf8Slice (what toString("utf8", ...) calls after checking its arguments); @types/node does not say so. */
export type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string };

/** A little-endian u32 without readUInt32LE's argument checks (the caller has checked the bounds). */
export function u32(buf: Buffer, p: number): number {
  return ((buf[p] as number) | ((buf[p + 1] as number) << 8) | ((buf[p + 2] as number) << 16)) + (buf[p + 3] as number) * 0x1000000;
}

/**
 * The length-prefixed string at `p`. Short ASCII strings (identifiers, mostly) are made by String.fromCharCode with
 * fixed arities, about three times faster than a utf8Slice call here (measured); the rest by utf8Slice.
 */
export function readString(buf: Buffer, p: number): string {
  const n = u32(buf, p);
  const s = p + 4;
  if (n <= 12) {
    let ascii = true;
    for (let i = 0; i < n; i++) if ((buf[s + i] as number) >= 0x80) ascii = false;
    if (ascii) return shortAscii(buf, s, n);
  }
  return (buf as Utf8Sliceable).utf8Slice(s, s + n);
}

/** Byte `i` of `b` (a module-level function: a helper closing over a buffer was an object per call). */
function at(b: Buffer, i: number): number {
  return b[i] as number;
}

// A switch of direct String.fromCharCode calls: half the time of fromCharCode.apply over a reused array, and an
// object per string less than a closure over (b, s), ~80 MB a million rows (issue 16).
function shortAscii(b: Buffer, s: number, n: number): string {
  const f = String.fromCharCode;
  switch (n) {
    case 0:
      return "";
    case 1:
      return f(at(b, s));
    case 2:
      return f(at(b, s), at(b, s + 1));
    case 3:
      return f(at(b, s), at(b, s + 1), at(b, s + 2));
    case 4:
      return f(at(b, s), at(b, s + 1), at(b, s + 2), at(b, s + 3));
    case 5:
      return f(at(b, s), at(b, s + 1), at(b, s + 2), at(b, s + 3), at(b, s + 4));
    case 6:
      return f(at(b, s), at(b, s + 1), at(b, s + 2), at(b, s + 3), at(b, s + 4), at(b, s + 5));
    case 7:
      return f(at(b, s), at(b, s + 1), at(b, s + 2), at(b, s + 3), at(b, s + 4), at(b, s + 5), at(b, s + 6));
    case 8:
      return f(at(b, s), at(b, s + 1), at(b, s + 2), at(b, s + 3), at(b, s + 4), at(b, s + 5), at(b, s + 6), at(b, s + 7));
    case 9:
      return f(at(b, s), at(b, s + 1), at(b, s + 2), at(b, s + 3), at(b, s + 4), at(b, s + 5), at(b, s + 6), at(b, s + 7), at(b, s + 8));
    case 10:
      return f(
        at(b, s),
        at(b, s + 1),
        at(b, s + 2),
        at(b, s + 3),
        at(b, s + 4),
        at(b, s + 5),
        at(b, s + 6),
        at(b, s + 7),
        at(b, s + 8),
        at(b, s + 9),
      );
    case 11:
      return f(
        at(b, s),
        at(b, s + 1),
        at(b, s + 2),
        at(b, s + 3),
        at(b, s + 4),
        at(b, s + 5),
        at(b, s + 6),
        at(b, s + 7),
        at(b, s + 8),
        at(b, s + 9),
        at(b, s + 10),
      );
    default:
      return f(
        at(b, s),
        at(b, s + 1),
        at(b, s + 2),
        at(b, s + 3),
        at(b, s + 4),
        at(b, s + 5),
        at(b, s + 6),
        at(b, s + 7),
        at(b, s + 8),
        at(b, s + 9),
        at(b, s + 10),
        at(b, s + 11),
      );
  }
}

/** A record read back: the relationship, and the input row when one was written. */
export interface DecodedRecord {
  rel: Relationship;
  row: Row | undefined;
  excluded: boolean;
}

/**
 * Reads whole records from buf[start, end) and hands each to `onRecord`; returns where the first incomplete
 * record starts (end when all were whole). `attributesOf` turns attributes JSON into the object to send
 * (sharing one object per distinct JSON keeps the serialiser's per-object cache working); `table` holds the
 * attributes records carry by id.
 */
export function decodeRecords(
  buf: Buffer,
  start: number,
  end: number,
  attributesOf: (json: string) => Record<string, AttributeValue>,
  table: AttributeTable,
  onRecord: (r: DecodedRecord) => void,
): number {
  let pos = start;
  for (;;) {
    if (end - pos < HEAD_BYTES) return pos;
    const flags = buf[pos + 8] as number;
    const strings = 2 + ((flags & CIO_OBJECT) !== 0 ? 0 : 1) + ((flags & HAS_ATTRIBUTES) !== 0 ? 1 : 0) + ((flags & HAS_ROW) !== 0 ? 1 : 0);
    // Whole? Walk the lengths before decoding anything.
    let p = pos + HEAD_BYTES;
    const byId = (flags & ATTRIBUTES_ID) !== 0;
    if (byId) {
      if (end - p < 4) return pos;
      p += 4;
    }
    for (let i = 0; i < strings; i++) {
      if (end - p < 4) return pos;
      p += 4 + u32(buf, p);
      if (p > end) return pos;
    }
    const index = u32(buf, pos);
    const line = u32(buf, pos + 4);
    p = pos + HEAD_BYTES + (byId ? 4 : 0);
    const read = (): string => {
      const n = u32(buf, p);
      const s = (buf as Utf8Sliceable).utf8Slice(p + 4, p + 4 + n);
      p += 4 + n;
      return s;
    };
    const person = { key: PERSON_KEY_CODES[flags & 3] as PersonKey, value: read() };
    let object: ObjectRef;
    if ((flags & CIO_OBJECT) !== 0) object = { cioObjectId: read() };
    else {
      const typeId = read();
      object = { typeId, id: read() };
    }
    const rel: Relationship = { index, line, person, object };
    if (byId) rel.attributes = table.objectOf(u32(buf, pos + HEAD_BYTES));
    else if ((flags & HAS_ATTRIBUTES) !== 0) rel.attributes = attributesOf(read());
    const row = (flags & HAS_ROW) !== 0 ? { index, line, fields: parseRowFields(read()) } : undefined;
    onRecord({ rel, row, excluded: (flags & EXCLUDED) !== 0 });
    pos = p;
  }
}

/** Marks a JsonNumber in row JSON (a key no reader can produce: readers never keep a NUL-led key of this shape). */
const NUMBER_TAG = "\u0000cio-rel-number";

/** JSON of a row's fields that keeps JsonNumbers (their text) through the temporary file. */
export function rowFieldsJson(fields: Record<string, unknown>): string {
  return JSON.stringify(fields, (_key, value: unknown) => (value instanceof JsonNumber ? { [NUMBER_TAG]: [value.text, value.value] } : value));
}

/** The fields of row JSON written by rowFieldsJson. */
export function parseRowFields(json: string): Record<string, unknown> {
  // JSON.stringify writes the tag's NUL as \u0000.
  if (!json.includes("\\u0000cio-rel-number")) return JSON.parse(json) as Record<string, unknown>;
  return JSON.parse(json, (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && NUMBER_TAG in value) {
      const [text, number] = (value as Record<string, [string, number]>)[NUMBER_TAG] as [string, number];
      return new JsonNumber(text, number);
    }
    return value;
  }) as Record<string, unknown>;
}
