import { describe, expect, it } from "vitest";
import { colorLevel, formatSummary, summaryJson, type RunSummary, type VerifySummary } from "../../src/report/summary.js";

const ANSI = /\u001b\[/;

function summary(over: Partial<RunSummary> = {}): RunSummary {
  return {
    command: "add",
    dryRun: false,
    via: "track",
    input: "people.csv",
    rows: 123_456,
    applied: 123_001,
    failed: 7,
    invalid: 3,
    duplicate: 440,
    skipped: 5,
    unconfirmed: 0,
    relationships: 123_002,
    operations: 1_234,
    batches: 56,
    requests: 61,
    retries: 4,
    bytes: 12_345_678,
    durationMs: 70_000,
    files: { report: "out/report.ndjson", failures: "out/failures.csv", journal: "run.journal", out: null },
    verify: null,
    problems: [
      { row: 16, line: 17, kind: "invalid", reason: 'column "email" is empty' },
      { row: 19, line: 20, kind: "failed", reason: "HTTP 207: person not found" },
    ],
    exitCode: 5,
    ...over,
  };
}

describe("formatSummary", () => {
  it("shows every figure, the files and the first problems with the count of the rest", () => {
    const text = formatSummary(summary(), { color: false });
    expect(text).not.toMatch(ANSI);
    expect(text).toContain("cio-rel add: 123,456 rows read in 1m 10s");
    for (const [label, value] of <Array<[string, string]>>[
      ["applied", "123,001"],
      ["failed", "7"],
      ["invalid", "3"],
      ["duplicate", "440"],
      ["skipped", "5"],
      ["relationships", "123,002"],
      ["operations", "1,234"],
      ["batches", "56"],
      ["requests", "61"],
      ["retries", "4"],
      ["bytes sent", "12.3 MB"],
      ["duration", "1m 10s"],
      ["report", "out/report.ndjson"],
      ["failures", "out/failures.csv"],
      ["journal", "run.journal"],
    ]) {
      expect(text).toMatch(new RegExp(`^  ${label} +${value.replace(".", "\\.")}$`, "m"));
    }
    expect(text).toContain('  people.csv:17: column "email" is empty\n');
    expect(text).toContain("  people.csv:20: HTTP 207: person not found\n");
    // 7 failed + 3 invalid + 5 skipped = 15 problems, 2 shown.
    expect(text).toContain("  … and 13 more (all in out/failures.csv)");
    expect(text.endsWith("\n")).toBe(false);
  });

  it("leaves out files that were not asked for and the tail when every problem is shown", () => {
    const text = formatSummary(summary({ failed: 1, invalid: 1, skipped: 0, files: { report: null, failures: null, journal: null, out: null } }), {
      color: false,
    });
    expect(text).not.toMatch(/report|failures|journal|more/);
    expect(text).toContain("Problems:");
  });

  it("says a dry run is one and shows the plan", () => {
    const text = formatSummary(
      summary({
        dryRun: true,
        requests: 0,
        retries: 0,
        failed: 0,
        skipped: 0,
        problems: [],
        invalid: 0,
        files: { report: null, failures: null, journal: null, out: "plan.ndjson" },
      }),
      { color: false },
    );
    expect(text).toContain("cio-rel add (dry run: nothing was sent)");
    expect(text).toMatch(/^  valid +123,001$/m);
    expect(text).toMatch(/^  rows read +\d[\d,]*$/m);
    expect(text).toMatch(/^  bytes +12\.3 MB$/m);
    expect(text).not.toMatch(/failed|skipped/);
    expect(text).toMatch(/^  plan +plan\.ndjson$/m);
    expect(text).not.toContain("requests");
  });

  it("shows why the run stopped and how to resume it", () => {
    const text = formatSummary(summary({ halt: "interrupted", resumeCommand: "cio-rel add people.csv --journal run.journal --resume" }), {
      color: false,
    });
    expect(text).toContain("Stopped: interrupted");
    expect(text).toContain("Resume with: cio-rel add people.csv --journal run.journal --resume");
  });

  const verify: VerifySummary = {
    confirmed: 118,
    unconfirmed: 2,
    notChecked: 0,
    side: "objects",
    sideReason: "fewer objects than people to read",
    listings: 3,
    reads: 7,
    rounds: 4,
    requests: 9,
    timeoutMs: 120_000,
    durationMs: 12_300,
    sample: null,
    halt: null,
  };

  it("ends with the verification's own part: N confirmed, M unconfirmed, and how it read", () => {
    const text = formatSummary(
      summary({
        applied: 118,
        unconfirmed: 2,
        failed: 0,
        invalid: 0,
        skipped: 0,
        problems: [{ row: 8, line: 9, kind: "unconfirmed", reason: "not visible: object 1:acme does not list person id:4" }],
        verify,
      }),
      { color: false },
    );
    expect(text).toMatch(/^  unconfirmed +2$/m);
    expect(text).toContain(
      "First problems:\n  people.csv:9: not visible: object 1:acme does not list person id:4\n  … and 1 more (all in out/failures.csv)\n",
    );
    const tail = text.slice(text.indexOf("Verified:"));
    expect(tail).toBe(
      [
        "Verified: 118 confirmed, 2 unconfirmed",
        "  read  3 objects (fewer objects than people to read), 7 listings in 4 rounds, 9 requests",
        "  took  12.3 s (--verify-timeout 2m 00s)",
      ].join("\n"),
    );
  });

  it("names the sample and the rows it left unchecked, and why reading stopped", () => {
    const objects = Array.from({ length: 12 }, (_, i) => `1:o${i}`);
    const text = formatSummary(
      summary({
        unconfirmed: 0,
        verify: { ...verify, unconfirmed: 0, notChecked: 5_000, sample: { objects, of: 1_200 }, halt: "App API authentication refused (401)" },
      }),
      { color: false },
    );
    expect(text).toContain("Verified: 118 confirmed, 0 unconfirmed, 5,000 not checked\n");
    expect(text).toMatch(/^  sample +12 of 1,200 objects: 1:o0, 1:o1, 1:o2, 1:o3, 1:o4, 1:o5, 1:o6, 1:o7, 1:o8, 1:o9, … \(2 more\)$/m);
    expect(text).toMatch(/^  stopped +App API authentication refused \(401\)$/m);
  });

  it("without --verify shows no unconfirmed row and no verification part", () => {
    const text = formatSummary(summary(), { color: false });
    expect(text).not.toMatch(/unconfirmed|Verified/);
  });

  it("colours only when asked", () => {
    const coloured = formatSummary(summary(), { color: true });
    expect(coloured).toMatch(ANSI);
    expect(coloured.replace(/\u001b\[[0-9;]*m/g, "")).toBe(formatSummary(summary(), { color: false }));
  });
});

describe("formatSummary via Data Pipelines", () => {
  it.each([false, true])("names the route and counts calls, not operations (dry run %s)", (dryRun) => {
    const text = formatSummary(summary({ via: "pipelines", dryRun }), { color: false });
    expect(text.split("\n")[0]).toMatch(/^cio-rel add via Data Pipelines( \(dry run: nothing was sent\))?: 123,456 rows read/);
    expect(text).toMatch(/^  calls +1,234$/m);
    expect(text).not.toMatch(/^  operations /m);
  });

  it("says nothing of the route for the Track API", () => {
    const text = formatSummary(summary(), { color: false });
    expect(text).not.toContain("Data Pipelines");
    expect(text).not.toMatch(/^  calls /m);
  });
});

describe("summaryJson", () => {
  it("has exactly the documented keys and values", () => {
    const json = summaryJson(summary({ halt: "x", resumeCommand: "y" }));
    expect(Object.keys(json)).toEqual([
      "command",
      "dryRun",
      "via",
      "rows",
      "applied",
      "failed",
      "invalid",
      "duplicate",
      "skipped",
      "unconfirmed",
      "relationships",
      "operations",
      "batches",
      "requests",
      "retries",
      "bytes",
      "durationMs",
      "files",
      "verify",
      "exitCode",
    ]);
    expect(json).toEqual({
      command: "add",
      dryRun: false,
      via: "track",
      rows: 123_456,
      applied: 123_001,
      failed: 7,
      invalid: 3,
      duplicate: 440,
      skipped: 5,
      unconfirmed: 0,
      relationships: 123_002,
      operations: 1_234,
      batches: 56,
      requests: 61,
      retries: 4,
      bytes: 12_345_678,
      durationMs: 70_000,
      files: { report: "out/report.ndjson", failures: "out/failures.csv", journal: "run.journal", out: null },
      verify: null,
      exitCode: 5,
    });
    expect(Object.keys(json.files)).toEqual(["report", "failures", "journal", "out"]);
  });
});

describe("colorLevel", () => {
  it.each([
    [{}, true, 1],
    [{}, false, 0],
    [{ TERM: "dumb" }, true, 0],
    [{ NO_COLOR: "1" }, true, 0],
    [{ NO_COLOR: "" }, true, 1],
    [{ FORCE_COLOR: "1" }, false, 1],
    [{ FORCE_COLOR: "" }, false, 1],
    [{ FORCE_COLOR: "true" }, false, 1],
    [{ FORCE_COLOR: "2" }, false, 2],
    [{ FORCE_COLOR: "3" }, false, 3],
    [{ FORCE_COLOR: "0" }, true, 0],
    [{ FORCE_COLOR: "false" }, true, 0],
    [{ FORCE_COLOR: "1", NO_COLOR: "1" }, false, 1],
  ])("env %j, TTY %s → level %d", (env, isTTY, level) => {
    expect(colorLevel(env, isTTY)).toBe(level);
  });
});

describe("summaryJson verify", () => {
  it("carries the verification as its own part, sample objects in full", () => {
    const v: VerifySummary = {
      confirmed: 1,
      unconfirmed: 1,
      notChecked: 3,
      side: "people",
      sideReason: "relationship attributes are listed only per person",
      listings: 2,
      reads: 3,
      rounds: 2,
      requests: 3,
      timeoutMs: 5000,
      durationMs: 5100,
      sample: { objects: ["1:a", "1:b"], of: 4 },
      halt: null,
    };
    const json = summaryJson(summary({ unconfirmed: 1, verify: v }));
    expect(json.unconfirmed).toBe(1);
    expect(json.verify).toEqual(v);
    expect(JSON.parse(JSON.stringify(json)).verify.sample).toEqual({ objects: ["1:a", "1:b"], of: 4 });
  });
});
