// One HTTP exchange for every Customer.io API cio-rel speaks (issues 11, 12): the App API reader and the
// batch senders (Track, Data Pipelines) all go through it. A request goes through the shared rate limiter,
// is retried with backoff on 408/429/5xx/timeouts/network errors, honours Retry-After (capped, holding
// every request), times out per attempt (answer body included), follows only trusted redirects, can stop
// for good (a 401, an outage, Ctrl-C) and reports nothing that holds a secret: redaction is done here once.
import { setTimeout as delay } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import type { Agent, Dispatcher } from "undici";
import { UsageError } from "../errors.js";
import { redactor } from "../commands/secrets.js";
import { createRateLimiter, type RateLimiter, type Sleep } from "../transport/rate-limiter.js";
import { bodySnippet, statusText } from "../transport/response.js";
import { backoffDelay, DEFAULT_BACKOFF, DEFAULT_TIMEOUT_MS, parseRetryAfter, RETRYABLE_STATUSES } from "../transport/retry.js";

/** undici, loaded by the first request: a dry run never sends, so it never pays for loading it (issue 16). */
let undici: Promise<typeof import("undici")> | undefined;

/**
 * undici, with its HTTP parser kept on V8's baseline compiler (issue 16). By default V8 recompiles the hot
 * functions of undici's parser (llhttp, WebAssembly) with its optimising compiler after the first answers, and
 * that compile alone takes ~35 MB, which the process keeps: one request to the fake peaked at 98 MB RSS, 63 MB
 * with Liftoff only; 1M shuffled rows sent in 500 KB batches to the loopback fake, 159-161 MB against 146-151 MB
 * (paired runs). The parser reads answers only, a few hundred bytes each. The flag is V8's, set here because
 * cio-rel cannot pass node flags (see main.ts); it concerns WebAssembly alone, and llhttp is the only
 * WebAssembly the process runs.
 */
function loadUndici(): Promise<typeof import("undici")> {
  setFlagsFromString("--liftoff-only");
  return import("undici");
}

/** Redirect hops followed for one request (issue 4). */
export const MAX_REDIRECTS = 5;
/** issue 9: the longest Retry-After honoured; a larger value (or date) waits this long, then retries. */
export const MAX_RETRY_AFTER_MS = 120_000;
/** Most of an answer body kept by default; the rest is read and dropped so the connection can be reused. */
const MAX_BODY_CHARS = 16 * 1024 * 1024;
/** Reason of requests that abort() or stopWaiting() cut short. */
export const INTERRUPTED = "interrupted";
/** Redirect statuses followed by default; a POST sender passes [307, 308], which keep the method and body. */
const REDIRECTS: readonly number[] = [301, 302, 303, 307, 308];

/** One attempt as --verbose logs it: never a header, so never a credential. */
export interface ExchangeInfo {
  method: string;
  /** The URL requested, already redacted. */
  url: string;
  status: number | undefined;
  /** When the attempt started, on the injected clock (tests check the pacing with it). */
  at: number;
  ms: number;
  attempt: number;
  error?: string;
}

/** Settings of an exchange; effects have real defaults. */
export interface ExchangeOptions {
  /** Origin and base path, e.g. https://api.customer.io (no trailing slash needed). */
  baseUrl: string;
  /** Sent with every request (authorization included). */
  headers: Record<string, string>;
  /** Values scrubbed from every text the exchange returns or logs. */
  secrets: readonly string[];
  /** Requests started per second across everything in flight, retries included. */
  ratePerSecond: number;
  /** Per attempt, until the whole answer is read. Default 30_000. */
  timeoutMs?: number;
  maxRetries?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  maxRetryAfterMs?: number;
  /** Connections kept alive (default 8). */
  connections?: number;
  /** Statuses followed as redirects (default 301, 302, 303, 307, 308); others are answers. */
  redirectStatuses?: readonly number[];
  /** Most characters of an answer body kept (default 16 MiB). */
  maxBodyChars?: number;
  /** Whether the reason of a request that ran out of retries quotes the last answer's body (default true). */
  quoteBodyOnRetryFailure?: boolean;
  /** issue 9: stop for good once no request has succeeded for this long (default Infinity: never). */
  giveUpAfterMs?: number;
  dispatcher?: Dispatcher;
  now?: () => number;
  sleep?: Sleep;
  random?: () => number;
  onRequest?: (info: ExchangeInfo) => void;
}

/** What one send adds to the exchange's settings. */
export interface SendExtras {
  /** Told of every attempt of this request, after the exchange's own onRequest. */
  onAttempt?: (info: ExchangeInfo) => void;
}

/** How one request ended once retries and redirects are done. */
export type ExchangeResult =
  /** Any answer that is not retried: the caller reads 2xx, 4xx and final 5xx itself. */
  | { kind: "answer"; status: number; body: string }
  /** Retries used up on 429/5xx/network trouble, or a refused redirect. */
  | { kind: "failed"; status: number | undefined; reason: string }
  /** abort() or stopWaiting() ended it, or came before it started. */
  | { kind: "aborted" }
  /** Nothing may be sent any more: stop() was called (a 401) or the outage lasted giveUpAfterMs. */
  | { kind: "stopped"; reason: string };

/** Running counters of an exchange. */
export interface ExchangeStats {
  requests: number;
  retries: number;
  /** Request body bytes put on the wire, retries included. */
  bytesSent: number;
}

/** The exchange: `send` one request at a time per caller; everything shares the limiter. */
export interface Exchange {
  /** `body` may be bytes (a batch body, UTF-8) or text. */
  send(method: "GET" | "POST", pathAndQuery: string, body?: string | Uint8Array, extras?: SendExtras): Promise<ExchangeResult>;
  readonly stats: ExchangeStats;
  readonly limiter: RateLimiter;
  /** Aborts requests in flight and waits. */
  abort(): void;
  /** issue 9: ends every wait (backoff, Retry-After, the limiter) at once; requests in flight finish; later sends are aborted. */
  stopWaiting(): void;
  /** Every later send (and each one waiting for its turn) ends as `stopped` with this reason; the first reason stays. */
  stop(reason: string): void;
  /** issue 9: set once no request succeeded for giveUpAfterMs. */
  readonly gaveUp: string | undefined;
  /** Replaces secrets in a text with "***" (the exchange's secrets). */
  redact(text: string): string;
  close(): Promise<void>;
}

type Attempt =
  { status: number; body: string; location: string | undefined; retryAfter: string | string[] | undefined } | { error: string; aborted: boolean };

/** Why a send may not go on, if so. */
type Halt = { kind: "aborted" } | { kind: "stopped"; reason: string };

/** Creates an exchange over its own undici Agent (or the injected dispatcher). */
export function createExchange(o: ExchangeOptions): Exchange {
  if (!(o.ratePerSecond > 0) || !Number.isFinite(o.ratePerSecond)) throw new UsageError(`the rate must be a positive number, not ${o.ratePerSecond}`);
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRetries = o.maxRetries ?? DEFAULT_BACKOFF.maxRetries;
  const baseMs = o.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs;
  const capMs = o.backoffCapMs ?? DEFAULT_BACKOFF.capMs;
  const maxRetryAfterMs = o.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
  const redirects = o.redirectStatuses ?? REDIRECTS;
  const maxBodyChars = o.maxBodyChars ?? MAX_BODY_CHARS;
  const quoteBody = o.quoteBodyOnRetryFailure ?? true;
  const giveUpAfterMs = o.giveUpAfterMs ?? Infinity;
  const now = o.now ?? Date.now;
  const sleep: Sleep = o.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : {}));
  const random = o.random ?? Math.random;
  const base = new URL(o.baseUrl.replace(/\/+$/, "") + "/");
  const redact = redactor(o.secrets);
  // The exchange's own Agent, made with the first request (undici is loaded then).
  let own: Agent | undefined;
  let dispatcher: Dispatcher | undefined = o.dispatcher;
  const halt = new AbortController();
  // issue 9: the first Ctrl-C ends every wait at once (backoff, Retry-After, the limiter); requests in flight finish.
  const waits = new AbortController();
  const waitSignal = AbortSignal.any([halt.signal, waits.signal]);
  const limiter = createRateLimiter({ ratePerSecond: o.ratePerSecond, now, sleep, signal: waitSignal });
  const stats: ExchangeStats = { requests: 0, retries: 0, bytesSent: 0 };
  let stopReason: string | undefined;
  /** When a request last succeeded (any answer that is not retried), or the first request started. */
  let lastSuccessAt: number | undefined;
  let gaveUp: string | undefined;

  /** Why nothing more may be sent, if so: Ctrl-C first, then stop(), then an outage. */
  const halted = (): Halt | undefined =>
    halt.signal.aborted || waits.signal.aborted
      ? { kind: "aborted" }
      : stopReason !== undefined
        ? { kind: "stopped", reason: stopReason }
        : gaveUp !== undefined
          ? { kind: "stopped", reason: gaveUp }
          : undefined;

  /** issue 9: whether the outage has lasted giveUpAfterMs; sets gaveUp, which stops every send. */
  function outageOver(): boolean {
    if (gaveUp !== undefined) return true;
    if (lastSuccessAt === undefined || now() - lastSuccessAt < giveUpAfterMs) return false;
    gaveUp = `not sent: gave up after ${Math.round(giveUpAfterMs / 1000)} s without a successful request (an outage?)`;
    return true;
  }

  async function attempt(
    method: string,
    url: URL,
    body: string | Uint8Array | undefined,
    n: number,
    extras: SendExtras | undefined,
  ): Promise<Attempt> {
    const { Agent, request } = await (undici ??= loadUndici());
    dispatcher ??= own = new Agent({ connections: o.connections ?? 8, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    // One deadline for the whole attempt, answer body included, so a trickling body is abandoned too.
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([timeout, halt.signal]);
    stats.requests++;
    if (body !== undefined) stats.bytesSent += typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    const started = now();
    let result: Attempt;
    try {
      const res = await request(url, {
        method,
        headers: body === undefined ? o.headers : { ...o.headers, "content-type": "application/json" },
        ...(body !== undefined ? { body } : {}),
        dispatcher,
        signal,
      });
      const location = res.headers.location;
      result = {
        status: res.statusCode,
        // Masked before anything reads or cuts it: a key cut in half by a later snippet would escape the mask.
        body: redact(await readCapped(res.body, maxBodyChars)),
        location: Array.isArray(location) ? location[0] : location,
        retryAfter: res.headers["retry-after"],
      };
    } catch (err) {
      const aborted = halt.signal.aborted && !timeout.aborted;
      const error = aborted ? INTERRUPTED : timeout.aborted ? `no answer within ${timeoutMs} ms` : describeNetworkError(err);
      result = { error: redact(error), aborted };
    }
    const info = { method, url: redact(url.href), at: started, ms: now() - started, attempt: n };
    const told: ExchangeInfo = "error" in result ? { ...info, status: undefined, error: result.error } : { ...info, status: result.status };
    o.onRequest?.(told);
    extras?.onAttempt?.(told);
    return result;
  }

  /** Where a redirect may take us, or why not: only https under customer.io, or the configured origin. */
  function redirectTarget(from: URL, status: number, location: string | undefined): URL | string {
    if (location === undefined || location === "") return `${statusText(status)} without a Location header`;
    let to: URL;
    try {
      to = new URL(location, from);
    } catch {
      return `${statusText(status)} to an unreadable Location`;
    }
    const host = to.hostname.toLowerCase();
    const trusted = (to.protocol === "https:" && (host === "customer.io" || host.endsWith(".customer.io"))) || to.origin === base.origin;
    if (!trusted) return `redirect to ${to.host} refused (${status}): only https hosts under customer.io or the configured host are followed`;
    to.username = "";
    to.password = "";
    return to;
  }

  return {
    async send(method, pathAndQuery, body, extras) {
      let url = new URL(pathAndQuery.replace(/^\/+/, ""), base);
      let hops = 0;
      let retry = 0;
      for (;;) {
        let why = halted();
        if (why !== undefined) return why;
        try {
          await limiter.acquire();
        } catch {
          return halted() ?? { kind: "aborted" };
        }
        if (outageOver()) return { kind: "stopped", reason: gaveUp as string };
        // A 401 elsewhere or an abort may have come while this one queued.
        why = halted();
        if (why !== undefined) return why;
        lastSuccessAt ??= now();
        const r = await attempt(method, url, body, retry + 1, extras);
        let failure: string;
        let status: number | undefined;
        let pauseMs: number | undefined;
        if ("error" in r) {
          if (r.aborted) return { kind: "aborted" };
          failure = r.error;
        } else if (redirects.includes(r.status)) {
          const to = redirectTarget(url, r.status, r.location);
          if (typeof to === "string") return { kind: "failed", status: r.status, reason: redact(to) };
          if (++hops > MAX_REDIRECTS) return { kind: "failed", status: r.status, reason: `more than ${MAX_REDIRECTS} redirects` };
          url = to; // a hop, not a retry
          continue;
        } else if (!RETRYABLE_STATUSES.has(r.status)) {
          lastSuccessAt = now();
          return { kind: "answer", status: r.status, body: r.body };
        } else {
          status = r.status;
          const snippet = quoteBody ? bodySnippet(r.body) : "";
          failure = snippet === "" ? statusText(r.status) : `${statusText(r.status)}: ${snippet}`;
          const asked = parseRetryAfter(r.retryAfter, now());
          pauseMs = asked === undefined ? undefined : Math.min(asked, maxRetryAfterMs);
        }
        if (retry >= maxRetries) return { kind: "failed", status, reason: `${failure} after ${maxRetries} retries` };
        if (outageOver()) return { kind: "stopped", reason: gaveUp as string };
        stats.retries++;
        if (pauseMs !== undefined) {
          // The server's word on when to come back holds every request in flight, not only this one, and
          // replaces the jittered backoff (the limiter makes this send wait for it too).
          limiter.pauseUntil(now() + pauseMs);
          // A wait the server asked for is not an outage: the give-up clock starts when it ends.
          lastSuccessAt = Math.max(lastSuccessAt, now() + pauseMs);
        } else {
          try {
            await sleep(backoffDelay(retry, baseMs, capMs, random), waitSignal);
          } catch {
            return { kind: "aborted" };
          }
        }
        retry++;
      }
    },
    stats,
    limiter,
    abort() {
      halt.abort();
    },
    stopWaiting() {
      waits.abort();
    },
    stop(reason) {
      stopReason ??= reason;
    },
    get gaveUp() {
      return gaveUp;
    },
    redact,
    async close() {
      if (own === undefined) return;
      await (halt.signal.aborted ? own.destroy() : own.close());
    },
  };
}

/** "network error: other side closed (UND_ERR_SOCKET)", with the system code when there is one. */
export function describeNetworkError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  const code = typeof e?.cause?.code === "string" ? e.cause.code : typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" && e.message !== "" ? e.message : String(err);
  return code === undefined ? `network error: ${message}` : `network error: ${message} (${code})`;
}

/** Reads an answer body to the end (so the socket can be reused), keeping at most `max` characters. */
async function readCapped(body: Dispatcher.ResponseData["body"], max: number): Promise<string> {
  body.setEncoding("utf8");
  let text = "";
  for await (const chunk of body as AsyncIterable<string>) if (text.length < max) text += chunk;
  return text.slice(0, max);
}
