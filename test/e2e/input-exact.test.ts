import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "./cli.js";

// Issue 10 end to end: what a user sees for legacy encodings, gzip and a semicolon export.

describe("reading exactly, end to end", () => {
  it("a Latin-1 file is refused at file:line, and read exactly with --encoding latin1", async () => {
    const dir = tempDir();
    const path = join(dir, "people.csv");
    writeFileSync(path, Buffer.from("id\nmüller\nmöller\n", "latin1"));
    const refused = await runCli(["add", "--object", "acme", "--people", path, "--dry-run"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${path}:2: invalid UTF-8 (byte 0xFC)`);
    expect(refused.stderr).toContain("--encoding");
    const out = join(dir, "batches.ndjson");
    const read = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--encoding", "latin1", "--out", out]);
    expect(read.code, read.stderr).toBe(0);
    const body = readFileSync(out, "utf8");
    expect(body).toContain('"müller"');
    expect(body).toContain('"möller"');
  });

  it("an unknown --encoding is a usage error (exit 2) naming the flag", async () => {
    const r = await runCli(["validate", "fixtures/people.csv", "--object", "acme", "--encoding", "ebcdic-nonsense"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--encoding "ebcdic-nonsense"');
  });

  it("a .csv.gz file and gzip on stdin are read transparently", async () => {
    const dir = tempDir();
    const path = join(dir, "ids.csv.gz");
    writeFileSync(path, gzipSync("id\n1\n2\n3\n"));
    const file = await runCli(["validate", path, "--object", "acme"]);
    expect(file.code, file.stderr).toBe(0);
    expect(file.stdout).toContain("3 rows read, 3 valid");
    const r = await runCli(["add", "--object", "acme", "--people", "-", "--dry-run", "--json"], {
      stdin: gzipSync('{"id":"a"}\n{"id":"b"}\n'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 2, applied: 2 });
  });

  it("a semicolon .csv is read with a note, and its failures file keeps the semicolons", async () => {
    const dir = tempDir();
    const path = join(dir, "export.csv");
    writeFileSync(path, "id;role\n1;admin\n;member\n");
    const failures = join(dir, "failures.csv");
    const r = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--attributes", "role", "--failures", failures]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('reading it as ";"-separated');
    expect(readFileSync(failures, "utf8")).toBe('id;role;cio_rel_error\n;member;"column ""id"" is empty"\n');
  });
});

describe("header first, and mistakes explained", () => {
  const write = (name: string, content: string): string => {
    const path = join(tempDir(), name);
    writeFileSync(path, content);
    return path;
  };

  it.each([
    ["validate", (p: string) => ["validate", p]],
    ["add --dry-run", (p: string) => ["add", "--file", p, "--dry-run"]],
  ])("%s: a header-only file whose columns do not match is exit 2", async (_name, args) => {
    const path = write("header-only.csv", "user,account\n");
    const r = await runCli(args(path));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path}:1: no person column`);
  });

  it.each([
    ["header only", "id\n", "has only a header row, no data rows"],
    ["empty", "", "has no data rows"],
  ])("a file with no data rows says so plainly (%s)", async (_name, content, said) => {
    const path = write("people.csv", content);
    const v = await runCli(["validate", path, "--object", "acme"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(`${path} ${said}: nothing to do`);
    const a = await runCli(["add", "--object", "acme", "--people", path, "--dry-run"]);
    expect(a.code).toBe(0);
    expect(a.stderr).toContain(`${path} ${said}: nothing to do`);
  });

  it("a headerless id list suggests --no-header, not --person-column 5001", async () => {
    const path = write("ids.csv", "5001\n5002\n5003\n");
    const r = await runCli(["add", "--object", "acme", "--people", path, "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("looks like data, not a header: if the file has no header row, pass --no-header");
    expect(r.stderr).not.toContain("--person-column");
    const fixed = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--no-header", "--json"]);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ rows: 3, applied: 3 });
  });

  it.each([
    [
      "a headerless list",
      ["--no-header"],
      "ada@example.com\nbob@example.com\n",
      /2 of the first 2 person values look like email addresses but are sent as id: pass --person-key email/,
    ],
    ["an id column", [], "id\nada@example.com\nbob@example.com\n7\n", /2 of the first 3 person values look like email addresses/],
  ])("emails sent as id warn once (%s)", async (_name, flags, content, warning) => {
    const path = write("people.csv", content);
    const r = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", ...flags]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(warning);
    expect(r.stderr.match(/warning:/g)).toHaveLength(1);
    const chosen = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--person-key", "id", ...flags]);
    expect(chosen.stderr).not.toContain("warning");
  });

  it("--person with an email and no --person-key warns, naming the flag", async () => {
    const r = await runCli(["validate", "fixtures/objects.csv", "--person", "ada@example.com"]);
    expect(r.stderr).toContain('--person "ada@example.com" looks like an email address but is sent as id: pass --person-key email');
  });

  it("a JSON id too big for a double is an invalid row naming file:line, never rounded", async () => {
    const path = write("rows.ndjson", '{"id":12345678901234567890}\n{"id":"12345678901234567890"}\n');
    const dir = tempDir();
    const out = join(dir, "out.ndjson");
    const failures = join(dir, "failures.ndjson");
    const r = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--out", out, "--failures", failures]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(
      `${path}:1: column "id" is the JSON number 12345678901234567890, which would be sent as 12345678901234567000: quote it`,
    );
    expect(readFileSync(out, "utf8")).toContain('"12345678901234567890"');
    expect(readFileSync(out, "utf8")).not.toContain("12345678901234567000");
    expect(readFileSync(failures, "utf8")).toMatch(/^\{"id":12345678901234567890,"cio_rel_error":/);
  });
});
