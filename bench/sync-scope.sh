#!/usr/bin/env bash
# Times `cio-rel sync` over a scope of N objects (default 200) against the fake workspace and its App API
# limit of 10 requests/s (issue 13). Each object holds 5 people; the file keeps 4 and adds 1, so the plan is
# N adds, N deletes, 4N unchanged. Needs `npm run build` first. Usage: bench/sync-scope.sh [N] [port]
set -euo pipefail
N="${1:-200}"
PORT="${2:-4113}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$(mktemp -d)"
cd "$DIR"
node -e '
const n = Number(process.argv[1]);
let seed = "id,object_id\n", desired = "id,object_id\n";
for (let o = 0; o < n; o++) {
  for (let p = 0; p < 5; p++) seed += `u${o}-${p},acct-${o}\n`;
  for (let p = 1; p < 6; p++) desired += `u${o}-${p},acct-${o}\n`;
}
require("fs").writeFileSync("seed.csv", seed);
require("fs").writeFileSync("members.csv", desired);
' "$N"
"$ROOT/node_modules/.bin/tsx" "$ROOT/test/fake-track-api/serve.ts" --port "$PORT" --site-id s --api-key k --app-api-key a --quiet > fake.out 2>&1 &
FAKE=$!
trap 'kill -INT $FAKE 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q listening fake.out 2>/dev/null && break; sleep 0.2; done
grep -q listening fake.out || { cat fake.out; echo "the fake did not start" >&2; exit 1; }
export CIO_SITE_ID=s CIO_API_KEY=k CIO_APP_API_KEY=a CIO_TRACK_URL="http://127.0.0.1:$PORT" CIO_APP_URL="http://127.0.0.1:$PORT"
node "$ROOT/bin/cio-rel.js" add --file seed.csv --quiet --progress none
start=$(date +%s.%N)
node "$ROOT/bin/cio-rel.js" sync --file members.csv --yes --max-deletes 20% --json > sync.json
end=$(date +%s.%N)
node -e '
const d = JSON.parse(require("fs").readFileSync("sync.json", "utf8"));
console.log(JSON.stringify({ plan: d.plan, reads: d.reads, applied: d.applied, exitCode: d.exitCode, durationMs: d.durationMs }));
'
echo "objects: $N  wall: $(echo "$end - $start" | bc) s"
