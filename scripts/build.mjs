// The build (issue 16): the CLI as one ES module, dist/main.js, bundled from src/ by esbuild. Loading ~90
// modules one by one cost every run 50-80 ms before it read a byte; the bundle loads as one file, with
// commander and chalk in it (every run loads them: ~30 ms more). The packages a run loads only when it needs
// them stay packages: undici (sending), ora (a progress spinner on a terminal), pg and pg-cursor (--sql).
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
  external: ["undici", "ora", "pg", "pg-cursor"],
  // commander is CommonJS: its require() calls of Node's modules need a require in this ES module.
  banner: { js: 'import { createRequire as createRequireForBundle } from "node:module";\nconst require = createRequireForBundle(import.meta.url);' },
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
});
