import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeOptions, FakeTrackApi } from "../fake-track-api/index.js";
import {
  API_KEY,
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  SITE_ID,
  balanced,
  memberships,
  readFailuresCsv,
  readReport,
  runAgainst,
  spawnAgainst,
  startFake,
  summaryOf,
  tempDir,
  writeMembershipsCsv,
} from "./harness.js";

const APP_KEY = "APPKEY-3d9c7b1e-do-not-leak";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A fake workspace whose App API knows APP_KEY, with no App API rate limit worth waiting on in tests beyond the documented 10/s. */
function workspace(o: FakeOptions = {}): Promise<FakeTrackApi> {
  return startFake({ app: { apiKey: APP_KEY }, ...o });
}

/** Runs against the fake with the App API key and URL in the environment, as a CI job would set them. */
function run(f: FakeTrackApi, args: readonly string[], env: Record<string, string | undefined> = {}) {
  return runAgainst(f, args, { env: { CIO_APP_API_KEY: APP_KEY, CIO_APP_URL: f.url, ...env } });
}

/** Generated memberships written to a CSV, with the flags of a verified add that writes report and failures. */
function setup(accounts: number, perAccount: number, extra: string[] = []) {
  const dir = tempDir();
  const rows = memberships(accounts, perAccount);
  const input = writeMembershipsCsv(dir, rows);
  const report = join(dir, "report.ndjson");
  const failures = join(dir, "failures.csv");
  const args = [
    "add",
    "--file",
    input,
    ...MEMBERSHIP_FLAGS,
    ...FAST_FLAGS,
    "--json",
    "--report",
    report,
    "--failures",
    failures,
    "--verify",
    ...extra,
  ];
  return { dir, rows, input, report, failures, args };
}

/** Every file a run wrote and everything it printed, for the secrets sweep. */
function everything(r: { stdout: string; stderr: string }, ...files: string[]): string {
  return [r.stdout, r.stderr, ...files.map((f) => readFileSync(f, "utf8"))].join("\n");
}

describe("add --verify against the fake workspace", () => {
  it("confirms every row once the writes become visible after the delay (attributes checked on the people side)", async () => {
    // The fake's clock stands still until the first App API read has been answered, then jumps past the
    // visibility delay: the first read surely sees nothing, a later one everything, however loaded the machine.
    // (After the jump it runs with real time again, so the App API's token bucket refills.)
    let jumped: number | undefined;
    fake = await workspace({ visibilityDelayMs: 1500, now: () => (jumped === undefined ? 0 : 60_000 + Date.now() - jumped) });
    const f = fake;
    const clock = setInterval(() => {
      if (jumped === undefined && f.requests.some((q) => q.path.startsWith("/v1/") && q.status !== undefined)) jumped = Date.now();
    }, 5);
    const s = setup(3, 4);
    const r = await run(fake, s.args).finally(() => clearInterval(clock));
    const summary = summaryOf(r);
    expect(r.code, r.stderr).toBe(0);
    expect(summary).toMatchObject({ rows: 12, applied: 12, unconfirmed: 0, exitCode: 0 });
    expect(balanced(summary)).toBe(true);
    expect(summary.verify).toMatchObject({ confirmed: 12, unconfirmed: 0, notChecked: 0, side: "people", listings: 12, sample: null, halt: null });
    // The first read came before the writes were visible, so some listing was read again.
    expect(summary.verify?.reads).toBeGreaterThan(12);
    expect(summary.verify?.rounds).toBeGreaterThan(1);
    const report = readReport(s.report);
    expect(report).toHaveLength(12);
    expect(report.every((l) => l.outcome === "applied" && (l as { confirmed?: boolean }).confirmed === true)).toBe(true);
    // Only reads of what is still unconfirmed are repeated: each person is read, no object is.
    const appReads = fake.requests.filter((q) => q.path.startsWith("/v1/"));
    expect(appReads.every((q) => q.path.startsWith("/v1/customers/"))).toBe(true);
    expect(new Set(appReads.map((q) => q.path.split("?")[0])).size).toBe(12);
    expect(readFailuresCsv(s.failures).rows).toEqual([]);
  });

  it("reads objects when no attributes are sent and objects are fewer, and the text summary ends with N confirmed", async () => {
    fake = await workspace({ visibilityDelayMs: 300 });
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(2, 5));
    const r = await run(fake, ["add", "--file", input, "--person-column", "user_id", "--object-column", "account_id", ...FAST_FLAGS, "--verify"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^Verified: 10 confirmed, 0 unconfirmed\n  read  2 objects \(fewer objects than people to read\), \d+ listings in \d+ rounds?, \d+ requests\n  took  .*\(--verify-timeout 2m 00s\)$/m,
    );
    expect(r.stdout.trimEnd().split("\n").at(-3)).toBe("Verified: 10 confirmed, 0 unconfirmed");
    const appReads = fake.requests.filter((q) => q.path.startsWith("/v1/"));
    expect(new Set(appReads.map((q) => q.path.split("?")[0]))).toEqual(
      new Set(["/v1/objects/1/acct-0/relationships", "/v1/objects/1/acct-1/relationships"]),
    );
  });

  it("a fault that accepts writes but never applies them leaves exactly those rows unconfirmed, exit 6; the failures file re-sent confirms them", async () => {
    const dropped = new Set(["u1", "u6"]);
    fake = await workspace({ faults: { dropWritesFor: [...dropped] } });
    const s = setup(3, 4, ["--verify-timeout", "2"]);
    const r = await run(fake, s.args);
    const summary = summaryOf(r);
    expect(r.code, r.stderr).toBe(6);
    expect(summary).toMatchObject({ rows: 12, applied: 10, unconfirmed: 2, failed: 0, exitCode: 6 });
    expect(balanced(summary)).toBe(true);
    expect(summary.verify).toMatchObject({ confirmed: 10, unconfirmed: 2, timeoutMs: 2000 });
    const report = readReport(s.report);
    expect(report).toHaveLength(12);
    const unconfirmed = report.filter((l) => l.outcome === "unconfirmed");
    expect(unconfirmed.map((l) => l.person).sort()).toEqual(["id:u1", "id:u6"]);
    // The dropped writes were those people's only ones: Customer.io never heard of them.
    for (const l of unconfirmed)
      expect(l.error).toMatch(/^not visible: person id:u\d does not exist in Customer.io \(read \d+ times? over \d+\.\d s\)$/);
    const failures = readFailuresCsv(s.failures);
    expect(failures.header).toEqual(["user_id", "account_id", "role", "cio_rel_error"]);
    expect(failures.rows.map((f) => f.user_id).sort()).toEqual(["u1", "u6"]);
    expect(everything(r, s.report, s.failures)).not.toContain(APP_KEY);
    // 12 people read back against the fake's 10 requests/s: the client paces itself, the fake never answers 429.
    const reads = fake.requests.filter((q) => q.path.startsWith("/v1/"));
    expect(reads.length).toBeGreaterThanOrEqual(12);
    expect(reads.filter((q) => q.status !== 200 && q.status !== 404)).toEqual([]);

    // Customer.io recovers: the failures file, fed back as it is, is sent and confirmed.
    fake.faults.set({ dropWritesFor: undefined });
    const again = await run(fake, ["add", "--file", s.failures, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--json", "--verify"]);
    const second = summaryOf(again);
    expect(again.code, again.stderr).toBe(0);
    expect(second).toMatchObject({ rows: 2, applied: 2, unconfirmed: 0 });
    expect(second.verify).toMatchObject({ confirmed: 2, unconfirmed: 0 });
    expect(fake.state.size).toBe(12);
  });

  it("verifies deletes: removed pairs confirmed absent; a dropped delete stays unconfirmed (still visible)", async () => {
    fake = await workspace({ visibilityDelayMs: 200 });
    const rows = memberships(2, 3);
    for (const m of rows) fake.state.add({ objectTypeId: "1", objectId: m.account }, { key: "id", value: m.user }, { role: m.role });
    fake.state.settle();
    fake.faults.set({ dropWritesFor: ["u4"] });
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, rows);
    const report = join(dir, "report.ndjson");
    const r = await run(fake, [
      "delete",
      "--file",
      input,
      "--person-column",
      "user_id",
      "--object-column",
      "account_id",
      ...FAST_FLAGS,
      "--yes",
      "--json",
      "--verify",
      "--verify-timeout",
      "2",
      "--report",
      report,
    ]);
    const summary = summaryOf(r);
    expect(r.code, r.stderr).toBe(6);
    expect(summary).toMatchObject({ rows: 6, applied: 5, unconfirmed: 1, exitCode: 6 });
    expect(summary.verify?.side).toBe("objects");
    const lines = readReport(report);
    expect(lines.filter((l) => l.outcome === "unconfirmed").map((l) => [l.person, l.error])).toEqual([
      ["id:u4", expect.stringMatching(/^still visible: object 1:acct-1 lists person id:u4 /)],
    ]);
    expect(fake.state.all().map((x) => x.personValue)).toEqual(["u4"]);
  });

  it("--verify-sample reads only the chosen objects and says which, the rest not checked", async () => {
    fake = await workspace();
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(5, 2));
    const r = await run(fake, [
      "add",
      "--file",
      input,
      "--person-column",
      "user_id",
      "--object-column",
      "account_id",
      ...FAST_FLAGS,
      "--json",
      "--verify",
      "--verify-sample",
      "2",
    ]);
    const summary = summaryOf(r);
    expect(r.code, r.stderr).toBe(0);
    const v = summary.verify;
    expect(v?.sample?.of).toBe(5);
    expect(v?.sample?.objects).toHaveLength(2);
    expect(v).toMatchObject({ confirmed: 4, unconfirmed: 0, notChecked: 6, side: "objects", listings: 2 });
    const read = fake.requests.filter((q) => q.path.startsWith("/v1/")).map((q) => q.path.split("?")[0]);
    expect(new Set(read)).toEqual(new Set(v?.sample?.objects.map((o) => `/v1/objects/1/${o.slice(2)}/relationships`)));
    expect(summary.applied).toBe(10);
  });

  it("an unconfirmed row ranks below failed rows: exit 5 when some rows also failed", async () => {
    fake = await workspace({ faults: { dropWritesFor: ["u2"], poison: { people: ["u5"] } } });
    const s = setup(2, 3, ["--verify-timeout", "1", "--group-by", "person"]);
    const r = await run(fake, s.args);
    const summary = summaryOf(r);
    expect(summary).toMatchObject({ failed: 1, unconfirmed: 1, applied: 4, exitCode: 5 });
    expect(r.code).toBe(5);
    expect(balanced(summary)).toBe(true);
  });

  it("a refused App API key stops the verification: exit 3, the rows not verified stay unconfirmed", async () => {
    fake = await workspace();
    const s = setup(1, 3);
    const r = await run(fake, s.args, { CIO_APP_API_KEY: "wrong-app-key" });
    const summary = summaryOf(r);
    expect(r.code, r.stderr).toBe(3);
    expect(summary).toMatchObject({ rows: 3, applied: 0, unconfirmed: 3 });
    expect(summary.verify?.halt).toMatch(/App API authentication refused \(401\)/);
    // Sending went through: only reading back failed.
    expect(fake.state.size).toBe(3);
    expect(readFailuresCsv(s.failures).rows).toHaveLength(3);
  });

  it.each([
    {
      name: "no App API key",
      args: ["--verify"],
      env: { CIO_APP_API_KEY: undefined },
      message: /--verify reads through the App API: set CIO_APP_API_KEY/,
    },
    { name: "a dry run", args: ["--verify", "--dry-run"], env: {}, message: /a dry run sends nothing/ },
    { name: "--verify-timeout alone", args: ["--verify-timeout", "5"], env: {}, message: /--verify-timeout goes with --verify/ },
    { name: "--verify-sample alone", args: ["--verify-sample", "5"], env: {}, message: /--verify-sample goes with --verify/ },
    { name: "a sample of 0", args: ["--verify", "--verify-sample", "0"], env: {}, message: /--verify-sample must be a whole number of objects ≥ 1/ },
    {
      name: "a negative timeout",
      args: ["--verify", "--verify-timeout", "-1"],
      env: {},
      message: /--verify-timeout must be a number of seconds ≥ 0/,
    },
    {
      name: "an http App URL off loopback",
      args: ["--verify"],
      env: { CIO_APP_URL: "http://example.com" },
      message: /plain http is allowed only to loopback/,
    },
  ])("$name is a usage error before anything is sent", async ({ args, env, message }) => {
    fake = await workspace();
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(1, 2));
    const r = await run(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...args], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(fake.requests).toHaveLength(0);
  });

  it("never prints or writes a credential", async () => {
    fake = await workspace({ faults: { dropWritesFor: ["u0"] } });
    const s = setup(1, 2, ["--verify-timeout", "0", "--verbose"]);
    const r = await run(
      fake,
      s.args.filter((a) => a !== "--json"),
    );
    expect(r.code).toBe(6);
    const all = everything(r, s.report, s.failures);
    for (const secret of [APP_KEY, API_KEY, SITE_ID]) expect(all).not.toContain(secret);
    expect(r.stderr).toMatch(/GET .*\/v1\/customers\/u0\/relationships/);
  });

  it("Ctrl-C during the verification ends its wait at once: exit 130, the rows not confirmed are unconfirmed and in the failures file", async () => {
    fake = await workspace({ faults: { dropWritesFor: ["u0", "u1", "u2"] } });
    const f = fake;
    const s = setup(1, 3, ["--verify-timeout", "600"]);
    let child: ChildProcess | undefined;
    const running = spawnAgainst(
      fake,
      s.args.filter((a) => a !== "--json"),
      { env: { CIO_APP_API_KEY: APP_KEY, CIO_APP_URL: fake.url }, onSpawn: (c) => (child = c) },
    );
    // Once every person has been read once, the run waits between rounds (up to 600 s without the interrupt).
    while (f.requests.filter((q) => q.path.startsWith("/v1/") && q.status !== undefined).length < 3) await new Promise((r) => setTimeout(r, 20));
    child?.kill("SIGINT");
    const r = await running;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).toContain("Verified: 0 confirmed, 3 unconfirmed");
    expect(r.stdout).toMatch(/^  stopped +interrupted$/m);
    expect(readReport(s.report).map((l) => l.outcome)).toEqual(["unconfirmed", "unconfirmed", "unconfirmed"]);
    expect(readFailuresCsv(s.failures).rows.map((x) => x.user_id)).toEqual(["u0", "u1", "u2"]);
  });
});
