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
