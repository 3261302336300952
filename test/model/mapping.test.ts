import { describe, expect, it } from "vitest";
import { IDENTIFIER_COLUMN } from "../../src/input/types.js";
import { ColumnError, createMapper, type MapResult, type MappingOptions } from "../../src/model/mapping.js";
import type { Relationship } from "../../src/model/types.js";

const base: MappingOptions = { objectType: "1", emptyRemoves: false };
const ACME = { typeId: "1", id: "acme" } as const;
const ADA = { key: "email", value: "ada@example.com" } as const;

/** Maps rows; `names` undefined means JSON (columns from the first row). */
function mapRows(
  options: Partial<MappingOptions>,
  names: readonly string[] | undefined,
  rows: Record<string, unknown>[],
  headerless = false,
): MapResult[] {
  const mapper = createMapper({ ...base, ...options }, { headerless, names });
  return rows.map((fields, i) => mapper.map({ index: i + 1, line: i + 2, fields }));
}

function ok(result: MapResult | undefined): Relationship {
  if (result === undefined || !result.ok) throw new Error(`expected a relationship, got ${JSON.stringify(result)}`);
  return result.relationship;
}

describe("createMapper: the three shapes", () => {
  it("--object with a people CSV: rows need only the person", () => {
    const [r] = mapRows({ fixedObject: ACME }, ["id", "name"], [{ id: "1001", name: "Ada Lovelace" }]);
    expect(ok(r)).toEqual({ index: 1, line: 2, person: { key: "id", value: "1001" }, object: ACME });
  });

  it("--object with an email CSV and --attributes role", () => {
    const [r] = mapRows({ fixedObject: ACME, attributes: ["role"] }, ["email", "role"], [{ email: "ada@example.com", role: "owner" }]);
    expect(ok(r)).toEqual({ index: 1, line: 2, person: ADA, object: ACME, attributes: { role: "owner" } });
  });

  it("--person with an objects CSV: type from object_type_id, attributes '*'", () => {
    const results = mapRows(
      { fixedPerson: ADA, attributes: "*" },
      ["object_id", "object_type_id", "plan"],
      [
        { object_id: "acme", object_type_id: "1", plan: "enterprise" },
        { object_id: "umbrella", object_type_id: "2", plan: "" },
      ],
    );
    expect(results.map(ok)).toEqual([
      { index: 1, line: 2, person: ADA, object: ACME, attributes: { plan: "enterprise" } },
      { index: 2, line: 3, person: ADA, object: { typeId: "2", id: "umbrella" } },
    ]);
  });

  it("--file with --person-column/--object-column: both sides from the row", () => {
    const [r] = mapRows(
      { personColumn: "user_id", objectColumn: "account_id", attributes: ["role"] },
      ["user_id", "account_id", "role"],
      [{ user_id: "1008", account_id: "initech", role: "member, billing" }],
    );
    expect(ok(r)).toEqual({
      index: 1,
      line: 2,
      person: { key: "id", value: "1008" },
      object: { typeId: "1", id: "initech" },
      attributes: { role: "member, billing" },
    });
  });

  it("--object-type applies to rows without an object_type_id column, and to empty type cells", () => {
    const results = mapRows(
      { objectType: "3" },
      ["id", "object_id", "object_type_id"],
      [
        { id: "1", object_id: "a", object_type_id: "" },
        { id: "1", object_id: "b", object_type_id: "2" },
      ],
    );
    expect(results.map((r) => ok(r).object)).toEqual([
      { typeId: "3", id: "a" },
      { typeId: "2", id: "b" },
    ]);
    const [r] = mapRows({ objectType: "3" }, ["id", "object_id"], [{ id: "1", object_id: "a" }]);
    expect(ok(r).object).toEqual({ typeId: "3", id: "a" });
  });

  it("cio_object_id column when there is no object_id", () => {
    const [r] = mapRows({}, ["id", "cio_object_id"], [{ id: "1", cio_object_id: "obb7fd050101" }]);
    expect(ok(r).object).toEqual({ cioObjectId: "obb7fd050101" });
  });

  it("--object-column cio_object_id reads Customer.io object ids", () => {
    const [r] = mapRows(
      { objectColumn: "cio_object_id" },
      ["id", "object_id", "cio_object_id"],
      [{ id: "1", object_id: "acme", cio_object_id: "obb7" }],
    );
    expect(ok(r).object).toEqual({ cioObjectId: "obb7" });
  });
});

describe("createMapper: headerless sources (one identifier per row)", () => {
  it("with --object the identifier is the person (--person-key applies)", () => {
    const results = mapRows({ fixedObject: ACME, personKey: "cio_id" }, undefined, [{ [IDENTIFIER_COLUMN]: " a3000001 " }], true);
    expect(ok(results[0])).toEqual({ index: 1, line: 2, person: { key: "cio_id", value: "a3000001" }, object: ACME });
  });

  it("with --person the identifier is the object, of --object-type", () => {
    const results = mapRows({ fixedPerson: ADA, objectType: "2" }, undefined, [{ [IDENTIFIER_COLUMN]: "acme" }], true);
    expect(ok(results[0]).object).toEqual({ typeId: "2", id: "acme" });
  });

  it("an empty line is an invalid row naming the identifier", () => {
    const [r] = mapRows({ fixedObject: ACME }, undefined, [{ [IDENTIFIER_COLUMN]: "  " }], true);
    expect(r).toEqual({ ok: false, reason: "the identifier is empty", column: IDENTIFIER_COLUMN });
  });

  it.each([
    ["neither side fixed", {}, /one identifier per row.*--object or --person/],
    ["attributes requested", { fixedObject: ACME, attributes: ["role"] }, /--attributes needs a header row/],
    ["attributes '*'", { fixedObject: ACME, attributes: "*" as const }, /--attributes needs a header row/],
  ])("ColumnError when %s", (_name, options, message) => {
    expect(() => createMapper({ ...base, ...options }, { headerless: true })).toThrow(message);
  });
});

describe("createMapper: person column rules", () => {
  it.each<[string, Partial<MappingOptions>, string[], { column: string; key: string }]>([
    ["the id column", {}, ["id", "name"], { column: "id", key: "id" }],
    ["the email column", {}, ["name", "email"], { column: "email", key: "email" }],
    ["the cio_id column", {}, ["cio_id", "object_id"], { column: "cio_id", key: "cio_id" }],
    ["--person-column, key id by default", { personColumn: "user_id" }, ["user_id", "id"], { column: "user_id", key: "id" }],
    ["--person-column named email keys email", { personColumn: "email" }, ["id", "email"], { column: "email", key: "email" }],
    ["--person-key overrides", { personColumn: "user_id", personKey: "cio_id" }, ["user_id"], { column: "user_id", key: "cio_id" }],
    ["--person-key picks among several", { personKey: "email" }, ["id", "email"], { column: "email", key: "email" }],
    ["--person-key renames a single column", { personKey: "cio_id" }, ["id"], { column: "id", key: "cio_id" }],
  ])("%s", (_name, options, names, expected) => {
    const fields: Record<string, string> = { object_id: "acme" };
    for (const n of names) fields[n] = n === expected.column ? "x@example.com" : "other";
    const [r] = mapRows(options, [...names, "object_id"], [fields]);
    expect(ok(r).person).toEqual({ key: expected.key, value: "x@example.com" });
  });

  it.each<[string, Partial<MappingOptions>, string[], string]>([
    [
      "no person column",
      {},
      ["user_id", "account_id", "role"],
      "no person column: expected one of id, email, cio_id, or pass --person-column (columns: user_id, account_id, role)",
    ],
    // Qa10's outside trial: "pass --person-column" alone, for an `Email` column, would send the emails as ids.
    [
      "an ID column",
      {},
      ["ID", "object_id"],
      "no person column: expected one of id, email, cio_id, or pass --person-column ID (columns: ID, object_id)",
    ],
    [
      "an Email column names the key too",
      {},
      ["Email", "object_id"],
      "no person column: expected one of id, email, cio_id, or pass --person-column Email --person-key email (columns: Email, object_id)",
    ],
    [
      "a CIO_ID column names the key too",
      {},
      ["name", "CIO_ID", "object_id"],
      "no person column: expected one of id, email, cio_id, or pass --person-column CIO_ID --person-key cio_id (columns: name, CIO_ID, object_id)",
    ],
    [
      "an Object_ID column",
      {},
      ["id", "Object_ID"],
      "no object column: expected object_id or cio_object_id, or pass --object-column Object_ID (columns: id, Object_ID)",
    ],
    [
      "several person columns",
      {},
      ["id", "email", "object_id"],
      "several person columns (id, email): pass --person-column or --person-key to choose one",
    ],
    ["--person-column not in the header", { personColumn: "uid" }, ["id", "object_id"], 'person column "uid" not found (columns: id, object_id)'],
    [
      "no object column",
      {},
      ["id", "account"],
      "no object column: expected object_id or cio_object_id, or pass --object-column (columns: id, account)",
    ],
    ["--object-column not in the header", { objectColumn: "acct" }, ["id", "object_id"], 'object column "acct" not found (columns: id, object_id)'],
    [
      "a named attribute not in the header",
      { attributes: ["role", "seat"] },
      ["id", "object_id", "role"],
      'attribute column "seat" not found (columns: id, object_id, role)',
    ],
    [
      "--object and --person together",
      { fixedObject: ACME, fixedPerson: ADA },
      ["id"],
      "--object and --person cannot be combined: rows would have nothing to name",
    ],
  ])("ColumnError: %s", (_name, options, names, message) => {
    let error: unknown;
    try {
      createMapper({ ...base, ...options }, { headerless: false, names });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ColumnError);
    expect((error as Error).message).toBe(message);
  });

  it("a fixed object needs no object column; a fixed person no person column", () => {
    expect(() => createMapper({ ...base, fixedObject: ACME }, { headerless: false, names: ["id"] })).not.toThrow();
    expect(() => createMapper({ ...base, fixedPerson: ADA }, { headerless: false, names: ["object_id"] })).not.toThrow();
  });
});

describe("createMapper: JSON and NDJSON rows", () => {
  it("resolves columns from the first row and keeps JSON types of attributes", () => {
    const results = mapRows({ fixedObject: ACME, attributes: "*" }, undefined, [
      { id: 42, seats: 5, admin: true, note: null, empty: "" },
      { id: "43", seats: 1.5 },
    ]);
    expect(results.map(ok)).toEqual([
      { index: 1, line: 2, person: { key: "id", value: "42" }, object: ACME, attributes: { seats: 5, admin: true, note: null, empty: "" } },
      { index: 2, line: 3, person: { key: "id", value: "43" }, object: ACME, attributes: { seats: 1.5 } },
    ]);
  });

  it("throws ColumnError on the first row when it lacks the person column", () => {
    const mapper = createMapper({ ...base, fixedObject: ACME }, { headerless: false });
    expect(() => mapper.map({ index: 1, line: 1, fields: { user: "1" } })).toThrow(ColumnError);
  });

  it("a later row lacking the column is invalid", () => {
    const [, r] = mapRows({ fixedObject: ACME }, undefined, [{ email: "a@b.co" }, { name: "x" }]);
    expect(r).toEqual({ ok: false, reason: 'column "email" is missing', column: "email" });
  });

  it.each<[string, unknown, string]>([
    ["null", null, 'column "id" is empty'],
    ["a boolean", true, 'column "id" must be a string or a number, not a boolean'],
    ["an object", { a: 1 }, 'column "id" must be a string or a number, not an object'],
    ["an array", ["1"], 'column "id" must be a string or a number, not an array'],
  ])("an identifier that is %s is invalid", (_name, value, reason) => {
    const [r] = mapRows({ fixedObject: ACME }, undefined, [{ id: value }]);
    expect(r).toEqual({ ok: false, reason, column: "id" });
  });

  it.each<[string, unknown, string]>([
    ["an object", { a: 1 }, 'attribute "x" is an object; values must be strings, numbers or booleans'],
    ["an array", [1, 2], 'attribute "x" is an array; values must be strings, numbers or booleans'],
  ])("an attribute that is %s is invalid", (_name, value, reason) => {
    const [r] = mapRows({ fixedObject: ACME, attributes: ["x"] }, undefined, [{ id: "1", x: value }]);
    expect(r).toEqual({ ok: false, reason, column: "x" });
  });

  it("a named attribute absent from a later row is left out", () => {
    const [, r] = mapRows({ fixedObject: ACME, attributes: ["role"] }, undefined, [{ id: "1", role: "a" }, { id: "2" }]);
    expect(ok(r).attributes).toBeUndefined();
  });

  it('keeps a "__proto__" key as an attribute', () => {
    const [r] = mapRows({ fixedObject: ACME, attributes: "*" }, undefined, [JSON.parse('{"id":"1","__proto__":"x"}') as Record<string, unknown>]);
    expect(JSON.stringify(ok(r).attributes)).toBe('{"__proto__":"x"}');
  });
});

describe("createMapper: attributes from CSV", () => {
  const names = ["user_id", "email", "account_id", "object_type_id", "role", "seat"];
  const row = { user_id: "1", email: "a@b.co", account_id: "acme", object_type_id: "1", role: "", seat: " 4 " };
  const opts = { personColumn: "user_id", objectColumn: "account_id" };

  it("'*' takes every non-identifier column; an empty cell is left out; values are not trimmed", () => {
    const [r] = mapRows({ ...opts, attributes: "*" }, names, [row]);
    expect(ok(r).attributes).toEqual({ seat: " 4 " });
  });

  it("--empty-removes sends an empty cell as null", () => {
    const [r] = mapRows({ ...opts, attributes: "*", emptyRemoves: true }, names, [row]);
    expect(ok(r).attributes).toEqual({ role: null, seat: " 4 " });
  });

  it("named attributes may name any column, identifiers included", () => {
    const [r] = mapRows({ ...opts, attributes: ["email", "seat"] }, names, [row]);
    expect(ok(r).attributes).toEqual({ email: "a@b.co", seat: " 4 " });
  });

  it("no attributes left: the relationship has none", () => {
    const [r] = mapRows({ ...opts, attributes: ["role"] }, names, [row]);
    expect(ok(r)).not.toHaveProperty("attributes");
  });

  it("identifiers are trimmed", () => {
    const [r] = mapRows(opts, names, [{ ...row, user_id: "  7 \t", account_id: " acme " }]);
    expect(ok(r)).toMatchObject({ person: { value: "7" }, object: { id: "acme" } });
  });
});

describe("createMapper: id falling back to cio_id (what `cio-rel list` writes, issue 12)", () => {
  const CIO = (v: string) => ({ key: "cio_id", value: v });
  const ID = (v: string) => ({ key: "id", value: v });
  it.each<[string, readonly string[] | undefined, Record<string, unknown>, { key: string; value: string } | string]>([
    ["CSV id present", ["id", "email", "cio_id"], { id: "42", email: "a@b.c", cio_id: "c1" }, ID("42")],
    ["CSV id empty → cio_id", ["id", "email", "cio_id"], { id: "", email: "a@b.c", cio_id: "c1" }, CIO("c1")],
    ["CSV id blank spaces → cio_id", ["id", "email", "cio_id"], { id: "  ", email: "", cio_id: "c2" }, CIO("c2")],
    ["CSV id and cio_id only", ["id", "cio_id"], { id: "", cio_id: "c3" }, CIO("c3")],
    ["CSV columns in another order", ["cio_id", "email", "id"], { cio_id: "c4", email: "x@y.z", id: "" }, CIO("c4")],
    ["JSON id null → cio_id", undefined, { id: null, email: "a@b.c", cio_id: "c5" }, CIO("c5")],
    ["JSON id missing → cio_id", undefined, { email: "a@b.c", cio_id: "c6", id: undefined }, CIO("c6")],
    ["JSON id a number", undefined, { id: 42, email: null, cio_id: "c7" }, ID("42")],
    [
      "both empty",
      ["id", "email", "cio_id"],
      { id: "", email: "a@b.c", cio_id: "" },
      'column "id" and column "cio_id" are both empty: the row names no person',
    ],
    [
      "JSON id a boolean is refused, not skipped",
      undefined,
      { id: true, email: null, cio_id: "c8" },
      'column "id" must be a string or a number, not a boolean',
    ],
  ])("%s", (_what, names, fields, expected) => {
    const [r] = mapRows({ fixedObject: ACME }, names, [fields]);
    if (typeof expected === "string") expect(r).toMatchObject({ ok: false, reason: expected });
    else expect(ok(r).person).toEqual(expected);
  });

  it("--person-key or --person-column still choose one column, with no fallback", () => {
    const names = ["id", "email", "cio_id"];
    expect(ok(mapRows({ fixedObject: ACME, personKey: "email" }, names, [{ id: "", email: "a@b.c", cio_id: "c1" }])[0]).person).toEqual({
      key: "email",
      value: "a@b.c",
    });
    expect(mapRows({ fixedObject: ACME, personColumn: "id" }, names, [{ id: "", email: "a@b.c", cio_id: "c1" }])[0]).toMatchObject({ ok: false });
  });

  it("id and email without cio_id stay ambiguous", () => {
    expect(() => mapRows({ fixedObject: ACME }, ["id", "email"], [{ id: "1", email: "a@b.c" }])).toThrow(ColumnError);
  });

  it("also with both sides in the row (list --objects output read by --file)", () => {
    const [r] = mapRows(
      {},
      ["object_type_id", "object_id", "id", "email", "cio_id"],
      [{ object_type_id: "2", object_id: "acme", id: "", email: "", cio_id: "c9" }],
    );
    expect(ok(r)).toEqual({ index: 1, line: 2, person: CIO("c9"), object: { typeId: "2", id: "acme" } });
  });
});
