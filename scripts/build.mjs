// The build (issue 16): the CLI as one ES module, dist/main.js, bundled from src/ by esbuild. Loading ~90
// modules one by one cost every run 50-80 ms before it read a byte; the bundle loads as one file. Runtime
// dependencies stay packages (commander, chalk, and undici, ora and pg loaded only when a run needs them).
// Types are checked by `npm run typecheck` (tsc), not here: esbuild only strips them, as vitest does.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
rmSync(join(root, "dist"), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.js",
  bundle: true,
  packages: "external",
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
});
