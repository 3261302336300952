// Issue 15 end to end: `--via pipelines` sends through the fake's Data Pipelines endpoint, which writes the
// same workspace state as the Track endpoint, so both routes can be compared on the state they leave.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { pipelinesContract } from "../contract/pipelines.js";
import { runCli } from "./cli.js";
import {
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  PIPELINES_KEY,
  actualState,
  balanced,
  expectedState,
  memberships,
  readFailuresCsv,
  readReport,
  runAgainst,
  runViaPipelines,
  startFake,
  summaryOf,
  tempDir,
  writeMembershipsCsv,
  type Membership,
} from "./harness.js";

const fakes: FakeTrackApi[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

/** A fake workspace closed after the test. */
async function fake(options: Parameters<typeof startFake>[0] = {}): Promise<FakeTrackApi> {
  const f = await startFake(options);
  fakes.push(f);
  return f;
}

/** The Basic auth Data Pipelines expects: the key as user, an empty password. */
const PIPELINES_AUTH = `Basic ${Buffer.from(`${PIPELINES_KEY}:`).toString("base64")}`;

/** The checks every Pipelines run shares: X-Strict-Mode and Basic auth on every request, bodies valid against the spec, sizes. */
function expectWireContract(f: FakeTrackApi): void {
  expect(f.pipelines.requests.length).toBeGreaterThan(0);
  for (const q of f.pipelines.requests) {
    expect(q.headers["x-strict-mode"]).toBe("1");
    expect(q.headers.authorization).toBe(PIPELINES_AUTH);
    expect(q.path).toBe("/v1/batch");
  }
  expect(pipelinesContract().received(f.pipelines.requests)).toEqual([]);
  expect(f.pipelines.counters).toMatchObject({ oversizeBodies: 0, oversizeCalls: 0, invalidCalls: 0, unauthorized: 0 });
  // The relationships doc's form, not the spec's (issue 15): objectTypeId at the top, attributes in context.relationshipTraits.
  for (const c of f.pipelines.calls) {
    if (c.write?.action === "add") expect(c.form?.objectTypeIn).toBe("objectTypeId");
    expect(c.form?.attributesIn === "none" || c.form?.attributesIn === "context.relationshipTraits").toBe(true);
  }
  // Nothing went to the Track endpoint.
  expect(f.requests.filter((q) => q.path.includes("/api/v2/"))).toEqual([]);
}

interface Files {
  dir: string;
  rows: Membership[];
  input: string;
  report: string;
  failures: string;
  journal: string;
}

function files(accounts: number, perAccount: number): Files {
  const dir = tempDir();
  const rows = memberships(accounts, perAccount);
  return {
    dir,
    rows,
    input: writeMembershipsCsv(dir, rows),
    report: join(dir, "report.ndjson"),
    failures: join(dir, "failures.csv"),
    journal: join(dir, "run.journal"),
  };
}

const outputs = (f: Files): string[] => ["--json", "--report", f.report, "--failures", f.failures];

describe("--via pipelines ends in the same workspace state as --via track (issue 15)", () => {
  it.each<[string, (dir: string) => string[][]]>([
    [
      "a memberships file with attributes: add, then delete a third",
      (dir) => {
        const rows = memberships(30, 20);
        const gone = rows.filter((_, i) => i % 3 === 0);
        return [
          ["add", "--file", writeMembershipsCsv(dir, rows), ...MEMBERSHIP_FLAGS],
          ["delete", "--file", writeMembershipsCsv(dir, gone, "gone.csv"), ...MEMBERSHIP_FLAGS, "--yes"],
        ];
      },
    ],
    [
      "object type 2, attributes changed and removed (--empty-removes) by a second add, then a delete",
      (dir) => {
        const first = join(dir, "first.csv");
        writeFileSync(first, "user_id,account_id,role,seats\n1,acme,admin,3\n2,acme,member,1\n3,globex,owner,\n");
        const second = join(dir, "second.csv");
        writeFileSync(second, "user_id,account_id,role,seats\n1,acme,owner,\n2,acme,member,2\n");
        const flags = ["--person-column", "user_id", "--object-column", "account_id", "--object-type", "2", "--attributes", "role,seats"];
        return [
          ["add", "--file", first, ...flags],
          ["add", "--file", second, ...flags, "--empty-removes"],
          ["delete", "--file", second, ...flags, "--yes"],
        ];
      },
    ],
    [
      "one object, many people (--object): add, then delete",
      (dir) => {
        const people = join(dir, "people.csv");
        writeFileSync(people, "id\n" + Array.from({ length: 250 }, (_, i) => `p${i}`).join("\n") + "\n");
        return [
          ["add", "--object", "acme", "--people", people],
          ["delete", "--object", "acme", "--people", people, "--yes"],
        ];
      },
    ],
  ])("%s", async (_name, make) => {
    const steps = make(tempDir());
    const viaTrack = await fake();
    const viaPipelines = await fake();
    for (const step of steps) {
      const t = await runAgainst(viaTrack, [...step, ...FAST_FLAGS, "--json"]);
      const p = await runViaPipelines(viaPipelines, [...step, ...FAST_FLAGS, "--json"]);
      expect(t.code, t.stderr).toBe(0);
      expect(p.code, p.stderr).toBe(0);
      const { durationMs: _d1, ...ts } = summaryOf(t) as unknown as Record<string, unknown>;
      const { durationMs: _d2, ...ps } = summaryOf(p) as unknown as Record<string, unknown>;
      expect(ps).toMatchObject({ via: "pipelines", rows: ts["rows"], applied: ts["applied"], failed: 0, invalid: 0, skipped: 0 });
      expect(ts["via"]).toBe("track");
      if (step[0] === "add") expect(viaPipelines.state.size).toBeGreaterThan(0);
      expect(actualState(viaPipelines)).toEqual(actualState(viaTrack));
    }
    expectWireContract(viaPipelines);
    expect(viaPipelines.pipelines.calls.some((c) => c.write?.action === "delete")).toBe(true);
  });

  it("sync: the same plan applied, deletes of people the App API lists by cio_id sent by their id", async () => {
    const dir = tempDir();
    const file = join(dir, "members.csv");
    // acme should be 1,2,5 (add 5, delete 3); globex 4,6 (add 6); initech is out of scope.
    writeFileSync(file, "id,object_id\n1,acme\n2,acme\n5,acme\n4,globex\n6,globex\n");
    const seeded = async (): Promise<FakeTrackApi> => {
      const f = await fake();
      for (const p of ["1", "2", "3"]) f.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: p }, { role: "x" });
      f.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "4" });
      f.state.add({ objectTypeId: "1", objectId: "initech" }, { key: "id", value: "9" });
      f.state.settle();
      return f;
    };
    const viaTrack = await seeded();
    const viaPipelines = await seeded();
    const args = (f: FakeTrackApi): string[] => [
      "sync",
      "--file",
      file,
      "--yes",
      "--json",
      "--max-deletes",
      "1",
      ...FAST_FLAGS,
      "--read-delay",
      "0",
      "--app-url",
      f.url,
    ];
    const env = { CIO_APP_API_KEY: "app-key" };
    const t = await runAgainst(viaTrack, args(viaTrack), { env });
    const p = await runViaPipelines(viaPipelines, args(viaPipelines), { env });
    expect(t.code, t.stderr).toBe(0);
    expect(p.code, p.stderr).toBe(0);
    expect(summaryOf(p)).toMatchObject({ command: "sync", rows: 3, applied: 3, failed: 0, invalid: 0 });
    expect(actualState(viaPipelines)).toEqual(actualState(viaTrack));
    expect(viaPipelines.state.has({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "3" })).toBe(false);
    expectWireContract(viaPipelines);
  });

  it("packs calls into requests of at most 500 KB, near the optimum", async () => {
    const f = await fake();
    const run = files(100, 100);
    const r = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...outputs(run)]);
    expect(r.code, r.stderr).toBe(0);
    expect(actualState(f)).toEqual(expectedState(run.rows));
    const bytes = f.pipelines.requests.map((q) => q.bytes);
    for (const b of bytes) expect(b).toBeLessThanOrEqual(500_000);
    const total = bytes.reduce((a, b) => a + b, 0);
    expect(bytes.length).toBeGreaterThan(1);
    expect(bytes.length).toBeLessThanOrEqual(Math.ceil(total / 500_000) + 1);
    expect(f.pipelines.calls).toHaveLength(run.rows.length);
    expectWireContract(f);
  });

  it("--verify reads back through the App API what Data Pipelines wrote", async () => {
    const f = await fake();
    const run = files(5, 10);
    const r = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--verify", "--json"], {
      env: { CIO_APP_API_KEY: "app-key", CIO_APP_URL: f.url },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(summaryOf(r)).toMatchObject({ rows: 50, applied: 50, unconfirmed: 0 });
    expect(f.requests.some((q) => q.path.startsWith("/v1/customers/") || q.path.startsWith("/v1/objects/"))).toBe(true);
  });
});

describe("--via pipelines: failures and guarantees (issue 15)", () => {
  it("isolates poison rows by splitting a strict 400: only they fail, every row has one outcome, the rest apply", async () => {
    const f = await fake({ pipelinesFaults: { poison: { people: ["u13", "u871"] } } });
    const run = files(20, 50);
    const r = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...outputs(run)]);
    const s = summaryOf(r);
    expect(r.code).toBe(5);
    expect(s).toMatchObject({ rows: 1000, applied: 998, failed: 2, invalid: 0, skipped: 0, exitCode: 5 });
    expect(balanced(s)).toBe(true);
    expect(actualState(f)).toEqual(expectedState(run.rows.filter((m) => m.user !== "u13" && m.user !== "u871")));
    // Each 400 was split and resent: more requests than batches, every resent half within the limits too.
    expect(f.pipelines.counters.byStatus[400]).toBeGreaterThan(0);
    expect(f.pipelines.requests.length).toBeGreaterThan(s.batches);
    const report = readReport(run.report);
    expect(report).toHaveLength(1000);
    expect(new Set(report.map((l) => l.line)).size).toBe(1000);
    expect(
      report
        .filter((l) => l.outcome === "failed")
        .map((l) => l.person)
        .sort(),
    ).toEqual(["id:u13", "id:u871"]);
    const failures = readFailuresCsv(run.failures);
    expect(failures.rows.map((x) => x.user_id).sort()).toEqual(["u13", "u871"]);
    for (const x of failures.rows) expect(x.cio_rel_error).toMatch(/could not be processed|400/);
    expectWireContract(f);
  });

  it.each([
    ["email", "email\nada@example.com\n", "email"],
    ["cio_id", "cio_id\na3000001\n", "cio_id"],
  ])("rows naming a person by %s are invalid, with a reason naming the Track route; the other rows still go", async (_name, extra, key) => {
    const f = await fake();
    const dir = tempDir();
    const mixed = join(dir, "people.csv");
    writeFileSync(mixed, "id\n1001\n1002\n");
    const other = join(dir, `by-${key}.csv`);
    writeFileSync(other, extra);
    const report = join(dir, "report.ndjson");
    const r = await runViaPipelines(f, ["add", "--object", "acme", "--people", other, ...FAST_FLAGS, "--json", "--report", report]);
    const s = summaryOf(r);
    expect(r.code).toBe(2);
    expect(s).toMatchObject({ rows: 1, invalid: 1, applied: 0 });
    const [line] = readReport(report);
    expect(line?.outcome).toBe("invalid");
    expect(line?.error).toMatch(new RegExp(`${key}.*pipelines.*--via track`, "s"));
    expect(f.pipelines.requests).toHaveLength(0);
    const ok = await runViaPipelines(f, ["add", "--object", "acme", "--people", mixed, ...FAST_FLAGS, "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(f.state.relationshipsOf({ objectTypeId: "1", objectId: "acme" }).map((x) => x.person)).toEqual([{ id: "1001" }, { id: "1002" }]);
  });

  it("a dry run with --out writes exactly the bodies a real run sends", async () => {
    const f = await fake();
    const run = files(40, 30);
    const out = join(run.dir, "batches.ndjson");
    const args = ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--concurrency", "1"];
    const dry = await runCli([...args, "--via", "pipelines", "--dry-run", "--json", "--out", out], { env: {} });
    expect(dry.code, dry.stderr).toBe(0);
    expect(f.requests).toHaveLength(0);
    const written = readFileSync(out, "utf8").trimEnd().split("\n");
    for (const body of written) expect(pipelinesContract().batch(JSON.parse(body))).toEqual([]);
    const real = await runViaPipelines(f, args);
    expect(real.code, real.stderr).toBe(0);
    expect(f.pipelines.requests.map((q) => q.rawBody)).toEqual(written);
    expect(written.join("\n")).not.toContain(PIPELINES_KEY);
  });

  it("the key never appears in output, report, failures, journal or dry-run bodies", async () => {
    const f = await fake({ pipelinesFaults: { poison: { people: ["u3"] }, rate503: 0.2, seed: 5 } });
    const run = files(5, 40);
    const out = join(run.dir, "dry.ndjson");
    const r = await runViaPipelines(f, [
      "add",
      "--file",
      run.input,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      "--verbose",
      "--journal",
      run.journal,
      ...outputs(run),
    ]);
    expect(r.code).toBe(5);
    const dry = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, "--dry-run", "--out", out]);
    expect(dry.code, dry.stderr).toBe(0);
    const token = Buffer.from(`${PIPELINES_KEY}:`).toString("base64");
    const texts = [r.stdout, r.stderr, dry.stdout, dry.stderr, ...[run.report, run.failures, run.journal, out].map((p) => readFileSync(p, "utf8"))];
    for (const t of texts) {
      expect(t).not.toContain(PIPELINES_KEY);
      expect(t).not.toContain(token);
    }
  });

  it("reads the key from --pipelines-api-key-file, which wins over the environment", async () => {
    const f = await fake();
    const run = files(2, 5);
    const keyFile = join(run.dir, "pipelines.key");
    writeFileSync(keyFile, PIPELINES_KEY + "\n", { mode: 0o600 });
    const r = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--pipelines-api-key-file", keyFile], {
      env: { CIO_PIPELINES_API_KEY: "wrong-key" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(actualState(f)).toEqual(expectedState(run.rows));
  });

  it("a wrong key: the strict 401 halts the run at once, exit 3, the rest skipped, the message names CIO_PIPELINES_API_KEY", async () => {
    const f = await fake();
    const run = files(20, 50);
    const r = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--concurrency", "1", ...outputs(run)], {
      env: { CIO_PIPELINES_API_KEY: "not-the-key" },
    });
    const s = summaryOf(r);
    expect(r.code).toBe(3);
    expect(s).toMatchObject({ applied: 0, exitCode: 3 });
    expect(balanced(s)).toBe(true);
    expect(f.pipelines.requests).toHaveLength(1);
    expect(f.pipelines.requests[0]?.status).toBe(401);
    expect(f.state.size).toBe(0);
    expect(readReport(run.report)).toHaveLength(1000);
    const failures = readFailuresCsv(run.failures);
    expect(failures.rows).toHaveLength(1000);
    expect(failures.rows[0]?.cio_rel_error).toMatch(/401.*CIO_PIPELINES_API_KEY/);
    const text = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS], {
      env: { CIO_PIPELINES_API_KEY: "not-the-key" },
    });
    expect(text.code).toBe(3);
    expect(text.stdout + text.stderr).toMatch(/CIO_PIPELINES_API_KEY/);
  });

  it("a Data Pipelines outage: --give-up-after stops the run (exit 5), --resume applies the rest", async () => {
    const f = await fake();
    const run = files(10, 60);
    const args = ["add", "--file", run.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--concurrency", "1", "--journal", run.journal];
    // The first two requests go through, then the endpoint is down. --give-up-after 2: on a loaded machine the
    // first answers may be slow, and giving up before them would leave nothing applied.
    f.pipelines.faults.script([{}, {}]);
    f.pipelines.faults.set({ rate503: 1 });
    const first = await runViaPipelines(f, [...args, "--batch-bytes", "32012", "--max-retries", "100000", "--give-up-after", "2", "--json"]);
    const s1 = summaryOf(first);
    expect(first.code).toBe(5);
    expect(balanced(s1)).toBe(true);
    expect(s1.applied).toBeGreaterThan(0);
    expect(s1.applied).toBeLessThan(run.rows.length);
    expect(f.state.size).toBe(s1.applied);

    f.pipelines.faults.clear();
    const before = f.pipelines.calls.filter((c) => c.accepted).length;
    const second = await runViaPipelines(f, [
      ...args,
      "--batch-bytes",
      "32012",
      "--max-retries",
      "100000",
      "--give-up-after",
      "0.3",
      "--resume",
      "--json",
    ]);
    expect(second.code, second.stderr).toBe(0);
    expect(actualState(f)).toEqual(expectedState(run.rows));
    // Only what the first run did not apply was sent again.
    expect(f.pipelines.calls.filter((c) => c.accepted).length - before).toBe(run.rows.length - s1.applied);
    expectWireContract(f);
  });

  it("--max-errors stops the run; --resume applies the skipped rows and leaves the refused one failed", async () => {
    const f = await fake({ pipelinesFaults: { poison: { people: ["u1"] } } });
    const run = files(20, 50);
    const args = [
      "add",
      "--file",
      run.input,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      "--concurrency",
      "1",
      "--batch-bytes",
      "32012",
      "--journal",
      run.journal,
    ];
    const first = await runViaPipelines(f, [...args, "--max-errors", "1", "--json"]);
    const s1 = summaryOf(first);
    expect(first.code).toBe(5);
    expect(balanced(s1)).toBe(true);
    expect(s1.failed).toBe(1);
    expect(s1.skipped).toBeGreaterThan(0);
    const second = await runViaPipelines(f, [...args, "--resume", "--json"]);
    const s2 = summaryOf(second);
    expect(balanced(s2)).toBe(true);
    // The refused row stays failed (journalled), every skipped one is applied now.
    expect(s2).toMatchObject({ rows: 1000, applied: 999, failed: 1, skipped: 0 });
    expect(actualState(f)).toEqual(expectedState(run.rows.filter((m) => m.user !== "u1")));
  });

  it.each(["http://cdp.example.com/v1", "http://10.0.0.5:8080/v1"])(
    "refuses plain http to a non-loopback --pipelines-url (%s): exit 2, nothing sent",
    async (url) => {
      const f = await fake();
      const run = files(1, 5);
      for (const how of [["--pipelines-url", url], []]) {
        const r = await runCli(["add", "--file", run.input, ...MEMBERSHIP_FLAGS, "--via", "pipelines", ...how, "--report", run.report], {
          env: { CIO_PIPELINES_API_KEY: PIPELINES_KEY, ...(how.length === 0 && { CIO_PIPELINES_URL: url }) },
        });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/plain http is allowed only to loopback/);
        expect(r.stderr).not.toContain(PIPELINES_KEY);
      }
      expect(f.requests).toHaveLength(0);
      expect(existsSync(run.report)).toBe(false);
    },
  );

  it("without a key: exit 2 naming CIO_PIPELINES_API_KEY and --pipelines-api-key-file, nothing sent", async () => {
    const f = await fake();
    const run = files(1, 5);
    const r = await runViaPipelines(f, ["add", "--file", run.input, ...MEMBERSHIP_FLAGS], { env: { CIO_PIPELINES_API_KEY: undefined } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CIO_PIPELINES_API_KEY/);
    expect(r.stderr).toMatch(/--pipelines-api-key-file/);
    expect(f.requests).toHaveLength(0);
  });
});
