// Runs the fake Track API on its own, for a manual rehearsal of a cio-rel run:
//   npx tsx test/fake-track-api/serve.ts --port 4010 --site-id s --api-key k [--latency 20-200] [--rate-limit 100]
//     [--app-api-key a] [--page-size 100] [--repeat-pages] [--visibility-delay MS]
// Prints one line with its URL on stdout, logs each request on stderr (unless --quiet), and on
// SIGINT/SIGTERM prints a one-line summary of what it holds and exits 0.
import { parseArgs } from "node:util";
import { startFakeTrackApi } from "./server.js";
import type { FaultSettings } from "./faults.js";
import type { AppSettings } from "./app-api.js";

const USAGE = `usage: serve.ts [--port 4010] [--site-id site] [--api-key key] [--seed 1]
  [--latency MS | MIN-MAX] [--rate-limit PER_SECOND] [--rate-429 P] [--rate-500 P] [--rate-502 P]
  [--rate-503 P] [--rate-504 P] [--reset-rate P] [--hang-rate P] [--poison-person ID]... [--poison-object ID]...
  [--revoke-after N] [--redirect /eu] [--errors-as-200] [--quiet]
  App API: [--app-api-key app-key] [--page-size 100] [--last-next empty|absent] [--repeat-pages]
  [--app-rate-limit 10 (0: none)] [--visibility-delay MS]
  Data Pipelines (<url>/v1): [--pipelines-api-key pipelines-key]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function num(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) fail(`--${flag} must be a non-negative number, got ${JSON.stringify(text)}`);
  return n;
}

function latency(text: string | undefined): FaultSettings["latencyMs"] {
  const m = text === undefined ? null : /^(\d+)(?:-(\d+))?$/.exec(text);
  if (text === undefined) return undefined;
  if (m === null) fail(`--latency takes MS or MIN-MAX, got ${JSON.stringify(text)}`);
  return m[2] === undefined ? Number(m[1]) : [Number(m[1]), Number(m[2])];
}

const rateFlags = ["rate-429", "rate-500", "rate-502", "rate-503", "rate-504", "reset-rate", "hang-rate"] as const;
let parsed;
try {
  parsed = parseArgs({
    options: {
      port: { type: "string", default: "4010" },
      "site-id": { type: "string", default: "site" },
      "api-key": { type: "string", default: "key" },
      seed: { type: "string" },
      latency: { type: "string" },
      "rate-limit": { type: "string" },
      ...Object.fromEntries(rateFlags.map((f) => [f, { type: "string" as const }])),
      "poison-person": { type: "string", multiple: true },
      "poison-object": { type: "string", multiple: true },
      "revoke-after": { type: "string" },
      redirect: { type: "string" },
      "errors-as-200": { type: "boolean" },
      quiet: { type: "boolean" },
      help: { type: "boolean" },
      "app-api-key": { type: "string", default: "app-key" },
      "page-size": { type: "string" },
      "last-next": { type: "string" },
      "repeat-pages": { type: "boolean" },
      "app-rate-limit": { type: "string" },
      "visibility-delay": { type: "string" },
      "pipelines-api-key": { type: "string", default: "pipelines-key" },
    },
  });
} catch (e) {
  fail((e as Error).message);
}
const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
const str = (k: string): string | undefined => (typeof v[k] === "string" ? v[k] : undefined);
const list = (k: string): string[] => (Array.isArray(v[k]) ? v[k] : []);
if (v["help"] === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const perSecond = num("rate-limit", str("rate-limit"));
const people = list("poison-person");
const objects = list("poison-object");
const redirectTo = str("redirect");
const revokeAfter = num("revoke-after", str("revoke-after"));
const latencyMs = latency(str("latency"));
const settings: FaultSettings = {
  ...(latencyMs !== undefined && { latencyMs }),
  ...(perSecond !== undefined && { rateLimit: { perSecond } }),
  ...((people.length > 0 || objects.length > 0) && { poison: { people, objects } }),
  ...(revokeAfter !== undefined && { revokeAfter }),
  ...(redirectTo !== undefined && { redirect: { to: redirectTo } }),
  ...(v["errors-as-200"] === true && { errorsAs200: true }),
};
const rateKeys = {
  "rate-429": "rate429",
  "rate-500": "rate500",
  "rate-502": "rate502",
  "rate-503": "rate503",
  "rate-504": "rate504",
  "reset-rate": "resetRate",
  "hang-rate": "hangRate",
} as const;
for (const flag of rateFlags) {
  const rate = num(flag, str(flag));
  if (rate !== undefined) settings[rateKeys[flag]] = rate;
}

const pageSize = num("page-size", str("page-size"));
if (pageSize !== undefined && !(Number.isInteger(pageSize) && pageSize >= 1)) fail("--page-size must be a whole number ≥ 1");
const lastNext = str("last-next");
if (lastNext !== undefined && lastNext !== "empty" && lastNext !== "absent")
  fail(`--last-next takes empty or absent, got ${JSON.stringify(lastNext)}`);
const appRate = num("app-rate-limit", str("app-rate-limit"));
const visibilityDelayMs = num("visibility-delay", str("visibility-delay"));
const app: Partial<AppSettings> = {
  apiKey: str("app-api-key") ?? "app-key",
  ...(pageSize !== undefined && { pageSize }),
  ...(lastNext !== undefined && { lastNext }),
  ...(v["repeat-pages"] === true && { repeat: true }),
  ...(appRate !== undefined && { rateLimit: appRate === 0 ? undefined : { perSecond: appRate } }),
};

const quiet = v["quiet"] === true;
let api;
try {
  api = await startFakeTrackApi({
    siteId: str("site-id") ?? "site",
    apiKey: str("api-key") ?? "key",
    port: num("port", str("port")) ?? 4010,
    seed: num("seed", str("seed")) ?? 1,
    faults: settings,
    app,
    pipelinesApiKey: str("pipelines-api-key") ?? "pipelines-key",
    ...(visibilityDelayMs !== undefined && { visibilityDelayMs }),
    // A rehearsal may run for a long time; the request log is for tests, so keep only a tail.
    maxRecordedRequests: 1_000,
    onSettled: (r) => {
      if (quiet) return;
      const ops = Array.isArray((r.body as { batch?: unknown } | undefined)?.batch) ? (r.body as { batch: unknown[] }).batch.length : undefined;
      const what = r.outcome === "answered" ? String(r.status) : r.outcome;
      const fault = r.fault ? ` [${r.fault.source}: ${r.fault.kind}]` : "";
      process.stderr.write(`${r.method} ${r.path} ${what} ${r.bytes} B${ops === undefined ? "" : ` ${ops} ops`}${fault}\n`);
    },
  });
} catch (e) {
  fail(`cannot start: ${(e as Error).message}`);
}

process.stdout.write(`fake Track API listening on ${api.url}\n`);
// serve.test.ts reads the first line; the Data Pipelines URL comes second.
process.stdout.write(`fake Data Pipelines API listening on ${api.pipelines.url}\n`);

const stop = (): void => {
  const { state, counters } = api;
  process.stdout.write(
    `fake Track API: ${state.size} relationships held across ${state.objectCount} objects; ` +
      `${counters.received} requests, ${counters.appliedOps} ops applied, ${counters.invalidOps + counters.poisonedOps} ops refused; ` +
      `Data Pipelines: ${api.pipelines.counters.acceptedCalls} calls accepted\n`,
  );
  void api.close().then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
