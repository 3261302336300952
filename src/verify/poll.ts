// Reading back until everything is confirmed or the time is up (issue 14). The reads, the clock and the
// sleep are injected, so tests run on a fake clock and never wait.
import { judge, type ListingRead, type Verdict } from "./judge.js";
import type { Pair, Target } from "./pairs.js";

/** --verify-timeout's default: Customer.io applies most writes within seconds; two minutes is generous. */
export const DEFAULT_VERIFY_TIMEOUT_MS = 120_000;
/** Wait before the first read: a Track 200 is queued work (API.md), a read at once mostly finds nothing. */
export const FIRST_READ_DELAY_MS = 1_000;
/** Wait before the first re-read; it doubles each round up to VERIFY_BACKOFF_CAP_MS. */
export const VERIFY_BACKOFF_BASE_MS = 1_000;
/** Longest wait between rounds, so a write that lands late is seen within half a minute. */
export const VERIFY_BACKOFF_CAP_MS = 30_000;
/** Listings read at once; the App API client paces them under 10 requests/s, this only hides latency. */
export const VERIFY_READS_IN_FLIGHT = 4;

/** Settings of one verification. */
export interface PollOptions {
  /** Re-reads start no later than this long after the verification began; the first round always reads everything. */
  timeoutMs: number;
  concurrency?: number;
  firstDelayMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
}

/** Running figures, for the progress line. */
export interface VerifyProgress {
  round: number;
  reads: number;
  confirmedRows: number;
  pendingRows: number;
}

/** The effects a verification uses. */
export interface PollEffects {
  read(target: Target): Promise<ListingRead>;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** True once the run was interrupted: no new read starts. */
  stopped?(): boolean;
  onProgress?(p: VerifyProgress): void;
}

/** What a verification found. */
export interface PollResult {
  /** Every row of every pair, by its key: confirmed, or unconfirmed with the reason. */
  rows: Map<number, Verdict>;
  confirmedRows: number;
  unconfirmedRows: number;
  /** Listings read (a listing of many pages counts once; the client counts requests). */
  reads: number;
  rounds: number;
  durationMs: number;
  /** Why reading stopped before the timeout, if it did: refused credentials or an interrupt. */
  halt?: { kind: "auth" | "interrupted"; reason: string };
}

/**
 * Reads every target once, then re-reads, with backoff, only the targets whose pairs are not yet confirmed,
 * until all are or `timeoutMs` has passed since the start (a round begun before then reads all it has).
 * Every pair's rows end confirmed or with the last reason they were not.
 */
export async function pollUntilConfirmed(targets: readonly Target[], fx: PollEffects, o: PollOptions): Promise<PollResult> {
  const started = fx.now();
  const deadline = started + o.timeoutMs;
  const concurrency = Math.max(1, o.concurrency ?? VERIFY_READS_IN_FLIGHT);
  const verdicts = new Map<Pair, Verdict>();
  const readsOf = new Map<Pair, number>();
  let pendingRows = 0;
  let confirmedRows = 0;
  for (const t of targets) for (const p of t.pairs) pendingRows += p.rows.length;
  let reads = 0;
  let rounds = 0;
  let halt: PollResult["halt"];

  const stopNow = (): boolean => {
    if (halt === undefined && fx.stopped?.() === true) halt = { kind: "interrupted", reason: "interrupted" };
    return halt !== undefined;
  };

  /** Reads one target and judges its pairs not yet confirmed. */
  const readTarget = async (t: Target): Promise<void> => {
    const read = await fx.read(t);
    reads++;
    if (read.kind === "failed" && read.fatal === true) halt ??= { kind: "auth", reason: read.reason };
    for (const p of t.pairs) {
      if (verdicts.get(p)?.confirmed === true) continue;
      const v = judge(p, read);
      verdicts.set(p, v);
      readsOf.set(p, (readsOf.get(p) ?? 0) + 1);
      if (v.confirmed) {
        confirmedRows += p.rows.length;
        pendingRows -= p.rows.length;
      }
    }
    fx.onProgress?.({ round: rounds, reads, confirmedRows, pendingRows });
  };

  const settled = (t: Target): boolean => t.pairs.every((p) => verdicts.get(p)?.confirmed === true);

  /** One round: every target in `todo` read once, `concurrency` at a time; returns those still open, in order. */
  const round = async (todo: readonly Target[]): Promise<Target[]> => {
    rounds++;
    let next = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        if (stopNow()) return;
        const t = todo[next++];
        if (t === undefined) return;
        await readTarget(t);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
    // Targets left unread by a halt stay open too.
    return todo.filter((t) => !settled(t));
  };

  let todo: readonly Target[] = targets;
  if (todo.length > 0 && !stopNow()) {
    await fx.sleep(Math.min(o.firstDelayMs ?? FIRST_READ_DELAY_MS, Math.max(0, deadline - fx.now())));
    let wait = o.backoffBaseMs ?? VERIFY_BACKOFF_BASE_MS;
    const cap = o.backoffCapMs ?? VERIFY_BACKOFF_CAP_MS;
    for (;;) {
      if (stopNow()) break;
      todo = await round(todo);
      if (todo.length === 0 || stopNow()) break;
      const remaining = deadline - fx.now();
      if (remaining <= 0) break;
      // The last re-read is moved up to the deadline rather than skipped.
      await fx.sleep(Math.min(wait, remaining));
      wait = Math.min(wait * 2, cap);
    }
  }

  const durationMs = fx.now() - started;
  const rows = new Map<number, Verdict>();
  let unconfirmedRows = 0;
  for (const t of targets) {
    for (const p of t.pairs) {
      let v = verdicts.get(p);
      if (v === undefined) v = { confirmed: false, why: "unread", reason: `not verified: ${halt?.reason ?? "not read"}` };
      else if (!v.confirmed) v = { ...v, reason: `${v.reason} (read ${count(readsOf.get(p) ?? 0, "time")} over ${seconds(durationMs)})` };
      if (!v.confirmed) unconfirmedRows += p.rows.length;
      for (const key of p.rows) rows.set(key, v);
    }
  }
  const result: PollResult = { rows, confirmedRows, unconfirmedRows, reads, rounds, durationMs };
  if (halt !== undefined) result.halt = halt;
  return result;
}

/** "1 time", "3 times". */
function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "12.5 s". */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
