import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, distReady, spawnCli, tempDir } from "./cli.js";

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

  it("writes a dry run's many bodies to --out without leaking listeners on the stream (no Node warning)", async () => {
    // 40,000 rows in batches of at most 32,012 bytes: ~50 bodies, each larger than the stream's buffer, so every
    // write waits for the stream to drain. Each wait once left listeners behind: Node warned of a leak at the 11th.
    const dir = tempDir();
    const file = join(dir, "members.csv");
    const out = join(dir, "bodies.ndjson");
    const rows = Array.from({ length: 40_000 }, (_, i) => `person-${i},account-${Math.floor(i / 40)},member`);
    writeFileSync(file, "id,object_id,role\n" + rows.join("\n") + "\n");
    const r = await spawnCli([
      "add",
      "--file",
      file,
      "--attributes",
      "role",
      "--batch-bytes",
      "32012",
      "--dry-run",
      "--out",
      out,
      "--progress",
      "none",
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/Warning/);
    const bodies = readFileSync(out, "utf8").trimEnd().split("\n");
    expect(bodies.length).toBeGreaterThan(40);
    let relationships = 0;
    for (const body of bodies) {
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(32_012);
      const parsed = JSON.parse(body) as { batch: { cio_relationships: unknown[] }[] };
      for (const op of parsed.batch) relationships += op.cio_relationships.length;
    }
    expect(relationships).toBe(40_000);
  });

  it("a dry run loads neither undici nor ora: it sends nothing and shows no spinner (issue 16)", async () => {
    await distReady();
    const dir = tempDir();
    // A module hook that names every undici or ora module the process loads.
    writeFileSync(
      join(dir, "hooks.mjs"),
      'export async function load(url, context, next) { if (/node_modules\\/(undici|ora)\\//.test(url)) console.error("LOADED " + url); return next(url, context); }\n',
    );
    writeFileSync(join(dir, "register.mjs"), 'import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n');
    const file = join(dir, "members.csv");
    writeFileSync(file, "id,object_id\n1,acme\n2,acme\n");
    const node = (args: string[]) => spawnSync(process.execPath, ["--import", join(dir, "register.mjs"), ...args], { cwd: ROOT, encoding: "utf8" });
    // The hook does see them when they are loaded.
    expect(node(["--input-type=module", "-e", 'await import("undici"); await import("ora");']).stderr).toMatch(/LOADED .*undici[\s\S]*LOADED .*ora/);
    const r = node([join(ROOT, "bin", "cio-rel.js"), "add", "--file", file, "--dry-run", "--out", join(dir, "out.ndjson"), "--progress", "none"]);
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/LOADED/);
    expect(readFileSync(join(dir, "out.ndjson"), "utf8")).toContain('"object_id":"acme"');
  });
});
