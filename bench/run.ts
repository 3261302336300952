// `npm run bench` (issue 6): how fast cio-rel turns rows into requests, how well it packs them, how much
// memory it holds and how close it gets to the rate limit. Everything is measured in one run on this
// machine, so the figures that matter are ratios (against csv-parse alone, against the optimum).
//
//   npm run bench -- [--quick] [--json <file>] [--repeat <n>] [--sizes <rows,...>] [--no-big] [--keep]
//
// --quick: 100k rows only, no 5M memory run (a smoke run). --repeat: timed runs per figure, the fastest
// is kept (default 3). --sizes: other row counts (default 100000,1000000). --no-big: skip the 5M run.
// --keep: leave the generated inputs in the temporary folder. --cli <bin/cio-rel.js>: measure another build.
// The fake Track API runs in this process in count-only mode (bodies are not parsed), so that it is never
// what the figures measure; the dry-run --out file is where the bodies are checked and added up.
import { spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { seededRandom } from "../test/fake-track-api/faults.js";
import { startFakeTrackApi, type FakeTrackApi, type ReceivedRequest } from "../test/fake-track-api/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// --cli runs another build (e.g. of an earlier commit) for before/after figures.
let CLI = join(ROOT, "bin", "cio-rel.js");
const CSV_ALONE = join(ROOT, "bench", "csv-parse-alone.mjs");
const LIMIT = 500_000; // MAX_BATCH_BYTES: the optimum and naive counts divide by it
const SITE = "bench-site";
const KEY = "bench-key-0000";
const BASE_ARGS = ["--person-column", "user_id", "--object-column", "account_id", "--progress", "none", "--json"];

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  json: string | undefined;
  repeat: number;
  keep: boolean;
  sizes: number[];
  big: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { quick: false, json: undefined, repeat: 3, keep: false, sizes: [100_000, 1_000_000], big: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") o.quick = true;
    else if (a === "--keep") o.keep = true;
    else if (a === "--no-big") o.big = false;
    else if (a === "--cli") CLI = need(argv[++i], a);
    else if (a === "--sizes") o.sizes = need(argv[++i], a).split(",").map(Number);
    else if (a === "--json") o.json = need(argv[++i], a);
    else if (a === "--repeat") o.repeat = Math.max(1, Number(need(argv[++i], a)));
    else throw new Error(`unknown argument ${a}: use --quick, --json <file>, --repeat <n>, --sizes <rows,...>, --no-big, --keep`);
  }
  if (o.quick) {
    o.sizes = [100_000];
    o.big = false;
  }
  return o;
}

function need(v: string | undefined, flag: string): string {
  if (v === undefined) throw new Error(`${flag} needs a value`);
  return v;
}

// ---------------------------------------------------------------- inputs

/** mulberry32 (the fake's): the inputs are the same on every run. */
const prng = seededRandom;

const ROLES = ["member", "member", "member", "admin", "owner", "viewer", "billing"];

/**
 * Membership rows `user_id,account_id,role` sorted by account: accounts of 1 to 121 members (skewed
 * small, mean ≈ 41), people drawn so that a person belongs to about two accounts and never twice to one.
 */
function* memberships(rows: number): Generator<string> {
  const rand = prng(6);
  const people = Math.max(1, Math.floor(rows / 2));
  let account = 0;
  let left = 0;
  for (let i = 0; i < rows; i++) {
    if (left === 0) {
      account++;
      const r = rand();
      left = 1 + Math.floor(r * r * 120);
    }
    left--;
    const person = (i * 7919 + 13) % people;
    yield `u${person},acct_${account},${ROLES[Math.floor(rand() * ROLES.length)]}\n`;
  }
}

/** Writes lines to a file in 1 MB pieces. */
function writeLines(path: string, lines: Iterable<string>): void {
  const fd = openSync(path, "w");
  let buf = "user_id,account_id,role\n";
  for (const line of lines) {
    buf += line;
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = "";
    }
  }
  writeSync(fd, buf);
  closeSync(fd);
}

/** The sorted file and, unless only sorted is wanted, the same rows shuffled. */
function generate(dir: string, rows: number, shuffled: boolean): { sorted: string; shuffled?: string } {
  const sorted = join(dir, `memberships-${rows}-sorted.csv`);
  if (!shuffled) {
    writeLines(sorted, memberships(rows));
    return { sorted };
  }
  const lines = [...memberships(rows)];
  writeLines(sorted, lines);
  const rand = prng(7);
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = lines[i] as string;
    lines[i] = lines[j] as string;
    lines[j] = t;
  }
  const path = join(dir, `memberships-${rows}-shuffled.csv`);
  writeLines(path, lines);
  return { sorted, shuffled: path };
}

// ---------------------------------------------------------------- child processes

interface ChildRun {
  ms: number;
  /** Peak resident set of the child (VmHWM), MB. */
  peakRssMB: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

const GNU_TIME = "/usr/bin/time";
let useGnuTime: boolean | undefined;

/** Whether /usr/bin/time is GNU time (-f %M -o file): it reads the child's peak RSS from the kernel at exit. */
async function gnuTimeWorks(dir: string): Promise<boolean> {
  if (!existsSync(GNU_TIME)) return false;
  const out = join(dir, "time-check.txt");
  const code = await new Promise<number | null>((resolve) => {
    const c = spawn(GNU_TIME, ["-f", "%M", "-o", out, process.execPath, "-e", "0"], { stdio: "ignore" });
    c.on("error", () => resolve(1));
    c.on("close", resolve);
  });
  return code === 0 && existsSync(out) && /^\d+\s*$/m.test(readFileSync(out, "utf8"));
}

/** Runs `node <args>` (or the CLI itself) and measures its wall time and peak RSS (GNU time, else VmHWM polled every 5 ms). */
async function runNode(dir: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ChildRun> {
  useGnuTime ??= await gnuTimeWorks(dir);
  const timeFile = join(dir, "time.txt");
  // The CLI runs as a user's shell runs it — as an executable, so its shebang's node flags apply.
  const program = args[0] === CLI ? [...args] : [process.execPath, ...args];
  const [cmd, argv] = useGnuTime ? [GNU_TIME, ["-f", "%M", "-o", timeFile, ...program]] : [program[0] as string, program.slice(1)];
  const started = performance.now();
  const child = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  let polledKB = 0;
  const poll = useGnuTime
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
          if (m !== null) polledKB = Math.max(polledKB, Number(m[1]));
        } catch {
          // the child has exited
        }
      }, 5);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const ms = performance.now() - started;
  if (poll !== undefined) clearInterval(poll);
  const kb = useGnuTime ? Number(/(\d+)\s*$/.exec(readFileSync(timeFile, "utf8").trim())?.[1] ?? 0) : polledKB;
  return { ms, peakRssMB: kb / 1024, stdout, stderr, code };
}

/** The fastest of n runs (the least disturbed by the rest of the machine); peak RSS is the largest seen. */
async function best(n: number, run: () => Promise<ChildRun>): Promise<ChildRun> {
  let fastest: ChildRun | undefined;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    const r = await run();
    peak = Math.max(peak, r.peakRssMB);
    if (fastest === undefined || r.ms < fastest.ms) fastest = r;
  }
  return { ...(fastest as ChildRun), peakRssMB: peak };
}

interface CliSummary {
  rows: number;
  applied: number;
  duplicate: number;
  invalid: number;
  operations: number;
  batches: number;
  requests: number;
  retries: number;
  bytes: number;
  exitCode: number;
}

/** The --json summary of a cio-rel run; throws unless the run went through cleanly. */
function summaryOf(r: ChildRun, what: string): CliSummary {
  let s: CliSummary;
  try {
    s = JSON.parse(r.stdout) as CliSummary;
  } catch {
    throw new Error(`${what}: no JSON summary (exit ${r.code})\n${r.stderr}`);
  }
  if (r.code !== 0 || s.exitCode !== 0 || s.applied + s.duplicate !== s.rows) {
    throw new Error(`${what}: exit ${r.code}, ${s.applied} of ${s.rows} rows applied\n${r.stderr}`);
  }
  return s;
}

async function csvParseAlone(dir: string, file: string, rows: number, repeat: number): Promise<ChildRun> {
  const r = await best(repeat, () => runNode(dir, [CSV_ALONE, file]));
  if (r.code !== 0 || Number(r.stdout.trim()) !== rows) throw new Error(`csv-parse alone on ${file}: ${r.stdout} ${r.stderr}`);
  return r;
}

// ---------------------------------------------------------------- packing figures

interface Packing {
  /** Sum of the compact JSON bytes of every operation of every batch. */
  opBytes: number;
  /** The same relationships, each in an operation of its own. */
  naiveBytes: number;
  batches: number;
  operations: number;
  relationships: number;
}

/** Reads a dry run's --out file (one batch body per line) and adds up its operations. */
async function packingOf(path: string): Promise<Packing> {
  const p: Packing = { opBytes: 0, naiveBytes: 0, batches: 0, operations: 0, relationships: 0 };
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === "") continue;
    const body = JSON.parse(line) as { batch: Array<{ type: string; identifiers: unknown; action: string; cio_relationships: unknown[] }> };
    p.batches++;
    for (const op of body.batch) {
      p.operations++;
      p.opBytes += Buffer.byteLength(JSON.stringify(op));
      // The naive op: the same head with one relationship; its size is head + relationship + "]}".
      const head = Buffer.byteLength(JSON.stringify({ type: op.type, identifiers: op.identifiers, action: op.action, cio_relationships: [] })) - 2;
      for (const rel of op.cio_relationships) {
        p.relationships++;
        p.naiveBytes += head + Buffer.byteLength(JSON.stringify(rel)) + 2;
      }
    }
  }
  return p;
}

// ---------------------------------------------------------------- scenarios

interface Timed {
  seconds: number;
  rowsPerSecond: number;
  peakRssMB: number;
}

interface Scenario {
  rows: number;
  order: "sorted" | "shuffled";
  attributes: boolean;
  csvParse: Timed;
  send: Timed & { xCsvParse: number; requests: number; retries: number };
  dryRun: Timed & { xCsvParse: number };
  packing: Packing & { optimum: number; naive: number; requestsPerOptimum: number; naivePerRequests: number };
}

function timed(r: ChildRun, rows: number): Timed {
  return { seconds: round(r.ms / 1000, 3), rowsPerSecond: Math.round(rows / (r.ms / 1000)), peakRssMB: round(r.peakRssMB, 1) };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function scenario(
  dir: string,
  api: FakeTrackApi,
  file: string,
  rows: number,
  order: Scenario["order"],
  attributes: boolean,
  csv: ChildRun,
  repeat: number,
): Promise<Scenario> {
  const label = `${rows} ${order}${attributes ? " +role" : ""}`;
  const args = ["add", "--file", file, ...BASE_ARGS, ...(attributes ? ["--attributes", "role"] : [])];
  const env = { CIO_SITE_ID: SITE, CIO_API_KEY: KEY };

  const before = { requests: api.counters.received, bytes: api.counters.receivedBytes };
  const sendRuns: CliSummary[] = [];
  const send = await best(repeat, async () => {
    const r = await runNode(dir, [CLI, ...args, "--track-url", api.url], env);
    sendRuns.push(summaryOf(r, `send ${label}`));
    return r;
  });
  const sent = sendRuns[0] as CliSummary;
  const received = { requests: api.counters.received - before.requests, bytes: api.counters.receivedBytes - before.bytes };
  if (received.requests !== sent.requests * repeat || received.bytes !== sent.bytes * repeat) {
    throw new Error(
      `send ${label}: the fake received ${received.requests} requests of ${received.bytes} bytes, expected ${repeat} × ${sent.requests} of ${sent.bytes}`,
    );
  }

  const dry = await best(repeat, async () => {
    const r = await runNode(dir, [CLI, ...args, "--dry-run", "--out", "/dev/null"]);
    summaryOf(r, `dry run ${label}`);
    return r;
  });

  // The bodies once more into a file, to add up their operations (the timed dry runs write to /dev/null).
  const out = join(dir, "out.ndjson");
  const planned = summaryOf(await runNode(dir, [CLI, ...args, "--dry-run", "--out", out]), `dry run ${label}`);
  const pk = await packingOf(out);
  rmSync(out);
  if (pk.batches !== planned.batches || pk.relationships !== planned.applied)
    throw new Error(`dry run ${label}: the --out file does not match its summary`);
  const optimum = Math.ceil(pk.opBytes / LIMIT);
  const naive = Math.ceil(pk.naiveBytes / LIMIT);

  const s: Scenario = {
    rows,
    order,
    attributes,
    csvParse: timed(csv, rows),
    send: { ...timed(send, rows), xCsvParse: round(send.ms / csv.ms, 2), requests: sent.requests, retries: sent.retries },
    dryRun: { ...timed(dry, rows), xCsvParse: round(dry.ms / csv.ms, 2) },
    packing: {
      ...pk,
      optimum,
      naive,
      requestsPerOptimum: round(sent.requests / optimum, 4),
      naivePerRequests: round(naive / sent.requests, 2),
    },
  };
  console.error(
    `  ${label}: send ${s.send.seconds}s (${s.send.xCsvParse}× csv-parse), dry run ${s.dryRun.seconds}s, ` +
      `${sent.requests} requests (optimum ${optimum}, naive ${naive}), peak RSS ${s.send.peakRssMB} MB`,
  );
  return s;
}

interface RateFigures {
  rows: number;
  batchBytes: number;
  concurrency: number;
  latencyMs: number;
  limitPerSecond: number;
  requests: number;
  /** Answers 429 from the fake's token bucket. */
  refused: number;
  seconds: number;
  achievedPerSecond: number;
  shareOfLimit: number;
}

/**
 * Against a fake adding 50 ms to every request and allowing 100 per second: how close the default
 * concurrency gets to the limit. Smaller batches (--batch-bytes) give enough requests for several seconds.
 */
async function rateRun(dir: string, file: string, rows: number, batchBytes: number): Promise<RateFigures> {
  const latencyMs = 50;
  const limit = 100;
  const arrivals: ReceivedRequest[] = [];
  const api = await startFakeTrackApi({
    siteId: SITE,
    apiKey: KEY,
    countOnly: true,
    maxRecordedRequests: 16,
    faults: { latencyMs, rateLimit: { perSecond: limit } },
    onSettled: (rec) => arrivals.push({ ...rec, rawBody: "", body: undefined }),
  });
  try {
    const args = ["add", "--file", file, ...BASE_ARGS, "--rate", String(limit), "--batch-bytes", String(batchBytes), "--track-url", api.url];
    const r = await runNode(dir, [CLI, ...args], { CIO_SITE_ID: SITE, CIO_API_KEY: KEY });
    const s = summaryOf(r, "rate run");
    const ok = arrivals.filter((a) => a.status === 200);
    const first = Math.min(...ok.map((a) => a.time));
    const last = Math.max(...ok.map((a) => a.time));
    // Requests started per second between the first and the last start (n starts span n - 1 intervals).
    const achieved = ok.length > 1 ? ((ok.length - 1) * 1000) / (last - first) : 0;
    return {
      rows,
      batchBytes,
      concurrency: 8,
      latencyMs,
      limitPerSecond: limit,
      requests: s.requests,
      refused: arrivals.filter((a) => a.status === 429).length,
      seconds: round((last - first) / 1000, 2),
      achievedPerSecond: round(achieved, 1),
      shareOfLimit: round(achieved / limit, 3),
    };
  } finally {
    await api.close();
  }
}

// ---------------------------------------------------------------- report

interface Target {
  name: string;
  value: string;
  limit: string;
  ok: boolean;
}

function table(scenarios: readonly Scenario[]): string {
  const head = [
    "rows",
    "order",
    "attrs",
    "csv-parse alone",
    "cio-rel end to end",
    "× csv-parse",
    "dry run",
    "× csv-parse",
    "requests",
    "optimum",
    "req / opt",
    "naive",
    "peak RSS",
  ];
  const fmt = (n: number): string => n.toLocaleString("en-US");
  const t = (x: Timed): string => `${x.seconds.toFixed(2)} s (${fmt(Math.round(x.rowsPerSecond / 1000))}k rows/s)`;
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 3 ? "---" : "---:")).join("|")}|`];
  for (const s of scenarios) {
    lines.push(
      `| ${[
        fmt(s.rows),
        s.order,
        s.attributes ? "role" : "–",
        t(s.csvParse),
        t(s.send),
        s.send.xCsvParse.toFixed(2),
        t(s.dryRun),
        s.dryRun.xCsvParse.toFixed(2),
        fmt(s.send.requests),
        fmt(s.packing.optimum),
        s.packing.requestsPerOptimum.toFixed(3),
        fmt(s.packing.naive),
        `${Math.round(s.send.peakRssMB)} MB`,
      ].join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), "cio-rel-bench-"));
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const sizes = o.sizes;
  const bigRows = 5_000_000;
  const api = await startFakeTrackApi({ siteId: SITE, apiKey: KEY, countOnly: true, maxRecordedRequests: 16 });
  const scenarios: Scenario[] = [];
  let memory: { rows: number; attributes: boolean; peakRssMB: number; seconds: number; rowsPerSecond: number }[] = [];
  let rate: RateFigures;
  try {
    console.error(`bench: inputs in ${dir}`);
    const files = new Map<number, { sorted: string; shuffled?: string }>();
    for (const rows of sizes) files.set(rows, generate(dir, rows, true));

    for (const rows of sizes) {
      const f = files.get(rows) as { sorted: string; shuffled: string };
      for (const order of ["sorted", "shuffled"] as const) {
        const file = order === "sorted" ? f.sorted : f.shuffled;
        const csv = await csvParseAlone(dir, file, rows, o.repeat);
        for (const attributes of [false, true]) scenarios.push(await scenario(dir, api, file, rows, order, attributes, csv, o.repeat));
      }
    }

    // Memory: the largest file sent end to end, against the same run at the largest size above.
    const memRows = o.big ? [bigRows] : [];
    memory = scenarios
      .filter((s) => s.rows === sizes[sizes.length - 1] && s.order === "sorted" && s.attributes)
      .map((s) => ({ rows: s.rows, attributes: true, peakRssMB: s.send.peakRssMB, seconds: s.send.seconds, rowsPerSecond: s.send.rowsPerSecond }));
    for (const rows of memRows) {
      const { sorted } = generate(dir, rows, false);
      const r = await runNode(dir, [CLI, "add", "--file", sorted, ...BASE_ARGS, "--attributes", "role", "--track-url", api.url], {
        CIO_SITE_ID: SITE,
        CIO_API_KEY: KEY,
      });
      summaryOf(r, `send ${rows}`);
      rmSync(sorted);
      memory.push({ rows, attributes: true, ...timed(r, rows) });
      console.error(`  ${rows} sorted +role: send ${(r.ms / 1000).toFixed(2)}s, peak RSS ${r.peakRssMB.toFixed(1)} MB`);
    }

    // Rate: enough requests for several seconds at 100/s.
    const rateRows = sizes[sizes.length - 1] as number;
    const sortedNoAttr = scenarios.find((s) => s.rows === rateRows && s.order === "sorted" && !s.attributes) as Scenario;
    const batchBytes = Math.max(32_012, Math.ceil(sortedNoAttr.packing.opBytes / 600));
    rate = await rateRun(dir, (files.get(rateRows) as { sorted: string }).sorted, rateRows, batchBytes);
    console.error(`  rate: ${rate.achievedPerSecond} requests/s of ${rate.limitPerSecond} (${rate.requests} requests, ${rate.refused} refused)`);
  } finally {
    await api.close();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }

  const targets: Target[] = [];
  for (const s of scenarios.filter((x) => x.order === "sorted")) {
    const limit = 1.02 * s.packing.optimum + 1;
    targets.push({
      name: `requests, ${s.rows} sorted${s.attributes ? " +role" : ""}`,
      value: String(s.send.requests),
      limit: `≤ 1.02 × ${s.packing.optimum} + 1 = ${limit.toFixed(1)}`,
      ok: s.send.requests <= limit,
    });
  }
  for (const s of scenarios.filter((x) => x.rows === 1_000_000 && x.order === "sorted")) {
    targets.push({
      name: `end to end, 1M sorted${s.attributes ? " +role" : ""}`,
      value: `${s.send.xCsvParse.toFixed(2)} × csv-parse`,
      limit: "≤ 2.0 ×",
      ok: s.send.xCsvParse <= 2.0,
    });
  }
  const rss1M = memory.find((m) => m.rows === 1_000_000);
  const rss5M = memory.find((m) => m.rows === bigRows);
  if (rss1M !== undefined) {
    targets.push({ name: "peak RSS, 1M rows", value: `${rss1M.peakRssMB.toFixed(0)} MB`, limit: "≤ 200 MB", ok: rss1M.peakRssMB <= 200 });
  }
  if (rss1M !== undefined && rss5M !== undefined) {
    const ratio = rss5M.peakRssMB / rss1M.peakRssMB;
    targets.push({
      name: "peak RSS, 5M / 1M rows",
      value: `${rss5M.peakRssMB.toFixed(0)} MB = ${ratio.toFixed(2)} ×`,
      limit: "≤ 1.1 ×",
      ok: ratio <= 1.1,
    });
  }
  targets.push({
    name: "rate at 50 ms latency, concurrency 8",
    value: `${rate.achievedPerSecond} req/s = ${(rate.shareOfLimit * 100).toFixed(1)} %`,
    limit: "≥ 90 % of 100/s",
    ok: rate.shareOfLimit >= 0.9,
  });

  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}, Node.js ${process.version}, ${process.platform}`;
  const lines = [
    `cio-rel benchmark (${command}; ${machine})`,
    "",
    table(scenarios),
    "",
    `Peak RSS end to end with --attributes role: ${memory.map((m) => `${m.rows.toLocaleString("en-US")} rows ${m.peakRssMB.toFixed(0)} MB`).join(", ")}.`,
    `Rate: ${rate.requests} requests of ≤ ${rate.batchBytes.toLocaleString("en-US")} bytes, 50 ms latency, 100/s token bucket, --rate 100, ` +
      `concurrency 8: ${rate.achievedPerSecond} requests/s (${(rate.shareOfLimit * 100).toFixed(1)} % of the limit), ${rate.refused} refused with 429.`,
    "",
    "| target | value | limit | |",
    "|---|---|---|---|",
    ...targets.map((t) => `| ${t.name} | ${t.value} | ${t.limit} | ${t.ok ? "ok" : "MISSED"} |`),
    "",
    `(${((performance.now() - t0) / 1000).toFixed(0)} s; timings are the fastest of ${o.repeat} runs; "naive" is one relationship per operation.)`,
  ];
  console.log(lines.join("\n"));
  if (o.json !== undefined) {
    const json = { command, machine, startedAt, repeat: o.repeat, scenarios, memory, rate, targets };
    writeFileSync(o.json, JSON.stringify(json, null, 2) + "\n");
  }
  if (targets.some((t) => !t.ok)) process.exitCode = 1;
}

await main();
