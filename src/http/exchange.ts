// One HTTP exchange for Customer.io's read APIs (issue 12): a request goes through the shared rate
// limiter, is retried with backoff on 429/5xx/timeouts/network errors, honours Retry-After (capped),
// times out per attempt, follows only trusted redirects, and reports nothing that holds a secret.
// Built from the Track sender's pieces (src/transport/retry.ts, rate-limiter.ts, response.ts), not a
// copy of them; moving the Track sender onto it is a later step.
import { setTimeout as delay } from "node:timers/promises";
import { Agent, request, type Dispatcher } from "undici";
import { UsageError } from "../errors.js";
import { redactor } from "../commands/secrets.js";
import { createRateLimiter, type RateLimiter, type Sleep } from "../transport/rate-limiter.js";
import { bodySnippet, statusText } from "../transport/response.js";
import { backoffDelay, DEFAULT_BACKOFF, DEFAULT_TIMEOUT_MS, parseRetryAfter, RETRYABLE_STATUSES } from "../transport/retry.js";
import { describeNetworkError, MAX_RETRY_AFTER_MS } from "../transport/track.js";

/** Redirect hops followed for one request. */
export const MAX_REDIRECTS = 5;
/** The longest Retry-After honoured (the Track sender's cap, issue 9): a longer one waits this long. */
export { MAX_RETRY_AFTER_MS };
/** Most of an answer body kept; the rest is read and dropped so the connection can be reused. */
const MAX_BODY_CHARS = 16 * 1024 * 1024;

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
  dispatcher?: Dispatcher;
  now?: () => number;
  sleep?: Sleep;
  random?: () => number;
  onRequest?: (info: ExchangeInfo) => void;
}

/** How one request ended once retries and redirects are done. */
export type ExchangeResult =
  /** Any answer that is not retried: the caller reads 2xx, 4xx and final 5xx itself. */
  | { kind: "answer"; status: number; body: string }
  /** Retries used up on 429/5xx/network trouble, or a refused redirect. */
  | { kind: "failed"; status: number | undefined; reason: string }
  | { kind: "aborted" };

/** Running counters of an exchange. */
export interface ExchangeStats {
  requests: number;
  retries: number;
}

/** The exchange: `send` one request at a time per caller; everything shares the limiter. */
export interface Exchange {
  send(method: "GET" | "POST", pathAndQuery: string, body?: string): Promise<ExchangeResult>;
  readonly stats: ExchangeStats;
  readonly limiter: RateLimiter;
  /** Aborts requests in flight and waits. */
  abort(): void;
  close(): Promise<void>;
}

type Attempt =
  { status: number; body: string; location: string | undefined; retryAfter: string | string[] | undefined } | { error: string; aborted: boolean };

/** Creates an exchange over its own undici Agent (or the injected dispatcher). */
export function createExchange(o: ExchangeOptions): Exchange {
  if (!(o.ratePerSecond > 0) || !Number.isFinite(o.ratePerSecond)) throw new UsageError(`the rate must be a positive number, not ${o.ratePerSecond}`);
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRetries = o.maxRetries ?? DEFAULT_BACKOFF.maxRetries;
  const baseMs = o.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs;
  const capMs = o.backoffCapMs ?? DEFAULT_BACKOFF.capMs;
  const maxRetryAfterMs = o.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS;
  const now = o.now ?? Date.now;
  const sleep: Sleep = o.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : {}));
  const random = o.random ?? Math.random;
  const base = new URL(o.baseUrl.replace(/\/+$/, "") + "/");
  const redact = redactor(o.secrets);
  const own =
    o.dispatcher === undefined
      ? new Agent({ connections: o.connections ?? 8, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      : undefined;
  const dispatcher: Dispatcher = o.dispatcher ?? (own as Agent);
  const halt = new AbortController();
  const limiter = createRateLimiter({ ratePerSecond: o.ratePerSecond, now, sleep, signal: halt.signal });
  const stats: ExchangeStats = { requests: 0, retries: 0 };

  async function attempt(method: string, url: URL, body: string | undefined, n: number): Promise<Attempt> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([timeout, halt.signal]);
    stats.requests++;
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
        body: await readCapped(res.body),
        location: Array.isArray(location) ? location[0] : location,
        retryAfter: res.headers["retry-after"],
      };
    } catch (err) {
      const aborted = halt.signal.aborted;
      const error = aborted ? "interrupted" : timeout.aborted ? `no answer within ${timeoutMs} ms` : describeNetworkError(err);
      result = { error: redact(error), aborted };
    }
    const info = { method, url: redact(url.href), at: started, ms: now() - started, attempt: n };
    o.onRequest?.("error" in result ? { ...info, status: undefined, error: result.error } : { ...info, status: result.status });
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
    async send(method, pathAndQuery, body) {
      let url = new URL(pathAndQuery.replace(/^\/+/, ""), base);
      let hops = 0;
      let retry = 0;
      for (;;) {
        try {
          await limiter.acquire();
        } catch {
          return { kind: "aborted" };
        }
        const r = await attempt(method, url, body, retry + 1);
        let failure: string;
        let status: number | undefined;
        let pauseMs: number | undefined;
        if ("error" in r) {
          if (r.aborted) return { kind: "aborted" };
          failure = r.error;
        } else if ([301, 302, 303, 307, 308].includes(r.status)) {
          const to = redirectTarget(url, r.status, r.location);
          if (typeof to === "string") return { kind: "failed", status: r.status, reason: redact(to) };
          if (++hops > MAX_REDIRECTS) return { kind: "failed", status: r.status, reason: `more than ${MAX_REDIRECTS} redirects` };
          url = to; // a hop, not a retry
          continue;
        } else if (!RETRYABLE_STATUSES.has(r.status)) {
          return { kind: "answer", status: r.status, body: redact(r.body) };
        } else {
          status = r.status;
          const snippet = bodySnippet(r.body);
          failure = redact(snippet === "" ? statusText(r.status) : `${statusText(r.status)}: ${snippet}`);
          pauseMs = parseRetryAfter(r.retryAfter, now());
        }
        if (retry >= maxRetries) return { kind: "failed", status, reason: `${failure} after ${maxRetries} retries` };
        stats.retries++;
        if (pauseMs !== undefined) {
          // The server's word on when to come back holds every request in flight, not only this one.
          limiter.pauseUntil(now() + Math.min(pauseMs, maxRetryAfterMs));
        } else {
          try {
            await sleep(backoffDelay(retry, baseMs, capMs, random), halt.signal);
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
    async close() {
      if (own === undefined) return;
      await (halt.signal.aborted ? own.destroy() : own.close());
    },
  };
}

/** Reads an answer body to the end (so the socket can be reused), keeping at most MAX_BODY_CHARS. */
async function readCapped(body: Dispatcher.ResponseData["body"]): Promise<string> {
  body.setEncoding("utf8");
  let text = "";
  for await (const chunk of body as AsyncIterable<string>) if (text.length < MAX_BODY_CHARS) text += chunk;
  return text.slice(0, MAX_BODY_CHARS);
}
