// Issue 9 §4: outages end (--give-up-after, exit 5, the resume command), --resume resends what failed for a
// transient reason, and a Ctrl-C during a long Retry-After takes effect at once.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import {
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  actualState,
  balanced,
  expectedState,
  memberships,
  runAgainst,
  spawnAgainst,
  startFake,
  summaryOf,
  tempDir,
  writeMembershipsCsv,
} from "./harness.js";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** The failed row indexes a journal holds. */
function journalledFailures(path: string): number[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .flatMap((l) => (JSON.parse(l) as { failed: [number, string][] }).failed.map((f) => f[0]));
}

describe("outages (issue 9 §4)", () => {
  it("rows that failed with 503 after their retries are not journalled: --resume sends them again", async () => {
    fake = await startFake({ faults: { rate503: 1 } });
    const dir = tempDir();
    const rows = memberships(4, 50);
    const input = writeMembershipsCsv(dir, rows);
    const journal = join(dir, "run.journal");
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--max-retries", "1", "--give-up-after", "0", "--journal", journal];
    const first = await runAgainst(fake, [...args, "--json"]);
    const s1 = summaryOf(first);
    expect(first.code).toBe(5);
    expect(s1).toMatchObject({ rows: rows.length, failed: rows.length, applied: 0 });
    expect(journalledFailures(journal)).toEqual([]);

    fake.faults.clear();
    const second = await runAgainst(fake, [...args, "--resume", "--json"]);
    const s2 = summaryOf(second);
    expect(second.code, second.stderr).toBe(0);
    expect(s2).toMatchObject({ rows: rows.length, applied: rows.length, failed: 0 });
    expect(actualState(fake)).toEqual(expectedState(rows));
  });

  it.each([
    ["503 on every request", { rate503: 1 }],
    ["connection reset on every request", { resetRate: 1 }],
  ])("retries that run out before --give-up-after (%s): exit 5 and the resume command, text and JSON", async (_name, faults) => {
    fake = await startFake({ faults });
    const dir = tempDir();
    const rows = memberships(3, 10);
    const input = writeMembershipsCsv(dir, rows);
    const journal = join(dir, "run.journal");
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--max-retries", "1", "--give-up-after", "0", "--journal", journal];
    const text = await runAgainst(fake, args);
    expect(text.code).toBe(5);
    expect(text.stdout).toMatch(/Resume with: cio-rel add .*--resume/);
    const json = await runAgainst(fake, [...args, "--resume", "--json"]);
    const s = summaryOf(json) as ReturnType<typeof summaryOf> & { resume?: string | null };
    expect(json.code).toBe(5);
    expect(s).toMatchObject({ failed: rows.length, applied: 0 });
    expect(s.resume).toMatch(/^cio-rel add .*--resume$/);
    fake.faults.clear();
    const again = await runAgainst(fake, [...args, "--resume"]);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).not.toMatch(/Resume with/);
    expect(actualState(fake)).toEqual(expectedState(rows));
  });

  it("rows Customer.io refused are journalled and stay failed on --resume", async () => {
    fake = await startFake({ faults: { poison: { people: ["u7"] } } });
    const dir = tempDir();
    const rows = memberships(2, 10);
    const input = writeMembershipsCsv(dir, rows);
    const journal = join(dir, "run.journal");
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", journal];
    expect((await runAgainst(fake, args)).code).toBe(5);
    expect(journalledFailures(journal)).toEqual([8]);
    const requests = fake.requests.length;
    const again = await runAgainst(fake, [...args, "--resume", "--json"]);
    expect(summaryOf(again)).toMatchObject({ applied: 19, failed: 1 });
    expect(fake.requests.length).toBe(requests);
  });

  it.each([
    ["with --journal", true],
    ["without --journal", false],
  ])("a dead endpoint: --give-up-after stops the run, the rest is skipped, exit 5, %s the JSON says how to resume", async (_name, journaling) => {
    fake = await startFake({ faults: { rate503: 1 } });
    const dir = tempDir();
    const rows = memberships(6, 50);
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
      "2",
      "--max-retries",
      "100000",
      "--backoff-cap",
      "0.02",
      ...(journaling ? ["--journal", journal] : []),
    ];
    const r = await runAgainst(fake, [...args, "--give-up-after", "0.3", "--json"]);
    const s = summaryOf(r) as ReturnType<typeof summaryOf> & { resume?: string | null };
    expect(r.code).toBe(5);
    expect(balanced(s)).toBe(true);
    expect(s).toMatchObject({ applied: 0, failed: 0, skipped: rows.length });
    if (!journaling) {
      expect(s.resume).toBeNull();
      return;
    }
    expect(s.resume).toMatch(/^cio-rel add .*--resume$/);
    fake.faults.clear();
    const again = await runAgainst(fake, [...args, "--resume", "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(actualState(fake)).toEqual(expectedState(rows));
  });

  it("the text summary of a run that gave up prints the resume command", async () => {
    fake = await startFake({ faults: { rate503: 1 } });
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(1, 5));
    const r = await runAgainst(fake, [
      "add",
      "--file",
      input,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      "--max-retries",
      "100000",
      "--backoff-cap",
      "0.02",
      "--give-up-after",
      "0.2",
      "--journal",
      join(dir, "j"),
    ]);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/Stopped: .*gave up after/);
    expect(r.stdout).toMatch(/Resume with: cio-rel add .*--resume/);
  });

  it("Ctrl-C during a 3,600 s Retry-After takes effect at once: exit 130 and the resume command", async () => {
    fake = await startFake({ script: [{ status: 429, retryAfter: 3600 }] });
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(2, 5));
    let child: ChildProcess | undefined;
    const run = spawnAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--concurrency", "1", "--journal", join(dir, "j")], {
      onSpawn: (c) => (child = c),
    });
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    child!.kill("SIGINT");
    // Without the fix this waits the capped 120 s, past the test's timeout.
    const r = await run;
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/Resume with: cio-rel add .*--resume/);
    expect(fake.requests).toHaveLength(1);
  }, 60_000);
});
