import { STATUS_CODES, createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { APP_ROUTE, DEFAULT_APP_SETTINGS, appError, handleApp } from "./app-api.js";
import type { AppAnswer, AppSettings } from "./app-api.js";
import { FaultController, TokenBucket } from "./faults.js";
import type { Fault, FaultSettings, RetryAfter } from "./faults.js";
import { RelationshipState } from "./state.js";
import { BATCH_LIMIT_BYTES, OP_LIMIT_BYTES, validateOp } from "./validation.js";
import type { OpError, ValidOp } from "./validation.js";
import { PIPELINES_CALL_LIMIT_BYTES, PIPELINES_REQUEST_LIMIT_BYTES, PIPELINES_ROUTE, STRICT_MODE_HEADER, answerPipelines } from "./pipelines.js";
import type { CallForm, CallVerdict, PipelinesEndpoint, PipelinesWrite } from "./pipelines.js";

/** How to start the fake. */
export interface FakeOptions {
  /** Basic-auth user the fake accepts (default "site"). */
  siteId?: string;
  /** Basic-auth password the fake accepts (default "key"). */
  apiKey?: string;
  /** Seed of the PRNG behind rate faults and random latency (default 1). */
  seed?: number;
  /** Standing fault settings to start with. */
  faults?: FaultSettings;
  /** Scripted faults to start with. */
  script?: Fault[];
  /** Extra base paths served besides "" (redirect targets are served automatically), e.g. ["/eu"]. */
  basePaths?: string[];
  /** Port to listen on (default 0: an ephemeral port). */
  port?: number;
  /** Clock in ms, for the request times and the rate-limit bucket (default Date.now). */
  now?: () => number;
  /** Keep only the latest N requests in `requests` (default: all); a long manual rehearsal sets it. */
  maxRecordedRequests?: number;
  /**
   * Whether valid ops change `state` (default true). The benchmark sends millions of relationships and sets
   * false, so that the store neither grows without bound nor makes the fake the bottleneck; ops and
   * relationships are still validated and counted.
   */
  applyState?: boolean;
  /**
   * Count-only (default false): an authorized request within the size limit gets 200 `{}` without its body
   * being parsed or validated. For the benchmark, where parsing 500 KB bodies would make the fake, not the
   * client, the bottleneck; `counters.received` and `counters.receivedBytes` still add up what came.
   */
  countOnly?: boolean;
  /** Called once a request is settled (answered, reset, or left hanging). */
  onSettled?: (request: ReceivedRequest) => void;
  /** App API settings to start with (Bearer key, page size, repeats, the 10/s limit); see app-api.ts. */
  app?: Partial<AppSettings>;
  /** Ms before a Track write shows in App API reads (default 0); read on the `now` clock. */
  visibilityDelayMs?: number;
  /** Standing App API faults and script, as for the Track side (`api.app.faults`). */
  appFaults?: FaultSettings;
  appScript?: Fault[];
  /** Data Pipelines source key, accepted as the Basic-auth user with an empty password (default "pipelines-key"). */
  pipelinesApiKey?: string;
  /** Standing Data Pipelines faults and script (`api.pipelines.faults`; poison and dropWritesFor act on calls). */
  pipelinesFaults?: FaultSettings;
  pipelinesScript?: Fault[];
}

/** One Data Pipelines call the fake judged (issue 15), so tests can assert what was sent and in which form. */
export interface PipelinesCall {
  /** The `seq` of the request that carried it. */
  requestSeq: number;
  endpoint: PipelinesEndpoint;
  /** Its index in the batch (0 on /group and /track). */
  index: number;
  /** Whether the request carried `X-Strict-Mode: 1`. */
  strict: boolean;
  /** The call as sent. */
  call: unknown;
  verdict: CallVerdict;
  /** Where a call carried its object type and attributes (undefined for a call too bad to read; a poison call has one). */
  form: CallForm | undefined;
  /** The write a call asks for (also for a poison call; undefined for a call too bad to read). */
  write: PipelinesWrite | undefined;
  /** Whether it was accepted: a good call of a request answered 200 (a dropWritesFor write is accepted yet never stored). */
  accepted: boolean;
}

/** Running figures of the Data Pipelines side. */
export interface PipelinesCounters {
  received: number;
  /** Requests with `X-Strict-Mode: 1`, and without. */
  strict: number;
  permissive: number;
  /** Requests with bad or missing Basic auth or a revoked key (401 when strict, a silent 200 otherwise). */
  unauthorized: number;
  /** Bodies over 500,000 bytes on /batch or 32,000 on /group and /track, whatever the answer. */
  oversizeBodies: number;
  /** Calls over 32,000 bytes. */
  oversizeCalls: number;
  /** Calls refused by validation (oversize and unsupported ones included). */
  invalidCalls: number;
  /** Calls refused because they carried a poison id. */
  poisonedCalls: number;
  /** Good calls accepted (a strict 400 accepts none). */
  acceptedCalls: number;
  /** Permissive requests answered 200 but dropped whole: bad auth, too big, not a batch. */
  droppedRequests: number;
  /** Bad calls answered 200 and dropped, in permissive mode. */
  droppedCalls: number;
  /** Accepted writes never stored because of `dropWritesFor`. */
  droppedRelationships: number;
  resets: number;
  hangs: number;
  byStatus: Record<number, number>;
}

/** The Data Pipelines side of the fake workspace (issue 15): same server, paths `/v1/batch|group|track`, same state. */
export interface FakePipelinesApi {
  /** `<fake url>/v1`, what the client's --pipelines-url takes (the real one is `https://cdp.customer.io/v1`). */
  url: string;
  /** The source key accepted as the Basic-auth user. */
  apiKey: string;
  /** Faults of Data Pipelines requests only. */
  faults: FaultController;
  /** The Data Pipelines requests, also found in `api.requests` (live array). */
  requests: ReceivedRequest[];
  /** Every call judged, in arrival order (live array). */
  calls: PipelinesCall[];
  counters: PipelinesCounters;
}

/** The App API side of the fake workspace (issue 12). */
export interface FakeAppApi {
  /** Faults of App API requests only (the Track side keeps `api.faults`). */
  faults: FaultController;
  /** The current settings (a copy). */
  readonly settings: AppSettings;
  /** Merges settings; a new `rateLimit` starts a full bucket. */
  set(update: Partial<AppSettings>): void;
}

/** One request the fake received, as tests inspect it. */
export interface ReceivedRequest {
  /** 1-based arrival order over the fake's life. */
  seq: number;
  /** Arrival time, ms since the epoch (from the `now` option). */
  time: number;
  method: string;
  /** Path and query as requested, e.g. "/eu/api/v2/batch". */
  path: string;
  /** Headers as received, authorization included (tests grep them for leaked secrets). */
  headers: IncomingHttpHeaders;
  /** Body bytes received (partial for a reset). */
  bytes: number;
  rawBody: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: unknown;
  /** "pending" until settled; "hang" and "reset" are never answered. */
  outcome: "pending" | "answered" | "hang" | "reset";
  /** Status answered, undefined unless outcome is "answered". */
  status: number | undefined;
  /** Response body: parsed JSON, text, or undefined when empty. */
  response: unknown;
  responseHeaders: OutgoingHttpHeaders;
  /** The fault applied, if any, and where it came from. */
  fault: { source: "script" | "rate" | "setting"; kind: string } | undefined;
  /** Latency added before handling, ms. */
  latencyMs: number;
}

/** Running figures, so tests can assert what never happened (e.g. an oversize body). */
export interface Counters {
  received: number;
  /** Body bytes of every request received. */
  receivedBytes: number;
  /** Bodies refused with 413: over 500,000 bytes on /batch or 32,000 on /entity. */
  oversizeRefused: number;
  /** Bodies received over those limits, whatever the answer (a scripted 503 may pre-empt the 413). */
  oversizeBodies: number;
  /** Ops inside a batch over 32,000 bytes (each reported as a 207 error). */
  oversizeOps: number;
  /** Ops refused by validation (oversize ones included). */
  invalidOps: number;
  /** Ops refused because they carried a poison id. */
  poisonedOps: number;
  /** Ops applied to the state (counted also when `applyState` is false). */
  appliedOps: number;
  /** Relationships carried by those ops. */
  appliedRelationships: number;
  /** Relationships accepted but never stored because of `dropWritesFor` (counted in appliedRelationships too). */
  droppedRelationships: number;
  resets: number;
  hangs: number;
  /** Answers by status code. */
  byStatus: Record<number, number>;
}

/** A running fake Track API. */
export interface FakeTrackApi {
  /** e.g. "http://127.0.0.1:41234", no trailing slash; the client's --track-url. */
  url: string;
  /** Stops listening and destroys every open socket, hanging requests included. */
  close(): Promise<void>;
  /** The relationships the fake holds. */
  state: RelationshipState;
  /** Every request received, in arrival order (live array). */
  requests: ReceivedRequest[];
  /** What to do wrong next. */
  faults: FaultController;
  counters: Counters;
  /** The App API reading `state` (Bearer auth, pages, 10 requests/s, visibility delay). */
  app: FakeAppApi;
  /** The Data Pipelines API writing `state` (Basic auth with the source key, strict and permissive mode). */
  pipelines: FakePipelinesApi;
}

const ROUTE = /^(.*)\/api\/v2\/(batch|entity)$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function retryAfterHeader(value: RetryAfter): string {
  return typeof value === "number" ? String(value) : value instanceof Date ? value.toUTCString() : value;
}

/** Starts a fake Track API on 127.0.0.1 (an ephemeral port unless told otherwise). */
export async function startFakeTrackApi(options: FakeOptions = {}): Promise<FakeTrackApi> {
  const siteId = options.siteId ?? "site";
  const apiKey = options.apiKey ?? "key";
  const now = options.now ?? Date.now;
  const state = new RelationshipState({ now, visibilityDelayMs: options.visibilityDelayMs ?? 0 });
  const faults = new FaultController(now, options.seed ?? 1);
  if (options.faults) faults.set(options.faults);
  if (options.script) faults.script(options.script);
  const requests: ReceivedRequest[] = [];
  const counters: Counters = {
    received: 0,
    receivedBytes: 0,
    oversizeRefused: 0,
    oversizeBodies: 0,
    oversizeOps: 0,
    invalidOps: 0,
    poisonedOps: 0,
    appliedOps: 0,
    appliedRelationships: 0,
    droppedRelationships: 0,
    resets: 0,
    hangs: 0,
    byStatus: {},
  };
  const expectedAuth = `${siteId}:${apiKey}`;
  let appSettings: AppSettings = { ...DEFAULT_APP_SETTINGS, ...options.app };
  const appBucketOf = (s: AppSettings): TokenBucket | undefined =>
    s.rateLimit === undefined ? undefined : new TokenBucket(s.rateLimit.perSecond, s.rateLimit.burst ?? s.rateLimit.perSecond, now());
  let appBucket = appBucketOf(appSettings);
  const appFaults = new FaultController(now, options.seed ?? 1);
  if (options.appFaults) appFaults.set(options.appFaults);
  if (options.appScript) appFaults.script(options.appScript);
  const app: FakeAppApi = {
    faults: appFaults,
    get settings() {
      return { ...appSettings };
    },
    set(update) {
      appSettings = { ...appSettings, ...update };
      if ("rateLimit" in update) appBucket = appBucketOf(appSettings);
    },
  };
  const pipelinesFaults = new FaultController(now, options.seed ?? 1);
  if (options.pipelinesFaults) pipelinesFaults.set(options.pipelinesFaults);
  if (options.pipelinesScript) pipelinesFaults.script(options.pipelinesScript);
  const pipelines: FakePipelinesApi = {
    url: "",
    apiKey: options.pipelinesApiKey ?? "pipelines-key",
    faults: pipelinesFaults,
    requests: [],
    calls: [],
    counters: {
      received: 0,
      strict: 0,
      permissive: 0,
      unauthorized: 0,
      oversizeBodies: 0,
      oversizeCalls: 0,
      invalidCalls: 0,
      poisonedCalls: 0,
      acceptedCalls: 0,
      droppedRequests: 0,
      droppedCalls: 0,
      droppedRelationships: 0,
      resets: 0,
      hangs: 0,
      byStatus: {},
    },
  };
  const sockets = new Set<Socket>();
  const sleepers = new Set<() => void>();
  let closing = false;
  let url = "";

  /** Resolves true after ms, or false at once if the fake closes meanwhile. */
  const sleep = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        sleepers.delete(wake);
        resolve(!closing);
      }, ms);
      sleepers.add(wake);
    });

  const served = (base: string): boolean => base === "" || (options.basePaths ?? []).includes(base) || faults.redirectTargets.has(base);

  const settle = (rec: ReceivedRequest): void => options.onSettled?.(rec);

  function answer(rec: ReceivedRequest, res: ServerResponse, status: number, body?: string | object, headers: OutgoingHttpHeaders = {}): void {
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    const all: OutgoingHttpHeaders = { ...headers, "content-length": Buffer.byteLength(text) };
    if (text !== "") all["content-type"] = typeof body === "object" ? "application/json" : "text/plain; charset=utf-8";
    res.writeHead(status, all);
    res.end(text);
    rec.outcome = "answered";
    rec.status = status;
    rec.response = text === "" ? undefined : typeof body === "object" ? body : text;
    rec.responseHeaders = all;
    counters.byStatus[status] = (counters.byStatus[status] ?? 0) + 1;
    settle(rec);
  }

  function record(req: IncomingMessage): ReceivedRequest {
    counters.received += 1;
    const rec: ReceivedRequest = {
      seq: counters.received,
      time: now(),
      method: req.method ?? "",
      path: req.url ?? "",
      headers: req.headers,
      bytes: 0,
      rawBody: "",
      body: undefined,
      outcome: "pending",
      status: undefined,
      response: undefined,
      responseHeaders: {},
      fault: undefined,
      latencyMs: 0,
    };
    requests.push(rec);
    const max = options.maxRecordedRequests;
    if (max !== undefined && requests.length > max) requests.splice(0, requests.length - max);
    return rec;
  }

  async function readBody(req: IncomingMessage, rec: ReceivedRequest): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const buf = Buffer.concat(chunks);
    rec.bytes = buf.length;
    counters.receivedBytes += buf.length;
    if (options.countOnly === true) return;
    rec.rawBody = buf.toString("utf8");
    rec.body = parseJson(rec.rawBody);
  }

  function authorized(header: string | undefined): boolean {
    const m = /^basic\s+(\S+)\s*$/i.exec(header ?? "");
    return m !== null && Buffer.from(m[1] ?? "", "base64").toString("utf8") === expectedAuth;
  }

  function isPoison(op: ValidOp): boolean {
    const poison = faults.settings.poison;
    if (poison === undefined) return false;
    return op.relationships.some((r) => (poison.people ?? []).includes(r.person.value) || (poison.objects ?? []).includes(r.object.objectId));
  }

  /** Applies a valid op to the state. */
  function apply(op: ValidOp): void {
    counters.appliedRelationships += op.relationships.length;
    const dropped = faults.settings.dropWritesFor;
    if (options.applyState !== false)
      for (const r of op.relationships) {
        if (dropped !== undefined && dropped.includes(r.person.value)) {
          counters.droppedRelationships += 1;
          continue;
        }
        if (op.action === "add_relationships") state.add(r.object, r.person, r.attributes);
        else state.delete(r.object, r.person);
      }
    counters.appliedOps += 1;
  }

  /** Why an op fails before it is applied, if it does: validation, poison, or a scripted error. */
  function opFailure(op: unknown, named: boolean): { error: OpError } | { op: ValidOp } {
    const verdict = validateOp(op);
    if (!verdict.ok) {
      counters.invalidOps += 1;
      if (verdict.error.reason === "too_large") counters.oversizeOps += 1;
      return { error: verdict.error };
    }
    if (isPoison(verdict.op)) {
      counters.poisonedOps += 1;
      // Like the real API, it does not say which relationship of the op was the bad one.
      return { error: { reason: "rejected", field: "cio_relationships", message: "the operation could not be applied" } };
    }
    if (named) return { error: { reason: "internal", field: "", message: "the operation failed; try again" } };
    return { op: verdict.op };
  }

  function handleBatch(rec: ReceivedRequest, res: ServerResponse, errorsBody: Fault["errorsBody"]): void {
    const body = rec.body;
    if (!isRecord(body) || !Array.isArray(body["batch"]) || body["batch"].length === 0) {
      const message = !isRecord(body)
        ? "the body must be a JSON object"
        : body["batch"] === undefined
          ? "batch is required"
          : "batch must be a non-empty array of operations";
      return answer(rec, res, 400, { errors: [{ reason: isRecord(body) ? "invalid" : "malformed", field: "batch", message }] });
    }
    const errors: Array<OpError & { batch_index: number }> = [];
    body["batch"].forEach((op: unknown, i: number) => {
      const named = errorsBody === true || (Array.isArray(errorsBody) && errorsBody.includes(i));
      const result = opFailure(op, named);
      if ("error" in result) errors.push({ batch_index: i, ...result.error });
      else apply(result.op);
    });
    if (errors.length === 0) return answer(rec, res, 200, {});
    const status = errorsBody !== undefined || faults.settings.errorsAs200 === true ? 200 : 207;
    answer(rec, res, status, { errors });
  }

  function handleEntity(rec: ReceivedRequest, res: ServerResponse, errorsBody: Fault["errorsBody"]): void {
    if (rec.body === undefined) {
      return answer(rec, res, 400, { errors: [{ reason: "malformed", field: "", message: "the body is not JSON" }] });
    }
    const result = opFailure(rec.body, errorsBody === true);
    if ("op" in result) {
      apply(result.op);
      return answer(rec, res, 200, {});
    }
    const status = errorsBody !== undefined || faults.settings.errorsAs200 === true ? 200 : 400;
    answer(rec, res, status, { errors: [result.error] });
  }

  function redirect(rec: ReceivedRequest, res: ServerResponse, to: string, endpoint: string, status: number): void {
    answer(rec, res, status, undefined, { location: `${url}${to}/api/v2/${endpoint}` });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = record(req);
    const parsedUrl = new URL(req.url ?? "/", "http://fake");
    const pipelinesRoute = PIPELINES_ROUTE.exec(parsedUrl.pathname);
    if (pipelinesRoute !== null && served(pipelinesRoute[1] ?? "")) return handlePipelines(rec, req, res, pipelinesRoute[2] as PipelinesEndpoint);
    const appRoute = APP_ROUTE.exec(parsedUrl.pathname);
    if (appRoute !== null && served(appRoute[1] ?? "")) return handleAppRequest(rec, req, res, appRoute, parsedUrl.searchParams);
    const route = ROUTE.exec(parsedUrl.pathname);
    const base = route?.[1] ?? "";
    const endpoint = route?.[2] ?? "";
    if (route === null || !served(base)) {
      await readBody(req, rec);
      return answer(rec, res, 404, "Not Found");
    }
    if (req.method !== "POST") {
      await readBody(req, rec);
      return answer(rec, res, 405, "Method Not Allowed", { allow: "POST" });
    }

    const { fault, source, revoked } = faults.next();
    // Steps follow the order in README.md. A fault from the decision is marked with its source;
    // the standing settings further down pass "setting".
    const mark = (kind: string, from: "script" | "rate" | "none" | "setting" = source): void => {
      rec.fault = { source: from === "none" ? "setting" : from, kind };
    };
    if (fault.latencyMs !== undefined && fault.latencyMs > 0) {
      rec.latencyMs = fault.latencyMs;
      if (source === "script") mark("latency");
      if (!(await sleep(fault.latencyMs))) return;
    }
    if (fault.hang) {
      mark("hang");
      rec.outcome = "hang";
      counters.hangs += 1;
      req.resume(); // drain the body so the client sees a server that took it all and went silent
      return settle(rec);
    }
    if (fault.reset) {
      mark("reset");
      const socket = req.socket; // read it first: breaking out of the body stream detaches it
      for await (const chunk of req) {
        rec.bytes = (chunk as Buffer).length;
        rec.rawBody = (chunk as Buffer).toString("utf8");
        break;
      }
      socket.destroy();
      rec.outcome = "reset";
      counters.resets += 1;
      return settle(rec);
    }
    await readBody(req, rec);
    const oversize = rec.bytes > (endpoint === "batch" ? BATCH_LIMIT_BYTES : OP_LIMIT_BYTES);
    if (oversize) counters.oversizeBodies += 1;
    if (fault.redirectTo !== undefined) {
      mark("redirect");
      return redirect(rec, res, fault.redirectTo, endpoint, fault.status ?? 307);
    }
    if (fault.status !== undefined && fault.errorsBody === undefined) {
      mark(`status ${fault.status}`);
      const headers: OutgoingHttpHeaders = fault.retryAfter === undefined ? {} : { "retry-after": retryAfterHeader(fault.retryAfter) };
      // 401 has no body in the spec; the others get the short text a gateway would send.
      const body = fault.body ?? (fault.status === 401 ? undefined : `${fault.status} ${STATUS_CODES[fault.status] ?? ""}`.trim());
      return answer(rec, res, fault.status, body, headers);
    }
    if (fault.errorsBody !== undefined) mark("errors body");

    const settings = faults.settings;
    if (settings.redirect !== undefined && base !== settings.redirect.to) {
      mark("redirect", "setting");
      return redirect(rec, res, settings.redirect.to, endpoint, settings.redirect.status ?? 307);
    }
    if (!faults.takeToken()) {
      mark("rate limit", "setting");
      return answer(rec, res, 429, "429 Too Many Requests", { "retry-after": "1" });
    }
    // Size before auth: a proxy in front refuses an oversize body whoever sends it, and the count must not miss one.
    if (oversize) {
      counters.oversizeRefused += 1;
      return answer(rec, res, 413, "413 Request Entity Too Large");
    }
    if (revoked) {
      mark("revoked key", "setting");
      return answer(rec, res, 401);
    }
    if (!authorized(req.headers.authorization)) return answer(rec, res, 401);
    if (options.countOnly === true) return answer(rec, res, 200, {});
    if (rec.body === undefined) {
      return answer(rec, res, 400, { errors: [{ reason: "malformed", field: "", message: "the body is not JSON" }] });
    }
    if (endpoint === "batch") handleBatch(rec, res, fault.errorsBody);
    else handleEntity(rec, res, fault.errorsBody);
  }

  /** Latency, hang and reset of a Data Pipelines request; false when the request is settled (or the fake closed). */
  async function pipelinesPreamble(rec: ReceivedRequest, req: IncomingMessage, fault: Fault, mark: (kind: string) => void): Promise<boolean> {
    if (fault.latencyMs !== undefined && fault.latencyMs > 0) {
      rec.latencyMs = fault.latencyMs;
      if (!(await sleep(fault.latencyMs))) return false;
    }
    if (fault.hang) {
      mark("hang");
      rec.outcome = "hang";
      pipelines.counters.hangs += 1;
      req.resume();
      settle(rec);
      return false;
    }
    if (fault.reset) {
      mark("reset");
      req.socket.destroy();
      rec.outcome = "reset";
      pipelines.counters.resets += 1;
      settle(rec);
      return false;
    }
    return true;
  }

  /** Basic auth with the source key as user and an empty password (spec: securitySchemes.Basic-Auth, "API_key:"). */
  function pipelinesAuthorized(header: string | undefined): boolean {
    const m = /^basic\s+(\S+)\s*$/i.exec(header ?? "");
    return m !== null && Buffer.from(m[1] ?? "", "base64").toString("utf8") === `${pipelines.apiKey}:`;
  }

  /** Records the calls a request carried and applies the good ones when the answer says so. */
  function settlePipelinesCalls(rec: ReceivedRequest, endpoint: PipelinesEndpoint, strict: boolean, a: ReturnType<typeof answerPipelines>): void {
    const c = pipelines.counters;
    const calls: unknown[] = endpoint === "batch" ? ((rec.body as { batch: unknown[] } | undefined)?.batch ?? []) : [rec.body];
    a.verdicts.forEach((verdict, index) => {
      const accepted = verdict.ok && a.applyGood;
      if (!verdict.ok) {
        if (verdict.problem === "poison") c.poisonedCalls += 1;
        else c.invalidCalls += 1;
        if (verdict.problem === "too_large") c.oversizeCalls += 1;
        if (!strict) c.droppedCalls += 1;
      }
      const write = verdict.write;
      if (accepted && write !== undefined) {
        c.acceptedCalls += 1;
        if ((pipelinesFaults.settings.dropWritesFor ?? []).includes(write.person.value)) c.droppedRelationships += 1;
        else if (options.applyState !== false) {
          if (write.action === "add") state.add(write.object, write.person, write.attributes);
          else state.delete(write.object, write.person);
        }
      }
      const form = verdict.form;
      pipelines.calls.push({ requestSeq: rec.seq, endpoint, index, strict, call: calls[index], verdict, form, write, accepted });
    });
    const max = options.maxRecordedRequests;
    if (max !== undefined && pipelines.calls.length > max) pipelines.calls.splice(0, pipelines.calls.length - max);
  }

  /** A Data Pipelines request (issue 15): faults, rate limit, Basic auth, then strict or permissive judgement (README.md). */
  async function handlePipelines(rec: ReceivedRequest, req: IncomingMessage, res: ServerResponse, endpoint: PipelinesEndpoint): Promise<void> {
    const c = pipelines.counters;
    c.received += 1;
    pipelines.requests.push(rec);
    const max = options.maxRecordedRequests;
    if (max !== undefined && pipelines.requests.length > max) pipelines.requests.splice(0, pipelines.requests.length - max);
    const reply = (status: number, body?: string | object, headers?: OutgoingHttpHeaders): void => {
      c.byStatus[status] = (c.byStatus[status] ?? 0) + 1;
      answer(rec, res, status, body, headers);
    };
    if (req.method !== "POST") {
      await readBody(req, rec);
      return reply(405, "Method Not Allowed", { allow: "POST" });
    }
    const strict = req.headers[STRICT_MODE_HEADER] === "1";
    if (strict) c.strict += 1;
    else c.permissive += 1;
    const { fault, source, revoked } = pipelinesFaults.next();
    const mark = (kind: string, from: "script" | "rate" | "none" | "setting" = source): void => {
      rec.fault = { source: from === "none" ? "setting" : from, kind };
    };
    if (!(await pipelinesPreamble(rec, req, fault, mark))) return;
    await readBody(req, rec);
    if (rec.bytes > (endpoint === "batch" ? PIPELINES_REQUEST_LIMIT_BYTES : PIPELINES_CALL_LIMIT_BYTES)) c.oversizeBodies += 1;
    if (fault.status !== undefined) {
      mark(`status ${fault.status}`);
      const headers: OutgoingHttpHeaders = fault.retryAfter === undefined ? {} : { "retry-after": retryAfterHeader(fault.retryAfter) };
      const body = fault.body ?? (fault.status === 401 ? undefined : `${fault.status} ${STATUS_CODES[fault.status] ?? ""}`.trim());
      return reply(fault.status, body, headers);
    }
    if (!pipelinesFaults.takeToken()) {
      mark("rate limit", "setting");
      return reply(429, "429 Too Many Requests", { "retry-after": "1" });
    }
    if (revoked) mark("revoked key", "setting");
    if (revoked || !pipelinesAuthorized(req.headers.authorization)) {
      c.unauthorized += 1;
      if (strict) return reply(401);
      // Permissive mode answers 200 even to bad credentials (spec: strict mode is what returns 401).
      c.droppedRequests += 1;
      return reply(200, {});
    }
    if (options.countOnly === true) return reply(200, {});
    const a = answerPipelines(endpoint, rec.bytes, rec.body, strict, pipelinesFaults.settings.poison);
    settlePipelinesCalls(rec, endpoint, strict, a);
    if (!strict && a.requestError !== undefined) c.droppedRequests += 1;
    reply(a.status, a.body);
  }

  /** The documented 429: `{"errors":[{"detail":"rate limited to N requests per 1s (reference …)","status":"429"}]}`. */
  const rateLimited = (rec: ReceivedRequest): AppAnswer => {
    const per = appSettings.rateLimit?.perSecond ?? 10;
    return appError(429, `rate limited to ${per} requests per 1s (reference ${rec.seq.toString(16).padStart(6, "0")})`);
  };

  /** An App API request: faults, the rate limit, Bearer auth, then the read (steps in README.md). */
  async function handleAppRequest(
    rec: ReceivedRequest,
    req: IncomingMessage,
    res: ServerResponse,
    route: RegExpExecArray,
    query: URLSearchParams,
  ): Promise<void> {
    const { fault, source, revoked } = appFaults.next();
    const mark = (kind: string, from: "script" | "rate" | "none" | "setting" = source): void => {
      rec.fault = { source: from === "none" ? "setting" : from, kind };
    };
    if (fault.latencyMs !== undefined && fault.latencyMs > 0) {
      rec.latencyMs = fault.latencyMs;
      if (source === "script") mark("latency");
      if (!(await sleep(fault.latencyMs))) return;
    }
    if (fault.hang) {
      mark("hang");
      rec.outcome = "hang";
      counters.hangs += 1;
      req.resume();
      return settle(rec);
    }
    if (fault.reset) {
      mark("reset");
      req.socket.destroy();
      rec.outcome = "reset";
      counters.resets += 1;
      return settle(rec);
    }
    await readBody(req, rec);
    const send = (a: AppAnswer, headers: OutgoingHttpHeaders = {}): void => answer(rec, res, a.status, a.body, headers);
    if (fault.status !== undefined) {
      mark(`status ${fault.status}`);
      const headers: OutgoingHttpHeaders = fault.retryAfter === undefined ? {} : { "retry-after": retryAfterHeader(fault.retryAfter) };
      if (fault.body !== undefined) return answer(rec, res, fault.status, fault.body, headers);
      if (fault.status === 429) return send(rateLimited(rec), headers);
      if (fault.status === 401) return send(appError(401, "unauthorized"), headers);
      return answer(rec, res, fault.status, `${fault.status} ${STATUS_CODES[fault.status] ?? ""}`.trim(), headers);
    }
    if (appBucket !== undefined && !appBucket.take(now())) {
      mark("rate limit", "setting");
      return send(rateLimited(rec), { "retry-after": "1" });
    }
    if (revoked) {
      mark("revoked key", "setting");
      return send(appError(401, "unauthorized"));
    }
    const m = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
    if (m === null || m[1] !== appSettings.apiKey) return send(appError(401, "unauthorized"));
    if (req.method === "POST" && rec.body === undefined) return send(appError(400, "the body is not JSON"));
    send(handleApp(req.method ?? "", route, query, rec.body, state, appSettings));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A client that went away mid-body (killed, aborted, timed out) is not the fake's bug.
      if ((err as { code?: unknown }).code === "ECONNRESET" || req.destroyed) return;
      // A bug in the fake must not pass for an API answer: say so loudly.
      console.error("fake Track API internal error", err);
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end(`fake Track API internal error: ${String(err)}`);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pipelines.url = `${url}/v1`;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      for (const wake of [...sleepers]) wake();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closed;
  };

  return { url, close, state, requests, faults, counters, app, pipelines };
}
