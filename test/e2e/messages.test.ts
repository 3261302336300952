import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "./cli.js";

// Issue 10, "Mistakes explained": each message names the real cause and the fix, and --json always gives jq
// one document to read. Runs in process (runMain), as bin/cio-rel.js does.

interface ErrorDoc {
  error: { message: string; code: string; exitCode: number; file?: string; line?: number; help?: string };
}

function errorOf(stdout: string): ErrorDoc["error"] {
  const doc = JSON.parse(stdout) as ErrorDoc;
  expect(Object.keys(doc)).toEqual(["error"]);
  return doc.error;
}

describe("under --json every failure is one JSON document on stdout, exit codes unchanged", () => {
  it.each([
    [
      "an unknown flag (commander)",
      ["validate", "fixtures/people.csv", "--json", "--bogus"],
      2,
      "commander.unknownOption",
      /unknown option '--bogus'/,
    ],
    ["a missing argument value", ["add", "--json", "--people"], 2, "usage", /--people needs a value: nothing follows it/],
    ["an unknown command (commander)", ["ad", "--json"], 2, "commander.unknownCommand", /unknown command 'ad'/],
    [
      "a bad --format (usage)",
      ["validate", "fixtures/people.csv", "--object", "a", "--format", "xls", "--json"],
      2,
      "usage",
      /--format must be one of/,
    ],
    ["no shape (usage)", ["add", "--dry-run", "--json"], 2, "usage", /say what to relate/],
    [
      "a missing file (input)",
      ["add", "--object", "a", "--people", "nope.csv", "--dry-run", "--json"],
      2,
      "input",
      /nope\.csv: cannot read: no such file/,
    ],
    [
      "a bad --encoding (usage)",
      ["validate", "fixtures/people.csv", "--object", "a", "--encoding", "x-nope", "--json"],
      2,
      "usage",
      /--encoding "x-nope"/,
    ],
    [
      "a flag as a value (usage)",
      ["add", "--object", "--people", "fixtures/people.csv", "--dry-run", "--json"],
      2,
      "usage",
      /--object needs a value/,
    ],
    ["delete without a terminal (usage)", ["delete", "--object", "a", "--people", "fixtures/people.csv", "--json"], 2, "usage", /add --yes/],
  ] as const)("%s", async (_name, args, exitCode, code, message) => {
    const r = await runCli(args, { env: { CIO_SITE_ID: "s", CIO_API_KEY: "k" } });
    expect(r.code).toBe(exitCode);
    const error = errorOf(r.stdout);
    expect(error.code).toBe(code);
    expect(error.exitCode).toBe(exitCode);
    expect(error.message).toMatch(message);
  });

  it("an input error carries file and line", async () => {
    const path = join(tempDir(), "bad.csv");
    writeFileSync(path, 'id\n"unclosed\n');
    const r = await runCli(["validate", path, "--object", "a", "--json"]);
    expect(r.code).toBe(2);
    expect(errorOf(r.stdout)).toMatchObject({ code: "input", exitCode: 2, file: path, line: 2 });
  });

  it("--help and --version still print their text, not an error document", async () => {
    const r = await runCli(["add", "--help", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('"error"');
  });
});

describe("usage errors point at the command's own help", () => {
  it.each([
    ["validate", ["validate", "fixtures/people.csv", "--bogus"]],
    ["validate", ["validate", "fixtures/people.csv", "--object", "a", "--format", "xls"]],
    ["add", ["add", "--bogus"]],
    ["add", ["add", "--dry-run"]],
    ["delete", ["delete", "--people", "x.csv"]],
  ] as const)("%s: %j", async (command, args) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`\\((see )?cio-rel ${command} --help( for usage)?\\)`));
    for (const other of ["add", "delete", "validate"].filter((c) => c !== command)) expect(r.stderr).not.toContain(`${other} --help`);
  });
});

describe("a flag that needs a value says so", () => {
  it.each([
    [["add", "--object", "--people", "fixtures/people.csv", "--dry-run"], "--object needs a value: it is followed by the flag --people"],
    [["add", "--person", "--objects", "fixtures/objects.csv", "--dry-run"], "--person needs a value: it is followed by the flag --objects"],
    [["validate", "fixtures/people.csv", "--person-column", "--object", "a"], "--person-column needs a value: it is followed by the flag --object"],
    [["add", "--object", "a", "--people", "fixtures/people.csv", "--dry-run", "--failures"], "--failures needs a value: nothing follows it"],
  ])("%j", async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it("a value that merely starts with a dash is still a value", async () => {
    const r = await runCli(["add", "--object", "-5", "--people", "fixtures/people.csv", "--dry-run", "--json"]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("CIO_REGION", () => {
  const send = ["add", "--object", "a", "--people", "fixtures/people.csv", "--json", "--track-url", "http://127.0.0.1:9"];
  it.each(["EU", "eu", " Us ", "US"])("%j is accepted (case-blind)", async (region) => {
    // A refused connection is exit 5 after the region was accepted; a bad region would be exit 2 first.
    const r = await runCli(["add", "--object", "a", "--people", "fixtures/people.csv", "--dry-run", "--json"], { env: { CIO_REGION: region } });
    expect(r.code, r.stderr).toBe(0);
  });

  it("a bad value names the variable it came from", async () => {
    const r = await runCli(send, { env: { CIO_REGION: "europe", CIO_SITE_ID: "s", CIO_API_KEY: "k" } });
    expect(r.code).toBe(2);
    expect(errorOf(r.stdout).message).toBe('CIO_REGION must be us or eu (got "europe"): fix or unset the environment variable, or pass --region');
  });

  it("a bad --region names the flag", async () => {
    const r = await runCli([...send, "--region", "mars"], { env: { CIO_REGION: "eu", CIO_SITE_ID: "s", CIO_API_KEY: "k" } });
    expect(errorOf(r.stdout).message).toBe('--region must be us or eu (got "mars")');
  });

  it.each([
    [{ CIO_REGION: "europe" }, []],
    [{}, ["--region", "mars"]],
  ] as const)("a dry run never needs a valid region (%j %j)", async (env, flags) => {
    const r = await runCli(["add", "--object", "a", "--people", "fixtures/people.csv", "--dry-run", "--json", ...flags], { env });
    expect(r.code, r.stderr).toBe(0);
  });
});

describe("delete's refusal says the real reason", () => {
  it.each([
    [["--people", "-"], "", "standard input is taken by the input (-)"],
    [["--people", "fixtures/people.csv"], undefined, "there is no terminal to confirm on"],
  ] as const)("%j", async (flags, stdin, reason) => {
    const r = await runCli(["delete", "--object", "a", ...flags, "--format", "csv"], {
      env: { CIO_SITE_ID: "s", CIO_API_KEY: "k" },
      ...(stdin !== undefined ? { stdin: "id\n1\n" } : {}),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(reason);
    expect(r.stderr).toContain("add --yes");
  });
});

describe("--quiet still prints the rows that did not make it", () => {
  it("invalid rows are listed on stderr, grouped, and nothing else is printed", async () => {
    const path = join(tempDir(), "people.csv");
    writeFileSync(path, "id\n\n1\n,\nx\u0001y\n");
    const r = await runCli(["add", "--object", "a", "--people", path, "--dry-run", "--quiet"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("Problems:");
    expect(r.stderr).toContain(`${path}:5: column "id" holds a control character`);
  });

  it("a clean run stays silent", async () => {
    const r = await runCli(["add", "--object", "a", "--people", "fixtures/people.csv", "--dry-run", "--quiet"]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toBe("");
  });
});
