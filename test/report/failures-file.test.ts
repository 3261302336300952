import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { ERROR_COLUMN, IDENTIFIER_COLUMN, type Row } from "../../src/input/types.js";
import { FailuresFile, csvField, type FailuresLayout } from "../../src/report/failures-file.js";
import { useTempDir } from "./helpers.js";

const tempDir = useTempDir();

/** Writes rows to a failures file and returns its text. */
async function writeFailures(layout: FailuresLayout, rows: ReadonlyArray<[Row, string]>): Promise<string> {
  const path = join(await tempDir(), "failures");
  const file = await FailuresFile.open(path, layout);
  for (const [row, error] of rows) await file.write(row, error);
  expect(file.count).toBe(rows.length);
  await file.close();
  return readFile(path, "utf8");
}

/** Values that break naive CSV: the delimiter, quotes, CR/LF, a TAB, non-ASCII. */
const tricky: Record<string, string> = {
  email: 'a,"b"@example.com',
  company: "Acme\nInc.\r\nLtd",
  note: "tab\there, ünïcode",
};

describe("csvField", () => {
  it.each([
    ["plain", ",", "plain"],
    ["a,b", ",", '"a,b"'],
    ['say "hi"', ",", '"say ""hi"""'],
    ["two\nlines", ",", '"two\nlines"'],
    ["cr\r", ",", '"cr\r"'],
    ["a,b", "\t", "a,b"],
    ["a\tb", "\t", '"a\tb"'],
    ["", ",", ""],
  ])("csvField(%j, %j) = %j", (value, delimiter, expected) => {
    expect(csvField(value, delimiter)).toBe(expected);
  });
});

describe("FailuresFile round trip", () => {
  it.each([
    ["csv", ","],
    ["tsv", "\t"],
    ["csv", ";"],
  ] as const)("%s with delimiter %j: same header plus cio_rel_error, fields intact", async (format, delimiter) => {
    const columns = ["email", "company", "note"];
    const text = await writeFailures({ format, headerless: false, columns, delimiter }, [
      [{ index: 2, line: 2, fields: { ...tricky } }, 'HTTP 207: person "a" not found, field identifiers'],
      [{ index: 5, line: 5, fields: { email: "b@example.com", company: "", note: "x" } }, "timed out\nafter 8 retries"],
    ]);
    const records = parse<Record<string, string>>(text, { delimiter, columns: true, relax_column_count: false });
    expect(Object.keys(records[0] ?? {})).toEqual([...columns, ERROR_COLUMN]);
    expect(records).toEqual([
      { ...tricky, [ERROR_COLUMN]: 'HTTP 207: person "a" not found, field identifiers' },
      { email: "b@example.com", company: "", note: "x", [ERROR_COLUMN]: "timed out\nafter 8 retries" },
    ]);
  });

  it("csv: tsv defaults to a TAB delimiter and columns may be a late-bound function", async () => {
    let known: string[] | undefined;
    const layout: FailuresLayout = { format: "tsv", headerless: false, columns: () => known };
    const path = join(await tempDir(), "f.tsv");
    const file = await FailuresFile.open(path, layout);
    known = ["id", "org"];
    // Field order follows columns, not the row object's key order.
    await file.write({ index: 3, line: 3, fields: { org: "acme", id: "42" } }, "bad");
    await file.close();
    expect(await readFile(path, "utf8")).toBe(`id\torg\t${ERROR_COLUMN}\n42\tacme\tbad\n`);
  });

  it("csv with no failed rows still has its header", async () => {
    const text = await writeFailures({ format: "csv", headerless: false, columns: ["id", "org"] }, []);
    expect(text).toBe(`id,org,${ERROR_COLUMN}\n`);
  });

  it("csv without known columns uses the first row's keys", async () => {
    const text = await writeFailures({ format: "csv", headerless: false }, [[{ index: 2, line: 2, fields: { id: "1", org: "a,b" } }, "x"]]);
    expect(text).toBe(`id,org,${ERROR_COLUMN}\n1,"a,b",x\n`);
  });

  it("headerless csv: identifier,error rows and no header", async () => {
    const text = await writeFailures({ format: "csv", headerless: true }, [
      [{ index: 1, line: 1, fields: { [IDENTIFIER_COLUMN]: "a,b@example.com" } }, 'invalid: "quoted"'],
      [{ index: 4, line: 4, fields: { [IDENTIFIER_COLUMN]: "42" } }, "HTTP 500"],
    ]);
    expect(parse(text, { columns: false })).toEqual([
      ["a,b@example.com", 'invalid: "quoted"'],
      ["42", "HTTP 500"],
    ]);
  });

  it("lines: identifier TAB error, the error kept on one line without tabs", async () => {
    const text = await writeFailures({ format: "lines", headerless: true }, [
      [{ index: 1, line: 1, fields: { [IDENTIFIER_COLUMN]: "a@example.com" } }, "first\nsecond\tthird"],
      [{ index: 9, line: 9, fields: { [IDENTIFIER_COLUMN]: "42" } }, "HTTP 503"],
    ]);
    const lines = text.split("\n");
    expect(lines).toEqual(["a@example.com\tfirst second third", "42\tHTTP 503", ""]);
    // What the lines reader keeps: everything before the first TAB.
    expect(lines.slice(0, 2).map((l) => l.split("\t")[0])).toEqual(["a@example.com", "42"]);
  });

  it("json: a valid array of the rows plus cio_rel_error, JSON types kept", async () => {
    const rows: Array<[Row, string]> = [
      [{ index: 2, line: 2, fields: { id: 42, org: tricky["company"], tags: ["a", "b"], active: true, missing: null } }, "bad id"],
      [{ index: 7, line: 7, fields: { email: tricky["email"], nested: { x: 1 } } }, "HTTP 207:\nnot found"],
    ];
    const parsed = JSON.parse(await writeFailures({ format: "json", headerless: false }, rows)) as unknown[];
    expect(parsed).toEqual(rows.map(([row, error]) => ({ ...row.fields, [ERROR_COLUMN]: error })));
    expect(Object.keys(parsed[0] as object).at(-1)).toBe(ERROR_COLUMN);
  });

  it("json with no failed rows is an empty array", async () => {
    expect(JSON.parse(await writeFailures({ format: "json", headerless: false }, []))).toEqual([]);
  });

  it("ndjson: one row plus cio_rel_error per line", async () => {
    const rows: Array<[Row, string]> = [
      [{ index: 1, line: 1, fields: { id: "1", org: "a\nb" } }, "x"],
      [{ index: 2, line: 2, fields: { id: 2 } }, 'quote " and, comma'],
    ];
    const text = await writeFailures({ format: "ndjson", headerless: false }, rows);
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(rows.map(([row, error]) => ({ ...row.fields, [ERROR_COLUMN]: error })));
  });

  it("ndjson with no failed rows is an empty file", async () => {
    expect(await writeFailures({ format: "ndjson", headerless: false }, [])).toBe("");
  });
});
