// The Track API sender (issue 4): POST /api/v2/batch with retries, a shared rate limit, Retry-After,
// isolation of bad rows by splitting, guarded redirects and a stop on 401/403.
import { setTimeout as delay } from "node:timers/promises";
import { Agent, request, type Dispatcher } from "undici";
import { UsageError } from "../errors.js";
import type { Relationship } from "../model/types.js";
import { BATCH_HEAD, BATCH_TAIL, makeBatch, operationJson } from "../plan/serialize.js";
import { MAX_BATCH_BYTES, type Batch, type Operation } from "../plan/types.js";
import { createRateLimiter } from "./rate-limiter.js";
import { formatApiErrors, readAnswer, statusText, type Answer, type ApiErrorEntry } from "./response.js";
import { backoffDelay, DEFAULT_BACKOFF, DEFAULT_CONCURRENCY, DEFAULT_RATE, DEFAULT_TIMEOUT_MS, parseRetryAfter } from "./retry.js";
import type { BatchSettlement, BatchTransport, RowSettlement, SendStats, TrackTransportOptions, TransportHalt } from "./types.js";

/** Redirect hops followed for one request (issue 4). */
export const MAX_REDIRECTS = 5;
/** Reason of rows whose request abort() cut short. */
export const INTERRUPTED = "interrupted";
/** Path of the batch endpoint under the base URL (API.md). */
export const BATCH_PATH = "/api/v2/batch";
/** Most of an answer body kept for reasons; the rest is read and dropped so the connection can be reused. */
const MAX_ANSWER_CHARS = 64_000;
/** issue 9: the longest Retry-After honoured; a larger value (or date) waits this long, then retries. */
export const MAX_RETRY_AFTER_MS = 120_000;
/** issue 9: --give-up-after default: no request succeeded for this long means an outage. */
export const DEFAULT_GIVE_UP_AFTER_MS = 60_000;
/** Idle keep-alive sockets are kept this long between batches. */
const KEEP_ALIVE_MS = 30_000;

type RowOutcome = RowSettlement["outcome"];
/** Outcome per row of one send, keyed by the relationship object so halves of an op keep their rows. */
type Ledger = Map<Relationship, RowOutcome>;
/** How one (sub-)batch ended once retries and redirects are done. */
type Final =
  | Exclude<Answer, { kind: "retry" | "redirect" | "auth" }>
  /** retry: not an answer about these rows (retries exhausted, a refused redirect, an unexpected status). */
  | { kind: "failed"; status: number | undefined; reason: string; retry?: boolean }
  | { kind: "skipped"; reason: string };
/** One HTTP attempt: an answer, or the error that stood in for one. */
type Attempt =
  { status: number; body: string; location: string | undefined; retryAfter: string | string[] | undefined } | { error: string; interrupted: boolean };

const APPLIED: RowOutcome = { kind: "applied" };

/** A BatchTransport that delivers batches to the Track API. */
export function createTrackTransport(o: TrackTransportOptions): BatchTransport {
  const concurrency = positive("concurrency", o.concurrency ?? DEFAULT_CONCURRENCY, true);
  const ratePerSecond = positive("ratePerSecond", o.ratePerSecond ?? DEFAULT_RATE, false);
  const timeoutMs = positive("timeoutMs", o.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
  const maxRetries = o.maxRetries ?? DEFAULT_BACKOFF.maxRetries;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new UsageError(`maxRetries must be 0 or more, not ${maxRetries}`);
  const baseMs = o.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs;
  const capMs = o.backoffCapMs ?? DEFAULT_BACKOFF.capMs;
  const isolate = o.isolate ?? true;
  const maxBatchBytes = o.maxBatchBytes ?? MAX_BATCH_BYTES;
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : {}));
  const random = o.random ?? Math.random;

  const endpoint = new URL(`${o.baseUrl.replace(/\/+$/, "")}${BATCH_PATH}`);
  const token = Buffer.from(`${o.siteId}:${o.apiKey}`).toString("base64");
  const headers = {
    authorization: `Basic ${token}`,
    "content-type": "application/json",
    accept: "application/json",
    "user-agent": o.userAgent ?? "cio-rel",
  };
  // Server bodies and error texts may echo what we sent; scrub the credentials from anything we report.
  // Very short values are left alone: scrubbing a site id "1" would mangle every "401".
  const secrets = [token, o.apiKey, o.siteId].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  const redact = (text: string): string => secrets.reduce((t, s) => t.split(s).join("***"), text);

  const own =
    o.dispatcher === undefined
      ? new Agent({ connections: concurrency, keepAliveTimeout: KEEP_ALIVE_MS, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      : undefined;
  const dispatcher: Dispatcher = o.dispatcher ?? (own as Agent);
  const halt = new AbortController();
  // issue 9: the first Ctrl-C ends every wait at once (backoff, Retry-After, the limiter); requests in flight finish.
  const waits = new AbortController();
  const waitSignal = AbortSignal.any([halt.signal, waits.signal]);
  const limiter = createRateLimiter({ ratePerSecond, now, sleep, signal: waitSignal });
  const giveUpAfterMs = o.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS;
  /** When a request last succeeded (any answer that is not retried), or the first request started. */
  let lastSuccessAt: number | undefined;
  let gaveUp: string | undefined;
  const stats: SendStats = { requests: 0, retries: 0, bytesSent: 0 };
  let stopped: { status: number; reason: string } | undefined;

  /** A failed row's outcome, scrubbed: the API's reason and field may quote what we sent. */
  function failed(reason: string, status?: number, field?: string, retry?: boolean): RowOutcome {
    const out: RowOutcome = { kind: "failed", reason: redact(reason) };
    if (retry === true) out.retry = true;
    if (status !== undefined) out.status = status;
    if (field !== undefined) out.field = redact(field);
    return out;
  }

  /** Why nothing more may be sent, if so. */
  const haltReason = (): string | undefined => (halt.signal.aborted || waits.signal.aborted ? INTERRUPTED : (stopped?.reason ?? gaveUp));

  /** issue 9: whether the outage has lasted --give-up-after; sets gaveUp, which stops every send. */
  function outageOver(): boolean {
    if (gaveUp !== undefined) return true;
    if (lastSuccessAt === undefined || now() - lastSuccessAt < giveUpAfterMs) return false;
    gaveUp = `not sent: gave up after ${Math.round(giveUpAfterMs / 1000)} s without a successful request (an outage?)`;
    return true;
  }

  async function post(url: URL, batch: Batch, attempt: number): Promise<Attempt> {
    const ctl = new AbortController();
    let timedOut = false;
    // One timer for the whole exchange, answer body included, so a trickling body is abandoned too.
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    const onHalt = (): void => ctl.abort();
    halt.signal.addEventListener("abort", onHalt, { once: true });
    stats.requests++;
    stats.bytesSent += batch.bytes;
    const started = now();
    let result: Attempt;
    try {
      const res = await request(url, { method: "POST", headers, body: batch.body, dispatcher, signal: ctl.signal });
      const location = res.headers.location;
      result = {
        status: res.statusCode,
        // Masked before anything reads or cuts it: a key cut in half by a later snippet would escape the mask.
        body: redact(await readCapped(res.body)),
        location: Array.isArray(location) ? location[0] : location,
        retryAfter: res.headers["retry-after"],
      };
    } catch (err) {
      const interrupted = halt.signal.aborted && !timedOut;
      const error = timedOut ? `no answer within ${timeoutMs} ms` : interrupted ? INTERRUPTED : describeNetworkError(err);
      result = { error: redact(error), interrupted };
    } finally {
      clearTimeout(timer);
      halt.signal.removeEventListener("abort", onHalt);
    }
    const info = { method: "POST", url: url.href, bytes: batch.bytes, ms: now() - started, attempt, seq: batch.seq };
    o.onRequest?.("error" in result ? { ...info, status: undefined, error: result.error } : { ...info, status: result.status });
    return result;
  }

  /** Where a 307/308 may take us, or why not: only https under customer.io, or the configured origin itself. */
  function redirectTarget(from: URL, status: number, location: string | undefined): URL | string {
    if (location === undefined || location === "") return `${statusText(status)} without a Location header`;
    let to: URL;
    try {
      to = new URL(location, from);
    } catch {
      return `${statusText(status)} to an unreadable Location`;
    }
    const host = to.hostname.toLowerCase();
    const trusted = (to.protocol === "https:" && (host === "customer.io" || host.endsWith(".customer.io"))) || to.origin === endpoint.origin;
    if (!trusted) return `redirect to ${to.host} refused (${status}): only https hosts under customer.io or the track URL's own host are followed`;
    to.username = "";
    to.password = "";
    return to;
  }

  /** Sends one (sub-)batch until an answer that is not retried or followed. */
  async function exchange(batch: Batch): Promise<Final> {
    let url = endpoint;
    let hops = 0;
    let retry = 0;
    for (;;) {
      let why = haltReason();
      if (why !== undefined) return { kind: "skipped", reason: why };
      try {
        await limiter.acquire();
      } catch {
        return { kind: "skipped", reason: haltReason() ?? INTERRUPTED };
      }
      if (outageOver()) return { kind: "skipped", reason: gaveUp as string };
      // A 401 elsewhere or an abort may have come while this one queued.
      why = haltReason();
      if (why !== undefined) return { kind: "skipped", reason: why };

      lastSuccessAt ??= now();
      const r = await post(url, batch, retry + 1);
      let failure: string;
      let status: number | undefined;
      let pauseMs: number | undefined;
      if ("error" in r) {
        if (r.interrupted) return { kind: "skipped", reason: INTERRUPTED };
        failure = r.error;
      } else {
        const a = readAnswer(r.status, r.body, batch.operations.length);
        if (a.kind === "redirect") {
          const to = redirectTarget(url, a.status, r.location);
          if (typeof to === "string") return { kind: "failed", status: a.status, reason: to };
          if (++hops > MAX_REDIRECTS) return { kind: "failed", status: a.status, reason: `more than ${MAX_REDIRECTS} redirects` };
          url = to; // a hop, not a retry
          continue;
        }
        if (a.kind === "auth") {
          stopped ??= { status: a.status, reason: authReason(a.status) };
          return { kind: "skipped", reason: stopped.reason };
        }
        if (a.kind !== "retry") {
          lastSuccessAt = now();
          return a;
        }
        status = a.status;
        failure = statusText(a.status);
        const asked = parseRetryAfter(r.retryAfter, now());
        pauseMs = asked === undefined ? undefined : Math.min(asked, MAX_RETRY_AFTER_MS);
      }
      if (retry >= maxRetries) {
        return { kind: "failed", status, reason: `${failure} after ${maxRetries} retries`, retry: true };
      }
      if (outageOver()) return { kind: "skipped", reason: gaveUp as string };
      stats.retries++;
      if (pauseMs !== undefined) {
        // Retry-After is the server's word on when to come back: it holds every worker, not only this one,
        // and replaces the jittered backoff (the limiter makes this send wait for it too).
        limiter.pauseUntil(now() + pauseMs);
        // A wait the server asked for is not an outage: the give-up clock starts when it ends.
        lastSuccessAt = Math.max(lastSuccessAt ?? 0, now() + pauseMs);
      } else {
        try {
          await sleep(backoffDelay(retry, baseMs, capMs, random), waitSignal);
        } catch {
          return { kind: "skipped", reason: INTERRUPTED };
        }
      }
      retry++;
    }
  }

  /** Delivers a (sub-)batch and settles its rows, splitting to isolate bad ones. */
  async function deliver(batch: Batch, ledger: Ledger): Promise<void> {
    return settleAnswer(batch, await exchange(batch), ledger);
  }

  /** Settles a (sub-)batch's rows from its final answer, resending halves where that isolates bad rows. */
  async function settleAnswer(batch: Batch, a: Final, ledger: Ledger): Promise<void> {
    switch (a.kind) {
      case "applied":
        return settle(batch.operations, ledger, APPLIED);
      case "skipped":
        return settle(batch.operations, ledger, { kind: "skipped", reason: a.reason });
      case "failed":
        // Not an answer about these rows: --resume sends them again (issue 9).
        return settle(batch.operations, ledger, failed(a.reason, a.status, undefined, true));
      case "too-large":
        // Size is not the rows' fault, so --no-isolate does not stop this split.
        return splitOrSettle(batch, ledger, true, failed(statusText(a.status), a.status));
      case "invalid":
        return splitOrSettle(batch, ledger, isolate, failed(a.reason, a.status, a.field));
      case "partial": {
        const halves: Operation[] = [];
        batch.operations.forEach((op, i) => {
          const errors = a.failed.get(i);
          if (errors === undefined) settle([op], ledger, APPLIED);
          else if (isolate && op.relationships.length > 1) halves.push(...halveOperation(op));
          else settle([op], ledger, failed(formatApiErrors(errors), a.status, firstField(errors)));
        });
        for (const sub of pack(batch.seq, halves, maxBatchBytes)) await deliver(sub, ledger);
        return;
      }
    }
  }

  async function splitOrSettle(batch: Batch, ledger: Ledger, split: boolean, outcome: RowOutcome): Promise<void> {
    const parts = split ? splitBatch(batch) : undefined;
    if (parts === undefined) return settle(batch.operations, ledger, outcome);
    for (const part of parts) await deliver(part, ledger);
  }

  /** A settlement, carrying the halt (401/403, gave up) if the transport has halted by now. */
  function settlement(batch: Batch, rows: RowSettlement[]): BatchSettlement {
    const h: TransportHalt | undefined =
      stopped !== undefined ? { kind: "auth", ...stopped } : gaveUp !== undefined ? { kind: "gave-up", reason: gaveUp } : undefined;
    return h === undefined ? { batch, rows } : { batch, rows, halt: h };
  }

  return {
    async send(batch: Batch): Promise<BatchSettlement> {
      if (batch.operations.every((op) => op.relationships.length === 0)) return settlement(batch, []);
      const ledger: Ledger = new Map();
      try {
        const answer = await exchange(batch);
        // The common case, a batch applied whole, needs no per-row ledger.
        if (answer.kind === "applied") return settlement(batch, rowsOf(batch, allApplied));
        await settleAnswer(batch, answer, ledger);
      } catch (err) {
        // A bug here must not lose rows: whatever is unsettled fails with the error.
        settle(batch.operations, ledger, failed(`internal error: ${String(err)}`, undefined, undefined, true));
      }
      const rows = rowsOf(batch, (r) => ledger.get(r) ?? failed("internal error: row not settled"));
      return settlement(batch, rows);
    },
    stats,
    abort() {
      halt.abort();
    },
    stopWaiting() {
      waits.abort();
    },
    async close() {
      if (own === undefined) return;
      await (halt.signal.aborted ? own.destroy() : own.close());
    },
  };
}

/** "authentication refused (401): check CIO_SITE_ID and CIO_API_KEY". */
function authReason(status: number): string {
  const what = status === 403 ? "permission refused" : "authentication refused";
  return `${what} (${status}): check CIO_SITE_ID and CIO_API_KEY`;
}

function firstField(errors: ApiErrorEntry[]): string | undefined {
  return errors.find((e) => e.field !== undefined)?.field;
}

const allApplied = (): RowOutcome => APPLIED;

/** Every row of a batch with its outcome, in operation order. */
function rowsOf(batch: Batch, outcomeOf: (rel: Relationship) => RowOutcome): RowSettlement[] {
  const rows: RowSettlement[] = [];
  for (const op of batch.operations) for (const r of op.relationships) rows.push({ index: r.index, line: r.line, outcome: outcomeOf(r) });
  return rows;
}

/** Gives each row of `ops` its outcome, unless it already has one (a row is settled exactly once). */
function settle(ops: Operation[], ledger: Ledger, outcome: RowOutcome): void {
  for (const op of ops) for (const r of op.relationships) if (!ledger.has(r)) ledger.set(r, outcome);
}

/** The same op (type, action, identifiers) with its relationships in two halves. */
function halveOperation(op: Operation): [Operation, Operation] {
  const mid = Math.floor(op.relationships.length / 2);
  return [
    { ...op, relationships: op.relationships.slice(0, mid) },
    { ...op, relationships: op.relationships.slice(mid) },
  ];
}

/** Two halves of a batch (by operations; a lone op by its relationships), or undefined for a single row. */
function splitBatch(batch: Batch): Batch[] | undefined {
  const ops = batch.operations;
  if (ops.length > 1) {
    const mid = Math.floor(ops.length / 2);
    return [makeBatch(batch.seq, ops.slice(0, mid)), makeBatch(batch.seq, ops.slice(mid))];
  }
  const only = ops[0];
  if (only === undefined || only.relationships.length < 2) return undefined;
  return halveOperation(only).map((op) => makeBatch(batch.seq, [op]));
}

/** Ops into as few batches as maxBytes allows (halves carry an extra op head each). */
function pack(seq: number, ops: Operation[], maxBytes: number): Batch[] {
  const empty = Buffer.byteLength(BATCH_HEAD) + Buffer.byteLength(BATCH_TAIL);
  const out: Batch[] = [];
  let group: Operation[] = [];
  let bytes = empty;
  for (const op of ops) {
    const size = Buffer.byteLength(operationJson(op)) + 1; // + the comma
    if (group.length > 0 && bytes + size > maxBytes) {
      out.push(makeBatch(seq, group));
      group = [];
      bytes = empty;
    }
    group.push(op);
    bytes += size;
  }
  if (group.length > 0) out.push(makeBatch(seq, group));
  return out;
}

/** Reads an answer body to the end (so the socket can be reused), keeping at most MAX_ANSWER_CHARS. */
async function readCapped(body: Dispatcher.ResponseData["body"]): Promise<string> {
  body.setEncoding("utf8");
  let text = "";
  for await (const chunk of body as AsyncIterable<string>) if (text.length < MAX_ANSWER_CHARS) text += chunk;
  return text.slice(0, MAX_ANSWER_CHARS);
}

/** "network error: other side closed (UND_ERR_SOCKET)", with the system code when there is one. */
export function describeNetworkError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  const code = typeof e?.cause?.code === "string" ? e.cause.code : typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" && e.message !== "" ? e.message : String(err);
  return code === undefined ? `network error: ${message}` : `network error: ${message} (${code})`;
}

function positive(name: string, value: number, integer: boolean): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${name} must be a positive ${integer ? "integer" : "number"}, not ${value}`);
  }
  return value;
}
