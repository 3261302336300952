import { createRequire } from "node:module";

// One version, package.json's: from dist/ (built) and src/ (tsx) alike, ../package.json is the package root.
const pkg = createRequire(import.meta.url)("../package.json") as { version: string };

/** The version printed by --version and sent in the User-Agent. */
export const VERSION: string = pkg.version;
