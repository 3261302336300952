#!/usr/bin/env bash
# Packs cio-rel as npm would publish it, installs the tarball into a throwaway project (runtime
# dependencies come from the registry) and runs the installed bin: --version, --help and a dry run.
# Issue 11: "the package installs and runs from its tarball with npm pack". Not part of npm test
# (it needs the registry and ~30 s); run it with `npm run check:pack`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
npm run build >/dev/null
npm pack --silent --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/cio-rel-*.tgz)"
# Only bin/, dist/, LICENSE, README and package.json ship: no sources, no maps, no tests.
unexpected="$(tar tzf "$tarball" | grep -vE '^package/(bin/|dist/|LICENSE$|README\.md$|package\.json$)' || true)"
[ -z "$unexpected" ] || { echo "check:pack: unexpected files in the tarball:"; echo "$unexpected"; exit 1; }
if tar tzf "$tarball" | grep -q '\.map$'; then echo "check:pack: source maps shipped"; exit 1; fi
mkdir "$work/proj" && cd "$work/proj"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "$tarball" >/dev/null
[ "$(head -1 node_modules/cio-rel/bin/cio-rel.js)" = "#!/usr/bin/env node" ] || { echo "check:pack: the bin's shebang is not plain"; exit 1; }
npx --no-install cio-rel --version
npx --no-install cio-rel add --help >/dev/null
printf 'id\n1001\n1002\n' > ids.csv
npx --no-install cio-rel add --object acme --people ids.csv --dry-run --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  if (s.rows !== 2 || s.exitCode !== 0) { console.error("check:pack: unexpected dry run", s); process.exit(1); }'
echo "check:pack: ok ($(basename "$tarball"), $(tar tzf "$tarball" | wc -l) files)"
