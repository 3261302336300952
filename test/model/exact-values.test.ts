import { readFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { MAX_NESTING } from "../../src/input/json-record.js";
import { openRowSource } from "../../src/input/open.js";
import { type Format, type Row } from "../../src/input/types.js";
import { ColumnError, createMapper, headerHint, sameDecimal, type MapResult, type MappingOptions } from "../../src/model/mapping.js";
import { controlProblem, validateObject, validatePerson } from "../../src/model/validate.js";
import { FailuresFile, jsonText, safeCellText } from "../../src/report/failures-file.js";

// Issue 10: no identifier or attribute reaches Customer.io other than as the file wrote it. Rows go through the
// real readers (text → fields) and the real mapper, as in a run.

const ACME = { typeId: "1", id: "acme" } as const;
const base: MappingOptions = { objectType: "1", emptyRemoves: false };

async function rowsOf(text: string, format: Format): Promise<Row[]> {
  const source = await openRowSource("-", { format, stdin: Readable.from([Buffer.from(text)]) });
  const rows: Row[] = [];
  for await (const row of source.rows()) rows.push(row);
  return rows;
}

/** The mapped results of JSON text, read as NDJSON and as a JSON array (both must agree). */
async function mapJson(objects: string[], options: Partial<MappingOptions>): Promise<(MapResult | { ok: false; reason: string })[]> {
  const results: (MapResult | { ok: false; reason: string })[][] = [];
  for (const [format, text] of [
    ["ndjson", objects.join("\n") + "\n"],
    ["json", `[\n${objects.join(",\n")}\n]`],
  ] as const) {
    const rows = await rowsOf(text, format);
    const mapper = createMapper({ ...base, ...options }, { headerless: false });
    results.push(rows.map((row) => (row.problem !== undefined ? { ok: false as const, reason: row.problem } : mapper.map(row))));
  }
  // The JSON array's rows start a line later ("[" has its own); everything else must agree.
  const lineless = (rs: unknown[]): unknown => JSON.parse(JSON.stringify(rs, (k, v: unknown) => (k === "line" ? undefined : v)));
  expect(lineless(results[1]!)).toEqual(lineless(results[0]!));
  return results[0]!;
}

describe("JSON numbers as identifiers: a safe integer as written, or quote it", () => {
  it.each([
    ["12345678901234567890", "12345678901234567000"],
    ["9007199254740993", "9007199254740992"],
    ["-9007199254740993", "-9007199254740992"],
    ["9007199254740992", undefined],
    ["-9007199254740992", undefined],
    ["1.5", undefined],
    ["1e3", "1000"],
    ["1E2", "100"],
    ["1.0", "1"],
    ["-0", "0"],
    ["1e400", undefined],
    ["0.1", undefined],
  ])("id %s is an invalid row that says to quote it", async (literal, wouldBe) => {
    const [r] = await mapJson([`{"id": ${literal}}`], { fixedObject: ACME });
    expect(r!.ok).toBe(false);
    const reason = (r as { reason: string }).reason;
    expect(reason).toContain(`is the JSON number ${literal}`);
    expect(reason).toContain(`quote it in the file ("${literal}")`);
    if (wouldBe !== undefined) expect(reason).toContain(`would be sent as ${wouldBe}`);
  });

  // Qa10's outside trial: 2^53 is written exactly, so "would be sent as 9007199254740992" read as no reason at all.
  it.each(["9007199254740992", "-9007199254740992", "18014398509481984"])(
    "id %s (past 2^53, written exactly) says why it cannot be trusted",
    async (literal) => {
      const [r] = await mapJson([`{"id": ${literal}}`], { fixedObject: ACME });
      const reason = (r as { ok: false; reason: string }).reason;
      expect(reason).not.toContain(`would be sent as ${literal}`);
      expect(reason).toBe(
        `column "id" is the JSON number ${literal}, which is beyond 9007199254740991, past which a JSON number cannot be told from its neighbours: quote it in the file ("${literal}") to send it as written`,
      );
    },
  );

  it.each([
    ["42", "42"],
    ["-7", "-7"],
    ["0", "0"],
    ["9007199254740991", "9007199254740991"],
    ['"12345678901234567890"', "12345678901234567890"],
    ['"1e3"', "1e3"],
  ])("id %s is sent as %s", async (literal, sent) => {
    const [r] = await mapJson([`{"id": ${literal}}`], { fixedObject: ACME });
    expect(r).toMatchObject({ ok: true, relationship: { person: { key: "id", value: sent } } });
  });

  it.each([
    ["object_id", '{"id":"1","object_id":12345678901234567890}'],
    ["cio_object_id", '{"id":"1","cio_object_id":1.25}'],
    ["email-less cio_id", '{"cio_id":1e21,"object_id":"a"}'],
  ])("the same rule for %s", async (_name, object) => {
    const [r] = await mapJson([object], {});
    expect(r!.ok).toBe(false);
    expect((r as { reason: string }).reason).toMatch(/is the JSON number .*: quote it in the file/);
  });

  it("a number in an object_type_id column gets the type rule", async () => {
    const [r] = await mapJson(['{"id":"1","object_id":"a","object_type_id":1e0}'], {});
    expect((r as { reason: string }).reason).toBe('column "object_type_id" must be a positive integer, not "1e0"');
  });
});

describe("JSON numbers as attributes: the file's number, or refused", () => {
  it.each([
    ["1.5", 1.5],
    ["1.10", 1.1],
    ["1e3", 1000],
    ["-0.25", -0.25],
    ["12345678901234567000", 12345678901234567000],
    ["0.1", 0.1],
  ])("%s is sent as the number %s", async (literal, value) => {
    const [r] = await mapJson([`{"id":"1","score":${literal}}`], { fixedObject: ACME, attributes: ["score"] });
    expect(r).toMatchObject({ ok: true, relationship: { attributes: { score: value } } });
  });

  it.each([
    ["12345678901234567890", "would be sent as 12345678901234567000"],
    ["0.30000000000000001", "would be sent as 0.3"],
    ["9007199254740993", "would be sent as 9007199254740992"],
    ["1e400", "is out of range"],
  ])("%s is an invalid row (%s)", async (literal, why) => {
    for (const attributes of [["score"], "*"] as const) {
      const [r] = await mapJson([`{"id":"1","score":${literal}}`], { fixedObject: ACME, attributes });
      expect(r).toMatchObject({ ok: false });
      expect((r as { reason: string }).reason).toBe(
        `attribute "score" is the JSON number ${literal}, which ${why}: quote it in the file to send it exactly`,
      );
    }
  });

  it("a nested value is refused as an attribute, and kept (unsent) in a column nobody asked for", async () => {
    const [a, b] = await mapJson(['{"id":"1","meta":{"a":[1,2]}}', '{"id":"2","meta":[1]}'], { fixedObject: ACME, attributes: ["meta"] });
    expect((a as { reason: string }).reason).toBe('attribute "meta" is an object; values must be strings, numbers or booleans');
    expect((b as { reason: string }).reason).toBe('attribute "meta" is an array; values must be strings, numbers or booleans');
    const [c] = await mapJson(['{"id":"1","meta":{"a":{"b":{"c":1}}}}'], { fixedObject: ACME });
    expect(c).toMatchObject({ ok: true });
  });

  it.each([
    ["1.10", "1.1", true],
    ["1e3", "1000", true],
    ["0.0", "0", true],
    ["-0", "0", true],
    ["100e-2", "1", true],
    ["12345678901234567890", "12345678901234567000", false],
    ["0.30000000000000001", "0.3", false],
    ["1.5", "1.50001", false],
    ["-1", "1", false],
  ])("sameDecimal(%s, %s) = %s", (a, b, same) => {
    expect(sameDecimal(a, b)).toBe(same);
  });
});

describe("nesting is capped: an invalid row, never a crash", () => {
  const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);
  it.each([
    [MAX_NESTING - 1, true],
    [MAX_NESTING, false],
    [1000, false],
    [100_000, false],
  ])("a value %i levels deep inside the record", async (depth, fine) => {
    const [r] = await mapJson([`{"id":"1","deep":${nested(depth)}}`], { fixedObject: ACME });
    if (fine) expect(r).toMatchObject({ ok: true });
    else
      expect((r as { reason: string }).reason).toBe(
        `the record is nested more than ${MAX_NESTING} levels deep; values must be strings, numbers or booleans`,
      );
  });

  it("a deep first row does not decide the columns; the next row maps", async () => {
    const results = await mapJson([`{"x":${nested(50)}}`, '{"id":"2"}'], { fixedObject: ACME });
    expect(results[0]).toMatchObject({ ok: false });
    expect(results[1]).toMatchObject({ ok: true, relationship: { person: { value: "2" } } });
  });

  it("the failures file copies a deep row's text as read, with its error, for NDJSON and JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cio-rel-deep-"));
    const text = `{"id":"1","deep":${nested(100_000)}}`;
    for (const format of ["ndjson", "json"] as const) {
      const [row] = await rowsOf(format === "json" ? `[${text}]` : text, format);
      const path = join(dir, `f.${format}`);
      const file = await FailuresFile.open(path, { format, headerless: false });
      await file.write(row!, row!.problem!);
      await file.close();
      const written = await readFile(path, "utf8");
      expect(written).toContain(nested(100_000));
      expect(written).toContain('"cio_rel_error":"the record is nested more than 32 levels deep');
      const reread = await rowsOf(written, format);
      expect(reread[0]!.problem).toBeDefined();
    }
  });
});

describe("control characters in identifiers make the row invalid", () => {
  it.each([
    ["NUL", "10\u000001", "NUL at character 3"],
    ["SOH", "\u0001abc", "U+0001 at character 1"],
    ["unit separator", "ab\u001f", "U+001F at character 3"],
    ["DEL", "a\u007fb", "DEL at character 2"],
    ["TAB inside", "a\tb", "TAB at character 2"],
    ["LF inside", "a\nb", "LF at character 2"],
    ["CR inside", "a\rb", "CR at character 2"],
    ["ESC", "\u001b[31mred", "ESC at character 1"],
    ["last of 64 characters", `${"x".repeat(63)}\u007f`, "DEL at character 64"],
    ["far into a long value", `${"x".repeat(100)}\u0001`, "U+0001 at character 101"],
  ])("%s", async (_name, value, where) => {
    expect(controlProblem(value)).toContain(where);
    // JSON rows (escaped in the text) and CSV rows (quoted fields) alike.
    const [json] = await mapJson([JSON.stringify({ id: value })], { fixedObject: ACME });
    expect((json as { reason: string }).reason).toContain(`column "id" holds a control character (${where})`);
    const [object] = await mapJson([JSON.stringify({ id: "1", object_id: value })], {});
    expect((object as { reason: string }).reason).toContain(`column "object_id" holds a control character (${where})`);
    expect(validatePerson({ key: "id", value })).toContain("holds a control character");
    expect(validateObject({ typeId: "1", id: value })).toContain("holds a control character");
  });

  it("in a CSV quoted field", async () => {
    const rows = await rowsOf('id\n"a\u0001b"\n"ok"\n', "csv");
    const mapper = createMapper({ ...base, fixedObject: ACME }, { headerless: false, names: ["id"] });
    expect(mapper.map(rows[0]!)).toMatchObject({ ok: false, reason: expect.stringContaining("control character") });
    expect(mapper.map(rows[1]!)).toMatchObject({ ok: true });
  });

  it.each([["\tab\t"], [" ab "], ["ab\r"]])("surrounding whitespace %j is trimmed, as before", async (value) => {
    const [r] = await mapJson([JSON.stringify({ id: value })], { fixedObject: ACME });
    expect(r).toMatchObject({ ok: true, relationship: { person: { value: "ab" } } });
  });

  it("an email with a control character is refused too", () => {
    expect(validatePerson({ key: "email", value: "ada\u0000@example.com" })).toContain("control character");
  });
});

describe("a header that cannot be mapped says what it probably is", () => {
  it.each([
    [["5001"], "--no-header"],
    [["ada@example.com"], "--no-header"],
    [["5001", "acme"], undefined],
    [["5001", "5002"], "--no-header"],
    [["0b9a4ac2-5f3e-4b8e-9d2a-3c1f0e6d7a11"], "--no-header"],
    [["id;role"], `--delimiter ';'`],
    [["id\trole"], `--delimiter '\\t'`],
    [["id|role"], `--delimiter '|'`],
    [["user"], undefined],
  ])("%j → %s", (names, flag) => {
    const hint = headerHint(names);
    if (flag === undefined) expect(hint).toBeUndefined();
    else expect(hint).toContain(flag);
  });

  it.each([
    [
      { fixedObject: ACME },
      ["5001"],
      /^no person column: the first line \("5001"\) looks like data, not a header: if the file has no header row, pass --no-header$/,
    ],
    [{}, ["5001", "5002"], /^no person column: the first line .* pass --no-header$/],
    [
      { fixedObject: ACME },
      ["id;role"],
      /^no person column: the header is one column, "id;role": if the file is separated by ";", pass --delimiter ';'$/,
    ],
    [{ fixedPerson: { key: "id", value: "1" } as const }, ["id|plan"], /^no object column: .*--delimiter '\|'$/],
  ] as const)("%j with header %j", (options, names, message) => {
    expect(() => createMapper({ ...base, ...options }, { headerless: false, names })).toThrow(ColumnError);
    expect(() => createMapper({ ...base, ...options }, { headerless: false, names })).toThrow(message);
  });

  it("never suggests --person-column with an identifier as its name", () => {
    try {
      createMapper({ ...base, fixedObject: ACME }, { headerless: false, names: ["5001"] });
    } catch (e) {
      expect((e as Error).message).not.toContain("--person-column");
    }
  });
});

describe("the failures file: exact identifiers, neutralised errors", () => {
  it.each([
    ['=HYPERLINK("x")', '\'=HYPERLINK("x")'],
    ["+1 bad", "'+1 bad"],
    ["-1 bad", "'-1 bad"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tx", "'\tx"],
    ["\rx", "'\rx"],
    ["401 Unauthorized", "401 Unauthorized"],
    ['column "id" is empty', 'column "id" is empty'],
  ])("safeCellText(%j) = %j", (text, expected) => {
    expect(safeCellText(text)).toBe(expected);
  });

  it("JSON numbers are written back as the file wrote them", async () => {
    const [row] = await rowsOf('{"id":12345678901234567890,"score":1.10,"n":5}\n', "ndjson");
    expect(jsonText(row!.fields)).toBe('{"id":12345678901234567890,"score":1.10,"n":5}');
    expect(jsonText({ a: "1", b: [1, { c: null }] })).toBe('{"a":"1","b":[1,{"c":null}]}');
  });

  it("CSV: the error cell is neutralised, identifier cells stay byte-exact", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cio-rel-fail-"));
    const path = join(dir, "f.csv");
    const file = await FailuresFile.open(path, { format: "csv", headerless: false, columns: ["id", "note"] });
    await file.write({ index: 1, line: 2, fields: { id: "=1+1", note: "-x" } }, "=cmd|' /C calc'!A0");
    await file.write({ index: 2, line: 3, fields: { id: "@me", note: "" } }, "+401 from server");
    await file.close();
    expect(await readFile(path, "utf8")).toBe("id,note,cio_rel_error\n=1+1,-x,'=cmd|' /C calc'!A0\n@me,,'+401 from server\n");
    const headerless = join(dir, "h.csv");
    const h = await FailuresFile.open(headerless, { format: "csv", headerless: true });
    await h.write({ index: 1, line: 1, fields: { "": "-5" } }, "-bad");
    await h.close();
    expect(await readFile(headerless, "utf8")).toBe("-5,'-bad\n");
  });
});
