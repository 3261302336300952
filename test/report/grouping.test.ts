import { Chalk } from "chalk";
import { describe, expect, it } from "vitest";
import { formatSummary, plural, problemLines, type RunSummary } from "../../src/report/summary.js";
import { MAX_PROBLEM_GROUPS, Tally } from "../../src/report/tally.js";

// Issue 10: repeated reasons are one line with a count; "1 row", never "1 rows".

const plain = new Chalk({ level: 0 });

function summaryOf(tally: Tally, failures: string | null = null): RunSummary {
  return {
    command: "add",
    dryRun: false,
    via: "track",
    input: "people.csv",
    ...tally.snapshot(),
    relationships: 0,
    operations: 0,
    batches: 0,
    requests: 0,
    retries: 0,
    bytes: 0,
    durationMs: 10,
    files: { report: null, failures, journal: null, out: null },
    verify: null,
    exitCode: 3,
  };
}

describe("problems grouped by reason", () => {
  it("300 rows refused with one 401 are one line with a count", () => {
    const t = new Tally();
    for (let i = 1; i <= 300; i++) {
      t.read();
      t.record(i, i + 1, { kind: "failed", reason: "401 Unauthorized: check CIO_SITE_ID and CIO_API_KEY" });
    }
    expect(problemLines(summaryOf(t), plain)).toEqual([
      "Problems:",
      "  people.csv:2: 401 Unauthorized: check CIO_SITE_ID and CIO_API_KEY (300 rows with this reason, the first here)",
    ]);
  });

  // Qa10's outside trial: a one-line JSON array put every group at ":1:"; the row number tells them apart.
  it("groups whose first rows share a line (a one-line JSON array) name their row", () => {
    const t = new Tally();
    for (const [row, reason] of [
      [1, "A"],
      [2, "B"],
      [3, "A"],
      [4, "C"],
    ] as const) {
      t.read();
      t.record(row, 1, { kind: "invalid", reason });
    }
    expect(problemLines(summaryOf(t), plain)).toEqual([
      "Problems:",
      "  people.csv:1: row 1: A (2 rows with this reason, the first here)",
      "  people.csv:1: row 2: B",
      "  people.csv:1: row 4: C",
    ]);
  });

  it.each([
    ["a single row keeps its file:line", [[2, "invalid", 'column "id" is empty']], ["Problems:", '  people.csv:2: column "id" is empty']],
    [
      "groups in order of first appearance, counts per group",
      [
        [2, "invalid", "A"],
        [3, "failed", "B"],
        [4, "invalid", "A"],
        [5, "failed", "B"],
        [6, "failed", "B"],
      ],
      ["Problems:", "  people.csv:2: A (2 rows with this reason, the first here)", "  people.csv:3: B (3 rows with this reason, the first here)"],
    ],
    [
      "the same text with another outcome is another group",
      [
        [2, "failed", "X"],
        [3, "skipped", "X"],
      ],
      ["Problems:", "  people.csv:2: X", "  people.csv:3: X"],
    ],
    [
      "past five groups, the rest is counted",
      [2, 3, 4, 5, 6, 7, 8]
        .map((l) => [l, "invalid", `r${l}`])
        .concat([
          [9, "invalid", "r2"],
          [10, "invalid", "r8"],
        ]),
      [
        "First problems:",
        "  people.csv:2: r2 (2 rows with this reason, the first here)",
        "  people.csv:3: r3",
        "  people.csv:4: r4",
        "  people.csv:5: r5",
        "  people.csv:6: r6",
        "  … and 3 more rows",
      ],
    ],
    [
      "one more row",
      [2, 3, 4, 5, 6, 7].map((l) => [l, "invalid", `r${l}`]),
      [
        "First problems:",
        "  people.csv:2: r2",
        "  people.csv:3: r3",
        "  people.csv:4: r4",
        "  people.csv:5: r5",
        "  people.csv:6: r6",
        "  … and 1 more row",
      ],
    ],
  ] as [string, [number, "failed" | "invalid" | "skipped", string][], string[]][])("%s", (_name, rows, expected) => {
    const t = new Tally();
    rows.forEach(([line, kind, reason], i) => {
      t.read();
      t.record(i + 1, line, { kind, reason });
    });
    expect(problemLines(summaryOf(t), plain)).toEqual(expected);
    // The printed summary carries the same section.
    expect(formatSummary(summaryOf(t), { color: false })).toContain(expected.slice(1).join("\n"));
  });

  it("distinct reasons past the cap are still counted in the rest", () => {
    const t = new Tally();
    for (let i = 0; i < MAX_PROBLEM_GROUPS + 10; i++) {
      t.read();
      t.record(i + 1, i + 2, { kind: "invalid", reason: `reason ${i}` });
    }
    expect(t.snapshot().groups).toHaveLength(MAX_PROBLEM_GROUPS);
    expect(problemLines(summaryOf(t, "failed.csv"), plain).at(-1)).toBe(
      `  … and ${(MAX_PROBLEM_GROUPS + 5).toLocaleString("en-US")} more rows (all in failed.csv)`,
    );
  });
});

describe("singular and plural", () => {
  it.each([
    [0, "0 rows"],
    [1, "1 row"],
    [2, "2 rows"],
    [1000, "1,000 rows"],
  ])("%i → %s", (n, text) => {
    expect(plural(n, "row")).toBe(text);
  });

  it("the summary title says 1 row read", () => {
    const t = new Tally();
    t.read();
    t.record(1, 2, { kind: "applied" });
    expect(formatSummary(summaryOf(t), { color: false })).toMatch(/^cio-rel add: 1 row read in /);
  });
});
