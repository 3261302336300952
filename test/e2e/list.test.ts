// `cio-rel list` and `cio-rel types` against the fake workspace (issue 12): what the Track API holds,
// the App API lists; what list writes, add and delete read back with no mapping flags.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeOptions, FakeTrackApi } from "../fake-track-api/index.js";
import { runCli, spawnCli, type CliResult } from "./cli.js";
import { API_KEY, SITE_ID, startFake, tempDir } from "./harness.js";

const APP_KEY = "APPKEY-3e9c17-must-not-leak";
let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function workspace(options: FakeOptions = {}): Promise<FakeTrackApi> {
  fake = await startFake({ ...options, app: { apiKey: APP_KEY, ...options.app } });
  return fake;
}

/** Runs the CLI with both keys in the environment and both URLs pointing at the fake. */
function cli(
  f: FakeTrackApi,
  args: readonly string[],
  options: { stdin?: string; env?: Record<string, string | undefined> } = {},
): Promise<CliResult> {
  const writes = args[0] === "add" || args[0] === "delete";
  return runCli([...args, "--app-url", f.url, ...(writes ? ["--track-url", f.url, "--progress", "none"] : [])], {
    ...(options.stdin !== undefined && { stdin: options.stdin }),
    env: { CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY, CIO_APP_API_KEY: APP_KEY, ...options.env },
  });
}

const ACME = { objectTypeId: "1", objectId: "acme" };

/** The people of an object as list writes them (id,email,cio_id), from the fake's own records. */
function expectedPeopleCsv(f: FakeTrackApi, object = ACME): string[] {
  f.state.settle();
  const seen = f.state.visible();
  const o = seen.findObject(object);
  if (o === undefined) return [];
  return seen
    .peopleOf(o)
    .map((v) => [v.person.id ?? "", v.person.email ?? "", v.person.cio_id].join(","))
    .sort();
}

const body = (csv: string): string[] =>
  csv
    .trimEnd()
    .split("\n")
    .slice(1)
    .filter((l) => l !== "")
    .sort();

/** Fills acme with people created by id, by email only, and one preloaded with both. */
function seed(f: FakeTrackApi, n: number): void {
  f.state.addPerson({ id: "both", email: "both@x.io" });
  f.state.add(ACME, { key: "id", value: "both" }, { role: "owner" });
  for (let i = 0; i < n; i++)
    f.state.add(ACME, i % 4 === 0 ? { key: "email", value: `e${i}@x.io` } : { key: "id", value: `u${i}` }, { role: "member" });
  f.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "u1" });
}

describe("cio-rel list --object", () => {
  it("lists every person across many pages with repeats and 429s: the CSV equals the state exactly", async () => {
    const f = await workspace({ app: { pageSize: 7, repeat: true }, appScript: [{}, { status: 429, retryAfter: 1 }, {}, { status: 503 }] });
    seed(f, 60);
    const r = await cli(f, ["list", "--object", "acme", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("id,email,cio_id");
    expect(body(r.stdout)).toEqual(expectedPeopleCsv(f));
    expect(body(r.stdout)).toHaveLength(61);
    // An email-only person has an empty id and their cio_id; the preloaded one carries both.
    expect(r.stdout).toContain(`,e0@x.io,${f.state.person("email", "e0@x.io")?.cio_id}\n`);
    expect(r.stdout).toContain(`both,both@x.io,${f.state.person("id", "both")?.cio_id}\n`);
    const summary = JSON.parse(r.stderr.trim().split("\n").at(-1) as string);
    expect(summary).toMatchObject({
      command: "list",
      inputs: 1,
      objects: 1,
      people: 61,
      rows: 61,
      missing: 0,
      requests: f.requests.length,
      retries: 2,
      exitCode: 0,
    });
    expect(summary.pages).toBe(f.requests.filter((q) => q.status === 200).length);
    expect(summary.durationMs).toBeGreaterThan(0);
  });

  it.each([
    [
      "ndjson",
      (out: string) =>
        out
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l)),
    ],
    ["json", (out: string) => JSON.parse(out)],
  ])("--format %s writes id, email (null when absent) and cio_id", async (format, parse) => {
    const f = await workspace();
    seed(f, 3);
    const r = await cli(f, ["list", "--object", "acme", "--format", format, "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const rows = parse(r.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((p) => [p["id"] ?? "", p["email"] ?? "", p["cio_id"]].join(",")).sort()).toEqual(expectedPeopleCsv(f));
    expect(rows.find((p) => p["email"] === "e0@x.io")).toEqual({ id: null, email: "e0@x.io", cio_id: expect.any(String) });
  });

  it("an object that does not exist: reported, exit 5; an emptied object lists a header only, exit 0", async () => {
    const f = await workspace();
    const missing = await cli(f, ["list", "--object", "ghost"]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain("object ghost (type 1) not found");
    f.state.add(ACME, { key: "id", value: "1" });
    f.state.delete(ACME, { key: "id", value: "1" });
    const empty = await cli(f, ["list", "--object", "acme"]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe("id,email,cio_id\n");
  });
});

describe("what list writes, add and delete read back with no mapping flags", () => {
  it("cio-rel list --object acme | cio-rel delete --object acme --people - --format csv --yes empties the object", async () => {
    const f = await workspace({ app: { pageSize: 10 } });
    seed(f, 40);
    const listed = await cli(f, ["list", "--object", "acme", "--quiet"]);
    expect(listed.code).toBe(0);
    const del = await cli(f, ["delete", "--object", "acme", "--people", "-", "--format", "csv", "--yes", "--json"], { stdin: listed.stdout });
    expect(del.code).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ rows: 41, applied: 41, invalid: 0 });
    expect(f.state.relationshipsOf(ACME)).toEqual([]);
    // The person related to another object keeps that relationship.
    expect(f.state.objectsOf({ key: "id", value: "u1" }).map((o) => o.object.objectId)).toEqual(["globex"]);
    // What was sent: people with an id by id, the email-only ones by cio_id — never by email.
    const sent = f.requests
      .filter((q) => q.path.endsWith("/api/v2/batch"))
      .flatMap((q) =>
        (q.body as { batch: Array<{ cio_relationships: Array<{ identifiers: Record<string, string> }> }> }).batch.flatMap((op) =>
          op.cio_relationships.map((x) => Object.keys(x.identifiers)[0]),
        ),
      );
    expect(sent.filter((k) => k === "cio_id")).toHaveLength(10);
    expect(sent.filter((k) => k === "email")).toHaveLength(0);
    const after = await cli(f, ["list", "--object", "acme"]);
    expect(after.stdout).toBe("id,email,cio_id\n");
  });

  it("add then list after the visibility delay shows the additions (the fake's clock moved by the test)", async () => {
    let t = 1_000_000;
    const f = await workspace({ now: () => t, visibilityDelayMs: 30_000, app: { rateLimit: undefined } });
    f.state.add(ACME, { key: "id", value: "old" });
    f.state.settle();
    const dir = tempDir();
    const people = join(dir, "people.csv");
    writeFileSync(people, "id\nnew1\nnew2\n");
    expect((await cli(f, ["add", "--object", "acme", "--people", people])).code).toBe(0);
    const before = await cli(f, ["list", "--object", "acme", "--quiet"]);
    expect(body(before.stdout).map((l) => l.split(",")[0])).toEqual(["old"]);
    t += 30_000;
    const after = await cli(f, ["list", "--object", "acme", "--quiet"]);
    expect(body(after.stdout).map((l) => l.split(",")[0])).toEqual(["new1", "new2", "old"]);
  });

  it("list --person writes objects with their attributes; add --person reads them back; --out never overwrites the input", async () => {
    const f = await workspace();
    f.state.add(ACME, { key: "id", value: "42" }, { role: "admin", seats: 3 });
    f.state.add({ objectTypeId: "2", objectId: "globex" }, { key: "id", value: "42" }, { role: "member" });
    const dir = tempDir();
    const out = join(dir, "objects.csv");
    const r = await cli(f, ["list", "--person", "42", "--out", out, "--json"]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("object_type_id,object_id,role,seats\n1,acme,admin,3\n2,globex,member,\n");
    expect(JSON.parse(r.stdout)).toMatchObject({ inputs: 1, people: 1, objects: 2, rows: 2 });
    // Copy person 42's memberships to person 43, attributes included.
    const add = await cli(f, ["add", "--person", "43", "--objects", out, "--attributes", "*"]);
    expect(add.code).toBe(0);
    expect(f.state.objectsOf({ key: "id", value: "43" })).toEqual([
      { object: ACME, attributes: { role: "admin", seats: "3" } },
      { object: { objectTypeId: "2", objectId: "globex" }, attributes: { role: "member" } },
    ]);
    const same = await cli(f, ["list", "--objects", out, "--out", out]);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain(`--out ${out} is the input --objects ${out}: writing it would destroy the input`);
    expect(readFileSync(out, "utf8")).toContain("1,acme,admin,3");
  });
});

describe("cio-rel list --objects / --people FILE", () => {
  it("lists each object of a file, reports a missing one as file:line, exit 5; the output feeds delete --file", async () => {
    const f = await workspace({ app: { pageSize: 3 } });
    seed(f, 8);
    const dir = tempDir();
    const objects = join(dir, "objects.csv");
    writeFileSync(objects, "object_id\nacme\nghost\nglobex\nacme\n");
    const r = await cli(f, ["list", "--objects", objects]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`${objects}:3: object ghost (type 1) not found`);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("object_type_id,object_id,id,email,cio_id");
    expect(lines.filter((l) => l.startsWith("1,acme,"))).toHaveLength(9);
    expect(lines.filter((l) => l.startsWith("1,globex,"))).toEqual([`1,globex,u1,,${f.state.person("id", "u1")?.cio_id}`]);
    const del = await cli(f, ["delete", "--file", "-", "--format", "csv", "--yes", "--quiet"], { stdin: r.stdout });
    expect(del.code).toBe(0);
    expect(f.state.size).toBe(0);
  });

  it("lists each person of a file by email (--person-key), any input format", async () => {
    const f = await workspace();
    f.state.add(ACME, { key: "email", value: "a@x.io" }, { role: "owner" });
    f.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "email", value: "b@x.io" });
    const dir = tempDir();
    const people = join(dir, "people.ndjson");
    writeFileSync(people, '{"email":"a@x.io"}\n{"email":"b@x.io"}\n{"email":"nobody@x.io"}\n');
    const r = await cli(f, ["list", "--people", people, "--format", "ndjson"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`${people}:3: person email nobody@x.io not found`);
    expect(
      r.stdout
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { email: "a@x.io", object_type_id: "1", object_id: "acme", role: "owner" },
      { email: "b@x.io", object_type_id: "1", object_id: "globex", role: null },
    ]);
  });

  it("an invalid input row is reported as file:line and makes the exit code 2; the rest are listed", async () => {
    const f = await workspace();
    seed(f, 2);
    const dir = tempDir();
    const objects = join(dir, "objects.csv");
    writeFileSync(objects, `object_id\nacme\n${"x".repeat(151)}\n`);
    const r = await cli(f, ["list", "--objects", objects]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${objects}:3: column "object_id" .*150`));
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(4);
  });

  it("stays under 10 requests/s measured at the fake (its own 10/s limit never answers 429), with progress lines", async () => {
    const f = await workspace({ app: { pageSize: 2, rateLimit: { perSecond: 10 } } });
    const dir = tempDir();
    const objects = join(dir, "objects.txt");
    const ids = Array.from({ length: 20 }, (_, i) => `o${i}`);
    for (const id of ids) for (let p = 0; p < 3; p++) f.state.add({ objectTypeId: "1", objectId: id }, { key: "id", value: `${id}-p${p}` });
    writeFileSync(objects, ids.join("\n") + "\n");
    const r = await cli(f, ["list", "--objects", objects, "--concurrency", "8", "--progress", "plain", "--out", join(dir, "out.csv")]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, "out.csv"), "utf8").trimEnd().split("\n")).toHaveLength(61);
    expect(f.counters.byStatus[429]).toBeUndefined();
    const times = f.requests.map((q) => q.time).sort((a, b) => a - b);
    expect(times.length).toBe(40);
    // The CLI and the fake share this process's event loop, so a stall on a loaded machine can deliver two paced
    // requests together: allow that much jitter (3 requests per window, 0.9 s over the whole run) and no more.
    // Unpaced, the 40 requests would arrive within a few hundred milliseconds. The pacing itself is asserted
    // exactly, on a virtual clock, in test/workspace/client.test.ts.
    for (const start of times) expect(times.filter((x) => x >= start && x < start + 2000).length).toBeLessThanOrEqual(24);
    expect(times[times.length - 1]! - times[0]!).toBeGreaterThanOrEqual(3000);
    expect(r.stderr).toMatch(/list: \d+ of 20 listed/);
  });
});

describe("cio-rel types and --object-type by name", () => {
  it("lists the types as id,name,slug", async () => {
    const f = await workspace();
    const r = await cli(f, ["types"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("id,name,slug\n1,Companies,companies\n2,Accounts,accounts\n");
  });

  it.each([["accounts"], ["Accounts"], ["account"], ["2"]])("--object-type %s lists and adds to type 2", async (type) => {
    const f = await workspace();
    f.state.add({ objectTypeId: "2", objectId: "acme" }, { key: "id", value: "7" });
    const r = await cli(f, ["list", "--object", "acme", "--object-type", type, "--quiet"]);
    expect(r.code).toBe(0);
    expect(body(r.stdout)).toEqual([`7,,${f.state.person("id", "7")?.cio_id}`]);
    const dir = tempDir();
    writeFileSync(join(dir, "p.csv"), "id\n8\n");
    const add = await cli(f, ["add", "--object", "acme", "--object-type", type, "--people", join(dir, "p.csv")]);
    expect(add.code).toBe(0);
    expect(f.state.objectsOf({ key: "id", value: "8" })).toEqual([{ object: { objectTypeId: "2", objectId: "acme" }, attributes: {} }]);
    // One look-up per run at most.
    expect(f.requests.filter((q) => q.path === "/v1/object_types").length).toBe(isNaN(Number(type)) ? 2 : 0);
  });

  it.each([
    [
      "add --dry-run without an App API key",
      ["add", "--object", "acme", "--object-type", "accounts", "--people", "fixtures/people.csv", "--dry-run"],
      { CIO_APP_API_KEY: undefined },
      /--object-type "accounts" is a name.*CIO_APP_API_KEY/,
    ],
    [
      "validate without an App API key",
      ["validate", "fixtures/people.csv", "--object", "acme", "--object-type", "accounts"],
      { CIO_APP_API_KEY: undefined },
      /is a name/,
    ],
    [
      "an unknown name",
      ["list", "--object", "acme", "--object-type", "planets"],
      {},
      /names no object type of this workspace; its types: 1 \(Companies, companies\), 2 \(Accounts, accounts\)/,
    ],
    ["list without a key", ["list", "--object", "acme"], { CIO_APP_API_KEY: undefined }, /CIO_APP_API_KEY is not set/],
  ])("%s is a usage error (exit 2)", async (_what, args, env, message) => {
    const f = await workspace();
    const r = await cli(f, args, { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe("secrets", () => {
  it("the App API key never appears in output, files, or what the fake answered — --verbose, a key file, a refused key", async () => {
    const f = await workspace({ appScript: [{ status: 503 }] });
    seed(f, 5);
    const dir = tempDir();
    const keyFile = join(dir, "app-key");
    writeFileSync(keyFile, `${APP_KEY}\n`);
    const runs = [
      await cli(f, ["list", "--object", "acme", "--verbose", "--json"]),
      await cli(f, ["list", "--person", "u1", "--verbose", "--app-api-key-file", keyFile, "--out", join(dir, "o.csv")], {
        env: { CIO_APP_API_KEY: undefined },
      }),
      await cli(f, ["types", "--verbose", "--format", "json"]),
      await cli(f, ["list", "--objects", join(dir, "missing.csv")]),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 2]);
    expect(runs[0]?.stderr).toContain("GET http://127.0.0.1");
    const refused = await cli(f, ["list", "--object", "acme", "--verbose"], { env: { CIO_APP_API_KEY: "WRONG-APP-KEY-0001" } });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("App API authentication refused (401): check CIO_APP_API_KEY");
    for (const r of [...runs, refused]) {
      for (const text of [r.stdout, r.stderr]) {
        expect(text).not.toContain(APP_KEY);
        expect(text).not.toContain("WRONG-APP-KEY-0001");
      }
    }
    for (const name of readdirSync(dir)) if (name !== "app-key") expect(readFileSync(join(dir, name), "utf8")).not.toContain(APP_KEY);
    expect(JSON.stringify(f.requests.map((q) => q.response))).not.toContain(APP_KEY);
    // The key was sent, as a Bearer token, and only in the header.
    expect(f.requests.some((q) => q.headers.authorization === `Bearer ${APP_KEY}`)).toBe(true);
    expect(f.requests.every((q) => !q.path.includes(APP_KEY))).toBe(true);
  });

  it("there is no flag that takes the key on the command line", async () => {
    const f = await workspace();
    const r = await cli(f, ["list", "--object", "acme", "--app-api-key", APP_KEY]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--app-api-key'");
    expect(r.stderr).not.toContain(APP_KEY);
  });
});

describe("interrupted", () => {
  it("Ctrl-C during a listing aborts the request in flight and exits 130, naming what was not listed", async () => {
    const f = await workspace({ appScript: [{}, { hang: true }] });
    seed(f, 3);
    const dir = tempDir();
    writeFileSync(join(dir, "objects.txt"), "acme\nglobex\n");
    const r = await spawnCli(["list", "--objects", join(dir, "objects.txt"), "--concurrency", "1", "--app-url", f.url], {
      env: { CIO_APP_API_KEY: APP_KEY },
      onSpawn: (child) => {
        const poll = setInterval(() => {
          if (f.requests.length >= 2) {
            clearInterval(poll);
            child.kill("SIGINT");
          }
        }, 20);
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("object globex (type 1): interrupted");
    // What was listed before the interrupt is written.
    expect(r.stdout.split("\n").filter((l) => l.startsWith("1,acme,"))).toHaveLength(4);
    expect(r.stdout + r.stderr).not.toContain(APP_KEY);
  });
});
