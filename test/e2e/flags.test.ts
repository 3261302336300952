import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { API_KEY, SITE_ID, startFake } from "./harness.js";
import type { FakeTrackApi } from "../fake-track-api/index.js";

// Issue 11, "Flags from one source": each option is defined once (src/commands/flags.ts) with its default,
// environment variable, choices, parser and conflicts. These tests hold that definition to what users saw before:
// the same messages and exit code 2 for bad values, the environment read with the flag winning, and flags
// that exclude each other refused before anything is read.

const PEOPLE = ["--object", "acme", "--people", "fixtures/people.csv"];

/** The --json error document of a failed run. */
function errorOf(stdout: string): { message: string; code: string; exitCode: number } {
  return (JSON.parse(stdout) as { error: { message: string; code: string; exitCode: number } }).error;
}

describe("values are parsed where the option is defined: one message, exit 2, nothing read", () => {
  it.each([
    [["add", ...PEOPLE, "--dry-run", "--concurrency", "0"], '--concurrency must be a whole number ≥ 1 and ≤ 64 (got "0")'],
    [["add", ...PEOPLE, "--dry-run", "--concurrency", "65"], '--concurrency must be a whole number ≥ 1 and ≤ 64 (got "65")'],
    [["add", ...PEOPLE, "--dry-run", "--concurrency", "2.5"], '--concurrency must be a whole number ≥ 1 and ≤ 64 (got "2.5")'],
    [["add", ...PEOPLE, "--dry-run", "--rate", "0"], '--rate must be a number ≥ 0.1 (got "0")'],
    [["add", ...PEOPLE, "--dry-run", "--timeout", "abc"], '--timeout must be a number ≥ 0.001 (got "abc")'],
    [["add", ...PEOPLE, "--dry-run", "--timeout", ""], '--timeout must be a number ≥ 0.001 (got "")'],
    [["add", ...PEOPLE, "--dry-run", "--max-retries", "-1"], '--max-retries must be a whole number ≥ 0 (got "-1")'],
    [["add", ...PEOPLE, "--dry-run", "--backoff-base", "x"], '--backoff-base must be a number ≥ 0 (got "x")'],
    [["add", ...PEOPLE, "--dry-run", "--batch-bytes", "100"], '--batch-bytes must be a whole number ≥ 32012 and ≤ 500000 (got "100")'],
    [["add", ...PEOPLE, "--dry-run", "--give-up-after", "-1"], '--give-up-after must be a number ≥ 0 (got "-1")'],
    [["add", ...PEOPLE, "--dry-run", "--max-errors", "0"], '--max-errors must be a whole number ≥ 1 (got "0")'],
    [["add", ...PEOPLE, "--verify", "--verify-sample", "0"], '--verify-sample must be a whole number of objects ≥ 1 (got "0")'],
    [["add", ...PEOPLE, "--verify", "--verify-timeout", "soon"], '--verify-timeout must be a number of seconds ≥ 0 (got "soon")'],
    [["sync", "--file", "fixtures/memberships.csv", "--read-delay", "-2"], '--read-delay must be a number of seconds ≥ 0 (got "-2")'],
    [
      ["sync", "--file", "fixtures/memberships.csv", "--max-deletes", "lots"],
      "--max-deletes lots: give a number of relationships (50) or a share of those in scope (10%)",
    ],
    [["list", "--object", "acme", "--concurrency", "17"], '--concurrency must be a whole number ≥ 1 and ≤ 16 (got "17")'],
    [["list", "--object", "acme", "--app-rate", "11"], '--app-rate must be a number ≥ 0.1 and ≤ 10 (got "11")'],
    [["types", "--timeout", "0"], '--timeout must be a number ≥ 0.001 (got "0")'],
    [["verify", ...PEOPLE, "--max-retries", "1.5"], '--max-retries must be a whole number ≥ 0 (got "1.5")'],
    [["add", ...PEOPLE, "--dry-run", "--progress", "fancy"], '--progress must be one of auto, tty, plain, none (got "fancy")'],
    [["add", ...PEOPLE, "--dry-run", "--group-by", "row"], '--group-by must be one of object, person, auto (got "row")'],
    [["add", ...PEOPLE, "--dry-run", "--format", "xlsx"], '--format must be one of csv, tsv, json, ndjson, lines (got "xlsx")'],
    [["add", ...PEOPLE, "--dry-run", "--person-key", "phone"], '--person-key must be one of id, email, cio_id (got "phone")'],
    [["list", "--object", "acme", "--format", "xml"], '--format must be one of csv, ndjson, json (got "xml")'],
    [["list", "--object", "acme", "--progress", "tty"], '--progress must be one of auto, plain, none (got "tty")'],
    [["sync", "--file", "fixtures/memberships.csv", "--scope", "both"], '--scope must be one of object, person (got "both")'],
    [["add", ...PEOPLE, "--dry-run", "--via", "pigeon"], '--via must be one of track, pipelines (got "pigeon")'],
  ])("%j", async (args, message) => {
    // An App API key, so that list/types/verify get as far as their flags; nothing is listened to.
    const r = await runCli([...args, "--json"], { env: { CIO_APP_API_KEY: "app-key", CIO_APP_URL: "http://127.0.0.1:9" } });
    expect(r.code, r.stderr).toBe(2);
    expect(errorOf(r.stdout)).toMatchObject({ message, code: "usage", exitCode: 2 });
    expect(r.stderr).toContain(`cio-rel: ${message}`);
  });
});

describe("flags that exclude each other are refused by commander, exit 2", () => {
  it.each([
    [["add", "--object", "a", "--person", "1", "--people", "p.csv"], "--object <object_id>", "--person <value>"],
    [["add", "--object", "a", "--file", "f.csv"], "--object <object_id>", "--file <file>"],
    [["delete", "--person", "1", "--file", "f.csv", "--yes"], "--person <value>", "--file <file>"],
    [["sync", "--file", "f.csv", "--object", "a"], "--object <object_id>", "--file <file>"],
    [["verify", "--object", "a", "--person", "1"], "--object <object_id>", "--person <value>"],
    [["validate", "x.csv", "--object", "a", "--person", "1"], "--object <object_id>", "--person <value>"],
    [["add", "--sql", "select 1", "--sql-file", "q.sql", "--dry-run"], "--sql <query>", "--sql-file <file>"],
    [["validate", "--sql", "select 1", "--sql-file", "q.sql"], "--sql <query>", "--sql-file <file>"],
  ])("%j", async (args, one, other) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    // Whichever was defined first is named first; both are named, with the command's help.
    const names = [one, other].map((f) => `'${f}'`);
    expect(r.stderr).toMatch(new RegExp(`^error: option (${names.join("|")}) cannot be used with option (${names.join("|")})\\n`));
    expect(r.stderr).toContain("--help for usage)");
    const json = await runCli([...args, "--json"]);
    expect(errorOf(json.stdout)).toMatchObject({ code: "commander.conflictingOption", exitCode: 2 });
  });
});

describe("credentials are never taken on the command line", () => {
  it.each([
    [
      ["--api-key", "k-on-argv"],
      "--api-key is not accepted (a value on the command line is visible to every user in ps): export CIO_API_KEY or pass --api-key-file <file>",
    ],
    [
      ["--site-id=s-on-argv"],
      "--site-id is not accepted (a value on the command line is visible to every user in ps): export CIO_SITE_ID or pass --site-id-file <file>",
    ],
    [
      ["--via", "pipelines", "--pipelines-api-key", "k-on-argv"],
      "--pipelines-api-key is not accepted (a value on the command line is visible to every user in ps): export CIO_PIPELINES_API_KEY or pass --pipelines-api-key-file <file>",
    ],
  ])("%j is refused even with --dry-run, and never echoed", async (flag, message) => {
    const r = await runCli(["add", ...PEOPLE, "--dry-run", ...flag, "--json"]);
    expect(r.code).toBe(2);
    expect(errorOf(r.stdout).message).toBe(message);
    expect(r.stdout + r.stderr).not.toMatch(/on-argv/);
  });

  it("--help shows no credential's value, only the variables' names", async () => {
    const r = await runCli(["add", "--help"], { env: { CIO_API_KEY: "SECRET-in-env", CIO_SITE_ID: "SITE-in-env", CIO_REGION: "eu" } });
    expect(r.stdout).not.toMatch(/SECRET-in-env|SITE-in-env/);
    expect(r.stdout).toMatch(/\(default:\s+\$CIO_API_KEY\)/);
    expect(r.stdout).not.toMatch(/--api-key <|--site-id </);
  });
});

describe("environment variables: the flag wins, then the variable, then the default; empty is unset", () => {
  let fake: FakeTrackApi | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });
  const creds = { CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY };
  const send = ["add", ...PEOPLE, "--json", "--progress", "none", "--max-retries", "0", "--give-up-after", "0"];

  it("CIO_TRACK_URL is where batches go when --track-url is not given", async () => {
    fake = await startFake();
    const r = await runCli(send, { env: { ...creds, CIO_TRACK_URL: fake.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(fake.requests.length).toBeGreaterThan(0);
  });

  it("--track-url wins over CIO_TRACK_URL", async () => {
    fake = await startFake();
    const r = await runCli([...send, "--track-url", fake.url], { env: { ...creds, CIO_TRACK_URL: "http://127.0.0.1:9" } });
    expect(r.code, r.stderr).toBe(0);
    expect(fake.requests.length).toBeGreaterThan(0);
  });

  it.each(["", "  "])("CIO_TRACK_URL=%j is unset: the region's URL, which a bad CIO_REGION then refuses", async (value) => {
    const r = await runCli(send, { env: { ...creds, CIO_TRACK_URL: value, CIO_REGION: "mars" } });
    expect(r.code).toBe(2);
    expect(errorOf(r.stdout).message).toMatch(/^CIO_REGION must be us or eu \(got "mars"\)/);
  });

  it("an empty CIO_REGION is unset (us), and --region wins over it", async () => {
    const empty = await runCli(["add", ...PEOPLE, "--dry-run", "--json"], { env: { CIO_REGION: "" } });
    expect(empty.code, empty.stderr).toBe(0);
    const flag = await runCli([...send, "--region", "mars"], { env: { ...creds, CIO_REGION: "eu" } });
    expect(errorOf(flag.stdout).message).toBe('--region must be us or eu (got "mars")');
  });

  it.each([
    [["--via", "pipelines"], { CIO_TRACK_URL: "http://127.0.0.1:9" }],
    [[], { CIO_PIPELINES_URL: "http://127.0.0.1:9" }],
  ])("a route's variable is no flag given for the other route: %j %j", async (flags, env) => {
    const r = await runCli(["add", ...PEOPLE, "--dry-run", "--json", ...flags], { env });
    expect(r.code, r.stderr).toBe(0);
  });

  it.each([
    [["--via", "pipelines", "--track-url", "http://127.0.0.1:9"], /^--track-url: for the Track API, not --via pipelines/],
    [["--pipelines-url", "http://127.0.0.1:9"], /^--pipelines-url goes with --via pipelines$/],
  ])("the same URL given as a flag for the other route is refused: %j", async (flags, message) => {
    const r = await runCli(["add", ...PEOPLE, "--dry-run", "--json", ...flags]);
    expect(r.code).toBe(2);
    expect(errorOf(r.stdout).message).toMatch(message);
  });

  it("verify reads CIO_REGION case-blind and names it when it is bad", async () => {
    const r = await runCli(["verify", ...PEOPLE, "--json"], { env: { CIO_APP_API_KEY: "k", CIO_REGION: "moon" } });
    expect(r.code).toBe(2);
    expect(errorOf(r.stdout).message).toBe('CIO_REGION must be us or eu (got "moon"): fix or unset the environment variable, or pass --region');
  });
});
