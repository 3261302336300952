import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import type { CommandContext } from "../../src/commands/context.js";
import { relationshipDefaults } from "../../src/commands/flags.js";
import { runRelationships } from "../../src/commands/relationships.js";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { ROOT, runCli } from "./cli.js";
import {
  API_KEY,
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  SITE_ID,
  memberships,
  runAgainst,
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

/** A command context with captured output and a scripted terminal. */
function context(env: Record<string, string>, answer: boolean | undefined, tty: boolean) {
  const out = { stdout: "", stderr: "", questions: [] as string[] };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on("data", (d: Buffer) => (out.stdout += d.toString()));
  stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
  const stdin = Object.assign(new PassThrough(), { isTTY: tty });
  const ctx: CommandContext = {
    argv: [],
    env: { NO_COLOR: "1", ...env },
    stdin,
    stdout: Object.assign(stdout, { isTTY: false }),
    stderr: Object.assign(stderr, { isTTY: tty }),
    cwd: ROOT,
    ...(answer !== undefined
      ? {
          confirm: async (q: string) => {
            out.questions.push(q);
            return answer;
          },
        }
      : {}),
  };
  return { ctx, out };
}

describe("deletions are confirmed (issue 5)", () => {
  it("on a terminal it asks with the counts and object types, and a no deletes nothing", async () => {
    fake = await startFake();
    const { ctx, out } = context({ CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY }, false, true);
    const code = await runRelationships(ctx, "delete", {
      ...relationshipDefaults(),
      file: join(ROOT, "fixtures/memberships.csv"),
      personColumn: "user_id",
      objectColumn: "account_id",
      trackUrl: fake.url,
      progress: "none",
    });
    expect(out.questions).toHaveLength(1);
    expect(out.questions[0]).toMatch(/^Remove 9 relationships between 8 people and 3 objects \(object type 1\)\? .*\[y\/N\] $/);
    expect(code).toBe(130);
    expect(fake.requests).toHaveLength(0);
    expect(out.stderr).toContain("Nothing deleted.");
  });

  it("a yes sends the deletions", async () => {
    fake = await startFake();
    fake.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "1001" });
    const { ctx, out } = context({ CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY }, true, true);
    const code = await runRelationships(ctx, "delete", {
      ...relationshipDefaults(),
      object: "acme",
      people: join(ROOT, "fixtures/people.csv"),
      trackUrl: fake.url,
      progress: "none",
    });
    expect(out.questions[0]).toMatch(/^Remove 8 relationships between 8 people and 1:acme/);
    expect(code).toBe(0);
    expect(fake.state.size).toBe(0);
    expect(fake.requests).toHaveLength(1);
  });

  it("without a terminal and without --yes it refuses with exit 2 and says to add --yes", async () => {
    fake = await startFake();
    const r = await runAgainst(fake, ["delete", "--object", "acme", "--people", "fixtures/people.csv"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--yes/);
    expect(fake.requests).toHaveLength(0);
  });

  it("--yes deletes without asking", async () => {
    fake = await startFake();
    for (const id of ["1001", "1002"]) fake.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: id });
    fake.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "1001" });
    const r = await runAgainst(fake, ["delete", "--object", "acme", "--people", "fixtures/people.csv", "--yes", "--json"]);
    expect(r.code).toBe(0);
    expect(summaryOf(r)).toMatchObject({ command: "delete", applied: 8 });
    expect(fake.state.all().map((x) => x.objectId)).toEqual(["globex"]);
  });
});

describe("the summary and --json (issue 5)", () => {
  it("--json prints exactly one document with the documented keys", async () => {
    fake = await startFake();
    const r = await runAgainst(fake, ["add", "--object", "acme", "--people", "fixtures/people.csv", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual(
      [
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
      ].sort(),
    );
    expect(doc).toMatchObject({
      command: "add",
      dryRun: false,
      via: "track",
      rows: 8,
      applied: 8,
      unconfirmed: 0,
      verify: null,
      requests: 1,
      exitCode: 0,
    });
  });

  it("the human summary names every outcome, the figures, the files and the first failures", async () => {
    fake = await startFake({ faults: { poison: { people: ["u1", "u2", "u3", "u4", "u5", "u6", "u7"] } } });
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(2, 10));
    const failures = join(dir, "failed.csv");
    const r = await runAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--failures", failures]);
    expect(r.code).toBe(5);
    for (const word of [
      "applied",
      "failed",
      "invalid",
      "duplicate",
      "skipped",
      "relationships",
      "operations",
      "batches",
      "requests",
      "retries",
      "bytes sent",
      "duration",
      failures,
    ]) {
      expect(r.stdout).toContain(word);
    }
    expect(r.stdout).toMatch(/memberships\.csv:\d+: /);
    // Issue 10: the 7 rows refused for one reason are one line with a count, not 5 lines and "… and 2 more".
    expect(r.stdout).toMatch(/memberships\.csv:\d+: .*\(7 rows with this reason, the first here\)\n/);
    expect(r.stdout).not.toMatch(/… and \d+ more/);
  });

  it("--quiet prints nothing on success", async () => {
    fake = await startFake();
    const r = await runAgainst(fake, ["add", "--object", "acme", "--people", "fixtures/people.csv", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("");
  });

  it("off a TTY, progress is plain lines on stderr, never redrawn", async () => {
    // ≈ 20 requests of ≈ 50 ms one at a time: longer than the 200 ms between status lines this run is given.
    fake = await startFake({ faults: { latencyMs: 50 } });
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(90, 100));
    const r = await runAgainst(
      fake,
      ["add", "--file", input, ...MEMBERSHIP_FLAGS, "--batch-bytes", "32012", "--concurrency", "1", "--progress", "plain"],
      { context: { progressIntervalMs: 200 } },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/\r|\u001b\[/);
    const status = r.stderr.split("\n").filter((l) => /rows [\d,]+ · applied [\d,]+/.test(l));
    expect(status.length).toBeGreaterThanOrEqual(1);
  });

  it("--verbose logs every request without the credentials", async () => {
    fake = await startFake();
    const r = await runAgainst(fake, ["add", "--object", "acme", "--people", "fixtures/people.csv", "--verbose", "--progress", "none"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/api\/v2\/batch 200 \d+ B \d+ ms/);
    expect(r.stderr).not.toContain(API_KEY);
    expect(r.stderr).not.toMatch(/authorization/i);
  });
});

describe("validate (issue 5)", () => {
  it("prints every invalid row with file:line and reason, exit 2", async () => {
    const r = await runCli(["validate", "fixtures/bad-rows.csv", "--object", "acme"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('fixtures/bad-rows.csv:3: column "email" is empty');
    expect(r.stdout).toMatch(/fixtures\/bad-rows\.csv:4: .*email/);
    expect(r.stdout).toMatch(/4 rows read, 2 valid, 2 invalid/);
  });

  it("exit 0 on a clean file, without credentials", async () => {
    const r = await runCli(["validate", "fixtures/memberships.ndjson", "--person-column", "user_id", "--object-column", "account_id"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/9 rows read, 9 valid, 0 invalid/);
  });
});

describe("--help (issue 5)", () => {
  it.each(["add", "delete", "validate"])("%s --help shows real examples and the exit codes", async (cmd) => {
    const r = await runCli([cmd, "--help"]);
    expect(r.code).toBe(0);
    const examples = r.stdout.split("\n").filter((l) => l.trim().startsWith("$ cio-rel"));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const code of ["0", "1", "2", "3", "4", "5", "130"]) expect(r.stdout).toMatch(new RegExp(`^  ${code} +\\S`, "m"));
  });
});

describe("secrets never leak (issue 5)", () => {
  const FAULTS: Record<string, Parameters<typeof startFake>[0]> = {
    clean: {},
    "429": { faults: { rate429: 0.3, retryAfter: 0, seed: 2 } },
    "503": { faults: { rate503: 0.3, seed: 2 } },
    reset: { faults: { resetRate: 0.3, seed: 2 } },
    poison: { faults: { poison: { people: ["u3"] } } },
    "200 with errors": { faults: { poison: { people: ["u3"] }, errorsAs200: true } },
    redirect: { faults: { redirect: { to: "/eu" } } },
    revoked: { faults: { revokeAfter: 1 } },
    hang: { script: [{ hang: true }] },
    // issue 9: the server echoes the credentials in a long error body, the key straddling the 200-character cut.
    "422 echoing the key at the cut": {
      script: [{ status: 422, body: "e".repeat(188) + API_KEY + " " + SITE_ID + " " + Buffer.from(`${SITE_ID}:${API_KEY}`).toString("base64") }],
    },
    "400 echoing the key at the cut": { script: [{ status: 400, body: "x ".repeat(94) + `${API_KEY}${SITE_ID}` }] },
  };
  const basic = Buffer.from(`${SITE_ID}:${API_KEY}`).toString("base64");

  it.each(Object.keys(FAULTS))("under %s: not in output, logs, report, failures, journal", async (name) => {
    fake = await startFake(FAULTS[name]);
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(3, 100));
    const files = ["--report", join(dir, "r.ndjson"), "--failures", join(dir, "f.csv"), "--journal", join(dir, "j.journal")];
    const runs = [
      await runAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--timeout", "0.5", "--verbose", ...files]),
      await runAgainst(fake, [
        "delete",
        "--file",
        input,
        ...MEMBERSHIP_FLAGS,
        ...FAST_FLAGS,
        "--timeout",
        "0.5",
        "--yes",
        "--json",
        "--verbose",
        "--debug",
      ]),
      await runAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, "--dry-run", "--out", join(dir, "out.ndjson")]),
      // issue 9: given on the command line they are refused, and the refusal does not echo them.
      await runAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, "--api-key", API_KEY, "--site-id", SITE_ID]),
      await runAgainst(fake, ["add", "--file", join(dir, "missing.csv"), ...MEMBERSHIP_FLAGS, "--debug"]),
    ];
    const texts = runs.flatMap((r) => [r.stdout, r.stderr]);
    for (const f of readdirSync(dir)) texts.push(readFileSync(join(dir, f), "utf8"));
    for (const t of texts) {
      expect(t).not.toContain(API_KEY);
      expect(t).not.toContain(SITE_ID);
      expect(t).not.toContain(basic);
      // Not even a piece of one (a key cut before it was masked).
      for (let i = 0; i + 10 <= API_KEY.length; i++) expect(t).not.toContain(API_KEY.slice(i, i + 10));
      for (let i = 0; i + 10 <= basic.length; i++) expect(t).not.toContain(basic.slice(i, i + 10));
    }
  });
});
