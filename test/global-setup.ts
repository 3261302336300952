import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** "" when dist/ was current; else the file the background build writes "ok" (or why it failed) to when done. */
    distBuild: string;
  }
}

/** The newest modification time among the build's inputs: src/ and the files that configure it. */
function newestInput(root: string): number {
  let newest = 0;
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  visit(join(root, "src"));
  for (const f of ["tsconfig.json", "package.json", join("scripts", "build.mjs")]) newest = Math.max(newest, statSync(join(root, f)).mtimeMs);
  return newest;
}

/**
 * Builds dist/ so that the tests which spawn bin/cio-rel.js run the CLI exactly as a user does. The build
 * (scripts/build.mjs) writes dist/main.js whole, so dist/main.js newer than every input means dist/ is current:
 * the build is then skipped, as after `npm run build` in CI. Otherwise (a fresh clone) it runs in the background
 * while the tests that run the CLI in process start: only a spawning test waits for it (test/e2e/cli.ts distReady).
 */
export default function setup(project: TestProject): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const built = join(root, "dist", "main.js");
  if (existsSync(built) && statSync(built).mtimeMs > newestInput(root)) {
    project.provide("distBuild", "");
    return;
  }
  const marker = join(mkdtempSync(join(tmpdir(), "cio-rel-build-")), "done");
  const child = spawn(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
  child.on("error", (e) => writeFileSync(marker, `failed: ${e.message}`));
  child.on("close", (code) => writeFileSync(marker, code === 0 ? "ok" : `failed (exit ${code}): ${output}`));
  project.provide("distBuild", marker);
}
