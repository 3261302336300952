// Pure retry timing (issue 4 "What each answer means"): no clock, no timers; the sender injects them.

/** Statuses that mean "try again later": timeouts, throttling and transient server trouble (API.md "Responses"). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Backoff defaults of issue 4: base 0.5 s, cap 30 s, 8 retries. */
export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 30_000, maxRetries: 8 } as const;

// Issue 11, "Flags from one source": each default is defined here once; cli.ts shows it in --help, the flag
// parsers fall back to it, and the transports use it when no option is given.
/** Requests in flight to the Track API (--concurrency). */
export const DEFAULT_CONCURRENCY = 8;
/** Track API requests per second (--rate): Customer.io's fair-use figure. */
export const DEFAULT_RATE = 100;
/**
 * Data Pipelines requests per second (--rate with --via pipelines, issue 15). The spec documents 3000 requests
 * per 3 s (1000/s) for a source, shared by its live integrations and backfill scripts; a bulk run takes half,
 * so the integrations feeding the same source keep room.
 */
export const DEFAULT_PIPELINES_RATE = 500;
/** Per-request timeout (--timeout), for the Track and the App API. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Delay before retry number `attempt` (0 for the first retry): exponential backoff with full jitter,
 * `random() * min(cap, base * 2^attempt)`, which spreads a thundering herd evenly over the window.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  // 2^attempt overflows to Infinity long after the cap has won, so min() keeps it finite.
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.max(0, random() * ceiling);
}

/**
 * Milliseconds a `Retry-After` header asks us to wait, measured from `nowMs`: delta-seconds ("120",
 * decimals tolerated) or an HTTP-date (RFC 9110 §10.2.3). A date in the past means 0; anything
 * unreadable means undefined, so the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (raw === undefined || raw === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  // Only dates that look like dates: Date.parse accepts bare numbers such as "-1" or "2024".
  if (!/[a-z]/i.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
