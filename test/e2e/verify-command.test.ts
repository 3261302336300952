import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { runCli } from "./cli.js";
import {
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  memberships,
  readFailuresCsv,
  runAgainst,
  startFake,
  tempDir,
  writeMembershipsCsv,
  type Membership,
} from "./harness.js";

const APP_KEY = "APPKEY-8e21c4aa-do-not-leak";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** `verify` sends nothing, so it takes no Track flags: only the App API key and URL. */
function run(f: FakeTrackApi, args: readonly string[], env: Record<string, string | undefined> = {}) {
  return runCli(args, { env: { CIO_APP_API_KEY: APP_KEY, CIO_APP_URL: f.url, ...env } });
}

/** Puts memberships into the fake's state, visible at once. */
function preload(f: FakeTrackApi, rows: readonly Membership[]): void {
  for (const m of rows) f.state.add({ objectTypeId: "1", objectId: m.account }, { key: "id", value: m.user }, { role: m.role });
  f.state.settle();
}

interface VerifyDoc {
  command: string;
  rows: number;
  present: number;
  missing: number;
  mismatch: number;
  unread: number;
  notChecked: number;
  invalid: number;
  duplicate: number;
  verify: { side: string; listings: number } | null;
  problems: { row: number; line: number; status: string; reason: string }[];
  exitCode: number;
}

const QUIET_FLAGS = ["--progress", "none"];

describe("cio-rel verify", () => {
  it("reports exactly the missing rows and those with other attributes; --failures feeds add, after which verify finds everything", async () => {
    fake = await startFake({ app: { apiKey: APP_KEY } });
    const rows = memberships(3, 4);
    const missing = new Set(["u2", "u9"]);
    preload(
      fake,
      rows.filter((m) => !missing.has(m.user)).map((m) => (m.user === "u5" ? { ...m, role: "admin" } : m)),
    );
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, rows);
    const failures = join(dir, "missing.csv");
    const report = join(dir, "report.ndjson");
    const requestsBefore = fake.requests.length;
    const r = await run(fake, ["verify", "--file", input, ...MEMBERSHIP_FLAGS, ...QUIET_FLAGS, "--json", "--failures", failures, "--report", report]);
    const doc = JSON.parse(r.stdout) as VerifyDoc;
    expect(r.code, r.stderr).toBe(6);
    expect(doc).toMatchObject({ command: "verify", rows: 12, present: 9, missing: 2, mismatch: 1, unread: 0, invalid: 0, duplicate: 0, exitCode: 6 });
    expect(doc.verify).toMatchObject({ side: "people", listings: 12 });
    expect(doc.problems.map((p) => [p.line, p.status])).toEqual([
      [4, "missing"],
      [7, "mismatch"],
      [11, "missing"],
    ]);
    expect(doc.problems[1]?.reason).toMatch(/^attribute "role" is "admin" in Customer.io \(sent "member"\) for id:u5 – 1:acct-1/);
    // Nothing was sent: only App API reads.
    expect(fake.requests.slice(requestsBefore).every((q) => q.method === "GET" && q.path.startsWith("/v1/"))).toBe(true);
    const lines = readFileSync(report, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { row: number; status: string });
    expect(lines).toHaveLength(12);
    expect(lines.filter((l) => l.status === "present")).toHaveLength(9);
    const f = readFailuresCsv(failures);
    expect(f.rows.map((x) => x.user_id)).toEqual(["u2", "u5", "u9"]);

    // The failures file is ready for add, as it is.
    const add = await runAgainst(fake, ["add", "--file", failures, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS]);
    expect(add.code, add.stderr).toBe(0);
    fake.state.settle();
    const again = await run(fake, ["verify", "--file", input, ...MEMBERSHIP_FLAGS, ...QUIET_FLAGS, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ present: 12, missing: 0, mismatch: 0, exitCode: 0 });
  });

  it("without attributes reads the objects; the text output names each missing row by file:line", async () => {
    fake = await startFake({ app: { apiKey: APP_KEY } });
    const rows = memberships(2, 5);
    preload(
      fake,
      rows.filter((m) => m.user !== "u7"),
    );
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, rows);
    const r = await run(fake, ["verify", "--file", input, "--person-column", "user_id", "--object-column", "account_id", ...QUIET_FLAGS]);
    expect(r.code, r.stderr).toBe(6);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      new RegExp(`^${input}:9: missing: not visible: object 1:acct-1 does not list person id:u7 \\(read 1 time over \\d+\\.\\d s\\)$`),
    );
    expect(lines[1]).toBe(`${input}: 10 rows read: 9 present, 1 missing, 0 attribute mismatch, 0 invalid, 0 duplicate`);
    expect(r.stdout).toMatch(/^  read 2 objects \(fewer objects than people to read\), 2 requests in /m);
  });

  it("takes the --object --people shape; invalid and duplicate rows are counted, and alone give exit 2", async () => {
    fake = await startFake({ app: { apiKey: APP_KEY } });
    preload(fake, [
      { user: "1", account: "acme", role: "x" },
      { user: "2", account: "acme", role: "x" },
    ]);
    const dir = tempDir();
    const people = join(dir, "people.csv");
    writeFileSync(people, "id\n1\n2\n\n2\n" + "x".repeat(200) + "\n");
    const r = await run(fake, ["verify", "--object", "acme", "--people", people, ...QUIET_FLAGS, "--json"]);
    expect(r.code, r.stderr).toBe(2);
    const doc = JSON.parse(r.stdout) as VerifyDoc;
    expect(doc).toMatchObject({ rows: 4, present: 2, missing: 0, invalid: 1, duplicate: 1 });
    expect(doc.problems).toEqual([{ row: 4, line: 6, status: "invalid", reason: expect.stringMatching(/at most 150/) }]);
  });

  it("without an App API key is a usage error, and reads nothing", async () => {
    fake = await startFake({ app: { apiKey: APP_KEY } });
    const r = await run(fake, ["verify", "--object", "acme", "--people", "fixtures/people.csv"], { CIO_APP_API_KEY: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/verify reads through the App API: set CIO_APP_API_KEY/);
    expect(fake.requests).toHaveLength(0);
  });
});
