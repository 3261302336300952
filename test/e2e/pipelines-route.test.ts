import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pipelinesContract } from "../contract/pipelines.js";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { runCli } from "./cli.js";
import {
  API_KEY,
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  SITE_ID,
  actualState,
  balanced,
  expectedState,
  memberships,
  readFailuresCsv,
  runAgainst,
  startFake,
  summaryOf,
  tempDir,
  writeMembershipsCsv,
} from "./harness.js";

// issue 15: `--via pipelines` sends through the fake's Data Pipelines endpoint, which writes the same
// workspace state as its Track API. These are the route's own checks (flags, credentials, bodies, state,
// isolation); the contract and equivalence suites live beside them.

const PKEY = "cdp-SOURCE-KEY-77aa-do-not-leak";
const APP_KEY = "app-key-pipelines-route";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** Runs the CLI against the fake's Data Pipelines endpoint with the source key in the environment. */
function viaPipelines(f: FakeTrackApi, args: readonly string[], env: Record<string, string> = {}) {
  return runCli([...args, "--via", "pipelines", "--pipelines-url", f.pipelines.url], { env: { CIO_PIPELINES_API_KEY: PKEY, ...env } });
}

describe("--via pipelines", () => {
  it("adds a file with attributes: the same workspace state as via track; group calls in the doc's form, strict mode, Basic key:", async () => {
    const dir = tempDir();
    const rows = memberships(12, 9);
    const input = writeMembershipsCsv(dir, rows);
    fake = await startFake({ pipelinesApiKey: PKEY });
    const r = await viaPipelines(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const s = summaryOf(r);
    expect(s.applied).toBe(rows.length);
    expect(balanced(s)).toBe(true);
    expect(actualState(fake)).toEqual(expectedState(rows));
    // Nothing went to the Track API; every request carried the header and the key as user with no password.
    expect(fake.requests.filter((q) => q.path.startsWith("/api/"))).toHaveLength(0);
    expect(fake.pipelines.requests.length).toBe(s.requests);
    for (const q of fake.pipelines.requests) {
      expect(q.headers["x-strict-mode"]).toBe("1");
      expect(q.headers.authorization).toBe(`Basic ${Buffer.from(`${PKEY}:`).toString("base64")}`);
    }
    expect(fake.pipelines.calls.every((c) => c.verdict.ok)).toBe(true);
    expect(fake.pipelines.calls).toHaveLength(rows.length);
    // Every request and call validates against the Data Pipelines spec; the calls take the doc's form.
    expect(pipelinesContract().received(fake.pipelines.requests)).toEqual([]);
    expect(new Set(fake.pipelines.calls.map((c) => JSON.stringify(c.form)))).toEqual(
      new Set([JSON.stringify({ objectTypeIn: "objectTypeId", attributesIn: "context.relationshipTraits" })]),
    );

    // The same file via Track ends in exactly the same state.
    const track = await startFake();
    try {
      const t = await runAgainst(track, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--json"]);
      expect(t.code).toBe(0);
      expect(actualState(track)).toEqual(actualState(fake));
    } finally {
      await track.close();
    }
  });

  it("deletes with Relationship Deleted track calls, and sync mirrors a file through the same route", async () => {
    const dir = tempDir();
    const rows = memberships(3, 4);
    const input = writeMembershipsCsv(dir, rows);
    fake = await startFake({ pipelinesApiKey: PKEY, app: { apiKey: APP_KEY } });
    expect((await viaPipelines(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS])).code).toBe(0);
    const leavers = writeMembershipsCsv(dir, rows.slice(0, 5), "leavers.csv");
    const d = await viaPipelines(fake, ["delete", "--file", leavers, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--yes", "--json"]);
    expect(d.code).toBe(0);
    expect(summaryOf(d).applied).toBe(5);
    expect(actualState(fake)).toEqual(expectedState(rows.slice(5)));
    const deletes = fake.pipelines.calls.filter((c) => c.call !== undefined && (c.call as { type?: string }).type === "track");
    expect(deletes).toHaveLength(5);
    expect(deletes[0]?.call).toEqual({
      type: "track",
      event: "Relationship Deleted",
      userId: "u0",
      properties: { objectId: "acct-0", objectTypeId: 1 },
    });

    // sync reads through the App API and writes through Data Pipelines; --verify reads the result back.
    fake.state.settle();
    const desired = [...rows.slice(7), { user: "new1", account: "acct-0", role: "member" }];
    const file = writeMembershipsCsv(dir, desired, "desired.csv");
    const y = await viaPipelines(
      fake,
      [
        "sync",
        "--file",
        file,
        ...MEMBERSHIP_FLAGS,
        ...FAST_FLAGS,
        "--read-delay",
        "0",
        "--app-url",
        fake.url,
        "--max-deletes",
        "5",
        "--yes",
        "--verify",
        "--json",
      ],
      { CIO_APP_API_KEY: APP_KEY },
    );
    expect(y.code, y.stderr + y.stdout).toBe(0);
    expect(actualState(fake)).toEqual(expectedState(desired));
    expect(y.stdout + y.stderr).not.toContain(PKEY);
  });

  it("dry run --out writes the exact Pipelines bodies, needs no key, and refuses email rows naming --via track", async () => {
    const dir = tempDir();
    const input = join(dir, "m.csv");
    writeFileSync(input, "id,object_id,role\n42,acme,admin\n43,acme,\n");
    const emails = join(dir, "e.csv");
    writeFileSync(emails, "email,object_id\na@b.co,acme\n");
    const out = join(dir, "bodies.ndjson");
    const r = await runCli(["add", "--file", input, "--attributes", "role", "--via", "pipelines", "--dry-run", "--out", out], { env: {} });
    expect(r.code).toBe(0);
    const bodies = readFileSync(out, "utf8").trim().split("\n");
    expect(bodies.map((b) => JSON.parse(b) as unknown)).toEqual([
      {
        batch: [
          { type: "group", userId: "42", groupId: "acme", objectTypeId: "1", context: { relationshipTraits: { role: "admin" } } },
          // An empty cell sends no attribute (--empty-removes would send null).
          { type: "group", userId: "43", groupId: "acme", objectTypeId: "1" },
        ],
      },
    ]);
    const e = await runCli(["add", "--file", emails, "--via", "pipelines", "--dry-run"], { env: {} });
    expect(e.code).toBe(2);
    expect(e.stdout).toMatch(/invalid +1/);
    expect(e.stdout).toMatch(/e\.csv:2: a person given by email cannot be sent via pipelines: .*send these rows with --via track/);
  });

  it("validate --via pipelines refuses the rows the route cannot carry; --via track (the default) accepts them", async () => {
    const dir = tempDir();
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const ids = file("ids.csv", "id,object_id\n42,acme\n43,globex\n");
    const emails = file("emails.csv", "email,object_id\na@b.co,acme\nc@d.co,acme\n");
    const cioIds = file("cio.csv", "cio_id,object_id\n42,acme\ncio_9,globex\n");
    const people = file("people.csv", "email\nx@y.io\n\nz@y.io\n");
    for (const [args, via, invalid] of [
      [[ids], "pipelines", []],
      [[emails], "pipelines", [2, 3]],
      [[emails], "track", []],
      [[cioIds], "pipelines", [2, 3]],
      [[people, "--object", "acme", "--person-key", "email"], "pipelines", [2, 4]],
      [[people, "--object", "acme", "--person-key", "email"], "track", []],
    ] as const) {
      const text = await runCli(["validate", ...args, "--via", via], { env: {} });
      const json = await runCli(["validate", ...args, "--via", via, "--json"], { env: {} });
      expect(text.code, text.stderr).toBe(invalid.length > 0 ? 2 : 0);
      expect(json.code).toBe(text.code);
      const refused = [...text.stdout.matchAll(/^.*:(\d+): a person given by \w+ cannot be sent via pipelines: .*--via track$/gm)];
      expect(refused.map((m) => Number(m[1]))).toEqual([...invalid]);
      const doc = JSON.parse(json.stdout) as { via: string; invalid: number; errors: { line: number }[] };
      expect(doc).toMatchObject({ via, invalid: invalid.length });
      expect(doc.errors.map((e) => e.line)).toEqual([...invalid]);
    }
    // Without --via, validate checks as the Track API would: the email rows are valid.
    expect((await runCli(["validate", emails], { env: {} })).code).toBe(0);
  });

  it("isolates a poison call by splitting on strict 400s; the other rows are applied and the poison one is in the failures file", async () => {
    const dir = tempDir();
    const rows = memberships(4, 10);
    const input = writeMembershipsCsv(dir, rows);
    const failures = join(dir, "failed.csv");
    fake = await startFake({ pipelinesApiKey: PKEY, pipelinesFaults: { poison: { people: ["u17"] } } });
    const r = await viaPipelines(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--json", "--failures", failures]);
    expect(r.code).toBe(5);
    const s = summaryOf(r);
    expect([s.applied, s.failed]).toEqual([rows.length - 1, 1]);
    expect(actualState(fake)).toEqual(expectedState(rows.filter((m) => m.user !== "u17")));
    expect(readFailuresCsv(failures).rows.map((f) => f.user_id)).toEqual(["u17"]);
  });

  it("a wrong key halts with exit 3 and a reason naming CIO_PIPELINES_API_KEY; the key never shows", async () => {
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(2, 3));
    fake = await startFake({ pipelinesApiKey: "the-right-key" });
    const r = await viaPipelines(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--verbose"]);
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/authentication refused \(401\): check CIO_PIPELINES_API_KEY/);
    expect(r.stdout + r.stderr).not.toContain(PKEY);
    expect(fake.state.all()).toEqual([]);
  });

  it.each([
    [["--via", "pipelines"], {}, /CIO_PIPELINES_API_KEY is not set: export it or pass --pipelines-api-key-file/],
    [["--via", "pipelines", "--pipelines-api-key", "k"], {}, /--pipelines-api-key is not accepted/],
    [["--via", "pipelines", "--api-key-file", "k.txt"], { CIO_PIPELINES_API_KEY: "k" }, /--api-key-file: for the Track API, not --via pipelines/],
    [["--via", "pipelines", "--track-url", "https://x.customer.io"], { CIO_PIPELINES_API_KEY: "k" }, /--track-url: for the Track API/],
    [["--pipelines-url", "https://cdp.customer.io/v1"], { CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY }, /--pipelines-url goes with --via pipelines/],
    [
      ["--via", "pipelines", "--pipelines-url", "http://cdp.example.com/v1"],
      { CIO_PIPELINES_API_KEY: "k" },
      /plain http is allowed only to loopback/,
    ],
    [["--via", "segment"], {}, /--via must be one of track, pipelines/],
  ])("%j is a usage error before anything is sent", async (flags, env, message) => {
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(1, 2));
    const r = await runCli(["add", "--file", input, ...MEMBERSHIP_FLAGS, ...flags], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("reads the key from --pipelines-api-key-file; a journal of a run via track refuses a resume via pipelines", async () => {
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(2, 3));
    const keyFile = join(dir, "key.txt");
    writeFileSync(keyFile, `${PKEY}\n`);
    fake = await startFake({ pipelinesApiKey: PKEY });
    const journal = join(dir, "run.journal");
    const t = await runAgainst(fake, ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", journal]);
    expect(t.code).toBe(0);
    const r = await runCli(["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", journal, "--resume", "--via", "pipelines"], {
      env: { CIO_PIPELINES_URL: fake.pipelines.url, CIO_PIPELINES_API_KEY: PKEY },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/options differ: --via was track, now pipelines/);
    const ok = await runCli(["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--via", "pipelines", "--pipelines-api-key-file", keyFile], {
      env: { CIO_PIPELINES_URL: fake.pipelines.url },
    });
    expect(ok.code).toBe(0);
    expect(fake.pipelines.requests.length).toBeGreaterThan(0);
  });
  it("an outage mid-run: the rest skipped (exit 5), --resume via pipelines finishes; no file or output holds the key", async () => {
    const dir = tempDir();
    const rows = memberships(20, 50);
    const input = writeMembershipsCsv(dir, rows);
    // Three batches go through, then Data Pipelines answers 503 to everything.
    fake = await startFake({ pipelinesApiKey: PKEY, pipelinesScript: [{}, {}, {}, ...Array.from({ length: 400 }, () => ({ status: 503 }))] });
    const files = ["--journal", join(dir, "run.journal"), "--report", join(dir, "report.ndjson"), "--failures", join(dir, "failed.csv")];
    const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--batch-bytes", "32012", "--concurrency", "1", ...files];
    const first = await viaPipelines(fake, [...args, "--give-up-after", "0.5", "--max-retries", "100", "--json", "--verbose"]);
    expect(first.code).toBe(5);
    const s1 = summaryOf(first);
    expect(s1.applied).toBeGreaterThan(0);
    expect(s1.applied).toBeLessThan(rows.length);
    expect(s1.applied + s1.skipped + s1.failed).toBe(rows.length);
    fake.pipelines.faults.clear();
    const second = await viaPipelines(fake, [...args, "--resume", "--json"]);
    expect(second.code).toBe(0);
    expect(actualState(fake)).toEqual(expectedState(rows));
    // The resumed run sent only what the first did not apply.
    expect(summaryOf(second).requests).toBeLessThan(s1.batches);
    const written = ["run.journal", "report.ndjson"].map((f) => readFileSync(join(dir, f), "utf8")).join("\n");
    for (const text of [written, first.stdout, first.stderr, second.stdout, second.stderr]) {
      expect(text).not.toContain(PKEY);
      expect(text).not.toContain(Buffer.from(`${PKEY}:`).toString("base64"));
    }
    expect(readFileSync(join(dir, "run.journal"), "utf8").split("\n")[0]).toContain('"via":"pipelines"');
  });
  it("sync: a listed person with no id cannot be deleted via pipelines (invalid, naming --via track); the others are", async () => {
    fake = await startFake({ pipelinesApiKey: PKEY, app: { apiKey: APP_KEY } });
    fake.state.addPerson({ id: "1" });
    fake.state.addPerson({ id: "2", email: "bob@x.io" });
    fake.state.addPerson({ email: "eve@x.io" }); // no id: Data Pipelines cannot name her
    for (const p of [
      { key: "id", value: "1" },
      { key: "id", value: "2" },
      { key: "email", value: "eve@x.io" },
    ] as const)
      fake.state.add({ objectTypeId: "1", objectId: "acme" }, p);
    fake.state.settle();
    const dir = tempDir();
    const file = join(dir, "members.csv");
    writeFileSync(file, "id\n1\n");
    const r = await viaPipelines(
      fake,
      [
        "sync",
        "--object",
        "acme",
        "--people",
        file,
        ...FAST_FLAGS,
        "--read-delay",
        "0",
        "--app-url",
        fake.url,
        "--delete-unmatchable",
        "--max-deletes",
        "2",
        "--yes",
      ],
      { CIO_APP_API_KEY: APP_KEY },
    );
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/a person given by cio_id cannot be sent via pipelines: .*--via track/);
    expect(fake.state.all().map((x) => `${x.personKey}:${x.personValue}`)).toEqual(["email:eve@x.io", "id:1"]);
    const sent = fake.pipelines.calls.map((c) => c.call as { event?: string; userId?: string });
    expect(sent).toEqual([expect.objectContaining({ event: "Relationship Deleted", userId: "2" })]);
  });
});
