// Outside trial of issue 9 ("Nothing lost, nothing destroyed"), run as a user would: the built CLI
// (bin/cio-rel.js, so `npm run build` first) against the fake Track API on 127.0.0.1.
//   npx tsx bench/fault-campaign.ts [--budget-s 600] [--seed 7] [--sizes 2000,10000,50000] [--kills 3]
// Prints one line per run and a tally at the end; exits 1 when any check failed. Results: bench/FAULT-CAMPAIGN.md.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { parseArgs } from "node:util";
import { startFakeTrackApi, type FakeTrackApi } from "../test/fake-track-api/index.js";

const { values: opt } = parseArgs({
  options: {
    "budget-s": { type: "string", default: "600" },
    seed: { type: "string", default: "7" },
    sizes: { type: "string", default: "2000,10000,50000" },
    kills: { type: "string", default: "3" },
  },
});
const deadline = Date.now() + Number(opt["budget-s"]) * 1000;
let seed = Number(opt.seed);
const rand = (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const BIN = path.resolve("bin/cio-rel.js");
const SECRET = "k-SECRET-9f3a7c";
const SITE = "s";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cio-fault-"));
const tally = { runs: 0, kills: 0, resumes: 0, exits: {} as Record<string, number>, checks: 0, failures: [] as string[] };

function check(ok: boolean, what: string): void {
  tally.checks++;
  if (!ok) {
    tally.failures.push(what);
    console.log(`  FAIL ${what}`);
  }
}
const sha = (f: string): string => createHash("sha256").update(fs.readFileSync(f)).digest("hex");

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}
/** Runs the CLI; killAfterMs sends SIGKILL after that long. */
function cli(args: string[], opts: { killAfterMs?: number | undefined; env?: Record<string, string> } = {}): Promise<Run> {
  tally.runs++;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...(args[0] === "add" ? [] : ["add"]), ...args], {
      cwd: tmp,
      env: { PATH: process.env["PATH"] ?? "", CIO_SITE_ID: SITE, CIO_API_KEY: SECRET, ...opts.env },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = opts.killAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
    const hardStop = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hardStop);
      const key = signal ?? String(code);
      tally.exits[key] = (tally.exits[key] ?? 0) + 1;
      if (signal === "SIGKILL") tally.kills++;
      check(!out.includes(SECRET) && !err.includes(SECRET), `secret absent from output of ${args.join(" ")}`);
      resolve({ code, signal, out, err });
    });
  });
}

interface Row {
  id: string;
  obj: string;
  role: string;
}
function rows(n: number): Row[] {
  // Some duplicates of (person, object) and awkward values; every id distinct enough to check state.
  return Array.from({ length: n }, (_, i) => ({
    id: `u${i % Math.ceil(n * 0.97)}`,
    obj: `o${i % 97}`,
    role: i % 11 === 0 ? `line one\nline "two", ${i}` : `r${i}`,
  }));
}
const csvCell = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

type Layout = "csv" | "csv-quoted-nl" | "ndjson" | "json-oneline" | "json-pretty" | "lines" | "csv-gz";
function write(layout: Layout, data: Row[]): { file: string; args: string[]; expected: string[] } {
  const base = path.join(tmp, `in-${layout}-${data.length}`);
  const plain = data.map((r) => ({ ...r, role: r.role.replace(/\n/g, " ") }));
  let file: string;
  let used: Row[] = plain;
  const csv = (rs: Row[]): string => "id,object_id,role\n" + rs.map((r) => [r.id, r.obj, r.role].map(csvCell).join(",")).join("\n") + "\n";
  switch (layout) {
    case "csv":
      file = `${base}.csv`;
      fs.writeFileSync(file, csv(plain));
      break;
    case "csv-quoted-nl":
      file = `${base}.csv`;
      used = data;
      fs.writeFileSync(file, csv(data));
      break;
    case "csv-gz":
      file = `${base}.csv.gz`;
      fs.writeFileSync(file, gzipSync(csv(plain)));
      break;
    case "ndjson":
      file = `${base}.ndjson`;
      used = data;
      fs.writeFileSync(file, data.map((r) => JSON.stringify({ id: r.id, object_id: r.obj, role: r.role })).join("\n") + "\n");
      break;
    case "json-oneline":
      file = `${base}.json`;
      used = data;
      fs.writeFileSync(file, JSON.stringify(data.map((r) => ({ id: r.id, object_id: r.obj, role: r.role }))));
      break;
    case "json-pretty":
      file = `${base}.json`;
      used = data;
      fs.writeFileSync(
        file,
        JSON.stringify(
          data.map((r) => ({ id: r.id, object_id: r.obj, role: r.role })),
          null,
          2,
        ),
      );
      break;
    case "lines":
      file = `${base}.txt`;
      fs.writeFileSync(file, data.map((r) => r.id).join("\n") + "\n");
      return { file, args: ["--object", "acme", "--people", file], expected: [...new Set(data.map((r) => `1|acme|id|${r.id}|{}`))].sort() };
  }
  const args = ["--file", file, "--attributes", "role"];
  // Last write of a (person, object) pair wins its attributes.
  const m = new Map<string, string>();
  for (const r of used) m.set(`1|${r.obj}|id|${r.id}`, JSON.stringify({ role: r.role }));
  return { file, args, expected: [...m].map(([k, v]) => `${k}|${v}`).sort() };
}
const stateKeys = (api: FakeTrackApi): string[] =>
  api.state
    .all()
    .map((s) => `${s.objectTypeId}|${s.objectId}|${s.personKey}|${s.personValue}|${JSON.stringify(s.attributes)}`)
    .sort();

function readNdjson(f: string): Array<Record<string, unknown>> {
  if (!fs.existsSync(f)) return [];
  return fs
    .readFileSync(f, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
function noSecretInFiles(dir: string): void {
  for (const f of fs.readdirSync(dir)) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile() && !f.startsWith("in-")) check(!fs.readFileSync(p).includes(SECRET), `secret absent from file ${f}`);
  }
}

async function killCampaign(): Promise<void> {
  const layouts: Layout[] = ["csv", "csv-quoted-nl", "ndjson", "json-oneline", "json-pretty", "lines", "csv-gz"];
  const sizes = opt.sizes.split(",").map(Number);
  const kills = Number(opt.kills);
  for (const size of sizes)
    for (const layout of layouts) {
      if (Date.now() > deadline) return;
      const api = await startFakeTrackApi({
        siteId: SITE,
        apiKey: SECRET,
        faults: { latencyMs: [0, 15], rate503: 0.03, resetRate: 0.01 },
        maxRecordedRequests: 10,
      });
      const input = write(layout, rows(size));
      const before = sha(input.file);
      const j = path.join(tmp, `j-${layout}-${size}`);
      const rep = path.join(tmp, `r-${layout}-${size}.ndjson`);
      const fail = path.join(tmp, `f-${layout}-${size}`);
      for (const p of [j, rep, fail]) fs.rmSync(p, { force: true });
      const common = [
        ...input.args,
        "--track-url",
        api.url,
        "--journal",
        j,
        "--report",
        rep,
        "--batch-bytes",
        "40000",
        "--backoff-base",
        "0.01",
        "--backoff-cap",
        "0.05",
        "--progress",
        "none",
      ];
      let r: Run | undefined;
      let k = 0;
      let attempts = 0;
      for (;;) {
        attempts++;
        const resume = fs.existsSync(j) ? ["--resume"] : [];
        if (resume.length > 0) tally.resumes++;
        const killAfterMs = k < kills ? 150 + Math.floor(rand() * 1500) : undefined;
        fs.rmSync(fail, { force: true });
        r = await cli([...common, ...resume, "--failures", fail], { killAfterMs });
        if (r.signal === "SIGKILL") {
          k++;
          continue;
        }
        if (r.code === 0 || attempts > kills + 6) break;
        if (r.code !== 5) break; // only transient failures are worth a resume
      }
      const got = stateKeys(api);
      const same = got.length === input.expected.length && got.every((g, i) => g === input.expected[i]);
      check(r.code === 0, `${layout}/${size}: final exit 0 (got ${r.code}; ${r.err.trim().split("\n").slice(-2).join(" | ")})`);
      check(same, `${layout}/${size}: fake state equals input (${got.length} vs ${input.expected.length})`);
      check(sha(input.file) === before, `${layout}/${size}: input untouched`);
      const report = readNdjson(rep);
      const outcomes: Record<string, number> = {};
      for (const x of report) outcomes[String(x["outcome"])] = (outcomes[String(x["outcome"])] ?? 0) + 1;
      const rowsInReport = new Set(report.map((x) => x["row"]));
      check(
        report.length === size && rowsInReport.size === size,
        `${layout}/${size}: report has one line per row (${report.length}, distinct ${rowsInReport.size})`,
      );
      check(!fs.existsSync(fail) || fs.readFileSync(fail, "utf8").split("\n").length <= 2, `${layout}/${size}: failures file empty after success`);
      noSecretInFiles(tmp);
      console.log(
        `kill ${layout}/${size}: ${k} kills, ${attempts} runs, exit ${r.code}, state ${got.length}/${input.expected.length}, report ${JSON.stringify(outcomes)}`,
      );
      await api.close();
    }
}

async function deadEndpoint(): Promise<void> {
  const input = write("csv", rows(3000));
  const j = path.join(tmp, "j-dead");
  fs.rmSync(j, { force: true });
  // A closed port: reserve one, close it.
  const probe = await startFakeTrackApi({ siteId: SITE, apiKey: SECRET });
  const port = new URL(probe.url).port;
  await probe.close();
  const args = [
    ...input.args,
    "--track-url",
    `http://127.0.0.1:${port}`,
    "--journal",
    j,
    "--give-up-after",
    "2",
    "--backoff-base",
    "0.05",
    "--backoff-cap",
    "0.2",
    "--progress",
    "none",
  ];
  const r = await cli(args);
  check(r.code === 5, `dead port: exit 5 (got ${r.code})`);
  check(/--resume/.test(r.out + r.err), `dead port: resume command printed (${(r.out + r.err).trim().split("\n").slice(-3).join(" | ")})`);
  const api = await startFakeTrackApi({ siteId: SITE, apiKey: SECRET, port: Number(port) });
  const r2 = await cli([...args, "--resume"]);
  check(r2.code === 0, `dead port: resume after start exits 0 (got ${r2.code})`);
  check(stateKeys(api).length === input.expected.length, "dead port: resume completes the state");
  console.log(`dead port: exit ${r.code} then resume exit ${r2.code}, state ${stateKeys(api).length}/${input.expected.length}`);
  // Stop the fake mid-run.
  api.state.clear();
  const j2 = path.join(tmp, "j-dead2");
  fs.rmSync(j2, { force: true });
  api.faults.set({ latencyMs: [100, 200] });
  const args2 = [
    ...input.args,
    "--track-url",
    api.url,
    "--journal",
    j2,
    "--give-up-after",
    "2",
    "--batch-bytes",
    "33000",
    "--concurrency",
    "2",
    "--backoff-base",
    "0.05",
    "--backoff-cap",
    "0.2",
    "--progress",
    "none",
  ];
  const p = cli(args2);
  // Stop it once the run is under way (two requests answered), not after a fixed time: a loaded machine.
  while (api.counters.received < 2) await new Promise((res) => setTimeout(res, 10));
  await api.close();
  const r3 = await p;
  check(r3.code === 5, `fake stopped mid-run: exit 5 (got ${r3.code})`);
  check(/--resume/.test(r3.out + r3.err), "fake stopped mid-run: resume command printed");
  const api2 = await startFakeTrackApi({ siteId: SITE, apiKey: SECRET, port: Number(port) });
  for (const s of api.state.all())
    api2.state.add({ objectTypeId: s.objectTypeId, objectId: s.objectId }, { key: s.personKey, value: s.personValue }, s.attributes);
  const r4 = await cli([...args2, "--resume"]);
  check(r4.code === 0, `fake stopped mid-run: resume exits 0 (got ${r4.code}: ${r4.err.trim().split("\n").slice(-1)[0]})`);
  const got = stateKeys(api2);
  check(
    got.length === input.expected.length && got.every((g, i) => g === input.expected[i]),
    `fake stopped mid-run: state equals input (${got.length}/${input.expected.length})`,
  );
  console.log(`fake stopped mid-run: exit ${r3.code} then resume exit ${r4.code}, state ${got.length}/${input.expected.length}`);
  await api2.close();
}

async function fullDisk(): Promise<void> {
  const mnt = path.join(tmp, "fulldisk");
  fs.mkdirSync(mnt);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=200k", "tmpfs", mnt]);
  } catch {
    console.log("full disk: cannot mount a tmpfs here, skipped");
    return;
  }
  try {
    const api = await startFakeTrackApi({ siteId: SITE, apiKey: SECRET, faults: { latencyMs: [0, 3] } });
    const input = write("csv", rows(10000));
    const j = path.join(mnt, "j");
    const args = [
      ...input.args,
      "--track-url",
      api.url,
      "--journal",
      j,
      "--report",
      path.join(mnt, "r.ndjson"),
      "--failures",
      path.join(mnt, "f.csv"),
      "--batch-bytes",
      "40000",
      "--progress",
      "none",
    ];
    const r = await cli(args);
    check(r.code === 4, `full disk: exit 4 (got ${r.code})`);
    check(/--resume/.test(r.out + r.err), "full disk: summary with resume command");
    // Free space: keep the journal, drop report/failures to a bigger place.
    fs.rmSync(path.join(mnt, "r.ndjson"), { force: true });
    fs.rmSync(path.join(mnt, "f.csv"), { force: true });
    const big = path.join(tmp, "big");
    fs.mkdirSync(big, { recursive: true });
    const jBig = path.join(big, "j");
    fs.copyFileSync(j, jBig);
    const args2 = [
      ...input.args,
      "--track-url",
      api.url,
      "--journal",
      jBig,
      "--report",
      path.join(big, "r.ndjson"),
      "--failures",
      path.join(big, "f.csv"),
      "--batch-bytes",
      "40000",
      "--progress",
      "none",
      "--resume",
    ];
    const r2 = await cli(args2);
    check(r2.code === 0, `full disk: resume after freeing space exits 0 (got ${r2.code}: ${r2.err.trim().split("\n").slice(-1)[0]})`);
    const got = stateKeys(api);
    check(
      got.length === input.expected.length && got.every((g, i) => g === input.expected[i]),
      `full disk: state equals input (${got.length}/${input.expected.length})`,
    );
    console.log(
      `full disk: exit ${r.code}, resume exit ${r2.code}, state ${got.length}/${input.expected.length}; last line: ${r.err.trim().split("\n").slice(-1)[0]}`,
    );
    await api.close();
  } finally {
    execFileSync("umount", [mnt]);
  }
}

async function collisions(): Promise<void> {
  const api = await startFakeTrackApi({ siteId: SITE, apiKey: SECRET });
  const d = path.join(tmp, "col");
  fs.mkdirSync(path.join(d, "sub"), { recursive: true });
  const input = path.join(d, "in.csv");
  fs.writeFileSync(input, "id,object_id\n1,a\n2,b\n");
  fs.writeFileSync(path.join(d, "key"), SECRET);
  fs.writeFileSync(path.join(d, "q.sql"), "select 1 as id, 'a' as object_id");
  fs.symlinkSync(input, path.join(d, "link.csv"));
  fs.linkSync(input, path.join(d, "hard.csv"));
  fs.writeFileSync(path.join(d, "other"), "keep me\n");
  fs.symlinkSync(path.join(d, "other"), path.join(d, "link-out"));
  const guarded = ["in.csv", "key", "q.sql", "other"].map((f) => path.join(d, f));
  const hashes = guarded.map(sha);
  const cases: Array<[string, string[]]> = [
    ["report = input", ["--report", "in.csv"]],
    ["report = ./input", ["--report", "./in.csv"]],
    ["report = sub/../input", ["--report", "sub/../in.csv"]],
    ["report = ../col/input", ["--report", "../col/in.csv"]],
    ["report = symlink to input", ["--report", "link.csv"]],
    ["failures = hard link to input", ["--failures", "hard.csv"]],
    ["journal = input", ["--journal", "in.csv"]],
    ["report = failures", ["--report", "o.x", "--failures", "./o.x"]],
    ["journal = report", ["--journal", "o.j", "--report", "sub/../o.j"]],
    ["report = api key file", ["--report", "key", "--api-key-file", "key"]],
    ["failures = site id file", ["--failures", "key", "--site-id-file", "key"]],
    ["report = symlink to other file", ["--report", "link-out"]],
    ["report in missing dir", ["--report", "nope/r"]],
    ["report = directory", ["--report", "sub"]],
  ];
  for (const [name, extra] of cases) {
    tally.runs++;
    const r = await new Promise<Run>((resolve) => {
      const child = spawn(
        process.execPath,
        [BIN, "--file", "in.csv", "--track-url", api.url, ...extra].flatMap((a, i) => (i === 0 ? [a, "add"] : [a])),
        {
          cwd: d,
          env: { PATH: process.env["PATH"] ?? "", CIO_SITE_ID: SITE, CIO_API_KEY: SECRET },
        },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (x: Buffer) => (out += x.toString()));
      child.stderr.on("data", (x: Buffer) => (err += x.toString()));
      child.on("close", (code, signal) => resolve({ code, signal, out, err }));
    });
    tally.exits[String(r.code)] = (tally.exits[String(r.code)] ?? 0) + 1;
    check(r.code === 2, `collision ${name}: exit 2 (got ${r.code}: ${r.err.trim()})`);
    check(!r.err.includes(SECRET) && !r.out.includes(SECRET), `collision ${name}: no secret`);
    console.log(`collision ${name}: exit ${r.code}: ${r.err.trim().split("\n")[0]}`);
  }
  // --sql-file collision (refused before any database is reached).
  const sql = await cli(["add", "--sql-file", path.join(d, "q.sql"), "--report", path.join(d, "q.sql"), "--track-url", api.url]);
  check(sql.code === 2, `collision report = --sql-file: exit 2 (got ${sql.code}: ${sql.err.trim()})`);
  console.log(`collision report = --sql-file: exit ${sql.code}: ${sql.err.trim().split("\n")[0]}`);
  guarded.forEach((f, i) => check(sha(f) === hashes[i], `collision: ${path.basename(f)} untouched`));
  check(api.counters.received === 0, `collisions: nothing sent (${api.counters.received})`);
  await api.close();
}

async function secrets(): Promise<void> {
  // Error bodies that echo the key: a scripted 500/503 body and 400 bodies carrying it.
  const api = await startFakeTrackApi({
    siteId: SITE,
    apiKey: SECRET,
    script: [
      { status: 500, body: `bad key ${SECRET}` },
      { status: 503, body: `Basic ${Buffer.from(`${SITE}:${SECRET}`).toString("base64")} ${SECRET}` },
    ],
    faults: { poison: { people: ["u3"], objects: [] } },
  });
  const input = write("csv", rows(200));
  const rep = path.join(tmp, "secret-r.ndjson");
  const fail = path.join(tmp, "secret-f.csv");
  const r = await cli([
    "add",
    ...input.args,
    "--track-url",
    api.url,
    "--report",
    rep,
    "--failures",
    fail,
    "--journal",
    path.join(tmp, "secret-j"),
    "--verbose",
    "--debug",
    "--backoff-base",
    "0.01",
    "--json",
  ]);
  check(r.code === 5, `secrets: poisoned row gives exit 5 (got ${r.code})`);
  noSecretInFiles(tmp);
  const r2 = await cli(["add", ...input.args, "--track-url", api.url, "--dry-run", "--out", path.join(tmp, "secret-out.ndjson"), "--verbose"]);
  check(r2.code === 0, `secrets: dry run exit 0 (got ${r2.code})`);
  const r3 = await cli(["add", ...input.args, "--track-url", api.url, "--progress", "none"], { env: { CIO_API_KEY: "wrong" } });
  check(r3.code === 3, `secrets: wrong key exit 3 (got ${r3.code})`);
  noSecretInFiles(tmp);
  console.log(`secrets: exits ${r.code}/${r2.code}/${r3.code}`);
  await api.close();
}

const sections: Array<[string, () => Promise<void>]> = [
  ["collisions", collisions],
  ["secrets", secrets],
  ["dead endpoint", deadEndpoint],
  ["full disk", fullDisk],
  ["kills", killCampaign],
];
const started = Date.now();
for (const [name, fn] of sections.filter(([n]) => (process.env["ONLY"] ?? n) === n)) {
  if (Date.now() > deadline) break;
  console.log(`== ${name}`);
  try {
    await fn();
  } catch (e) {
    check(false, `${name} threw: ${(e as Error).stack ?? String(e)}`);
  }
}
console.log(
  `\n${tally.runs} runs, ${tally.kills} SIGKILLs, ${tally.resumes} resumes, exits ${JSON.stringify(tally.exits)}, ${tally.checks} checks, ${tally.failures.length} failed, ${Math.round((Date.now() - started) / 1000)} s`,
);
for (const f of tally.failures) console.log(`FAILED: ${f}`);
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(tally.failures.length === 0 ? 0 : 1);
