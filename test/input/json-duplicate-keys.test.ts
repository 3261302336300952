import { describe, expect, it } from "vitest";
import { checkJsonRecord } from "../../src/input/json-record.js";

// Qa10's outside trial: {"id":"a","id":"b"} was sent as person "b" without a word. A record that writes a key
// twice names two values for one column; JSON.parse keeps the last, so the row is refused instead.

describe("a JSON record with a key written twice is an invalid row", () => {
  it.each([
    ['{"id":"a","id":"b"}', "id"],
    ['{"id":"a","note":"x","id":"b"}', "id"],
    ['{"id":1,"id":2}', "id"],
    ['{"id":"a","object_id":"x","object_id":"y"}', "object_id"],
    ['{"id":"a","\\u0069d":"b"}', "id"],
    ['{"id":"a\\"","id":"b"}', "id"],
    ['{ "id" : "a" ,\r\n "id" : null }', "id"],
  ])("%s", (text, key) => {
    const r = checkJsonRecord(text, JSON.parse(text) as Record<string, unknown>);
    expect(r).toEqual({ problem: `the key ${JSON.stringify(key)} appears more than once in the record (only the last would be read): keep one` });
  });

  it.each([
    '{"id":"id"}',
    '{"id":"a","note":"id"}',
    '{"id":"a","note":"\\"id\\""}',
    '{"id":"a","meta":{"id":1,"id":2}}',
    '{"id":"a","b":[{"id":1},{"id":2}]}',
    '{"id":"a","x":"\\u00e9"}',
  ])("%s keeps its fields", (text) => {
    const fields = JSON.parse(text) as Record<string, unknown>;
    expect(checkJsonRecord(text, fields)).toEqual({ fields });
  });
});
