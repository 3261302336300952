import { describe, expect, it } from "vitest";
import type { SettledRow } from "../../src/commands/outcomes.js";
import type { Row } from "../../src/input/types.js";
import { Settler, type SettlerOptions } from "../../src/pipeline/settler.js";
import { OutputError } from "../../src/report/outputs.js";
import { Tally } from "../../src/report/tally.js";
import type { BatchSettlement, RowSettlement } from "../../src/transport/types.js";
import { batchOf, rel } from "./fakes.js";

/** A settler over a fresh tally, with a sink and a journal that record what they are given. */
function settlerOf(o: Partial<SettlerOptions> & { ignoresApplied?: boolean; sinkFails?: Error } = {}) {
  const tally = new Tally();
  const sunk: SettledRow[] = [];
  const journal: { applied: number[]; failed: { index: number; reason: string }[] }[] = [];
  const settler = new Settler({
    tally,
    keepRows: false,
    rows: {
      settle: (s) => {
        sunk.push(s);
        if (o.sinkFails !== undefined) return Promise.reject(o.sinkFails);
      },
      ...(o.ignoresApplied === true ? { ignoresApplied: true } : {}),
    },
    journal: {
      record: async (applied, failed) => {
        await new Promise((r) => setImmediate(r));
        journal.push({ applied: [...applied], failed: [...failed] });
      },
    },
    ...o,
  });
  return { settler, tally, sunk, journal };
}

const failed = (reason: string, retry?: boolean): RowSettlement["outcome"] =>
  retry === true ? { kind: "failed", reason, retry: true } : { kind: "failed", reason };

/** A settlement of the batch of rows `indices`, with outcomes by index (applied otherwise). */
function settlementOf(seq: number, indices: number[], outcomes: Record<number, RowSettlement["outcome"]> = {}): BatchSettlement {
  const batch = batchOf(seq, ...indices.map((i) => rel(i, `p${i}`, `o${i}`)));
  return { batch, rows: indices.map((index) => ({ index, line: index, outcome: outcomes[index] ?? { kind: "applied" } })) };
}

describe("Settler", () => {
  it("settles every row of a batch once, with its relationship; journals only what Customer.io answered", async () => {
    const { settler, tally, sunk, journal } = settlerOf();
    await settler.batch(
      settlementOf(0, [1, 2, 3, 4], { 2: failed("bad id"), 3: failed("503 after 8 retries", true), 4: { kind: "skipped", reason: "x" } }),
    );
    expect(sunk.map((s) => [s.index, s.outcome.kind, s.relationship?.person.value])).toEqual([
      [1, "applied", "p1"],
      [2, "failed", "p2"],
      [3, "failed", "p3"],
      [4, "skipped", "p4"],
    ]);
    expect(tally.snapshot()).toMatchObject({ applied: 1, failed: 2, skipped: 1 });
    // The transient failure (3) and the skipped row (4) are not journalled: --resume sends them again.
    expect(journal).toEqual([{ applied: [1], failed: [{ index: 2, reason: "bad id" }] }]);
    expect(settler.retryableFailures).toBe(1);
    expect(settler.halt).toBeUndefined();
  });

  it("writes nothing to the journal for a batch with nothing answered", async () => {
    const { settler, journal } = settlerOf();
    await settler.batch(settlementOf(0, [1], { 1: failed("timeout", true) }));
    expect(journal).toEqual([]);
  });

  it("journal writes of concurrent settlements go one after another, in settlement order", async () => {
    const { settler, journal } = settlerOf();
    await Promise.all([settler.batch(settlementOf(0, [1, 2])), settler.batch(settlementOf(1, [3])), settler.batch(settlementOf(2, [4, 5]))]);
    await settler.drained();
    expect(journal.map((j) => j.applied)).toEqual([[1, 2], [3], [4, 5]]);
  });

  it("applied rows skip a sink that ignores them, but are counted", async () => {
    const { settler, tally, sunk } = settlerOf({ ignoresApplied: true });
    await settler.batch(settlementOf(0, [1, 2], { 2: failed("bad") }));
    expect(sunk.map((s) => s.index)).toEqual([2]);
    expect(tally.settled()).toBe(2);
  });

  it.each([
    ["auth", { kind: "auth" as const, status: 401, reason: "authentication refused (401): check CIO_SITE_ID and CIO_API_KEY" }],
    ["gave-up", { kind: "gave-up" as const, reason: "not sent: gave up after 60 s without a successful request (an outage?)" }],
  ])("a settlement carrying a %s halt halts the run; the first halt wins", async (_kind, halt) => {
    const { settler } = settlerOf();
    await settler.batch(settlementOf(0, [1]));
    expect(settler.halt).toBeUndefined();
    await settler.batch({ ...settlementOf(1, [2], { 2: { kind: "skipped", reason: halt.reason } }), halt });
    expect(settler.halt).toEqual(halt);
    await settler.batch({ ...settlementOf(2, [3]), halt: { kind: "gave-up", reason: "later" } });
    settler.stop({ kind: "interrupted", reason: "not sent: interrupted" });
    expect(settler.halt).toEqual(halt);
  });

  it.each([1, 2, 3])("--max-errors %i halts once that many rows failed", async (max) => {
    const { settler } = settlerOf({ maxErrors: max });
    let seq = 0;
    for (let i = 1; i < max; i++) {
      await settler.batch(settlementOf(seq++, [i], { [i]: failed("bad") }));
      expect(settler.halt).toBeUndefined();
    }
    await settler.batch(settlementOf(seq++, [max, max + 1], { [max]: failed("bad") }));
    expect(settler.halt).toEqual({ kind: "max-errors", reason: `not sent: --max-errors ${max} reached` });
  });

  it("skip() settles every row of a batch as skipped with the reason", async () => {
    const { settler, tally, sunk } = settlerOf();
    await settler.skip(batchOf(0, rel(1, "a", "x"), rel(2, "b", "y")), "not sent: interrupted");
    expect(sunk.map((s) => [s.index, s.outcome])).toEqual([
      [1, { kind: "skipped", reason: "not sent: interrupted" }],
      [2, { kind: "skipped", reason: "not sent: interrupted" }],
    ]);
    expect(tally.count("skipped")).toBe(2);
  });

  it("a held input row reaches the sink with its outcome (the failures file), and is let go", async () => {
    const { settler, sunk } = settlerOf({ keepRows: true });
    const row = (index: number): Row => ({ index, line: index + 10, fields: { p: `p${index}` } });
    settler.hold(row(1));
    settler.hold(row(2));
    await settler.batch(settlementOf(0, [1, 2], { 2: failed("bad") }));
    expect(sunk.map((s) => s.row?.line)).toEqual([11, 12]);
    // A row settles once: a second settlement of index 2 has no row left to attach.
    await settler.batch(settlementOf(1, [2]));
    expect(sunk[2]?.row).toBeUndefined();
  });

  it("keepRows: the planner's row is looked up only for the outcomes the sink needs it for (issue 16: the failures file, not a million applied rows)", async () => {
    const asked: number[] = [];
    const rowOf = (r: { index: number }): Row => {
      asked.push(r.index);
      return { index: r.index, line: r.index + 10, fields: { p: `p${r.index}` } };
    };
    const sunk: SettledRow[] = [];
    const settler = new Settler({
      tally: new Tally(),
      keepRows: true,
      rowOf,
      rows: { settle: (s) => void sunk.push(s), needsRow: (outcome) => outcome.kind !== "applied" },
    });
    await settler.batch(settlementOf(0, [1, 2, 3], { 2: failed("bad id"), 3: { kind: "skipped", reason: "halted" } }));
    expect(asked).toEqual([2, 3]);
    expect(sunk.map((s) => [s.index, s.outcome.kind, s.row?.line])).toEqual([
      [1, "applied", undefined],
      [2, "failed", 12],
      [3, "skipped", 13],
    ]);
    // Without needsRow (the verify command), every row gets its input row.
    const all = settlerOf({ keepRows: true, rowOf });
    await all.settler.batch(settlementOf(1, [4, 5], { 5: failed("bad") }));
    expect(all.sunk.map((s) => s.row?.line)).toEqual([14, 15]);
  });

  it("an output that cannot be written halts sending and is kept for the exit code; the earlier halt keeps its reason", async () => {
    const error = new OutputError("/tmp/report.csv", Object.assign(new Error("no space"), { code: "ENOSPC" }));
    const { settler } = settlerOf({ sinkFails: error });
    await settler.batch(settlementOf(0, [1]));
    expect(settler.halt).toMatchObject({ kind: "output", error });
    expect(settler.outputError).toBe(error);

    const second = settlerOf({ sinkFails: error });
    second.settler.stop({ kind: "interrupted", reason: "not sent: interrupted" });
    await second.settler.batch(settlementOf(0, [1]));
    expect(second.settler.halt?.kind).toBe("interrupted");
    expect(second.settler.outputError).toBe(error);
  });

  it("a journal that cannot be written is an output failure too", async () => {
    const error = new OutputError("/tmp/j", new Error("EIO"));
    const tally = new Tally();
    const settler = new Settler({ tally, keepRows: false, rows: { settle: () => undefined }, journal: { record: () => Promise.reject(error) } });
    await settler.batch(settlementOf(0, [1]));
    expect(settler.outputError).toBe(error);
    expect(settler.halt?.kind).toBe("output");
  });

  it("any other sink error is a bug and is thrown", async () => {
    const { settler } = settlerOf({ sinkFails: new TypeError("bug") });
    await expect(settler.batch(settlementOf(0, [1]))).rejects.toThrow("bug");
  });

  it("planned() (dry run) counts rows as applied without the sink", () => {
    const { settler, tally, sunk } = settlerOf();
    settler.planned(batchOf(0, rel(1, "a", "x"), rel(2, "b", "y")));
    expect(tally.count("applied")).toBe(2);
    expect(sunk).toEqual([]);
  });
});
