// Issue 16, the time of the hot path: paired timings of cio-rel builds against csv-parse alone and the
// read + split floor, and a summary of a CPU profile. Not the benchmark (bench/run.ts): a tool for
// before/after measurements on a shared, noisy machine, where only paired ratios mean anything.
//
//   node bench/hot-path.mjs time --file a.csv [--file b.csv] [--cli bin/cio-rel.js] [--cli /other/bin/cio-rel.js]
//                               [--runs 5] [-- <extra cio-rel flags>]
//   node bench/hot-path.mjs profile <file.cpuprofile> [top]
//
// `time` runs, round after round, the floor, csv-parse alone and each --cli on each --file (a dry run with
// --out /dev/null, `--person-column user_id --object-column account_id --attributes role` unless flags
// follow --), and prints per command the median wall and CPU (user + sys) seconds and the median of the
// per-round ratios to csv-parse and to the floor. GNU time (/usr/bin/time) measures each child.
// `profile` lists where a `node --cpu-prof` profile spent its samples: self time per function, and time
// charged to the innermost frame of the project (dist/), so that built-ins count for their caller.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_FLAGS = ["--person-column", "user_id", "--object-column", "account_id", "--attributes", "role", "--progress", "none", "--json"];

// The floor: read the bytes and split them into lines, nothing else (what any CSV reader must do).
const FLOOR = `
import { createReadStream } from "node:fs";
let n = 0, rest = "";
for await (const chunk of createReadStream(process.argv[1], { encoding: "utf8", highWaterMark: 1 << 16 })) {
  const parts = (rest + chunk).split("\\n"); rest = parts.pop(); n += parts.length;
}
console.log(n);`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs argv under GNU time; returns wall and CPU seconds and peak RSS (MB). */
function timed(argv, dir) {
  const out = join(dir, "time.txt");
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S %M", "-o", out, ...argv], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stderr}`);
  const [wall, user, sys, kb] = readFileSync(out, "utf8").trim().split(/\s+/).slice(-4).map(Number);
  return { wall, cpu: user + sys, rss: kb / 1024 };
}

function time(args) {
  const files = [];
  const clis = [];
  let runs = 5;
  let flags = DEFAULT_FLAGS;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--file") files.push(args[++i]);
    else if (a === "--cli") clis.push(args[++i]);
    else if (a === "--runs") runs = Number(args[++i]);
    else if (a === "--") {
      flags = args.slice(i + 1);
      break;
    } else throw new Error(`unknown argument ${a}`);
  }
  if (files.length === 0) throw new Error("--file <input.csv> is required");
  if (clis.length === 0) clis.push(join(ROOT, "bin", "cio-rel.js"));
  const dir = mkdtempSync(join(tmpdir(), "cio-rel-hot-path-"));
  try {
    for (const file of files) {
      const commands = [
        ["floor", [process.execPath, "--input-type=module", "-e", FLOOR, file]],
        ["csv-parse", [process.execPath, join(ROOT, "bench", "csv-parse-alone.mjs"), file]],
        ...clis.map((cli, i) => [`cli#${i + 1}`, [process.execPath, cli, "add", "--file", file, ...flags, "--dry-run", "--out", "/dev/null"]]),
      ];
      const seen = new Map(commands.map(([name]) => [name, []]));
      for (let round = 0; round < runs; round++) {
        // Alternate the order each round so that no command always runs right after the same neighbour.
        const order = round % 2 === 0 ? commands : [...commands].reverse();
        for (const [name, argv] of order) seen.get(name).push(timed(argv, dir));
      }
      console.log(`\n${file} (${runs} rounds; medians)`);
      console.log("command     wall s  cpu s  ×csv-parse  ×floor  rss MB");
      const csv = seen.get("csv-parse");
      const floor = seen.get("floor");
      for (const [name] of commands) {
        const xs = seen.get(name);
        const ratio = (base) => median(xs.map((x, i) => x.wall / base[i].wall)).toFixed(2);
        console.log(
          `${name.padEnd(10)} ${median(xs.map((x) => x.wall))
            .toFixed(2)
            .padStart(6)} ${median(xs.map((x) => x.cpu))
            .toFixed(2)
            .padStart(6)}` +
            `  ${ratio(csv).padStart(10)} ${ratio(floor).padStart(7)} ${median(xs.map((x) => x.rss))
              .toFixed(0)
              .padStart(7)}`,
        );
      }
    }
    clis.forEach((cli, i) => console.log(`cli#${i + 1} = ${cli}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function profile(path, top = 30) {
  const p = JSON.parse(readFileSync(path, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map();
  for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const total = p.samples.length;
  const ms = (p.endTime - p.startTime) / total / 1000;
  const label = (n) =>
    `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
  const self = new Map();
  const charged = new Map();
  const add = (m, k, c) => m.set(k, (m.get(k) ?? 0) + c);
  for (const [id, c] of counts) {
    const n = byId.get(id);
    add(self, label(n), c);
    let m = n;
    while (m !== undefined && !m.callFrame.url.includes("/dist/")) m = byId.get(parent.get(m.id));
    const name = n.callFrame.functionName;
    const vm = name === "(garbage collector)" || name === "(program)" || name === "(idle)";
    add(charged, vm ? name : m !== undefined ? label(m) : `(outside dist/) ${label(n)}`, c);
  }
  const show = (title, m) => {
    console.log(`== ${title}, of ${(total * ms).toFixed(0)} ms`);
    for (const [k, c] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((100 * c) / total).toFixed(1).padStart(5)} %  ${(c * ms).toFixed(0).padStart(5)} ms  ${k}`);
    }
  };
  show("self time", self);
  show("charged to the innermost dist/ frame", charged);
}

const [command, ...rest] = process.argv.slice(2);
if (command === "time") time(rest);
else if (command === "profile") profile(rest[0], Number(rest[1] ?? 30));
else throw new Error("usage: node bench/hot-path.mjs time --file <csv> [--cli <bin>]... [--runs n] [-- flags] | profile <file.cpuprofile> [top]");
