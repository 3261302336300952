import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCli, tempDir } from "./cli.js";

/** Every `npx cio-rel ...` command in the README's shell blocks, continuation lines joined. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const commands: string[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const joined = (block[1] ?? "").replace(/\\\n\s*/g, "");
    for (const line of joined.split("\n")) {
      const m = /^(?:[A-Z_]+=\S+\s+)*npx cio-rel (.*?)\s*(?:#.*)?$/.exec(line.trim());
      if (m?.[1] !== undefined) commands.push(m[1]);
    }
  }
  return commands;
}

/** Splits a README command line into arguments (single quotes only, as the README uses). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
}

const commands = readmeCommands();
// The examples that need no credentials: dry runs, validate, help.
const offline = commands.filter((c) => c.includes("--dry-run") || c.startsWith("validate") || c.startsWith("--help"));

describe("README examples run as written (issue 5)", () => {
  it("the README has offline examples to run", () => {
    expect(offline.length).toBeGreaterThanOrEqual(4);
  });

  it.each(offline)("npx cio-rel %s", async (command) => {
    // A scratch folder with the fixtures, so files the examples write (batches.ndjson) land there.
    const dir = tempDir();
    symlinkSync(join(ROOT, "fixtures"), join(dir, "fixtures"));
    const r = await runCli(words(command), { cwd: dir });
    // The README says the bad-rows example exits 2; every other offline example succeeds.
    expect(r.code, r.stderr).toBe(command.includes("bad-rows") ? 2 : 0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });
});
