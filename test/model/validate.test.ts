import { describe, expect, it } from "vitest";
import {
  MAX_ATTRIBUTE_NAME_BYTES,
  MAX_ATTRIBUTE_VALUE_BYTES,
  MAX_ATTRIBUTES,
  MAX_ATTRIBUTES_BYTES,
  MAX_OBJECT_ID_BYTES,
  MAX_PERSON_ID_BYTES,
} from "../../src/model/limits.js";
import { createMapper, type MapResult, type MappingOptions } from "../../src/model/mapping.js";
import type { AttributeValue } from "../../src/model/types.js";
import { attributesProblem, validateObject, validatePerson } from "../../src/model/validate.js";

const ACME = { typeId: "1", id: "acme" };

/** Maps one CSV row through a mapper built from its keys as the header. */
function mapCsv(options: Partial<MappingOptions>, fields: Record<string, string>): MapResult {
  const mapper = createMapper({ objectType: "1", emptyRemoves: false, ...options }, { headerless: false, names: Object.keys(fields) });
  return mapper.map({ index: 5, line: 5, fields });
}

function reasonOf(result: MapResult): string | undefined {
  return result.ok ? undefined : result.reason;
}

const E = "é"; // 2 bytes in UTF-8
const EURO = "€"; // 3 bytes
const EMOJI = "😀"; // 4 bytes, a surrogate pair

describe("identifier byte limits (150 bytes of UTF-8)", () => {
  it("uses the documented figures", () => {
    expect([MAX_PERSON_ID_BYTES, MAX_OBJECT_ID_BYTES, MAX_ATTRIBUTE_NAME_BYTES, MAX_ATTRIBUTE_VALUE_BYTES]).toEqual([150, 150, 150, 1000]);
    expect([MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES]).toEqual([300, 100_000]);
  });

  it.each<[string, string, string | undefined]>([
    ["150 ASCII bytes", "a".repeat(150), undefined],
    ["151 ASCII bytes", "a".repeat(151), 'column "id" is 151 bytes; Customer.io allows at most 150'],
    ["75 two-byte characters (150 bytes)", E.repeat(75), undefined],
    ["75 two-byte characters and one more byte", E.repeat(75) + "a", 'column "id" is 151 bytes; Customer.io allows at most 150'],
    ["50 three-byte characters", EURO.repeat(50), undefined],
    ["37 emoji and 2 bytes (150)", EMOJI.repeat(37) + "ab", undefined],
    ["38 emoji (152 bytes, 76 UTF-16 units)", EMOJI.repeat(38), 'column "id" is 152 bytes; Customer.io allows at most 150'],
  ])("person id: %s", (_name, value, reason) => {
    expect(reasonOf(mapCsv({ fixedObject: ACME }, { id: value }))).toBe(reason);
  });

  it.each<[string, string, string | undefined]>([
    ["150 bytes", "o".repeat(150), undefined],
    ["151 bytes", "o".repeat(151), 'column "object_id" is 151 bytes; Customer.io allows at most 150'],
    ["151 bytes of multi-byte text", EURO.repeat(50) + "x", 'column "object_id" is 151 bytes; Customer.io allows at most 150'],
  ])("object id: %s", (_name, value, reason) => {
    expect(reasonOf(mapCsv({}, { id: "1", object_id: value }))).toBe(reason);
  });

  it("cio_object_id and cio_id are held to 150 bytes too", () => {
    expect(reasonOf(mapCsv({}, { id: "1", cio_object_id: "c".repeat(151) }))).toBe(
      'column "cio_object_id" is 151 bytes; Customer.io allows at most 150',
    );
    expect(reasonOf(mapCsv({ fixedObject: ACME }, { cio_id: "c".repeat(151) }))).toBe('column "cio_id" is 151 bytes; Customer.io allows at most 150');
  });

  it.each([
    ["an empty person cell", { id: "", object_id: "acme" }, 'column "id" is empty'],
    ["a blank person cell", { id: "   ", object_id: "acme" }, 'column "id" is empty'],
    ["an empty object cell", { id: "1", object_id: "" }, 'column "object_id" is empty'],
  ])("%s is invalid", (_name, fields, reason) => {
    expect(mapCsv({}, fields)).toEqual({ ok: false, reason, column: reason.match(/"(.+?)"/)?.[1] });
  });
});

describe("object_type_id: a positive integer string", () => {
  it.each<[string, string | undefined]>([
    ["1", undefined],
    ["2", undefined],
    ["10", undefined],
    ["2147483648", undefined],
    [" 2 ", undefined],
    ["0", 'column "object_type_id" must be a positive integer, not "0"'],
    ["-1", 'column "object_type_id" must be a positive integer, not "-1"'],
    ["1.5", 'column "object_type_id" must be a positive integer, not "1.5"'],
    ["abc", 'column "object_type_id" must be a positive integer, not "abc"'],
    ["01", 'column "object_type_id" must be a positive integer, not "01"'],
    ["+1", 'column "object_type_id" must be a positive integer, not "+1"'],
    ["1e3", 'column "object_type_id" must be a positive integer, not "1e3"'],
  ])("%j", (typeId, reason) => {
    expect(reasonOf(mapCsv({}, { id: "1", object_id: "acme", object_type_id: typeId }))).toBe(reason);
  });

  it("JSON numbers are read as their text", () => {
    const mapper = createMapper({ objectType: "1", emptyRemoves: false }, { headerless: false });
    const good = mapper.map({ index: 2, line: 2, fields: { id: "1", object_id: "a", object_type_id: 2 } });
    expect(good.ok && good.relationship.object).toEqual({ typeId: "2", id: "a" });
    expect(reasonOf(mapper.map({ index: 3, line: 3, fields: { id: "1", object_id: "a", object_type_id: 1.5 } }))).toBe(
      'column "object_type_id" must be a positive integer, not "1.5"',
    );
    expect(reasonOf(mapper.map({ index: 4, line: 4, fields: { id: "1", object_id: "a", object_type_id: true } }))).toBe(
      'column "object_type_id" must be a string or a number, not a boolean',
    );
  });
});

describe("email identifiers: a permissive shape check", () => {
  it.each(["ada@example.com", "a@b.co", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "ünïcode@exämple.de", " padded@example.com "])(
    "accepts %j",
    (email) => {
      expect(reasonOf(mapCsv({ fixedObject: ACME }, { email }))).toBeUndefined();
    },
  );

  it.each([
    "not-an-email",
    "a@b",
    "@example.com",
    "ada@",
    "ada@@example.com",
    "a b@example.com",
    "ada@.example.com",
    "ada@example.",
    "ada@example .com",
  ])("rejects %j", (email) => {
    expect(reasonOf(mapCsv({ fixedObject: ACME }, { email }))).toBe(`column "email" is not an email address: ${JSON.stringify(email)}`);
  });

  it("applies to a --person-column declared as email by --person-key", () => {
    expect(reasonOf(mapCsv({ fixedObject: ACME, personColumn: "user", personKey: "email" }, { user: "1001" }))).toBe(
      'column "user" is not an email address: "1001"',
    );
  });

  it("long values are shortened in the message", () => {
    const reason = reasonOf(mapCsv({ fixedObject: ACME }, { email: "x".repeat(100) }));
    expect(reason).toBe(`column "email" is not an email address: "${"x".repeat(57)}..."`);
  });
});

describe("relationship attribute limits", () => {
  /** A map of `count` attributes named a000.. with values of `valueBytes` ASCII bytes. */
  function attrs(count: number, valueBytes: number): Record<string, AttributeValue> {
    const a: Record<string, AttributeValue> = {};
    for (let i = 0; i < count; i++) a[`a${String(i).padStart(3, "0")}`] = "v".repeat(valueBytes);
    return a;
  }

  it.each<[string, Record<string, AttributeValue>, string | undefined]>([
    ["name of 150 bytes", { ["n".repeat(150)]: 1 }, undefined],
    ["name of 151 bytes", { ["n".repeat(151)]: 1 }, `attribute name "${"n".repeat(57)}..." is 151 bytes; Customer.io allows at most 150`],
    ["name of 76 two-byte characters", { [E.repeat(76)]: 1 }, `attribute name "${E.repeat(57)}..." is 152 bytes; Customer.io allows at most 150`],
    ["value of 1000 bytes", { v: "x".repeat(1000) }, undefined],
    ["value of 1001 bytes", { v: "x".repeat(1001) }, 'attribute "v" is 1001 bytes; Customer.io allows at most 1000'],
    ["value of 500 two-byte characters", { v: E.repeat(500) }, undefined],
    ["value of 500 two-byte characters and one byte", { v: E.repeat(500) + "x" }, 'attribute "v" is 1001 bytes; Customer.io allows at most 1000'],
    ["value with quotes counts as itself", { v: '"'.repeat(1000) }, undefined],
    ["numbers, booleans and null", { n: 1.25, b: false, z: null }, undefined],
    ["300 attributes", attrs(300, 1), undefined],
    ["301 attributes", attrs(301, 1), "301 attributes; Customer.io allows at most 300"],
    // Each entry is `"a000":"v…v"` = 1,008 bytes: 99 make 99,892 bytes, 100 make 100,901.
    ["99 attributes of 999 bytes (99,892 bytes)", attrs(99, 999), undefined],
    ["100 attributes of 999 bytes (100,901 bytes)", attrs(100, 999), "attributes are 100901 bytes in all; Customer.io allows at most 100000"],
  ])("%s", (_name, attributes, reason) => {
    expect(attributesProblem(attributes)).toBe(reason);
  });

  it("measures the total as JSON, escapes included", () => {
    // 17 values of 999 control characters: 17 KB of text, but each becomes \u0001 (6 bytes) in JSON.
    const a: Record<string, AttributeValue> = {};
    for (let i = 0; i < 17; i++) a[`c${i}`] = "\u0001".repeat(999);
    expect(attributesProblem(a)).toMatch(/^attributes are 10\d{4} bytes in all; Customer.io allows at most 100000$/);
    expect(Buffer.byteLength(JSON.stringify(a))).toBeGreaterThan(100_000);
  });

  it("an exactly-100,000-byte map is accepted", () => {
    const a = attrs(99, 999);
    const json = JSON.stringify(a);
    a.pad = "p".repeat(100_000 - Buffer.byteLength(json) - ',"pad":""'.length);
    expect(Buffer.byteLength(JSON.stringify(a))).toBe(100_000);
    expect(attributesProblem(a)).toBeUndefined();
    a.pad += "p";
    expect(attributesProblem(a)).toBe("attributes are 100001 bytes in all; Customer.io allows at most 100000");
  });

  it("a row with too many attributes is invalid through the mapper", () => {
    const fields: Record<string, string> = { id: "1" };
    for (let i = 0; i < 301; i++) fields[`c${i}`] = "x";
    expect(reasonOf(mapCsv({ fixedObject: ACME, attributes: "*" }, fields))).toBe("301 attributes; Customer.io allows at most 300");
  });
});

describe("validatePerson / validateObject (flags)", () => {
  it.each<[Parameters<typeof validatePerson>[0], string | undefined]>([
    [{ key: "id", value: "42" }, undefined],
    [{ key: "email", value: "ada@example.com" }, undefined],
    [{ key: "email", value: "ada" }, 'person email is not an email address: "ada"'],
    [{ key: "id", value: "" }, "person id is empty"],
    [{ key: "cio_id", value: "c".repeat(151) }, "person cio_id is 151 bytes; Customer.io allows at most 150"],
  ])("validatePerson(%j)", (person, reason) => {
    expect(validatePerson(person)).toBe(reason);
  });

  it.each<[Parameters<typeof validateObject>[0], string | undefined]>([
    [{ typeId: "1", id: "acme" }, undefined],
    [{ cioObjectId: "obb7" }, undefined],
    [{ typeId: "0", id: "acme" }, 'object type must be a positive integer, not "0"'],
    [{ typeId: "1", id: "" }, "object id is empty"],
    [{ typeId: "1", id: "x".repeat(151) }, "object id is 151 bytes; Customer.io allows at most 150"],
    [{ cioObjectId: "" }, "cio_object_id is empty"],
  ])("validateObject(%j)", (object, reason) => {
    expect(validateObject(object)).toBe(reason);
  });
});
