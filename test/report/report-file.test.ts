import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ReportFile, reportLine } from "../../src/report/report-file.js";
import { useTempDir } from "./helpers.js";

const tempDir = useTempDir();

describe("reportLine", () => {
  it("labels person and object, and adds error only where there is one", () => {
    expect(
      reportLine({ row: 2, line: 2, outcome: { kind: "applied" }, person: { key: "id", value: "42" }, object: { typeId: "1", id: "acme" } }),
    ).toEqual({
      line: 2,
      row: 2,
      outcome: "applied",
      person: "id:42",
      object: "1:acme",
    });
    expect(
      reportLine({
        row: 3,
        line: 3,
        outcome: { kind: "failed", reason: "person not found", status: 207 },
        person: { key: "email", value: "a@b.c" },
        object: { cioObjectId: "x1" },
      }),
    ).toEqual({ line: 3, row: 3, outcome: "failed", person: "email:a@b.c", object: "cio_object_id:x1", error: "person not found" });
    expect(reportLine({ row: 4, line: 4, outcome: { kind: "invalid", reason: 'column "email" is empty' } })).toEqual({
      line: 4,
      row: 4,
      outcome: "invalid",
      person: null,
      object: null,
      error: 'column "email" is empty',
    });
    expect(
      reportLine({
        row: 5,
        line: 5,
        outcome: { kind: "duplicate", supersededBy: 9 },
        person: { key: "id", value: "1" },
        object: { typeId: "1", id: "a" },
      }),
    ).not.toHaveProperty("error");
  });
});

describe("ReportFile", () => {
  it("writes one NDJSON line per row, in arrival order, with the keys in order", async () => {
    const path = join(await tempDir(), "report.ndjson");
    const report = await ReportFile.open(path);
    await report.write({ row: 9, line: 9, outcome: { kind: "applied" }, person: { key: "id", value: "42" }, object: { typeId: "1", id: "acme" } });
    await report.write({
      row: 2,
      line: 2,
      outcome: { kind: "skipped", reason: "HTTP 401: unauthorized" },
      person: { key: "id", value: "7" },
      object: { typeId: "1", id: "acme" },
    });
    await report.write({ row: 3, line: 3, outcome: { kind: "invalid", reason: "bad id" } });
    await report.close();
    const text = await readFile(path, "utf8");
    expect(text.split("\n")).toEqual([
      '{"line":9,"row":9,"outcome":"applied","person":"id:42","object":"1:acme"}',
      '{"line":2,"row":2,"outcome":"skipped","person":"id:7","object":"1:acme","error":"HTTP 401: unauthorized"}',
      '{"line":3,"row":3,"outcome":"invalid","person":null,"object":null,"error":"bad id"}',
      "",
    ]);
  });

  it("keeps every line of a large report written by concurrent callers", async () => {
    const path = join(await tempDir(), "big.ndjson");
    const report = await ReportFile.open(path);
    const writes: Array<Promise<void>> = [];
    for (let line = 1; line <= 20_000; line++) {
      writes.push(
        report.write({ row: line, line, outcome: { kind: "applied" }, person: { key: "id", value: String(line) }, object: { typeId: "1", id: "a" } }),
      );
    }
    await Promise.all(writes);
    await report.close();
    const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
    expect(lines).toHaveLength(20_000);
    expect(lines.map((l) => (JSON.parse(l) as { line: number }).line)).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1));
  });

  it("refuses writes after close", async () => {
    const report = await ReportFile.open(join(await tempDir(), "r.ndjson"));
    await report.close();
    await expect(report.write({ row: 1, line: 1, outcome: { kind: "applied" } })).rejects.toThrow(/closed/);
  });
});
