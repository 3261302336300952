import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError, UsageError } from "../../src/errors.js";
import { detectFormat, openRowSource } from "../../src/input/open.js";
import type { Row } from "../../src/input/types.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cio-rel-input-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

async function rowsOf(path: string, options = {}): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of (await openRowSource(path, options)).rows()) rows.push(row);
  return rows;
}

describe("detectFormat", () => {
  it.each([
    ["people.csv", "csv"],
    ["PEOPLE.CSV", "csv"],
    ["dir.v2/people.tsv", "tsv"],
    ["rows.json", "json"],
    ["rows.ndjson", "ndjson"],
    ["rows.jsonl", "ndjson"],
    ["ids.txt", "lines"],
    ["people.xlsx", undefined],
    ["people", undefined],
  ])("%s -> %s", (path, format) => {
    expect(detectFormat(path)).toBe(format);
  });
});

describe("openRowSource on files", () => {
  it.each([
    ["people.csv", "id,role\n1,a\n", { id: "1", role: "a" }],
    ["people.tsv", "id\trole\n1\ta\n", { id: "1", role: "a" }],
    ["people.json", '[{"id":"1","role":"a"}]', { id: "1", role: "a" }],
    ["people.jsonl", '{"id":"1","role":"a"}\n', { id: "1", role: "a" }],
    ["ids.txt", "1\n", { "": "1" }],
  ])("reads %s by its extension", async (name, content, fields) => {
    const path = await file(name, content);
    const source = await openRowSource(path);
    expect(source.displayName).toBe(path);
    expect(source.totalBytes).toBe(Buffer.byteLength(content));
    const rows: Row[] = [];
    for await (const row of source.rows()) rows.push(row);
    expect(rows.map((r) => r.fields)).toEqual([fields]);
    expect(source.bytesRead()).toBe(Buffer.byteLength(content));
  });

  it("names the file and line of a malformed row", async () => {
    const path = await file("people.csv", "id,email,role\n1,a@x.io,admin\n2,b@x.io,member\n\n3,c@x.io,admin\n4,d@x.io,admin\n5,e@x.io,admin,extra\n");
    const error = await rowsOf(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toBe(`${path}:7: row has 4 fields, header has 3`);
    expect([(error as InputError).file, (error as InputError).line]).toEqual([path, 7]);
  });

  it("lets --format override the extension", async () => {
    const path = await file("export.dat", "u1\nu2\n");
    expect((await rowsOf(path, { format: "lines" })).map((r) => r.fields[""])).toEqual(["u1", "u2"]);
  });

  it("refuses an unknown extension without --format", async () => {
    const path = await file("people.xlsx", "id\n1\n");
    await expect(openRowSource(path)).rejects.toThrow(UsageError);
    await expect(openRowSource(path)).rejects.toThrow(
      `cannot tell the format of ${path} from its extension: pass --format csv|tsv|json|ndjson|lines`,
    );
  });

  it.each([
    ["a missing file", "missing.csv", "no such file"],
    ["a directory", "folder.csv", "is a directory"],
  ])("%s is an InputError naming it", async (_name, base, reason) => {
    await mkdir(join(dir, "folder.csv"), { recursive: true });
    const path = join(dir, base);
    const error = await openRowSource(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toBe(`${path}: cannot read: ${reason}`);
    expect((error as InputError).file).toBe(path);
  });

  it.each(["", '"', "\n"])("refuses the delimiter %j", async (delimiter) => {
    const path = await file("d.csv", "id\n1\n");
    await expect(openRowSource(path, { delimiter })).rejects.toThrow(UsageError);
  });

  it("streams a large file in batches, reporting progress, and can stop early", async () => {
    const lines = ["user_id,account_id,role"];
    for (let i = 0; i < 20_000; i++) lines.push(`user_${i},acct_${i % 7},${i % 2 ? "admin" : "member"}`);
    const content = lines.join("\n") + "\n";
    const path = await file("big.csv", content);
    const size = Buffer.byteLength(content);

    const source = await openRowSource(path);
    let batches = 0;
    let count = 0;
    let lastLine = 0;
    for await (const batch of source.rowBatches()) {
      if (batches === 0) expect(source.bytesRead()).toBeLessThan(size); // not read whole up front
      batches++;
      for (const row of batch) {
        expect(row.line).toBe(lastLine === 0 ? 2 : lastLine + 1);
        lastLine = row.line;
        count++;
      }
    }
    expect(batches).toBeGreaterThan(1);
    expect(count).toBe(20_000);
    expect(lastLine).toBe(20_001);
    expect(source.bytesRead()).toBe(size);
    expect(source.columns()).toEqual(["user_id", "account_id", "role"]);

    const early = await openRowSource(path);
    for await (const row of early.rows()) {
      expect(row.fields).toEqual({ user_id: "user_0", account_id: "acct_0", role: "member" });
      break;
    }
    expect(early.bytesRead()).toBeLessThan(size);
  });

  it("reads its rows only once", async () => {
    const source = await openRowSource(await file("once.csv", "id\n1\n"));
    for await (const _ of source.rowBatches()) break;
    expect(() => source.rowBatches()).toThrow("can be read only once");
    await expect(source.rows()[Symbol.asyncIterator]().next()).rejects.toThrow("can be read only once");
  });
});
