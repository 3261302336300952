import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { runCli, tempDir, type CliResult } from "./cli.js";
import { API_KEY, FAST_FLAGS, MEMBERSHIP_FLAGS, PIPELINES_KEY, SITE_ID, memberships, startFake, type Membership } from "./harness.js";

// issue 11: `ctx.cwd` is the folder every user path is resolved against. Each command runs in process with
// ctx.cwd a temporary folder and only relative paths, while this process's own folder (the repository) holds
// none of them: a path resolved against process.cwd() instead reads nothing there, or writes into the repository.

const APP_KEY = "APPKEY-cwd-4a1f-do-not-leak";

let fake: FakeTrackApi;
beforeAll(async () => {
  fake = await startFake({ app: { apiKey: APP_KEY } });
  fake.state.add({ objectTypeId: "1", objectId: "listed-o" }, { key: "id", value: "listed-p" });
  fake.state.settle();
});
afterAll(async () => {
  await fake.close();
});

const csv = (rows: readonly Membership[]): string =>
  "user_id,account_id,role\n" + rows.map((r) => `${r.user},${r.account},${r.role}`).join("\n") + "\n";

/** A shuffled copy (fixed seed): shuffled input with a small window makes the planner spill to --temp-dir. */
function shuffled<T>(rows: readonly T[]): T[] {
  const a = [...rows];
  let seed = 7;
  for (let i = a.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = seed % (i + 1);
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Files every case finds in its folder: inputs, credential files and a folder for temporary files. */
const FILES: Record<string, string> = {
  "rows.csv": csv(memberships(2, 3).map((m) => ({ ...m, account: `cwd-${m.account}` }))),
  "big.csv": csv(shuffled(memberships(40, 25)).map((m) => ({ ...m, account: `cwd-big-${m.account}` }))),
  "absent.csv": csv(memberships(2, 2).map((m) => ({ ...m, account: `cwd-absent-${m.account}` }))),
  "people.csv": "id\np1\np2\n",
  "list-objects.csv": "object_id\nlisted-o\n",
  "list-people.csv": "id\nlisted-p\n",
  "objects.csv": "object_id\no1\no2\no3\n",
  "scope.csv": "object_id\ncwd-sync-b\n",
  "sync.csv": "id,object_id\ns1,cwd-sync-a\ns2,cwd-sync-a\n",
  "query.sql": "select 1 as id, 'x' as object_id\n",
  "site-id": `${SITE_ID}\n`,
  "api-key": `${API_KEY}\n`,
  "app-key": `${APP_KEY}\n`,
  "pipelines-key": `${PIPELINES_KEY}\n`,
};
/** The folder given to --temp-dir / $CIO_REL_TEMP_DIR, relative. */
const SPILL_DIR = "spill-here";
const SPILL = ["--window-size", "20", "--batch-bytes", "32012", "--temp-dir", SPILL_DIR];
const TRACK_FILES = ["--site-id-file", "site-id", "--api-key-file", "api-key"];

interface Case {
  /** Each step's arguments; a step's exit code must be the one given. */
  steps: { args: (f: FakeTrackApi) => string[]; code: number; env?: Record<string, string> }[];
  /** Files the run must have written in ctx.cwd (and not in process.cwd()). */
  writes: string[];
  /** More checks of what was read or written. */
  check?: (dir: string, results: CliResult[]) => void;
}

const CASES: Record<string, Case> = {
  "add --file sending: --site-id-file, --api-key-file, --report, --failures, --journal, --temp-dir (spilled)": {
    steps: [
      {
        args: (f) => [
          "add",
          "--file",
          "big.csv",
          ...MEMBERSHIP_FLAGS,
          ...FAST_FLAGS,
          ...SPILL,
          ...TRACK_FILES,
          "--track-url",
          f.url,
          "--json",
          "--report",
          "report.ndjson",
          "--failures",
          "failures.csv",
          "--journal",
          "journal.ndjson",
        ],
        code: 0,
      },
    ],
    writes: ["report.ndjson", "failures.csv", "journal.ndjson"],
    check: (dir, [r]) => {
      expect(JSON.parse(r?.stdout ?? "")).toMatchObject({ rows: 1000, applied: 1000 });
      expect(readFileSync(join(dir, "report.ndjson"), "utf8").trimEnd().split("\n")).toHaveLength(1000);
      expect(readdirSync(join(dir, SPILL_DIR))).toEqual([]);
    },
  },
  "add with $CIO_REL_TEMP_DIR relative (spilled), --dry-run --out": {
    steps: [
      {
        args: () => ["add", "--file", "big.csv", ...MEMBERSHIP_FLAGS, ...SPILL.slice(0, 4), "--dry-run", "--out", "batches.ndjson"],
        code: 0,
        env: { CIO_REL_TEMP_DIR: SPILL_DIR },
      },
    ],
    writes: ["batches.ndjson"],
    check: (dir) => expect(readFileSync(join(dir, "batches.ndjson"), "utf8")).toContain('"cwd-big-acct-39"'),
  },
  "add --object --people --dry-run --out": {
    steps: [{ args: () => ["add", "--object", "acme", "--people", "people.csv", "--dry-run", "--out", "people-batches.ndjson"], code: 0 }],
    writes: ["people-batches.ndjson"],
    check: (dir) => expect(readFileSync(join(dir, "people-batches.ndjson"), "utf8")).toMatch(/"p1".*"p2"/),
  },
  "delete --person --objects --dry-run --out": {
    steps: [{ args: () => ["delete", "--person", "p9", "--objects", "objects.csv", "--dry-run", "--out", "object-batches.ndjson"], code: 0 }],
    writes: ["object-batches.ndjson"],
    check: (dir) => expect(readFileSync(join(dir, "object-batches.ndjson"), "utf8")).toMatch(/"o1"[^]*"o3"/),
  },
  "add --via pipelines --pipelines-api-key-file --report": {
    steps: [
      {
        args: (f) => [
          "add",
          "--file",
          "rows.csv",
          ...MEMBERSHIP_FLAGS,
          ...FAST_FLAGS,
          "--via",
          "pipelines",
          "--pipelines-url",
          f.pipelines.url,
          "--pipelines-api-key-file",
          "pipelines-key",
          "--report",
          "pipelines-report.ndjson",
        ],
        code: 0,
      },
    ],
    writes: ["pipelines-report.ndjson"],
  },
  "add --verify --app-api-key-file": {
    steps: [
      {
        args: (f) => [
          "add",
          "--file",
          "rows.csv",
          ...MEMBERSHIP_FLAGS,
          ...FAST_FLAGS,
          ...TRACK_FILES,
          "--track-url",
          f.url,
          "--verify",
          "--app-url",
          f.url,
          "--app-api-key-file",
          "app-key",
          "--json",
          "--report",
          "verified.ndjson",
        ],
        code: 0,
      },
    ],
    writes: ["verified.ndjson"],
    check: (_dir, [r]) => expect(JSON.parse(r?.stdout ?? "")).toMatchObject({ rows: 6, applied: 6, unconfirmed: 0 }),
  },
  "validate FILE": {
    steps: [{ args: () => ["validate", "rows.csv", ...MEMBERSHIP_FLAGS], code: 0 }],
    writes: [],
    check: (_dir, [r]) => expect(r?.stdout).toMatch(/6 rows read, 6 valid/),
  },
  "verify --file --failures --report --app-api-key-file": {
    steps: [
      {
        args: (f) => [
          "verify",
          "--file",
          "absent.csv",
          ...MEMBERSHIP_FLAGS,
          "--app-url",
          f.url,
          "--app-api-key-file",
          "app-key",
          "--progress",
          "none",
          "--failures",
          "missing.csv",
          "--report",
          "verify-report.ndjson",
        ],
        code: 6,
      },
    ],
    writes: ["missing.csv", "verify-report.ndjson"],
    check: (dir) => expect(readFileSync(join(dir, "missing.csv"), "utf8").trimEnd().split("\n")).toHaveLength(5),
  },
  "sync --objects-scope --plan-out --snapshot --journal --report --failures --temp-dir, then undo --snapshot": {
    steps: [
      {
        args: (f) => [
          "sync",
          "--file",
          "sync.csv",
          "--objects-scope",
          "scope.csv",
          "--yes",
          ...FAST_FLAGS,
          "--read-delay",
          "0",
          ...TRACK_FILES,
          "--track-url",
          f.url,
          "--app-url",
          f.url,
          "--app-api-key-file",
          "app-key",
          "--temp-dir",
          SPILL_DIR,
          "--plan-out",
          "plan.ndjson",
          "--snapshot",
          "snapshot.ndjson",
          "--journal",
          "sync-journal.ndjson",
          "--report",
          "sync-report.ndjson",
          "--failures",
          "sync-failures.csv",
        ],
        code: 0,
      },
      {
        args: (f) => [
          "undo",
          "--snapshot",
          "snapshot.ndjson",
          "--yes",
          "--max-deletes",
          "100%",
          ...FAST_FLAGS,
          "--read-delay",
          "0",
          ...TRACK_FILES,
          "--track-url",
          f.url,
          "--app-url",
          f.url,
          "--app-api-key-file",
          "app-key",
          "--json",
        ],
        code: 0,
      },
    ],
    writes: ["plan.ndjson", "snapshot.ndjson", "sync-journal.ndjson", "sync-report.ndjson", "sync-failures.csv"],
    check: (dir, [, undo]) => {
      expect(readFileSync(join(dir, "plan.ndjson"), "utf8")).toMatch(/s1[^]*s2/);
      expect(JSON.parse(undo?.stdout ?? "")).toMatchObject({ command: "undo", applied: 2 });
    },
  },
  "list --objects --out --app-api-key-file": {
    steps: [
      {
        args: (f) => ["list", "--objects", "list-objects.csv", "--out", "listed-objects.csv", "--app-url", f.url, "--app-api-key-file", "app-key"],
        code: 0,
      },
    ],
    writes: ["listed-objects.csv"],
    check: (dir) => expect(readFileSync(join(dir, "listed-objects.csv"), "utf8")).toContain("listed-p"),
  },
  "list --people --out": {
    steps: [
      {
        args: (f) => ["list", "--people", "list-people.csv", "--out", "listed-people.csv", "--app-url", f.url, "--app-api-key-file", "app-key"],
        code: 0,
      },
    ],
    writes: ["listed-people.csv"],
    check: (dir) => expect(readFileSync(join(dir, "listed-people.csv"), "utf8")).toContain("listed-o"),
  },
};

describe("every user path is resolved against ctx.cwd (issue 11)", () => {
  it.each(Object.entries(CASES))("%s", async (_name, c) => {
    const dir = tempDir();
    expect(process.cwd()).not.toBe(dir);
    for (const [name, text] of Object.entries(FILES)) {
      writeFileSync(join(dir, name), text);
      expect(existsSync(join(process.cwd(), name)), `${name} must not exist in the process's folder`).toBe(false);
    }
    mkdirSync(join(dir, SPILL_DIR));
    const results: CliResult[] = [];
    for (const step of c.steps) {
      const args = step.args(fake);
      const r = await runCli(args, { cwd: dir, ...(step.env !== undefined && { env: step.env }) });
      expect(r.code, `cio-rel ${args.join(" ")}\n${r.stderr}`).toBe(step.code);
      results.push(r);
    }
    for (const name of c.writes) {
      expect(existsSync(join(dir, name)), `${name} written in ctx.cwd`).toBe(true);
      expect(existsSync(join(process.cwd(), name)), `${name} not written in the process's folder`).toBe(false);
    }
    c.check?.(dir, results);
  });

  it("--sql-file is read from ctx.cwd: the run gets as far as connecting; a missing file is named as given", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "query.sql"), FILES["query.sql"] as string);
    const sql = ["--db", "postgres://cio@127.0.0.1:1/none", "--dry-run"];
    const found = await runCli(["add", "--sql-file", "query.sql", ...sql], { cwd: dir });
    expect(found.stderr).not.toMatch(/query\.sql.*cannot read/);
    expect(found.stderr).toMatch(/127\.0\.0\.1|connect/i);
    const missing = await runCli(["add", "--sql-file", "other.sql", ...sql], { cwd: dir });
    expect(missing.stderr).toMatch(/^cio-rel: other\.sql: cannot read: no such file/m);
  });

  it.each([
    ["--api-key-file", ["add", "--file", "rows.csv", ...MEMBERSHIP_FLAGS, "--site-id-file", "site-id", "--api-key-file", "nope"]],
    ["--site-id-file", ["add", "--file", "rows.csv", ...MEMBERSHIP_FLAGS, "--site-id-file", "nope", "--api-key-file", "api-key"]],
    ["--pipelines-api-key-file", ["add", "--file", "rows.csv", ...MEMBERSHIP_FLAGS, "--via", "pipelines", "--pipelines-api-key-file", "nope"]],
    ["--app-api-key-file", ["list", "--object", "acme", "--app-api-key-file", "nope"]],
    ["--temp-dir", ["add", "--file", "rows.csv", ...MEMBERSHIP_FLAGS, "--dry-run", "--temp-dir", "nope"]],
  ])("%s: a file missing from ctx.cwd is a usage error naming the path as given", async (flag, args) => {
    const dir = tempDir();
    for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
    const r = await runCli(args, { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${flag} nope: (cannot read it \\(no such file\\)|no such folder)`));
  });
});
