import { execFileSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { prng } from "../plan/helpers.js";
import { tempDir } from "./cli.js";
import {
  actualState,
  balanced,
  expectedState,
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  memberships,
  readFailuresCsv,
  readReport,
  runAgainst,
  spawnAgainst,
  startFake,
  summaryOf,
  until,
  writeMembershipsCsv,
  type Membership,
} from "./harness.js";

// Issue 16: any input order packs like sorted, in bounded memory. A small --window-size (hidden) makes the
// planner decide after 20 relationships and keep 32 KB of records in memory, so a few thousand rows reach
// the temporary files; --batch-bytes 32012 gives enough requests to count.
const BATCH = 32_012;
const SPILL = ["--window-size", "20", "--batch-bytes", String(BATCH)];

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** Accounts of 1..50 members (people shared among accounts), sorted by account. */
function uneven(accounts: number, seed: number): Membership[] {
  const rand = prng(seed);
  const rows: Membership[] = [];
  for (let a = 0; a < accounts; a++) {
    const n = 1 + Math.floor(rand() * 50);
    for (let p = 0; p < n; p++) rows.push({ user: `u${(a * 7 + p * 13) % 900}`, account: `acct-${a}`, role: rand() < 0.8 ? "member" : "admin" });
  }
  return rows;
}

function shuffle<T>(rows: readonly T[], seed: number): T[] {
  const rand = prng(seed);
  const a = [...rows];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/**
 * The true optimum, computed apart from cio-rel: every account's relationships in one operation (the JSON
 * cio-rel sends), ⌈bytes / batch size⌉. Grouping by person is never fewer bytes for these inputs.
 */
function optimum(rows: readonly Membership[], batch = BATCH): number {
  const byAccount = new Map<string, Membership[]>();
  for (const r of rows) byAccount.set(r.account, [...(byAccount.get(r.account) ?? []), r]);
  let bytes = 0;
  for (const [account, members] of byAccount) {
    const op = {
      type: "object",
      identifiers: { object_type_id: "1", object_id: account },
      action: "add_relationships",
      cio_relationships: members.map((m) => ({ identifiers: { id: m.user }, relationship_attributes: { role: m.role } })),
    };
    bytes += Buffer.byteLength(JSON.stringify(op)) + 1;
  }
  return Math.ceil(bytes / batch);
}

/** What a --temp-dir holds after a run: nothing, when cio-rel cleaned up. */
function leftIn(dir: string): string[] {
  return readdirSync(dir);
}

describe("any order packs like sorted (issue 16)", () => {
  const rows = uneven(150, 3);

  it.each([
    ["sorted by account", rows],
    ["shuffled", shuffle(rows, 1)],
    ["shuffled again", shuffle(rows, 2)],
    ["reversed", [...rows].reverse()],
  ])("%s: requests within 1.02 × the true optimum + 1, the same final state, the temporary folder left empty", async (_name, input) => {
    fake = await startFake();
    const dir = tempDir();
    const temp = join(dir, "tmp");
    mkdirSync(temp);
    const file = writeMembershipsCsv(dir, input);
    const r = await runAgainst(fake, ["add", "--file", file, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...SPILL, "--temp-dir", temp, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r);
    expect(s).toMatchObject({ rows: rows.length, applied: rows.length, duplicate: 0 });
    expect(fake.requests.length).toBe(s.requests);
    expect(s.requests).toBeLessThanOrEqual(1.02 * optimum(rows) + 1);
    expect(actualState(fake)).toEqual(expectedState(rows));
    expect(leftIn(temp)).toEqual([]);
  });

  it("sorted and shuffled send the same number of requests: the true optimum", async () => {
    const counts: number[] = [];
    for (const input of [rows, shuffle(rows, 5), [...rows].reverse()]) {
      fake = await startFake();
      const dir = tempDir();
      const file = writeMembershipsCsv(dir, input);
      const r = await runAgainst(fake, ["add", "--file", file, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...SPILL, "--temp-dir", dir, "--json"]);
      expect(r.code, r.stderr).toBe(0);
      counts.push(summaryOf(r).requests);
      await fake.close();
      fake = undefined;
    }
    expect(counts).toEqual([optimum(rows), optimum(rows), optimum(rows)]);
  });

  it("a shuffled pair repeated far apart: the later row's role wins and the earlier is a duplicate", async () => {
    fake = await startFake();
    const dir = tempDir();
    const input = shuffle(rows, 4);
    const first = input[10] as Membership;
    input.push({ ...first, role: first.role === "admin" ? "member" : "admin" });
    const file = writeMembershipsCsv(dir, input);
    // A prefix of 100 rows, so that it shows the input is not in runs (20 shuffled rows may repeat no key at all).
    const flags = ["--window-size", "100", "--batch-bytes", String(BATCH)];
    const r = await runAgainst(fake, ["add", "--file", file, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...flags, "--temp-dir", dir, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(summaryOf(r)).toMatchObject({ rows: input.length, applied: input.length - 1, duplicate: 1 });
    expect(actualState(fake).get(`1|${first.account}|id|${first.user}`)).toEqual({ role: input[input.length - 1]?.role });
  });

  it("rows that fail come back from the temporary files into the failures file, exit 5, the folder left empty", async () => {
    const poisoned = ["u17", "u404"];
    fake = await startFake({ faults: { poison: { people: poisoned } } });
    const dir = tempDir();
    const temp = join(dir, "tmp");
    mkdirSync(temp);
    const input = shuffle(rows, 6);
    const file = writeMembershipsCsv(dir, input);
    const failures = join(dir, "failures.csv");
    const report = join(dir, "report.ndjson");
    const r = await runAgainst(fake, [
      "add",
      "--file",
      file,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      ...SPILL,
      "--temp-dir",
      temp,
      "--json",
      "--failures",
      failures,
      "--report",
      report,
    ]);
    expect(r.code, r.stderr).toBe(5);
    const s = summaryOf(r);
    expect(balanced(s)).toBe(true);
    const bad = input.filter((m) => poisoned.includes(m.user));
    expect(bad.length).toBeGreaterThan(0);
    expect(s.failed).toBe(bad.length);
    const written = readFailuresCsv(failures).rows;
    expect(written.map((f) => `${f.user_id},${f.account_id},${f.role}`).sort()).toEqual(bad.map((m) => `${m.user},${m.account},${m.role}`).sort());
    expect(readReport(report)).toHaveLength(input.length);
    expect(leftIn(temp)).toEqual([]);
  });

  it("a temporary folder that cannot be written: one line, exit 4, nothing sent, every row skipped and in the failures file", async () => {
    fake = await startFake();
    const dir = tempDir();
    const input = shuffle(rows, 7);
    const file = writeMembershipsCsv(dir, input);
    const failures = join(dir, "failures.csv");
    // /sys is a folder no one may create anything in (EPERM), root included.
    const r = await runAgainst(fake, [
      "add",
      "--file",
      file,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      ...SPILL,
      "--temp-dir",
      "/sys",
      "--json",
      "--failures",
      failures,
    ]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^cio-rel: cannot write a temporary folder in \/sys: [^\n]+\n$/m);
    const s = summaryOf(r);
    expect(balanced(s)).toBe(true);
    expect(s).toMatchObject({ rows: input.length, applied: 0, skipped: input.length });
    expect(fake.requests).toHaveLength(0);
    expect(readFailuresCsv(failures).rows).toHaveLength(input.length);
  });

  it.each([
    ["--temp-dir", (d: string) => ["--temp-dir", d], {}],
    ["CIO_REL_TEMP_DIR", () => [], (d: string) => ({ CIO_REL_TEMP_DIR: d })],
  ] as const)("%s naming no folder is a usage error before anything is read", async (_name, flags, env) => {
    fake = await startFake();
    const dir = tempDir();
    const file = writeMembershipsCsv(dir, rows);
    const missing = join(dir, "nope");
    const r = await runAgainst(fake, ["add", "--file", file, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...SPILL, ...flags(missing)], {
      env: typeof env === "function" ? env(missing) : env,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${missing}: no such folder`);
    expect(fake.requests).toHaveLength(0);
  });

  it("CIO_REL_TEMP_DIR is where the temporary files go when --temp-dir is not given", async () => {
    fake = await startFake();
    const dir = tempDir();
    const file = writeMembershipsCsv(dir, shuffle(rows, 8));
    const r = await runAgainst(fake, ["add", "--file", file, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...SPILL, "--json"], {
      env: { CIO_REL_TEMP_DIR: "/sys" },
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^cio-rel: cannot write a temporary folder in \/sys: /m);
  });
});

describe("temporary files and Ctrl-C (issue 16)", () => {
  it("SIGINT while a spilled input is read: exit 130, every row read settled, the temporary folder removed", async () => {
    fake = await startFake();
    const dir = tempDir();
    const temp = join(dir, "tmp");
    mkdirSync(temp);
    const input = shuffle(memberships(200, 30), 9);
    const lines = input.map((m) => `${m.user},${m.account},${m.role}\n`);
    // A named pipe as the input: the test decides how far the reading gets before Ctrl-C.
    const fifo = join(dir, "input.csv");
    execFileSync("mkfifo", [fifo]);
    const report = join(dir, "report.ndjson");
    let child: ChildProcess | undefined;
    const run = spawnAgainst(
      fake,
      ["add", "--file", fifo, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...SPILL, "--temp-dir", temp, "--json", "--report", report],
      {
        onSpawn: (c) => (child = c),
      },
    );
    const writer = createWriteStream(fifo);
    writer.on("error", () => undefined); // the reader may be gone when the rest is written
    writer.write("user_id,account_id,role\n" + lines.slice(0, 4_000).join(""));
    // Interrupt once records are in temporary files.
    await until(() => leftIn(temp).some((d) => readdirSync(join(temp, d)).length > 0));
    const folder = join(temp, leftIn(temp)[0] as string);
    child!.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    writer.end(lines.slice(4_000).join(""));
    const r = await run;
    expect(r.code, r.stderr).toBe(130);
    const s = summaryOf(r);
    expect(balanced(s)).toBe(true);
    expect(s.rows).toBeGreaterThanOrEqual(4_000);
    expect(s.skipped).toBeGreaterThan(0);
    expect(readReport(report)).toHaveLength(s.rows);
    expect(fake.requests).toHaveLength(0);
    expect(existsSync(folder)).toBe(false);
    expect(leftIn(temp)).toEqual([]);
  });

  it("an input error part-way through a spilled run: exit 2, the temporary folder removed", async () => {
    fake = await startFake();
    const dir = tempDir();
    const temp = join(dir, "tmp");
    mkdirSync(temp);
    const input = shuffle(memberships(100, 30), 10);
    const file = join(dir, "broken.csv");
    writeFileSync(file, "user_id,account_id,role\n" + input.map((m) => `${m.user},${m.account},${m.role}`).join("\n") + '\nu1,acct-1,"unclosed\n');
    const r = await runAgainst(fake, ["add", "--file", file, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...SPILL, "--temp-dir", temp, "--json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:${input.length + 2}`);
    expect(leftIn(temp)).toEqual([]);
  });
});
