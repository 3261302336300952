import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { runCli } from "./cli.js";
import {
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  actualState,
  balanced,
  expectedState,
  memberships,
  readReport,
  runAgainst,
  spawnAgainst,
  startFake,
  summaryOf,
  tempDir,
  writeMembershipsCsv,
  journalRecords,
  until,
} from "./harness.js";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** Relationships the fake accepted (200) over its life, counted per row sent. */
function relationshipsAccepted(f: FakeTrackApi): number {
  let n = 0;
  for (const q of f.requests) {
    if (q.status !== 200) continue;
    for (const op of (q.body as { batch: { cio_relationships: unknown[] }[] }).batch) n += op.cio_relationships.length;
  }
  return n;
}

const CONCURRENCY = 2;

describe("crash-safe resume (issue 4)", () => {
  it("a run killed with SIGKILL and resumed ends in the same state, resending at most what was in flight", async () => {
    fake = await startFake({ faults: { latencyMs: 60 } });
    const dir = tempDir();
    const rows = memberships(120, 100);
    const input = writeMembershipsCsv(dir, rows);
    const journal = join(dir, "run.journal");
    const args = [
      "add",
      "--file",
      input,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      "--batch-bytes",
      "32012",
      "--concurrency",
      String(CONCURRENCY),
      "--journal",
      journal,
    ];

    let child: ChildProcess | undefined;
    const first = spawnAgainst(fake, args, { onSpawn: (c) => (child = c) });
    await until(() => journalRecords(journal) >= 5);
    child!.kill("SIGKILL");
    const killed = await first;
    expect(killed.signal).toBe("SIGKILL");
    expect(fake.state.size).toBeLessThan(rows.length);

    fake.faults.set({ latencyMs: undefined });
    const report = join(dir, "report.ndjson");
    const second = await runAgainst(fake, [...args, "--resume", "--json", "--report", report]);
    const s = summaryOf(second);
    expect(second.code).toBe(0);
    expect(s).toMatchObject({ rows: rows.length, applied: rows.length, failed: 0, skipped: 0 });
    expect(balanced(s)).toBe(true);
    expect(actualState(fake)).toEqual(expectedState(rows));
    expect(readReport(report)).toHaveLength(rows.length);
    // Resent rows: accepted more than once. At most the batches in flight at the kill (≈450 rows each).
    const resent = relationshipsAccepted(fake) - rows.length;
    expect(resent).toBeGreaterThanOrEqual(0);
    expect(resent).toBeLessThanOrEqual(CONCURRENCY * 460);
  });

  it("SIGINT stops reading, finishes what is in flight, prints the resume command and exits 130", async () => {
    fake = await startFake({ faults: { latencyMs: 60 } });
    const dir = tempDir();
    const rows = memberships(120, 100);
    const input = writeMembershipsCsv(dir, rows);
    const journal = join(dir, "run.journal");
    const failures = join(dir, "failures.csv");
    const args = [
      "add",
      "--file",
      input,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      "--batch-bytes",
      "32012",
      "--concurrency",
      "2",
      "--journal",
      journal,
      "--failures",
      failures,
    ];

    let child: ChildProcess | undefined;
    const first = spawnAgainst(fake, args, { onSpawn: (c) => (child = c) });
    await until(() => journalRecords(journal) >= 3);
    child!.kill("SIGINT");
    const r = await first;
    expect(r.code).toBe(130);
    const resume = /Resume with: (cio-rel .*)$/m.exec(r.stdout);
    expect(resume, r.stdout).not.toBeNull();
    expect(resume![1]).toContain("--resume");
    expect(resume![1]).not.toContain("KEY-");
    // Every request that went out was answered: nothing was left hanging by the interrupt.
    expect(fake.requests.every((q) => q.outcome === "answered")).toBe(true);

    fake.faults.set({ latencyMs: undefined });
    const resumeArgs = resume![1]!
      .split(" ")
      .slice(1)
      .map((a) => a.replace(/^'(.*)'$/, "$1"));
    const second = await runAgainst(fake, [...resumeArgs, "--json"]);
    const s = summaryOf(second);
    expect(second.code).toBe(0);
    expect(s).toMatchObject({ rows: rows.length, applied: rows.length });
    expect(actualState(fake)).toEqual(expectedState(rows));
  });

  it("refuses to resume with a different input or different options", async () => {
    fake = await startFake();
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(2, 5));
    const journal = join(dir, "run.journal");
    const report = join(dir, "report.ndjson");
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", journal, "--report", report];
    expect((await runAgainst(fake, args)).code).toBe(0);
    const reportBefore = readFileSync(report, "utf8");
    expect(readReport(report)).toHaveLength(10);

    const again = await runAgainst(fake, args);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--resume/);

    const otherOptions = await runAgainst(fake, [...args, "--resume", "--group-by", "person"]);
    expect(otherOptions.code).toBe(2);
    expect(otherOptions.stderr).toMatch(/group/i);

    writeMembershipsCsv(dir, memberships(3, 5));
    const otherInput = await runAgainst(fake, [...args, "--resume"]);
    expect(otherInput.code).toBe(2);
    expect(otherInput.stderr).toMatch(/input changed/i);
    // A refused resume leaves the earlier run's report as it was.
    expect(readFileSync(report, "utf8")).toBe(reportBefore);
  });

  it("--journal with standard input is a usage error (it could not be read again)", async () => {
    const r = await runCli(["add", "--object", "acme", "--people", "-", "--format", "lines", "--journal", join(tempDir(), "j")], {
      stdin: "1\n2\n",
      env: { CIO_SITE_ID: "s", CIO_API_KEY: "k" },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--journal needs the input in a file/);
  });

  it("--resume without --journal is a usage error", async () => {
    const r = await runCli(["add", "--object", "acme", "--people", "fixtures/people.csv", "--resume", "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--resume needs --journal/);
  });
});
