import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "../e2e/cli.js";

// Qa10's outside trial: a one-column CSV saved as .txt sent its header ("email") as a person. The first line of a
// headerless list that is a column name is an invalid row; the identifiers under it still go out.

describe("a headerless list whose first line is a column name", () => {
  it.each([
    ["people.txt", "email\nu1\nu2\n", []],
    ["people.txt", "ID\r\nu1\r\nu2\r\n", []],
    ["people.txt", " user_id \nu1\nu2\n", []],
    ["people.csv", "id\nu1\nu2\n", ["--no-header"]],
  ])("%s %j: line 1 is invalid, the rest is sent", async (name, text, extra) => {
    const dir = tempDir();
    const path = join(dir, name);
    writeFileSync(path, text);
    const out = join(dir, "bodies.ndjson");
    const r = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--out", out, ...extra]);
    expect(r.stdout + r.stderr).toContain(`${name}:1: the first line (`);
    expect(r.stdout + r.stderr).toContain("looks like a header, not an identifier");
    const ids = readFileSync(out, "utf8").match(/"id":"[^"]*"/g);
    expect(ids).toEqual(['"id":"u1"', '"id":"u2"']);
  });

  it("an identifier that only resembles a name is sent", async () => {
    const dir = tempDir();
    const path = join(dir, "people.txt");
    writeFileSync(path, "identity\nu1\n");
    const out = join(dir, "bodies.ndjson");
    const r = await runCli(["add", "--object", "acme", "--people", path, "--dry-run", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, "utf8").match(/"id":"[^"]*"/g)).toEqual(['"id":"identity"', '"id":"u1"']);
  });
});
