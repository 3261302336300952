import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, spawnCli, tempDir } from "./cli.js";

// Most end-to-end tests run the CLI in process (runCli); these spawn bin/cio-rel.js because the process
// boundary is the point: the shim starts the built CLI, exit codes reach the shell, stdout is drained.

describe("the installed binary", () => {
  it("starts with a plain `#!/usr/bin/env node`: BusyBox's env (Alpine) has no -S for node flags", () => {
    expect(readFileSync(join(ROOT, "bin", "cio-rel.js"), "utf8").split("\n")[0]).toBe("#!/usr/bin/env node");
  });

  it("starts from the shim and prints the package's version", async () => {
    const r = await spawnCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });

  it("exits with the usage code on a bad flag and explains on stderr", async () => {
    const r = await spawnCli(["add", "--no-such-flag"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/unknown option '--no-such-flag'/);
  });

  it("drains a large stdout before exiting", async () => {
    // 30,000 invalid rows print 30,000 lines (≈ 1.5 MB), far beyond a pipe's buffer.
    const dir = tempDir();
    const file = join(dir, "bad.csv");
    writeFileSync(file, "email\n" + "not-an-email\n".repeat(30_000));
    const r = await spawnCli(["validate", file, "--object", "acme"]);
    expect(r.code).toBe(2);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(30_001);
    expect(lines[0]!.startsWith(`${file}:2: `)).toBe(true);
    expect(lines[29_999]!.startsWith(`${file}:30001: `)).toBe(true);
    expect(lines.at(-1)).toMatch(/30000 rows read, 0 valid, 30000 invalid/);
  });
});
