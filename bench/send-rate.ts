// Issue 16, the sending side: how close cio-rel's request rate comes to --rate when every request takes 50 ms,
// and whether the wall time of a big run is set by the API or by the CPU. The fake Track API runs in this
// process (count-only, 50 ms latency, a 100/s token bucket); the built CLI (`npm run build`) runs as a child
// under GNU time, first as a dry run (the CPU's share, and the body bytes that size the batches), then sending.
//
//   npx tsx bench/send-rate.ts [--rows 1000000,5000000] [--order shuffled,sorted] [--file <csv>]...
//                              [--data <dir>] [--rate 100] [--limit <per s>] [--latency 50] [--requests <n>]
//                              [--batch-bytes <n>] [--via track|pipelines] [--cli <bin/cio-rel.js>]
//                              [--no-dry-run] [--json <file>] [--profile <dir>] [-- <extra cio-rel flags>]
//
// Inputs: each --file, else for each size and order `<data>/<order>-<rows>.csv` when --data holds it, else
// one generated here as `npm run bench` does (bench/generate.ts). --requests: how many requests the run should
// make (default rows / 800, at least 200): batches smaller than Customer.io's 500 KB, so that the API, not the
// planner, sets the pace; --batch-bytes sets the size directly (then --no-dry-run skips the dry run). --limit:
// the fake's limit (default --rate). --via pipelines sends to the fake's Data Pipelines route (default --rate
// 500). --profile: the send run writes a CPU profile there (`node bench/hot-path.mjs profile <file>`).
//
// Printed per input: requests; the achieved rate from the first request's arrival to the last one's, and its
// share of --rate; the time to the first request; the API's floor (requests / the lower of --rate and the
// limit); wall; wall − (first request + floor), the time the API did not account for; the dry run's wall and
// CPU; peak RSS of both (GNU time %M); and the 429s the fake answered.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startFakeTrackApi, type ReceivedRequest } from "../test/fake-track-api/index.js";
import { generate } from "./generate.js";
import { summaryOf } from "./summary.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GNU_TIME = "/usr/bin/time";
const SITE = "bench-site";
const KEY = "bench-key-0000";
const PIPELINES_KEY = "bench-pipelines-key";
const MAPPING = ["--person-column", "user_id", "--object-column", "account_id", "--progress", "none", "--json"];
/** The smallest --batch-bytes cio-rel takes: one 32,000-byte operation and the batch's own bytes. */
const MIN_BATCH_BYTES = 32_012;

/** What to measure. */
export interface SendRateOptions {
  files: { file: string; rows: number; order: string }[];
  ratePerSecond: number;
  limitPerSecond: number;
  latencyMs: number;
  /** Requests wanted (sizes the batches); ignored when batchBytes is given. */
  requests: ((rows: number) => number) | undefined;
  batchBytes: number | undefined;
  via: "track" | "pipelines";
  cli: string;
  extra: string[];
  /** Whether to time a dry run first (the CPU's share; it sizes the batches unless batchBytes is given). */
  dryRun: boolean;
  /** Where the send run writes a CPU profile (node --cpu-prof), if anywhere. */
  profileDir?: string;
}

/** One child run under GNU time. */
interface Timed {
  wallS: number;
  cpuS: number;
  peakRssMB: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

/** The figures of one input. */
export interface SendRateFigures {
  file: string;
  rows: number;
  order: string;
  via: "track" | "pipelines";
  batchBytes: number | undefined;
  latencyMs: number;
  ratePerSecond: number;
  limitPerSecond: number;
  requests: number;
  /** Requests the fake answered 429 (each one retried by cio-rel). */
  refused: number;
  /** Requests started per second from the first arrival to the last. */
  achievedPerSecond: number;
  /** achievedPerSecond / --rate. */
  shareOfRate: number;
  firstRequestS: number;
  /** requests / min(--rate, limit): the least time the API allows. */
  apiFloorS: number;
  wallS: number;
  /** wall − first request − floor: time neither reading nor the API accounts for. */
  unexplainedS: number;
  sendCpuS: number;
  sendPeakRssMB: number;
  /** The dry run's figures (undefined when none ran). */
  dryRunWallS: number | undefined;
  dryRunCpuS: number | undefined;
  dryRunPeakRssMB: number | undefined;
}

/** Runs `argv` under GNU time (wall, user + sys CPU, peak RSS). */
async function timed(argv: readonly string[], env: NodeJS.ProcessEnv, dir: string): Promise<Timed> {
  const out = join(dir, "time.txt");
  const started = performance.now();
  const child = spawn(GNU_TIME, ["-f", "%U %S %M", "-o", out, ...argv], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const wallS = (performance.now() - started) / 1000;
  const m = /([\d.]+) ([\d.]+) (\d+)\s*$/.exec(readFileSync(out, "utf8").trim());
  if (m === null) throw new Error(`GNU time wrote no figures:\n${readFileSync(out, "utf8")}\n${stderr}`);
  return { wallS, cpuS: Number(m[1]) + Number(m[2]), peakRssMB: Number(m[3]) / 1024, stdout, stderr, code };
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Dry run, then the same input sent to the fake; the figures of both. */
async function measure(o: SendRateOptions, input: SendRateOptions["files"][number], dir: string): Promise<SendRateFigures> {
  const route = o.via === "pipelines" ? ["--via", "pipelines"] : [];
  const base = ["add", "--file", input.file, ...MAPPING, ...route, ...o.extra];
  const dry =
    o.dryRun || o.batchBytes === undefined ? await timed([process.execPath, o.cli, ...base, "--dry-run", "--out", "/dev/null"], {}, dir) : undefined;
  const bodyBytes = dry === undefined ? 0 : summaryOf(dry, "dry run", input.rows).bytes;
  const batchBytes = o.batchBytes ?? Math.max(MIN_BATCH_BYTES, Math.ceil(bodyBytes / (o.requests?.(input.rows) ?? 1)));
  const arrivals: { time: number; status: number | undefined }[] = [];
  const api = await startFakeTrackApi({
    siteId: SITE,
    apiKey: KEY,
    pipelinesApiKey: PIPELINES_KEY,
    countOnly: true,
    maxRecordedRequests: 16,
    // The same latency and limit on both routes: Track's /batch and Data Pipelines' /v1/batch.
    faults: { latencyMs: o.latencyMs, rateLimit: { perSecond: o.limitPerSecond } },
    pipelinesFaults: { latencyMs: o.latencyMs, rateLimit: { perSecond: o.limitPerSecond } },
    onSettled: (rec: ReceivedRequest) => arrivals.push({ time: rec.time, status: rec.status }),
  });
  try {
    const target = o.via === "pipelines" ? ["--pipelines-url", `${api.url}/v1`] : ["--track-url", api.url];
    const args = [...base, "--rate", String(o.ratePerSecond), ...(batchBytes !== undefined ? ["--batch-bytes", String(batchBytes)] : []), ...target];
    const env = { CIO_SITE_ID: SITE, CIO_API_KEY: KEY, CIO_PIPELINES_API_KEY: PIPELINES_KEY };
    const started = Date.now();
    const node = o.profileDir !== undefined ? [process.execPath, "--cpu-prof", "--cpu-prof-dir", o.profileDir] : [process.execPath];
    const sent = await timed([...node, o.cli, ...args], env, dir);
    const s = summaryOf(sent, "send run", input.rows);
    const ok = arrivals.filter((a) => a.status !== 429).map((a) => a.time);
    const first = Math.min(...ok);
    const last = Math.max(...ok);
    const achieved = ok.length > 1 ? ((ok.length - 1) * 1000) / (last - first) : 0;
    const floor = s.requests / Math.min(o.ratePerSecond, o.limitPerSecond);
    const firstS = (first - started) / 1000;
    return {
      file: input.file,
      rows: input.rows,
      order: input.order,
      via: o.via,
      batchBytes,
      latencyMs: o.latencyMs,
      ratePerSecond: o.ratePerSecond,
      limitPerSecond: o.limitPerSecond,
      requests: s.requests,
      refused: arrivals.filter((a) => a.status === 429).length,
      achievedPerSecond: round(achieved, 1),
      shareOfRate: round(achieved / o.ratePerSecond, 3),
      firstRequestS: round(firstS, 2),
      apiFloorS: round(floor, 2),
      wallS: round(sent.wallS, 2),
      unexplainedS: round(sent.wallS - firstS - floor, 2),
      sendCpuS: round(sent.cpuS, 2),
      sendPeakRssMB: round(sent.peakRssMB, 1),
      dryRunWallS: dry === undefined ? undefined : round(dry.wallS, 2),
      dryRunCpuS: dry === undefined ? undefined : round(dry.cpuS, 2),
      dryRunPeakRssMB: dry === undefined ? undefined : round(dry.peakRssMB, 1),
    };
  } finally {
    await api.close();
  }
}

/** Measures every input in turn. */
export async function sendRate(o: SendRateOptions, log: (line: string) => void = () => undefined): Promise<SendRateFigures[]> {
  const dir = mkdtempSync(join(tmpdir(), "cio-rel-send-rate-"));
  try {
    const figures: SendRateFigures[] = [];
    for (const input of o.files) {
      const f = await measure(o, input, dir);
      log(line(f));
      figures.push(f);
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One input's figures on one line. */
export function line(f: SendRateFigures): string {
  return (
    `${f.rows.toLocaleString("en-US")} ${f.order} via ${f.via}${f.batchBytes !== undefined ? `, --batch-bytes ${f.batchBytes}` : ""}: ` +
    `${f.requests} requests, ${f.achievedPerSecond}/s = ${(f.shareOfRate * 100).toFixed(1)} % of --rate ${f.ratePerSecond} ` +
    `(limit ${f.limitPerSecond}/s, ${f.latencyMs} ms latency), ${f.refused} × 429; first request ${f.firstRequestS} s, ` +
    `API floor ${f.apiFloorS} s, wall ${f.wallS} s (unexplained ${f.unexplainedS} s), send CPU ${f.sendCpuS} s, ` +
    `peak RSS ${f.sendPeakRssMB} MB` +
    (f.dryRunWallS === undefined ? "" : `; dry run ${f.dryRunWallS} s wall, ${f.dryRunCpuS} s CPU, ${f.dryRunPeakRssMB} MB`)
  );
}

function need(v: string | undefined, flag: string): string {
  if (v === undefined) throw new Error(`${flag} needs a value`);
  return v;
}

function count(text: string, flag: string): number {
  const n = Number(text.replace(/_/g, ""));
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${flag} takes a positive number, not ${text}`);
  return n;
}

/** Options from the command line; inputs generated into `dir` when no file is at hand. */
function parseArgs(argv: readonly string[], dir: string): { options: SendRateOptions; json: string | undefined } {
  const files: string[] = [];
  let sizes = [1_000_000];
  let orders = ["shuffled"];
  let data: string | undefined;
  let rate: number | undefined;
  let limit: number | undefined;
  let latency = 50;
  let requests: number | undefined;
  let batchBytes: number | undefined;
  let via: "track" | "pipelines" = "track";
  let cli = join(ROOT, "bin", "cio-rel.js");
  let json: string | undefined;
  let extra: string[] = [];
  let profileDir: string | undefined;
  let dryRun = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = (): string => need(argv[++i], a);
    if (a === "--") {
      extra = argv.slice(i + 1);
      break;
    } else if (a === "--file") files.push(v());
    else if (a === "--rows")
      sizes = v()
        .split(",")
        .map((s) => count(s, a));
    else if (a === "--order") orders = v().split(",");
    else if (a === "--data") data = v();
    else if (a === "--rate") rate = count(v(), a);
    else if (a === "--limit") limit = count(v(), a);
    else if (a === "--latency") latency = Number(v());
    else if (a === "--requests") requests = count(v(), a);
    else if (a === "--batch-bytes") batchBytes = count(v(), a);
    else if (a === "--via") via = v() === "pipelines" ? "pipelines" : "track";
    else if (a === "--cli") cli = v();
    else if (a === "--json") json = v();
    else if (a === "--profile") profileDir = v();
    else if (a === "--no-dry-run") dryRun = false;
    else throw new Error(`unknown option ${a}`);
  }
  const inputs: SendRateOptions["files"] = [];
  for (const file of files)
    inputs.push({
      file,
      rows:
        readFileSync(file, "latin1")
          .split("\n")
          .filter((l) => l !== "").length - 1,
      order: "given",
    });
  if (files.length === 0) {
    for (const rows of sizes) {
      let generated: { sorted: string; shuffled: string } | undefined;
      for (const order of orders) {
        if (order !== "sorted" && order !== "shuffled") throw new Error(`--order takes sorted and shuffled, not ${order}`);
        const file = data === undefined ? undefined : join(data, `${order}-${rows}.csv`);
        if (file !== undefined && existsSync(file)) inputs.push({ file, rows, order });
        else inputs.push({ file: (generated ??= generate(dir, rows))[order], rows, order });
      }
    }
  }
  const ratePerSecond = rate ?? (via === "pipelines" ? 500 : 100);
  const options: SendRateOptions = {
    files: inputs,
    ratePerSecond,
    limitPerSecond: limit ?? ratePerSecond,
    latencyMs: latency,
    requests: requests !== undefined ? () => requests : (rows) => Math.max(200, Math.round(rows / 800)),
    batchBytes,
    via,
    cli,
    extra,
    dryRun,
    ...(profileDir !== undefined ? { profileDir } : {}),
  };
  return { options, json };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "cio-rel-send-rate-inputs-"));
  try {
    const { options, json } = parseArgs(process.argv.slice(2), dir);
    const load = loadavg().map((x) => x.toFixed(2));
    console.log(`send-rate: ${cpus().length} cores, load ${load.join(" ")}, Node.js ${process.version}`);
    const figures = await sendRate(options, (l) => console.log(l));
    if (json !== undefined) writeFileSync(json, JSON.stringify({ load, figures }, null, 2) + "\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
