import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { InputOptions } from "../../src/commands/options.js";
import type { SettledRow } from "../../src/commands/outcomes.js";
import { startPipeline, type PipelineOptions } from "../../src/commands/pipeline.js";
import { openRowSource } from "../../src/input/open.js";
import type { Outcome } from "../../src/model/types.js";
import { Tally } from "../../src/report/tally.js";
import { FakeTransport, indicesOf, memorySource, rowsOf, testMapper, until } from "./fakes.js";

// The pipeline end to end with a fake BatchTransport: rows in, batches out, every row one outcome.

const AUTH = { kind: "auth" as const, status: 401, reason: "authentication refused (401): check CIO_SITE_ID and CIO_API_KEY" };

/** Input options with the smallest batches the planner allows (an operation of 32,000 bytes and the batch frame). */
function inputOf(over: Partial<InputOptions> = {}): InputOptions {
  return { path: "rows.ndjson", header: true, objectType: "1", emptyRemoves: false, groupBy: "object", windowSize: 4, batchBytes: 32_012, ...over };
}

/** n valid rows, row i relating person p{i} to object o{i}; the person ids are long enough that a batch holds one row. */
function distinct(n: number): Array<{ p: string; o: string }> {
  return Array.from({ length: n }, (_, i) => ({ p: `p${i + 1}-`.padEnd(17_000, "x"), o: `o${i + 1}` }));
}

/** Runs the pipeline over `specs` with a send sink on `transport`; returns the tally and the settled rows by index. */
async function runOf(
  specs: Parameters<typeof rowsOf>[0],
  transport: FakeTransport,
  over: Partial<PipelineOptions> & { concurrency?: number; maxErrors?: number; mapFromFlags?: boolean } = {},
) {
  const tally = new Tally();
  const settled = new Map<number, SettledRow[]>();
  const journal: { applied: number[]; failed: number[] }[] = [];
  const { concurrency = 2, maxErrors, mapFromFlags = false, ...rest } = over;
  const { control, done } = startPipeline({
    action: "add_relationships",
    input: inputOf(),
    source: memorySource(rowsOf(specs)),
    ...(mapFromFlags ? {} : { mapper: testMapper }),
    sink: { kind: "send", transport, concurrency, ...(maxErrors !== undefined ? { maxErrors } : {}) },
    rows: {
      settle: (s) => {
        settled.set(s.index, [...(settled.get(s.index) ?? []), s]);
      },
    },
    tally,
    keepRows: true,
    journal: {
      record: async (applied, failed) => {
        journal.push({ applied: [...applied], failed: failed.map((f) => f.index) });
      },
    },
    ...rest,
  });
  return { control, done, tally, settled, journal };
}

/** Every row 1..n settled exactly once, and the tally balanced. */
function expectEachOnce(settled: Map<number, SettledRow[]>, tally: Tally, n: number): void {
  expect([...settled.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  for (const [index, list] of settled) expect(list, `row ${index}`).toHaveLength(1);
  expect(tally.rowsRead).toBe(n);
  expect(tally.balanced()).toBe(true);
}

const kinds = (settled: Map<number, SettledRow[]>): Record<number, string> =>
  Object.fromEntries([...settled].map(([i, [s]]) => [i, s?.outcome.kind ?? "?"]));

describe("startPipeline with a fake transport", () => {
  it("every row ends in exactly one outcome: applied, invalid, duplicate (later attributes win), failed", async () => {
    const transport = new FakeTransport({
      answer: () => ({ outcome: (r) => (r.person.value === "bad" ? { kind: "failed", reason: "no" } : { kind: "applied" }) }),
    });
    const { done, tally, settled } = await runOf(
      [
        { p: "a", o: "x", a: "1" },
        { p: "b", o: "y" },
        { p: "c", o: "z", bad: "no person" },
        { p: "a", o: "x", a: "2" },
        { p: "bad", o: "w" },
      ],
      transport,
      { input: inputOf({ attributes: ["a"] }) },
    );
    const result = await done;
    expectEachOnce(settled, tally, 5);
    expect(kinds(settled)).toEqual({ 1: "duplicate", 2: "applied", 3: "invalid", 4: "applied", 5: "failed" });
    expect(transport.sent.flatMap(indicesOf).sort()).toEqual([2, 4, 5]);
    expect(result.halt).toBeUndefined();
    // The failures file gets the input row of every row that did not make it.
    expect(settled.get(5)?.[0]?.row?.fields).toEqual({ p: "bad", o: "w" });
  });

  it.each([1, 2, 4])("a 401 in a settlement stops dispatch; every later row is settled skipped (concurrency %i)", async (concurrency) => {
    const transport = new FakeTransport({ answer: () => ({ outcome: () => ({ kind: "skipped", reason: AUTH.reason }), halt: AUTH }) });
    const { done, tally, settled, journal } = await runOf(distinct(30), transport, { concurrency });
    const result = await done;
    expect(result.halt).toEqual(AUTH);
    expectEachOnce(settled, tally, 30);
    expect(tally.count("skipped")).toBe(30);
    // Only batches already in flight when the 401 came were sent.
    expect(transport.sent.length).toBeLessThanOrEqual(concurrency);
    expect(journal).toEqual([]);
  });

  it("--max-errors: the run halts once that many rows failed, the rest skipped", async () => {
    const transport = new FakeTransport({ answer: () => ({ outcome: () => ({ kind: "failed", reason: "400 bad" }) }) });
    const { done, tally, settled, journal } = await runOf(distinct(20), transport, { concurrency: 1, maxErrors: 3 });
    const result = await done;
    expect(result.halt).toEqual({ kind: "max-errors", reason: "not sent: --max-errors 3 reached" });
    expectEachOnce(settled, tally, 20);
    expect(tally.count("failed")).toBe(3);
    expect(tally.count("skipped")).toBe(17);
    expect(journal.flatMap((j) => j.failed)).toEqual([1, 2, 3]);
  });

  it("concurrency is respected across the whole run", async () => {
    const transport = new FakeTransport({ manual: true });
    const { done, tally, settled } = await runOf(distinct(25), transport, { concurrency: 3 });
    for (let answered = 0; answered < 25; answered++) {
      await until(() => transport.waiting.length > 0);
      expect(transport.waiting.length).toBeLessThanOrEqual(3);
      transport.release();
    }
    await done;
    expect(transport.sent.every((b) => indicesOf(b).length === 1)).toBe(true);
    expect(transport.maxInFlight).toBe(3);
    expectEachOnce(settled, tally, 25);
  });

  it("while no answer comes, reading stops once the slots are taken and one full batch waits", async () => {
    const transport = new FakeTransport({ manual: true });
    // ~29 rows of 17 KB per 500 KB batch, planned in windows of 4 rows.
    const { done, tally, settled } = await runOf(distinct(400), transport, {
      concurrency: 2,
      input: inputOf({ batchBytes: 500_000 }),
      windowOnly: true,
    });
    await until(() => transport.waiting.length === 2);
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    const perBatch = Math.floor(500_000 / 17_020);
    // 2 in flight, 1 taken for the next slot, 1 queued, and the window.
    expect(tally.rowsRead).toBeLessThanOrEqual(4 * perBatch + 8);
    while (settled.size < 400) {
      await until(() => transport.waiting.length > 0 || settled.size === 400);
      if (transport.waiting.length > 0) transport.release();
    }
    await done;
    expectEachOnce(settled, tally, 400);
  });

  it("resume: rows the journal settled keep their outcome and are not sent; resume is asked once per row", async () => {
    const transport = new FakeTransport();
    const previous = new Map<number, Outcome>([
      [2, { kind: "applied" }],
      [3, { kind: "failed", reason: "bad id" }],
      [7, { kind: "applied" }],
    ]);
    const asked: number[] = [];
    const { done, tally, settled, journal } = await runOf(distinct(9), transport, {
      resume: {
        isSettled: () => {
          throw new Error("isSettled is not the pipeline's question");
        },
        outcomeOf: (i) => {
          asked.push(i);
          return previous.get(i);
        },
      },
    });
    await done;
    expectEachOnce(settled, tally, 9);
    expect(asked).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(transport.sent.flatMap(indicesOf).sort()).toEqual([1, 4, 5, 6, 8, 9]);
    expect(settled.get(3)?.[0]?.outcome).toEqual({ kind: "failed", reason: "bad id" });
    expect(journal.flatMap((j) => j.applied).sort()).toEqual([1, 4, 5, 6, 8, 9]);
  });

  it("resume: a journalled row superseded by a later duplicate is neither sent nor reported twice", async () => {
    const transport = new FakeTransport();
    const { done, tally, settled } = await runOf(
      [
        { p: "a", o: "x" },
        { p: "b", o: "y" },
        { p: "a", o: "x" },
      ],
      transport,
      {
        resume: { isSettled: () => false, outcomeOf: (i) => (i === 1 ? { kind: "applied" } : undefined) },
      },
    );
    await done;
    expectEachOnce(settled, tally, 3);
    expect(kinds(settled)).toEqual({ 1: "applied", 2: "applied", 3: "applied" });
    expect(transport.sent.flatMap(indicesOf).sort()).toEqual([2, 3]);
  });

  it("an interrupt stops reading: the rows read are settled once, the rest are not read", async () => {
    const transport = new FakeTransport({ manual: true });
    const { control, done, tally, settled } = await runOf(distinct(200), transport, { concurrency: 1 });
    await until(() => transport.waiting.length === 1);
    control.interrupt();
    transport.release();
    const result = await done;
    expect(result.halt?.kind).toBe("interrupted");
    expect(tally.rowsRead).toBeLessThan(200);
    expectEachOnce(settled, tally, tally.rowsRead);
  });

  it("plannedRows (sync's plan): an interrupt still settles every row, the unsent ones skipped", async () => {
    const transport = new FakeTransport({ manual: true });
    const { control, done, tally, settled } = await runOf(distinct(200), transport, { concurrency: 1, plannedRows: true });
    await until(() => transport.waiting.length === 1);
    control.interrupt();
    transport.release();
    const result = await done;
    expect(result.halt?.kind).toBe("interrupted");
    expectEachOnce(settled, tally, 200);
    expect(tally.count("applied")).toBe(1);
    expect(tally.count("skipped")).toBe(199);
  });

  it("halted from the start (sync's deletions after its additions halted): nothing sent, every row skipped with that reason", async () => {
    const transport = new FakeTransport();
    const { done, tally, settled } = await runOf(distinct(10), transport, { plannedRows: true, halted: AUTH });
    const result = await done;
    expect(transport.sent).toEqual([]);
    expectEachOnce(settled, tally, 10);
    expect(new Set([...settled.values()].map(([s]) => (s?.outcome.kind === "skipped" ? s.outcome.reason : "")))).toEqual(new Set([AUTH.reason]));
    expect(result.halt).toEqual(AUTH);
  });
});

describe("a CSV's rows in blocks (issue 16: no object per row)", () => {
  const HALT = { kind: "max-errors" as const, reason: "not sent: --max-errors 1 reached" };
  it.each([
    { name: "sent and failed (the failures file's rows)", halted: undefined, kinds: ["failed", "invalid"] },
    { name: "skipped after a halt", halted: HALT, kinds: ["invalid", "skipped"] },
  ])("the rows an outcome keeps are their own, not the mapper's lent view: invalid, and $name", async ({ halted, kinds }) => {
    const dir = mkdtempSync(join(tmpdir(), "cio-rel-blocks-"));
    try {
      // 12 rows in one block: rows 3 and 7 name no person; every row's cells name its own index.
      const person = (index: number): string => (index === 3 || index === 7 ? "" : `u${index}`);
      const lines = Array.from({ length: 12 }, (_, i) => `${person(i + 1)},acct_${i + 1},role-${i + 1}`);
      const path = join(dir, "rows.csv");
      writeFileSync(path, `user_id,account_id,role\n${lines.join("\n")}\n`);
      const source = await openRowSource(path);
      expect(typeof source.rowBlocks).toBe("function");
      const transport = new FakeTransport({ answer: () => ({ outcome: () => ({ kind: "failed", reason: "400 bad" }) }) });
      const { done, tally, settled } = await runOf([], transport, {
        source,
        mapFromFlags: true,
        input: inputOf({ path, personColumn: "user_id", objectColumn: "account_id", attributes: ["role"] }),
        ...(halted !== undefined ? { halted } : {}),
      });
      await done;
      expectEachOnce(settled, tally, 12);
      const outcomes = new Set<string>();
      for (const [index, [s]] of settled) {
        outcomes.add(s?.outcome.kind ?? "?");
        expect(s?.row?.fields, `row ${index}`).toEqual({ user_id: person(index), account_id: `acct_${index}`, role: `role-${index}` });
        expect(s?.row?.line).toBe(index + 1);
      }
      expect([...outcomes].sort()).toEqual(kinds);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
