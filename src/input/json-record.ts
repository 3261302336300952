import { JsonNumber } from "./types.js";

// What JSON.parse cannot tell (issue 10): how a number was written, and how deep a record nests. A scan of the
// record's text outside strings finds both, and runs only for records that hold a number or a nested value.

/**
 * Deepest nesting of objects and arrays a record may have, the record itself counting as 1. Deeper records
 * are invalid rows: no relationship needs them, and copying them (JSON.stringify recurses) can overflow the
 * stack, which crashed a run while writing the failures file.
 */
export const MAX_NESTING = 32;

/** A parsed JSON record checked against its text: its fields, or why it is an invalid row. */
export type JsonRecord = { fields: Record<string, unknown> } | { problem: string };

/** Whether `text` is exactly how JavaScript writes the number it denotes: the only numbers sent as they are. */
export function canonicalNumber(text: string): boolean {
  // Up to 15 digits without a leading zero is always a safe integer written canonically; most numbers are.
  if (/^-?[1-9][0-9]{0,14}$|^0$/.test(text)) return true;
  return String(Number(text)) === text;
}

/**
 * `fields` (parsed from `text`) with every top-level number not written canonically replaced by a JsonNumber,
 * or a problem when the record nests deeper than MAX_NESTING. Fields are changed in place.
 */
export function checkJsonRecord(text: string, fields: Record<string, unknown>): JsonRecord {
  let needsScan = false;
  for (const key in fields) {
    const v = fields[key];
    if (typeof v === "number" || (v !== null && typeof v === "object")) {
      needsScan = true;
      break;
    }
  }
  // A key written twice ({"id":"a","id":"b"}) parses to its last value: a row that names two people must be
  // refused, not sent as one of them. Each key appearing once as text (and no escapes) rules that out cheaply.
  if (!needsScan && (text.includes("\\") || maybeRepeatedKey(text, fields))) needsScan = true;
  if (!needsScan) return { fields };
  const scan = scanRecord(text);
  if (scan.depth > MAX_NESTING) {
    return { problem: `the record is nested more than ${MAX_NESTING} levels deep; values must be strings, numbers or booleans` };
  }
  if (scan.duplicate !== undefined) {
    return { problem: `the key ${JSON.stringify(scan.duplicate)} appears more than once in the record (only the last would be read): keep one` };
  }
  for (const [key, token] of scan.numbers) {
    const value = fields[key];
    if (typeof value !== "number" || canonicalNumber(token)) continue;
    // A JSON key "__proto__" is an own property; plain assignment would replace the prototype instead.
    Object.defineProperty(fields, key, { value: new JsonNumber(token, value), enumerable: true, writable: true, configurable: true });
  }
  return { fields };
}

/** Keys JSON writes as they are between quotes (most column names). */
const SIMPLE_KEY = /^[\w .-]*$/;

/** Whether some key's quoted text occurs more than once in `text` (a repeated key, or a value equal to a key). */
function maybeRepeatedKey(text: string, fields: Record<string, unknown>): boolean {
  for (const key in fields) {
    const quoted = SIMPLE_KEY.test(key) ? `"${key}"` : JSON.stringify(key);
    const first = text.indexOf(quoted);
    if (first !== -1 && text.indexOf(quoted, first + quoted.length) !== -1) return true;
  }
  return false;
}

const QUOTE = 34;
const BACKSLASH = 92;

/**
 * One pass over valid JSON text: the deepest nesting (stopping once past MAX_NESTING) and, for each key of the
 * top-level object, the number token its last value was (keys whose last value is not a number are absent).
 */
function scanRecord(text: string): { depth: number; numbers: Map<string, string>; duplicate?: string } {
  const numbers = new Map<string, string>();
  const seen = new Set<string>();
  let duplicate: string | undefined;
  let depth = 0;
  let max = 0;
  let expectKey = false;
  let key: string | undefined;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i + 1;
      for (;;) {
        j = text.indexOf('"', j);
        if (j === -1) return { depth: max, numbers };
        let slashes = 0;
        for (let k = j - 1; text.charCodeAt(k) === BACKSLASH; k--) slashes++;
        if (slashes % 2 === 0) break;
        j++;
      }
      if (depth === 1) {
        if (expectKey) {
          key = JSON.parse(text.slice(i, j + 1)) as string;
          if (seen.has(key)) duplicate ??= key;
          seen.add(key);
        } else if (key !== undefined) numbers.delete(key);
      }
      i = j;
      continue;
    }
    if (c === 123 || c === 91) {
      // { or [
      if (depth === 1 && key !== undefined) numbers.delete(key);
      depth++;
      if (depth > max) max = depth;
      if (max > MAX_NESTING) return { depth: max, numbers };
      if (depth === 1) expectKey = c === 123;
      continue;
    }
    if (c === 125 || c === 93) {
      depth--;
      continue;
    }
    if (depth !== 1) continue;
    if (c === 44) expectKey = true;
    else if (c === 58) expectKey = false;
    else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < n && /[0-9eE.+-]/.test(text[j] as string)) j++;
      if (key !== undefined) numbers.set(key, text.slice(i, j));
      i = j - 1;
    } else if (c === 116 || c === 102 || c === 110) {
      // true, false, null
      if (key !== undefined) numbers.delete(key);
    }
  }
  return duplicate === undefined ? { depth: max, numbers } : { depth: max, numbers, duplicate };
}
