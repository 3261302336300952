import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { BIN, distReady, runCli, type CliResult } from "../e2e/cli.js";
import { actualState, balanced, runAgainst, startFake, summaryOf, tempDir } from "../e2e/harness.js";
import { PASSWORD_ROLE, freePort, startPgServer, type PgServer } from "./pg-server.js";

// --sql against a real PostgreSQL (issue 17). One cluster for the file; each test uses its own tables.

let server: PgServer;
let fake: FakeTrackApi;
let dir: string;

beforeAll(async () => {
  server = await startPgServer();
  fake = await startFake();
  dir = tempDir();
  await server.query(`
    create table memberships (user_id bigint, account_id text, role text, seats numeric, joined timestamptz, tag uuid, extra json);
    insert into memberships values
      (9007199254740993, 'acct-007', 'owner', 12345678901234567890.12, '2024-02-29 13:45:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}'),
      (9223372036854775807, '007', 'admin', 1.10, null, null, null),
      (42, 'acct "quoted", comma', null, null, null, null, '[1,2]'),
      (43, 'acct-43', 'multi
line, "quoted"', 0, null, null, null),
      (null, 'acct-9', 'member', null, null, null, null),
      (44, '  padded  ', '', null, null, null, null);
  `);
}, 60_000);

afterAll(async () => {
  await fake?.close();
  await server?.stop();
});

/** The mapping flags of the memberships table. */
const MAPPING = ["--person-column", "user_id", "--object-column", "account_id"];

/** Runs the CLI with DATABASE_URL pointing at the test cluster (the superuser, no password). */
function runSql(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(args, { env: { DATABASE_URL: server.url(), ...env } });
}

/** Exports a query to CSV with psql's \copy: the export step --sql saves a user. */
function exportCsv(query: string, path: string): void {
  execFileSync(server.psql, [server.url(), "-v", "ON_ERROR_STOP=1", "-c", `\\copy (${query}) to '${path}' with (format csv, header)`]);
}

describe("--sql reads rows from PostgreSQL", () => {
  it("a dry run's bodies equal those of the same rows exported to CSV", async () => {
    const query = "select user_id, account_id, role, seats, joined, tag, extra from memberships order by account_id";
    const csv = join(dir, "export.csv");
    exportCsv(query, csv);
    for (const attributes of [["--attributes", "role"], ["--attributes", "*"], []]) {
      const fromSql = join(dir, `sql-${attributes.length}-${attributes[1] ?? ""}.ndjson`.replace("*", "star"));
      const fromCsv = join(dir, `csv-${attributes.length}-${attributes[1] ?? ""}.ndjson`.replace("*", "star"));
      const a = await runSql(["add", "--sql", query, ...MAPPING, ...attributes, "--dry-run", "--out", fromSql, "--json"]);
      const b = await runCli(["add", "--file", csv, ...MAPPING, ...attributes, "--dry-run", "--out", fromCsv, "--json"]);
      expect(a.stderr).toBe("");
      expect(readFileSync(fromSql, "utf8")).toBe(readFileSync(fromCsv, "utf8"));
      const [s, c] = [summaryOf(a), summaryOf(b)];
      expect({ ...s, input: "", durationMs: 0, files: null }).toEqual({ ...c, input: "", durationMs: 0, files: null });
      expect(s.rows).toBe(6);
      expect(s.invalid).toBe(1); // the NULL user_id
    }
  });

  it("bigint, numeric, timestamps, uuid and json arrive as the text PostgreSQL prints; text ids stay exact", async () => {
    const out = join(dir, "types.ndjson");
    const r = await runSql([
      "add",
      "--sql",
      "select * from memberships where user_id is not null order by user_id",
      ...MAPPING,
      "--attributes",
      "*",
      "--dry-run",
      "--out",
      out,
    ]);
    expect(r.code).toBe(0);
    const ops = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .flatMap(
        (l) =>
          (
            JSON.parse(l) as {
              batch: {
                identifiers: { object_id: string };
                cio_relationships: { identifiers: { id: string }; relationship_attributes?: Record<string, unknown> }[];
              }[];
            }
          ).batch,
      );
    const byPerson = new Map(
      ops.flatMap((op) =>
        op.cio_relationships.map((c) => [c.identifiers.id, { object: op.identifiers.object_id, attributes: c.relationship_attributes }] as const),
      ),
    );
    expect([...byPerson.keys()].sort()).toEqual(["42", "43", "44", "9007199254740993", "9223372036854775807"]);
    expect(byPerson.get("9007199254740993")).toEqual({
      object: "acct-007",
      attributes: {
        role: "owner",
        seats: "12345678901234567890.12",
        joined: "2024-02-29 13:45:00+00",
        tag: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        extra: '{"a": 1}',
      },
    });
    // Text ids keep their leading zeros; numeric keeps its trailing zero; NULL cells are left out like empty CSV cells.
    expect(byPerson.get("9223372036854775807")).toEqual({ object: "007", attributes: { role: "admin", seats: "1.10" } });
    expect(byPerson.get("42")).toEqual({ object: 'acct "quoted", comma', attributes: { extra: "[1,2]" } });
    expect(byPerson.get("43")).toEqual({ object: "acct-43", attributes: { role: 'multi\nline, "quoted"', seats: "0" } });
    // Identifiers are trimmed exactly as from a CSV cell.
    expect(byPerson.get("44")).toEqual({ object: "padded", attributes: undefined });
  });

  it("NULL is an empty cell: a NULL id is an invalid row named sql:N, a NULL attribute is left out, --empty-removes sends null", async () => {
    const v = await runSql([
      "validate",
      "--sql",
      "select user_id, account_id, role from memberships order by account_id",
      ...MAPPING,
      "--attributes",
      "role",
    ]);
    expect(v.code).toBe(2);
    expect(v.stdout).toContain('sql:6: column "user_id" is empty\n');
    expect(v.stdout).toContain("sql: 6 rows read, 5 valid, 1 invalid");
    const out = join(dir, "nulls.ndjson");
    const r = await runSql([
      "add",
      "--sql",
      "select 1 as id, 'a' as object_id, null::text as role",
      "--attributes",
      "role",
      "--empty-removes",
      "--dry-run",
      "--out",
      out,
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(out, "utf8")).toContain('"relationship_attributes":{"role":null}');
  });

  it("add --sql against the Track API: the fake ends holding exactly the rows; no export step", async () => {
    fake.state.clear();
    await server.query(`create table team (uid text, acct text, role text);
      insert into team select 'u' || g, 'acct-' || (g % 37), case when g % 5 = 0 then 'owner' else 'member' end from generate_series(1, 3000) g;`);
    const r = await runAgainst(
      fake,
      [
        "add",
        "--sql",
        "select uid, acct, role from team order by 1",
        "--person-column",
        "uid",
        "--object-column",
        "acct",
        "--attributes",
        "role",
        "--json",
        "--progress",
        "none",
      ],
      {
        env: { DATABASE_URL: server.url() },
      },
    );
    expect(r.code).toBe(0);
    const s = summaryOf(r);
    expect(s).toMatchObject({ rows: 3000, applied: 3000, failed: 0, invalid: 0 });
    expect(balanced(s)).toBe(true);
    const rows = await server.query<{ uid: string; acct: string; role: string }>("select uid, acct, role from team");
    expect(actualState(fake)).toEqual(new Map(rows.map((row) => [`1|${row.acct}|id|${row.uid}`, { role: row.role }])));
  });

  it("--object with --sql: the rows hold the people; --sql-file reads the query from a file", async () => {
    const file = join(dir, "people.sql");
    writeFileSync(file, "-- people of acme\nselect email from (values ('a@example.com'), ('b@example.com')) v(email)\n");
    const out = join(dir, "object.ndjson");
    const r = await runSql(["add", "--object", "acme", "--sql-file", file, "--dry-run", "--out", out, "--json"]);
    expect(r.code).toBe(0);
    expect(summaryOf(r)).toMatchObject({ rows: 2, applied: 2 });
    expect(readFileSync(out, "utf8")).toContain(
      '"cio_relationships":[{"identifiers":{"email":"a@example.com"}},{"identifiers":{"email":"b@example.com"}}]',
    );
  });

  it("the failures file of a SQL run is CSV with the result's columns and cio_rel_error, ready for --file", async () => {
    const failures = join(dir, "failures.csv");
    const r = await runSql([
      "add",
      "--sql",
      "select user_id, account_id, role from memberships order by account_id",
      ...MAPPING,
      "--attributes",
      "role",
      "--dry-run",
      "--failures",
      failures,
    ]);
    expect(r.code).toBe(2);
    expect(readFileSync(failures, "utf8")).toBe('user_id,account_id,role,cio_rel_error\n,acct-9,member,"column ""user_id"" is empty"\n');
    const again = await runCli(["validate", failures, ...MAPPING, "--attributes", "role"]);
    expect(again.stdout).toContain(`${failures}:2: column "user_id" is empty`);
  });
});

describe("--sql errors: one line, exit 2, before anything is sent", () => {
  const url = (): string => server.url();
  const cases: { name: string; args: () => string[]; env?: () => Record<string, string>; message: RegExp }[] = [
    {
      name: "connection refused",
      args: () => ["--sql", "select 1 as id"],
      env: () => ({ DATABASE_URL: `postgres://someone:${PASSWORD_ROLE.password}@127.0.0.1:${closedPort}/db` }),
      message: /^cio-rel: cannot connect to postgres:\/\/someone:\*\*\*@127\.0\.0\.1:\d+\/db: connection refused/,
    },
    {
      name: "authentication failure",
      args: () => ["--sql", "select 1 as id"],
      env: () => ({ DATABASE_URL: server.url({ user: PASSWORD_ROLE.user, password: "wrong-" + PASSWORD_ROLE.password }) }),
      message:
        /^cio-rel: cannot connect to postgres:\/\/cio_secret_role:\*\*\*@127\.0\.0\.1:\d+\/postgres: authentication failed: password authentication failed for user "cio_secret_role"$/,
    },
    {
      name: "no password for a role that needs one",
      args: () => ["--sql", "select 1 as id", "--db", server.url({ user: PASSWORD_ROLE.user })],
      message: /the server asks for a password and none was given/,
    },
    {
      name: "database does not exist",
      args: () => ["--sql", "select 1 as id"],
      env: () => ({ DATABASE_URL: server.url({ database: "nope" }) }),
      message: /^cio-rel: cannot connect to postgres:\/\/postgres@127\.0\.0\.1:\d+\/nope: database "nope" does not exist \(SQLSTATE 3D000\)$/,
    },
    {
      name: "SQL syntax error",
      args: () => ["--sql", "select user_id\n  from from memberships"],
      message: /^cio-rel: --sql:2:8: syntax error at or near "from" \(SQLSTATE 42601\)( \(see cio-rel \w+ --help\))?$/,
    },
    {
      name: "unknown table",
      args: () => ["--sql", "select 1 from nowhere"],
      message: /^cio-rel: --sql:1:15: relation "nowhere" does not exist \(SQLSTATE 42P01\)( \(see cio-rel \w+ --help\))?$/,
    },
    {
      name: "missing person column (checked against the result's fields, even when it has no rows)",
      args: () => ["--sql", "select user_id as uid, account_id from memberships where false", ...MAPPING],
      message: /^cio-rel: sql: person column "user_id" not found \(columns: uid, account_id\)( \(see cio-rel \w+ --help\))?$/,
    },
    {
      name: "missing attribute column",
      args: () => ["--sql", "select user_id, account_id from memberships", ...MAPPING, "--attributes", "role"],
      message: /^cio-rel: sql: attribute column "role" not found \(columns: user_id, account_id\)( \(see cio-rel \w+ --help\))?$/,
    },
    {
      name: "a query that writes (read-only transaction)",
      args: () => ["--sql", "delete from memberships returning *"],
      message: /cannot execute DELETE in a read-only transaction/,
    },
    {
      name: "a statement without columns",
      args: () => ["--sql", "set search_path = public"],
      message: /^cio-rel: --sql: the query returns no columns/,
    },
    { name: "two columns of one name", args: () => ["--sql", "select 1 as id, 2 as id, 'a' as object_id"], message: /two columns named "id"/ },
    {
      name: "a runtime error on the first rows",
      args: () => ["--sql", "select 1/0 as id, 'a' as object_id"],
      message: /^cio-rel: --sql: division by zero \(SQLSTATE 22012\)( \(see cio-rel \w+ --help\))?$/,
    },
    {
      name: "--db carrying a password",
      args: () => ["--sql", "select 1 as id", "--db", server.url({ user: PASSWORD_ROLE.user, password: PASSWORD_ROLE.password })],
      message: /^cio-rel: --db holds a password/,
    },
    {
      name: "--db that is not a postgres URL",
      args: () => ["--sql", "select 1 as id", "--db", "mysql://x@y/z"],
      message: /^cio-rel: --db must be a postgres:\/\/ or postgresql:\/\/ URL( \(see cio-rel \w+ --help\))?$/,
    },
    {
      name: "--sql with a flag that describes a file",
      args: () => ["--sql", "select 1 as id", "--delimiter", ";", "--no-header"],
      message: /^cio-rel: --delimiter, --no-header describe a file; the rows of --sql are the query's named columns( \(see cio-rel \w+ --help\))?$/,
    },
    // (--file beside the --object every case has is refused by commander first: test/e2e/flags.test.ts.)
    {
      name: "--sql beside --people",
      args: () => ["--sql", "select 1 as id", "--people", "x.csv"],
      message: /^cio-rel: --sql is the input: drop --people/,
    },
    { name: "--sql-file that does not exist", args: () => ["--sql-file", join(dir, "none.sql")], message: /none\.sql: cannot read: no such file$/ },
  ];
  let closedPort = 0;
  beforeAll(async () => {
    closedPort = await freePort();
  });

  it.each(cases)("$name", async (c) => {
    const requests = fake.requests.length;
    const r = await runAgainst(fake, ["add", "--object", "acme", ...c.args()], { env: { DATABASE_URL: url(), ...c.env?.() } });
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(c.message);
    expect(r.stdout).toBe("");
    expect(r.stderr + r.stdout).not.toContain(PASSWORD_ROLE.password);
    expect(fake.requests.length).toBe(requests);
  });

  it("validate and delete take --sql too; validate needs a file or --sql", async () => {
    const v = await runSql(["validate", "--object", "acme", "--sql", "select 'a@example.com' as email"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe("sql: 1 row read, 1 valid, 0 invalid, 0 duplicate (all valid)\n");
    const none = await runSql(["validate", "--object", "acme"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe("cio-rel: validate needs the rows: a file (- for stdin), or --sql / --sql-file (see cio-rel validate --help)\n");
    const out = join(dir, "delete.ndjson");
    const d = await runSql(["delete", "--object", "acme", "--sql", "select 'a@example.com' as email", "--dry-run", "--out", out]);
    expect(d.code).toBe(0);
    expect(readFileSync(out, "utf8")).toContain('"action":"delete_relationships"');
  });
});

describe("--sql streams", () => {
  it("a result larger than the heap streams through a cursor (and peak RSS stays under 200 MB)", async () => {
    // 40,000 rows of 3 KB each: 120 MB of result, more than the 96 MB heap the CLI gets here, so a reader that
    // held the rows would run out of memory; a cursor holds one fetch at a time.
    const rows = 40_000;
    // Report the child's peak RSS on exit, from inside it (no external `time` needed).
    const hook =
      "data:text/javascript," +
      encodeURIComponent("process.on('exit', () => process.stderr.write('maxrss_kb=' + process.resourceUsage().maxRSS + '\\n'));");
    await distReady();
    const child = spawnSync(
      process.execPath,
      [
        "--max-old-space-size=96",
        "--import",
        hook,
        BIN,
        "add",
        "--sql",
        `select 'user-' || g as id, 'acct-' || (g / 50) as object_id, 'member' as role, repeat('x', 3000) as pad from generate_series(1, ${rows}) g order by g`,
        "--attributes",
        "role",
        "--dry-run",
        "--json",
      ],
      { env: { ...process.env, DATABASE_URL: server.url() }, encoding: "utf8", maxBuffer: 1 << 24 },
    );
    expect(child.status).toBe(0);
    const out = child.stdout;
    const maxRssKb = Number(/maxrss_kb=(\d+)/.exec(child.stderr)?.[1]);
    expect(maxRssKb).toBeGreaterThan(0);
    expect(maxRssKb).toBeLessThan(200 * 1024);
    const summary = JSON.parse(out) as { rows: number; applied: number };
    expect(summary).toMatchObject({ rows, applied: rows });
  });

  it("a connection lost mid-read stops like a file malformed part-way: what was sent stays, the rest is skipped, exit 2", async () => {
    const marker = `lost_${Date.now()}`;
    const query = `select 'p' || g as id, 'acct-' || (g / 10) as object_id from generate_series(1, 30000) g where g < 20000 or pg_sleep(60) is not null -- ${marker}`;
    const failures = join(dir, "lost.csv");
    const run = runAgainst(fake, ["add", "--sql", query, "--window-size", "100", "--json", "--progress", "none", "--failures", failures], {
      env: { DATABASE_URL: server.url() },
    });
    // Wait until the CLI's session sleeps at row 20,000 (several fetches in), then end it from the server side.
    for (let i = 0; i < 400; i++) {
      const sleeping = await server.query(
        `select pid from pg_stat_activity where query like '%${marker}%' and wait_event = 'PgSleep' and pid <> pg_backend_pid()`,
      );
      if (sleeping.length > 0) {
        await server.query(`select pg_terminate_backend(${String(sleeping[0]?.pid)})`);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await run;
    expect(r.code).toBe(2);
    const s = summaryOf(r);
    expect(balanced(s)).toBe(true);
    expect(s.applied).toBeGreaterThan(0);
    expect(s.rows).toBeLessThan(20000);
    expect(r.stderr).toMatch(
      /^cio-rel: sql:\d+: cannot read: the connection to the database was lost: terminating connection due to administrator command \(SQLSTATE 57P01\)\n$/,
    );
    expect(existsSync(failures)).toBe(true);
  });
});

describe("--sql with --journal (resume reads the same rows in the same order)", () => {
  const flags = ["--person-column", "uid", "--object-column", "acct", "--attributes", "role", "--json", "--progress", "none"];

  it("refuses a query without a top-level ORDER BY, before connecting", async () => {
    const journal = join(dir, "unordered.journal");
    const r = await runAgainst(
      fake,
      ["add", "--sql", "select uid, acct, role from (select * from team order by 1) t", ...flags, "--journal", journal],
      {
        env: { DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/x` },
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "cio-rel: --journal with --sql needs a query with ORDER BY at its top level: a resumed run must read the same rows in the same order (see cio-rel add --help)\n",
    );
    expect(existsSync(journal)).toBe(false);
  });

  it("resumes when the rows are the same, and refuses when the first rows changed; the journal holds neither the URL nor its password", async () => {
    await server.query(`create table j (uid text, acct text, role text);
      insert into j select 'u' || g, 'acct-' || (g % 7), 'member' from generate_series(1, 500) g;`);
    const journal = join(dir, "sql.journal");
    const query = "select uid, acct, role from j order by uid";
    const env = { DATABASE_URL: server.url({ user: PASSWORD_ROLE.user, password: PASSWORD_ROLE.password }) };
    await server.query(`grant select on j to ${PASSWORD_ROLE.user}`);
    const first = await runAgainst(fake, ["add", "--sql", query, ...flags, "--journal", journal], { env });
    expect(first.code).toBe(0);
    expect(summaryOf(first)).toMatchObject({ rows: 500, applied: 500 });
    const text = readFileSync(journal, "utf8");
    expect(text).not.toContain(PASSWORD_ROLE.password);
    expect(text).not.toContain("127.0.0.1");

    // Same rows: every row is already settled, nothing is sent again.
    const requests = fake.requests.length;
    const again = await runAgainst(fake, ["add", "--sql", query, ...flags, "--journal", journal, "--resume"], { env });
    expect(again.code).toBe(0);
    expect(summaryOf(again)).toMatchObject({ rows: 500, applied: 500 });
    expect(fake.requests.length).toBe(requests);

    // A changed first row: refused before anything is sent.
    await server.query("update j set role = 'owner' where uid = 'u1'");
    const changed = await runAgainst(fake, ["add", "--sql", query, ...flags, "--journal", journal, "--resume"], { env });
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(
      /^cio-rel: cannot resume from journal .*: the input changed since the journal was written \(its first 64 KiB differ\)/,
    );
    expect(fake.requests.length).toBe(requests);

    // Another query is another input.
    const other = await runAgainst(fake, ["add", "--sql", query + " desc", ...flags, "--journal", journal, "--resume"], { env });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/the input is a different file \(was sql \(query sha256 [0-9a-f]{16}\), now sql \(query sha256 [0-9a-f]{16}\)\)/);
  });
});

describe("--sql with the commands that read Customer.io (sync, verify)", () => {
  const APP_KEY = "app-key-sql-7f3a-do-not-leak";
  const QUERY = "select user_id, account_id from sync_members order by account_id, user_id";
  const FLAGS = [
    "--person-column",
    "user_id",
    "--object-column",
    "account_id",
    "--backoff-base",
    "0.01",
    "--backoff-cap",
    "0.1",
    "--progress",
    "none",
  ];

  it("sync --sql mirrors a table into the workspace (adds, deletes, unchanged exact; out of scope untouched), then verify --sql finds every row", async () => {
    await server.query(`
      create table sync_members (user_id text, account_id text);
      insert into sync_members values ('u1', 'acme'), ('u2', 'acme'), ('u3', 'acme'), ('u4', 'globex');
    `);
    const ws = await startFake({ app: { apiKey: APP_KEY } });
    try {
      // Customer.io now: acme has u1 and u9 (u9 must go), globex has u4, initech (not in the table) has u5.
      for (const [object, person] of [
        ["acme", "u1"],
        ["acme", "u9"],
        ["globex", "u4"],
        ["initech", "u5"],
      ] as const) {
        ws.state.add({ objectTypeId: "1", objectId: object }, { key: "id", value: person });
      }
      ws.state.settle();
      const env = { DATABASE_URL: server.url(), CIO_APP_API_KEY: APP_KEY };
      const r = await runAgainst(
        ws,
        ["sync", "--sql", QUERY, ...FLAGS, "--yes", "--json", "--max-deletes", "1", "--read-delay", "0", "--app-url", ws.url],
        { env },
      );
      expect(r.code, r.stderr).toBe(0);
      const s = summaryOf(r) as ReturnType<typeof summaryOf> & { plan: Record<string, number> };
      expect(s.plan).toMatchObject({ add: 2, delete: 1, unchanged: 2 });
      expect(s).toMatchObject({ command: "sync", rows: 3, applied: 3, failed: 0, skipped: 0 });
      expect(balanced(s)).toBe(true);
      ws.state.settle();
      expect(
        ws.state
          .all()
          .map((x) => `${x.objectId}:${x.personValue}`)
          .sort(),
      ).toEqual(["acme:u1", "acme:u2", "acme:u3", "globex:u4", "initech:u5"]);
      expect(r.stdout + r.stderr).not.toContain(APP_KEY);

      const v = await runCli(
        ["verify", "--sql", QUERY, "--person-column", "user_id", "--object-column", "account_id", "--json", "--app-url", ws.url],
        { env },
      );
      expect(v.code, v.stderr).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({ command: "verify", rows: 4, present: 4, missing: 0, exitCode: 0 });
      // A second sync plans nothing.
      const again = await runAgainst(ws, ["sync", "--sql", QUERY, ...FLAGS, "--yes", "--json", "--read-delay", "0", "--app-url", ws.url], { env });
      expect(again.code, again.stderr).toBe(0);
      expect((summaryOf(again) as ReturnType<typeof summaryOf> & { plan: Record<string, number> }).plan).toMatchObject({
        add: 0,
        delete: 0,
        unchanged: 4,
      });
    } finally {
      await ws.close();
    }
  });
});
