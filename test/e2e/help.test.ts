import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { ROOT, runCli, tempDir } from "./cli.js";

// Issue 10, "Help that teaches": a synopsis of the input shapes first, options grouped, defaults written one
// way, and examples that work from any folder.

const COMMANDS = ["add", "delete", "validate"] as const;

describe("--help of each command", () => {
  it.each(COMMANDS)("%s --help starts with the input shapes and groups its options", async (command) => {
    const r = await runCli([command, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("Input shapes:\n")).toBe(true);
    const headings = [...r.stdout.matchAll(/^([A-Z][a-z]+):$/gm)].map((m) => m[1]);
    for (const group of ["Input", "Mapping", "Sending", "Output"]) expect(headings, group).toContain(group);
    expect(headings.indexOf("Input")).toBeLessThan(headings.indexOf("Mapping"));
    expect(headings.indexOf("Mapping")).toBeLessThan(headings.indexOf("Sending"));
    expect(headings.indexOf("Sending")).toBeLessThan(headings.indexOf("Output"));
    // One way to write a default: "(default: x)".
    expect(r.stdout).not.toMatch(/\(default "|default: "auto"|\(default \d/);
    expect(r.stdout).toContain("(default: auto)");
    // Examples name plain files and say where copies are, never fixtures/ paths.
    const examples = r.stdout.slice(r.stdout.indexOf("Examples"));
    for (const line of examples.split("\n").filter((l) => l.includes("$ cio-rel"))) expect(line).not.toContain("fixtures/");
    expect(examples).toContain("the repository's fixtures/ folder has copies");
  });

  it.each(COMMANDS)("%s --help examples run from any folder with the README's files", async (command) => {
    const r = await runCli([command, "--help"]);
    const dir = tempDir();
    for (const name of ["people.csv", "objects.csv", "memberships.csv", "ids.txt"]) copyFileSync(join(ROOT, "fixtures", name), join(dir, name));
    writeFileSync(join(dir, "ids.txt.gz"), gzipSync(readFileSync(join(ROOT, "fixtures", "ids.txt"))));
    const lines = [...r.stdout.matchAll(/^\s+\$ cio-rel (.*)$/gm)].map((m) => m[1] as string);
    const offline = lines.filter((l) => (l.includes("--dry-run") || l.startsWith("validate")) && !l.includes("--sql"));
    expect(offline.length).toBeGreaterThan(0);
    for (const line of offline) {
      const args = [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
      // In process with ctx.cwd the folder (process.cwd() stays the repository, whose top holds none of these
      // files): a path resolved against the process's folder fails here, as it would for a user elsewhere.
      const run = await runCli(args, { cwd: dir });
      expect(run.code, `${line}\n${run.stderr}`).toBe(0);
    }
  });
});
