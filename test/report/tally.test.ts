import { describe, expect, it } from "vitest";
import { Tally, outcomeError } from "../../src/report/tally.js";

describe("Tally", () => {
  it("counts each outcome and checks rows read = sum of the five", () => {
    const t = new Tally();
    for (let i = 0; i < 7; i++) t.read();
    t.record(2 + 100, 2, { kind: "applied" });
    t.record(3 + 100, 3, { kind: "applied" });
    t.record(4 + 100, 4, { kind: "failed", reason: "HTTP 500", status: 500 });
    t.record(5 + 100, 5, { kind: "invalid", reason: 'column "email" is empty' });
    t.record(6 + 100, 6, { kind: "duplicate", supersededBy: 8 });
    expect(t.balanced()).toBe(false);
    expect(() => t.assertBalanced()).toThrow(/7 rows read, but applied 2 \+ failed 1 \+ invalid 1 \+ duplicate 1 \+ skipped 0 \+ unconfirmed 0 = 5/);
    t.record(7 + 100, 7, { kind: "skipped", reason: "stopped" });
    t.record(8 + 100, 8, { kind: "applied" });
    expect(t.balanced()).toBe(true);
    expect(() => t.assertBalanced()).not.toThrow();
    expect(t.snapshot()).toEqual({
      rows: 7,
      applied: 3,
      failed: 1,
      invalid: 1,
      duplicate: 1,
      skipped: 1,
      unconfirmed: 0,
      problems: [
        { row: 104, line: 4, kind: "failed", reason: "HTTP 500" },
        { row: 105, line: 5, kind: "invalid", reason: 'column "email" is empty' },
        { row: 107, line: 7, kind: "skipped", reason: "stopped" },
      ],
      groups: [
        { kind: "failed", reason: "HTTP 500", count: 1, first: { row: 104, line: 4, kind: "failed", reason: "HTTP 500" } },
        {
          kind: "invalid",
          reason: 'column "email" is empty',
          count: 1,
          first: { row: 105, line: 5, kind: "invalid", reason: 'column "email" is empty' },
        },
        { kind: "skipped", reason: "stopped", count: 1, first: { row: 107, line: 7, kind: "skipped", reason: "stopped" } },
      ],
    });
    expect(t.problemCount()).toBe(3);
  });

  it("keeps only the first N problems but counts them all", () => {
    const t = new Tally(2);
    for (let line = 1; line <= 10; line++) t.record(line + 100, line, { kind: "failed", reason: `r${line}` });
    expect(t.problems().map((p) => p.line)).toEqual([1, 2]);
    expect(t.count("failed")).toBe(10);
    expect(t.problemCount()).toBe(10);
  });

  it("keeps five by default and never keeps applied or duplicate rows", () => {
    const t = new Tally();
    t.record(1 + 100, 1, { kind: "applied" });
    t.record(2 + 100, 2, { kind: "duplicate", supersededBy: 3 });
    for (let line = 3; line <= 12; line++) t.record(line + 100, line, { kind: "skipped", reason: "auth" });
    expect(t.problems().map((p) => p.line)).toEqual([3, 4, 5, 6, 7]);
  });

  it.each([
    [{ kind: "applied" } as const, undefined],
    [{ kind: "duplicate", supersededBy: 9 } as const, undefined],
    [{ kind: "failed", reason: "bad" } as const, "bad"],
    [{ kind: "invalid", reason: "empty" } as const, "empty"],
    [{ kind: "skipped", reason: "auth" } as const, "auth"],
    [{ kind: "unconfirmed", reason: "not visible" } as const, "not visible"],
  ])("outcomeError(%j) = %j", (outcome, expected) => {
    expect(outcomeError(outcome)).toBe(expected);
  });

  it("re-settles an applied row as unconfirmed: counted once, the identity holds, the problem is listed", () => {
    const t = new Tally();
    for (let i = 0; i < 3; i++) t.read();
    t.record(0, 1, { kind: "applied" });
    t.record(1, 2, { kind: "applied" });
    t.record(2, 3, { kind: "failed", reason: "HTTP 400" });
    t.resettle(1, 2, { kind: "unconfirmed", reason: "not visible after 120 s" });
    expect(t.balanced()).toBe(true);
    expect({ applied: t.count("applied"), unconfirmed: t.count("unconfirmed"), settled: t.settled(), problems: t.problemCount() }).toEqual({
      applied: 1,
      unconfirmed: 1,
      settled: 3,
      problems: 2,
    });
    expect(t.problems()).toEqual([
      { row: 2, line: 3, kind: "failed", reason: "HTTP 400" },
      { row: 1, line: 2, kind: "unconfirmed", reason: "not visible after 120 s" },
    ]);
    t.resettle(0, 1, { kind: "unconfirmed", reason: "x" });
    // No applied row left: a third re-settle is a bug, not a silent negative count.
    expect(() => t.resettle(8, 9, { kind: "unconfirmed", reason: "x" })).toThrow(/no row is applied/);
    expect(t.balanced()).toBe(true);
  });
});
