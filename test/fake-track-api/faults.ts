// What the fake can be told to do wrong: a script consumed one item per request, and standing
// settings (rates, latency, a token-bucket limit, a revoked key, a redirect, poison ids).
// Random draws come from a seeded PRNG so a failing test replays the same faults.

/** `Retry-After` to send: seconds (number), an HTTP date (Date), or any text verbatim (string). */
export type RetryAfter = number | Date | string;

/**
 * One scripted fault: what the next request gets. Applied in this order: `latencyMs` (a delay,
 * then the rest), then the first of `hang`, `reset`, `redirectTo`, `status`, `errorsBody` that is
 * set; an item with only `latencyMs` (or `{}`) lets the request through normally.
 */
export interface Fault {
  /** Delay before anything else happens. */
  latencyMs?: number;
  /** Never answer (until the client gives up or the fake closes). */
  hang?: boolean;
  /** Destroy the socket after the first chunk of the body arrives, without answering. */
  reset?: boolean;
  /** Answer a redirect to this base path (e.g. "/eu"), same endpoint; `status` is the code (default 307). */
  redirectTo?: string;
  /** Answer this status instead of handling the request (e.g. 429, 500, 502, 503, 504, 401). */
  status?: number;
  /** `Retry-After` header to send with `status`. */
  retryAfter?: RetryAfter;
  /** Body to send with `status` (default: a short text for errors, empty for 401). */
  body?: string;
  /**
   * Answer 200 with an `errors` array naming these ops (true: every op) by `batch_index`; the named
   * ops are not applied, the others are. On `/entity`, true names the op (no batch_index).
   */
  errorsBody?: true | number[];
}

/** Standing fault settings; `faults.set()` merges a partial update (a key set to undefined is removed). */
export interface FaultSettings {
  /** Added latency on every request: fixed ms, or uniform in [min, max]. */
  latencyMs?: number | [number, number];
  /** Probability (0..1) that a request gets 429 (with `retryAfter`, default 1 s). */
  rate429?: number;
  /** Probability that a request gets 500. */
  rate500?: number;
  /** Probability that a request gets 502. */
  rate502?: number;
  /** Probability that a request gets 503. */
  rate503?: number;
  /** Probability that a request gets 504. */
  rate504?: number;
  /** Probability that a request's connection is reset. */
  resetRate?: number;
  /** Probability that a request is never answered. */
  hangRate?: number;
  /** `Retry-After` sent with rate-drawn 429 (default 1) and 503 (default none). */
  retryAfter?: RetryAfter;
  /**
   * Ids that make an op fail (207 for that op, not applied): a person with any identifier value in
   * `people`, or an object whose object_id or cio_object_id is in `objects`. An op carrying several
   * relationships fails whole when any of them is poison, without saying which.
   */
  poison?: { people?: string[]; objects?: string[] };
  /**
   * Person identifier values whose relationship writes are accepted (200, counted as applied) but never
   * reach the state: what "accepted is not applied" looks like (issue 14). Their ops are not refused.
   */
  dropWritesFor?: string[];
  /** Token bucket: `perSecond` tokens refill continuously up to `burst` (default perSecond); empty → 429, Retry-After: 1. */
  rateLimit?: { perSecond: number; burst?: number };
  /**
   * The key works for the next N API requests (counted from when this is set, whatever they get),
   * then every request gets 401: a key revoked mid-run.
   */
  revokeAfter?: number;
  /** Every request to another base path gets a redirect to `to` (as the US host does for EU accounts). */
  redirect?: { to: string; status?: 301 | 302 | 307 | 308 };
  /** Report per-op errors (invalid or poison ops) with status 200 instead of 207. */
  errorsAs200?: boolean;
  /** Reseeds the PRNG that draws rates and random latency. */
  seed?: number;
}

/** A partial update of the settings; undefined removes a setting. */
export type FaultSettingsUpdate = { [K in keyof FaultSettings]?: FaultSettings[K] | undefined };

/** What the fault controller decided for one request. */
export interface Decision {
  fault: Fault;
  /** "script" when a scripted item was consumed, "rate" when a rate fired, "none" otherwise. */
  source: "script" | "rate" | "none";
  /** Whether `revokeAfter` has run out for this request. */
  revoked: boolean;
}

type RateKey = "resetRate" | "hangRate" | "rate429" | "rate500" | "rate502" | "rate503" | "rate504";
const RATE_FAULTS: ReadonlyArray<readonly [RateKey, Fault]> = [
  ["resetRate", { reset: true }],
  ["hangRate", { hang: true }],
  ["rate429", { status: 429 }],
  ["rate500", { status: 500 }],
  ["rate502", { status: 502 }],
  ["rate503", { status: 503 }],
  ["rate504", { status: 504 }],
];

/** mulberry32: tiny, seedable, good enough to spread faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A token bucket over an injected clock (ms). */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    now: number,
  ) {
    this.#tokens = burst;
    this.#last = now;
  }

  /** Takes a token if one is there. */
  take(now: number): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** The base path a redirect points to must look like "/eu": a leading slash, no trailing one. */
function checkBasePath(path: string): void {
  if (!/^(\/[^/?#]+)+$/.test(path)) throw new Error(`redirect base path must look like "/eu", got ${JSON.stringify(path)}`);
}

/** The mutable fault controller a test drives (`api.faults`). */
export class FaultController {
  #script: Fault[] = [];
  #settings: FaultSettings = {};
  #random: () => number;
  #bucket: TokenBucket | undefined;
  /** API requests decided so far, and the count after which the key is revoked. */
  #count = 0;
  #revokeAt = Infinity;
  readonly #redirectTargets = new Set<string>();

  constructor(
    private readonly now: () => number,
    private readonly initialSeed = 1,
  ) {
    this.#random = seededRandom(initialSeed);
  }

  /** Appends faults for the next requests, one per request in arrival order; normal behaviour resumes after. */
  script(faults: Fault[]): this {
    for (const f of faults) if (f.redirectTo !== undefined) checkBasePath(f.redirectTo);
    for (const f of faults) if (f.redirectTo !== undefined) this.#redirectTargets.add(f.redirectTo);
    this.#script.push(...faults.map((f) => ({ ...f })));
    return this;
  }

  /** Merges standing settings (see FaultSettings); throws on rates outside 0..1 or summing over 1. */
  set(update: FaultSettingsUpdate): this {
    const next: FaultSettings = { ...this.#settings };
    for (const [k, v] of Object.entries(update)) {
      if (v === undefined) delete next[k as keyof FaultSettings];
      else (next as Record<string, unknown>)[k] = v;
    }
    const total = RATE_FAULTS.reduce((sum, [k]) => {
      const r = next[k] ?? 0;
      if (!(r >= 0 && r <= 1)) throw new Error(`${k} must be between 0 and 1, got ${r}`);
      return sum + r;
    }, 0);
    if (total > 1) throw new Error(`fault rates add up to ${total}, more than 1`);
    if (next.redirect !== undefined) checkBasePath(next.redirect.to);
    if (next.rateLimit !== undefined && !(next.rateLimit.perSecond > 0)) throw new Error("rateLimit.perSecond must be > 0");

    if (next.redirect !== undefined) this.#redirectTargets.add(next.redirect.to);
    if ("rateLimit" in update) {
      const rl = next.rateLimit;
      this.#bucket = rl && new TokenBucket(rl.perSecond, rl.burst ?? rl.perSecond, this.now());
    }
    if ("revokeAfter" in update) this.#revokeAt = next.revokeAfter === undefined ? Infinity : this.#count + next.revokeAfter;
    if (update.seed !== undefined) this.#random = seededRandom(update.seed);
    this.#settings = next;
    return this;
  }

  /** Forgets the script and every setting, and reseeds the PRNG with the fake's seed. */
  clear(): this {
    this.#script = [];
    this.#settings = {};
    this.#bucket = undefined;
    this.#revokeAt = Infinity;
    this.#random = seededRandom(this.initialSeed);
    return this;
  }

  /** The standing settings (a copy). */
  get settings(): FaultSettings {
    return { ...this.#settings };
  }

  /** How many scripted faults are still to be consumed. */
  get pending(): number {
    return this.#script.length;
  }

  /** Base paths the fake serves besides "": every redirect target ever configured, so a redirect can be followed. */
  get redirectTargets(): ReadonlySet<string> {
    return this.#redirectTargets;
  }

  /** Decides the fault for the next request: the next scripted item, else a rate-drawn one with the standing latency. */
  next(): Decision {
    this.#count += 1;
    const revoked = this.#count > this.#revokeAt;
    const scripted = this.#script.shift();
    if (scripted !== undefined) return { fault: scripted, source: "script", revoked };
    const s = this.#settings;
    const fault: Fault = {};
    const latency = s.latencyMs;
    if (latency !== undefined) {
      fault.latencyMs = typeof latency === "number" ? latency : Math.round(latency[0] + this.#random() * (latency[1] - latency[0]));
    }
    // One uniform draw per request against the cumulative rates: at most one rate fault fires.
    if (RATE_FAULTS.some(([k]) => (s[k] ?? 0) > 0)) {
      const u = this.#random();
      let edge = 0;
      for (const [k, f] of RATE_FAULTS) {
        edge += s[k] ?? 0;
        if (u >= edge) continue;
        Object.assign(fault, f);
        const retryAfter = f.status === 429 ? (s.retryAfter ?? 1) : f.status === 503 ? s.retryAfter : undefined;
        if (retryAfter !== undefined) fault.retryAfter = retryAfter;
        return { fault, source: "rate", revoked };
      }
    }
    return { fault, source: "none", revoked };
  }

  /** Takes a token from the rate-limit bucket; true when there is no limit. */
  takeToken(): boolean {
    return this.#bucket?.take(this.now()) ?? true;
  }
}
