// Issue 9 §1: a row's identity is its index in the input, not its line. Before the fix every element of a
// one-line JSON array was "line 1": the failures file of a --max-errors run was [], a resume sent nothing
// and reported everything applied, and the report named the wrong people.
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import {
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  actualState,
  balanced,
  memberships,
  readReport,
  runAgainst,
  spawnAgainst,
  startFake,
  summaryOf,
  tempDir,
  type Membership,
  journalRecords,
  until,
} from "./harness.js";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** Input layouts where many rows share a line, or records span lines. */
const LAYOUTS: { name: string; file: string; write: (rows: readonly Membership[]) => string }[] = [
  {
    name: "a JSON array on one line (JSON.stringify)",
    file: "rows.json",
    write: (rows) => JSON.stringify(rows.map((r) => ({ user_id: r.user, account_id: r.account, role: r.role }))),
  },
  {
    name: "a one-line JSON array with spaces (jq -c style, no final newline)",
    file: "rows.json",
    write: (rows) => "[" + rows.map((r) => JSON.stringify({ user_id: r.user, account_id: r.account, role: r.role })).join(", ") + "]",
  },
  {
    name: "CSV whose role cells hold quoted newlines",
    file: "rows.csv",
    write: (rows) => "user_id,account_id,role\n" + rows.map((r) => `${r.user},${r.account},"${r.role}\nsince\r\n2024"`).join("\n") + "\n",
  },
];

/** What the role attribute reads as after a layout is parsed. */
function roleOf(layout: string, r: Membership): string {
  return layout.startsWith("CSV") ? `${r.role}\nsince\r\n2024` : r.role;
}

function expectedFor(layout: string, rows: readonly Membership[]): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const r of rows) m.set(`1|${r.account}|id|${r.user}`, { role: roleOf(layout, r) });
  return m;
}

/** The user ids a failures file holds, whatever its format. */
function failedUsers(path: string): string[] {
  const text = readFileSync(path, "utf8");
  if (path.endsWith(".json")) return (JSON.parse(text) as { user_id: string }[]).map((r) => r.user_id);
  // CSV: records start with the user id; continuation lines of quoted cells do not start with "u<digits>,acct-".
  return text
    .split("\n")
    .slice(1)
    .filter((l) => /^u\d+,acct-/.test(l))
    .map((l) => l.slice(0, l.indexOf(",")));
}

describe("row identity (issue 9 §1)", () => {
  it.each(LAYOUTS)("$name: --max-errors lists the right rows in the failures file and the report; --resume finishes the job", async (layout) => {
    const rows = memberships(30, 50);
    const poisoned = ["u120", "u777"];
    fake = await startFake({ faults: { poison: { people: poisoned } } });
    const dir = tempDir();
    const input = join(dir, layout.file);
    writeFileSync(input, layout.write(rows));
    const failures = join(dir, layout.file.replace(/^rows/, "failed"));
    const report = join(dir, "report.ndjson");
    const journal = join(dir, "run.journal");
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--batch-bytes", "32012", "--concurrency", "1", "--journal", journal];

    const first = await runAgainst(fake, [...args, "--max-errors", "1", "--failures", failures, "--report", report, "--json"]);
    const s = summaryOf(first);
    expect(first.code, first.stderr).toBe(5);
    expect(balanced(s)).toBe(true);
    expect(s.failed).toBeGreaterThanOrEqual(1);
    expect(s.skipped).toBeGreaterThan(0);

    // The report: one line per row, each row once, naming the person and object of that very row.
    const lines = readReport(report);
    expect(lines).toHaveLength(rows.length);
    expect(new Set(lines.map((l) => l.row)).size).toBe(rows.length);
    for (const l of lines) {
      const r = rows[l.row - 1]!;
      expect(l.person).toBe(`id:${r.user}`);
      expect(l.object).toBe(`1:${r.account}`);
    }
    const failedRows = lines.filter((l) => l.outcome === "failed");
    expect(failedRows.map((l) => rows[l.row - 1]!.user).every((u) => poisoned.includes(u))).toBe(true);
    // The failures file: exactly the failed and skipped rows, each its own person.
    const notApplied = lines.filter((l) => l.outcome === "failed" || l.outcome === "skipped").map((l) => rows[l.row - 1]!.user);
    expect(failedUsers(failures).sort()).toEqual(notApplied.sort());
    expect(notApplied).toHaveLength(s.failed + s.skipped);
    // What the fake holds is exactly what the report calls applied.
    const applied = lines.filter((l) => l.outcome === "applied").map((l) => rows[l.row - 1]!);
    expect(actualState(fake)).toEqual(expectedFor(layout.name, applied));

    // The poison is lifted; a resume sends the skipped rows (the failed ones stay failed: Customer.io answered for them).
    fake.faults.set({ poison: undefined });
    const second = await runAgainst(fake, [...args, "--resume", "--json"]);
    const s2 = summaryOf(second);
    expect(balanced(s2)).toBe(true);
    expect(s2).toMatchObject({ rows: rows.length, failed: s.failed, skipped: 0, applied: rows.length - s.failed });
    const failedUsersFirst = failedRows.map((l) => rows[l.row - 1]!.user);
    expect(actualState(fake)).toEqual(
      expectedFor(
        layout.name,
        rows.filter((r) => !failedUsersFirst.includes(r.user)),
      ),
    );
  });

  it.each(LAYOUTS)("$name: a SIGKILL mid-run, then --resume, leaves every relationship in Customer.io", async (layout) => {
    fake = await startFake({ faults: { latencyMs: 40 } });
    const rows = memberships(60, 100);
    const dir = tempDir();
    const input = join(dir, layout.file);
    writeFileSync(input, layout.write(rows));
    const journal = join(dir, "run.journal");
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--batch-bytes", "32012", "--concurrency", "2", "--journal", journal];

    let child: ChildProcess | undefined;
    const first = spawnAgainst(fake, args, { onSpawn: (c) => (child = c) });
    await until(() => journalRecords(journal) >= 3);
    child!.kill("SIGKILL");
    expect((await first).signal).toBe("SIGKILL");
    expect(fake.state.size).toBeLessThan(rows.length);

    fake.faults.set({ latencyMs: undefined });
    const requestsBefore = fake.requests.length;
    const report = join(dir, "report.ndjson");
    const second = await runAgainst(fake, [...args, "--resume", "--json", "--report", report]);
    const s = summaryOf(second);
    expect(second.code, second.stderr).toBe(0);
    expect(s).toMatchObject({ rows: rows.length, applied: rows.length, failed: 0, skipped: 0 });
    expect(fake.requests.length).toBeGreaterThan(requestsBefore);
    expect(actualState(fake)).toEqual(expectedFor(layout.name, rows));
    const lines = readReport(report);
    expect(lines.map((l) => l.row).sort((a, b) => a - b)).toEqual(rows.map((_, i) => i + 1));
    for (const l of lines) expect(l.person).toBe(`id:${rows[l.row - 1]!.user}`);
  });

  it("a version 1 journal (rows keyed by line) is refused on --resume with one line, exit 2", async () => {
    fake = await startFake();
    const dir = tempDir();
    const input = join(dir, "rows.json");
    writeFileSync(input, JSON.stringify([{ user_id: "u1", account_id: "a", role: "r" }]));
    const journal = join(dir, "old.journal");
    writeFileSync(journal, JSON.stringify({ cioRel: 1, input: { path: input, size: 1, headHash: "x" }, options: {}, optionsHash: "x" }) + "\n");
    const r = await runAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", journal, "--resume"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/format version 1.*cannot be resumed/);
    expect(fake.requests).toHaveLength(0);
  });
});
