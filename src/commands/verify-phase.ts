// --verify for add, delete and sync (issue 14): applied rows are held while the run sends, then read back
// through the App API; each ends confirmed (still `applied`) or `unconfirmed`, and only then do their
// report and failures lines get written. Sync calls the same functions for its adds and deletes.
import { setTimeout as delay } from "node:timers/promises";
import { UsageError } from "../errors.js";
import type { Action } from "../model/types.js";
import type { VerifyFlagValues } from "./flags.js";
import { formatCount } from "../report/format.js";
import type { ProgressMode } from "../report/progress.js";
import { createStatusLine } from "../report/status-line.js";
import type { VerifySummary } from "../report/summary.js";
import type { Tally } from "../report/tally.js";
import { type AppClient, type Listing } from "../workspace/client.js";
import { readAppApiKey, resolveAppUrl } from "../workspace/config.js";
import type { ListingRead, Verdict } from "../verify/judge.js";
import type { Target, VerifyRow } from "../verify/pairs.js";
import { DEFAULT_VERIFY_TIMEOUT_MS } from "../verify/poll.js";
import { verifyRows } from "../verify/verify.js";
import type { SettledRow } from "./outcomes.js";

/** --verify-timeout and --verify-sample, checked; present only when --verify was given. */
export interface VerifyFlags {
  timeoutMs: number;
  sample?: number;
}

/** The flags of --verify, or undefined without it; a usage error for a combination that cannot work. */
export function parseVerifyFlags(raw: VerifyFlagValues, o: { dryRun: boolean }): VerifyFlags | undefined {
  if (raw.verify !== true) {
    if (raw.verifyTimeout !== undefined) throw new UsageError("--verify-timeout goes with --verify");
    if (raw.verifySample !== undefined) throw new UsageError("--verify-sample goes with --verify");
    return undefined;
  }
  if (o.dryRun) throw new UsageError("--verify reads back what a run sent; a dry run sends nothing");
  const flags: VerifyFlags = { timeoutMs: raw.verifyTimeout !== undefined ? Math.round(raw.verifyTimeout * 1000) : DEFAULT_VERIFY_TIMEOUT_MS };
  if (raw.verifySample !== undefined) flags.sample = raw.verifySample;
  return flags;
}

/** Where the App API is and its key, checked before anything is sent: a run must not send and then fail to verify. */
export async function appConnection(
  raw: Pick<VerifyFlagValues, "appApiKeyFile" | "appUrl">,
  ctx: { env: Readonly<Record<string, string | undefined>>; cwd: string },
  region: string | undefined,
  why: string,
): Promise<{ baseUrl: string; apiKey: string }> {
  const apiKey = await readAppApiKey(raw.appApiKeyFile, ctx.env, ctx.cwd);
  if (apiKey === undefined) throw new UsageError(`${why} reads through the App API: set CIO_APP_API_KEY or give --app-api-key-file`);
  return { baseUrl: resolveAppUrl({ region, appUrl: raw.appUrl }), apiKey };
}

/** A listing of the client as the verification core reads it. */
export function listingRead<T>(l: Listing<T>, of: "person" | "object", wrap: (items: T[]) => ListingRead): ListingRead {
  if (l.ok) return wrap(l.items);
  if (l.kind === "not-found") return { kind: "not-found", of };
  // Refused credentials will not get better by re-reading: they end the verification.
  if (l.kind === "auth") return { kind: "failed", reason: l.reason, fatal: true };
  return { kind: "failed", reason: l.reason };
}

/** Reads one target through the App API client. */
export function readTarget(client: AppClient): (t: Target) => Promise<ListingRead> {
  return async (t) =>
    t.read.side === "objects"
      ? listingRead(await client.peopleOf(t.read.object), "object", (people) => ({ kind: "people", people }))
      : listingRead(await client.objectsOf(t.read.person), "person", (objects) => ({ kind: "objects", objects }));
}

/** An applied row held until verification has judged it. */
interface Held {
  settled: SettledRow;
  action: Action;
}

/** What finishing the verification needs. */
export interface VerifyRunEffects {
  client: AppClient;
  /** Given, an unconfirmed row is re-settled there from applied to `unconfirmed` (add, delete, sync). */
  tally?: Tally;
  /** Takes a row once its verdict is known (its outcome already `unconfirmed` when re-settled); undefined: not checked. */
  onRow(row: SettledRow, verdict: Verdict | undefined): void | Promise<void>;
  /** How the start of the verification is announced on the progress stream; default "Verifying N applied rows". */
  announce?: string;
  progress: { mode: ProgressMode; stream: NodeJS.WritableStream };
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Holds the applied rows of a run (`take`), then verifies them (`finish`). A row the verifier holds gets its
 * report and failures lines from `finish`, with its final outcome, instead of when it was applied.
 */
export class Verifier {
  private readonly held: Held[] = [];
  private readonly stop = new AbortController();
  private client: AppClient | undefined;

  constructor(private readonly flags: VerifyFlags) {}

  /** Takes an applied row (true) to verify later; any other row is not its business (false). */
  take(s: SettledRow, action: Action): boolean {
    if (s.outcome.kind !== "applied" || s.relationship === undefined) return false;
    this.held.push({ settled: s, action });
    return true;
  }

  /** Applied rows held so far. */
  get size(): number {
    return this.held.length;
  }

  /** First Ctrl-C: no new read starts, the wait between rounds ends. */
  interrupt(): void {
    this.stop.abort();
  }

  /** Second Ctrl-C: the reads in flight are aborted too. */
  abort(): void {
    this.stop.abort();
    this.client?.abort();
  }

  /**
   * Reads back the held rows (unless `skip` says why not, e.g. the run was interrupted), re-settles the
   * unconfirmed ones in the tally, and hands every held row to `onRow` with its final outcome.
   */
  async finish(fx: VerifyRunEffects, skip?: string): Promise<{ summary: VerifySummary; halt?: "auth" | "interrupted" }> {
    this.client = fx.client;
    const now = fx.now ?? Date.now;
    const started = now();
    const rows: VerifyRow[] = this.held.map((h) => {
      const rel = h.settled.relationship as NonNullable<SettledRow["relationship"]>;
      const r: VerifyRow = { key: h.settled.index, action: h.action, person: rel.person, object: rel.object };
      if (rel.attributes !== undefined) r.attributes = rel.attributes;
      return r;
    });
    const line = await createStatusLine(fx.progress);
    const requestsBefore = fx.client.stats.requests;
    let report: Awaited<ReturnType<typeof verifyRows>> | undefined;
    try {
      if (skip === undefined && rows.length > 0) {
        line.log(
          fx.announce ??
            `Verifying ${formatCount(rows.length)} applied rows through the App API (up to ${this.flags.timeoutMs / 1000} s for writes to show)…`,
        );
        const sleep = fx.sleep ?? ((ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }));
        report = await verifyRows(
          rows,
          {
            read: readTarget(fx.client),
            now,
            // An interrupt ends the wait between rounds at once.
            sleep: (ms) => sleep(ms, this.stop.signal).catch(() => undefined),
            stopped: () => this.stop.signal.aborted,
            onProgress: (p) =>
              line.update(
                `verify: round ${p.round} · listings read ${formatCount(p.reads)} · confirmed ${formatCount(p.confirmedRows)} · not yet ${formatCount(p.pendingRows)} · requests ${formatCount(fx.client.stats.requests - requestsBefore)}`,
              ),
          },
          {
            timeoutMs: this.flags.timeoutMs,
            ...(this.flags.sample !== undefined ? { sample: this.flags.sample } : {}),
            ...(fx.random !== undefined ? { random: fx.random } : {}),
          },
        );
      }
    } finally {
      line.stop();
    }
    let confirmed = 0;
    let unconfirmed = 0;
    for (const h of this.held) {
      const verdict = report?.poll.rows.get(h.settled.index);
      if (verdict === undefined) {
        await fx.onRow(h.settled, undefined);
      } else if (verdict.confirmed) {
        confirmed++;
        await fx.onRow(h.settled, verdict);
      } else {
        unconfirmed++;
        if (fx.tally === undefined) await fx.onRow(h.settled, verdict);
        else {
          const outcome = { kind: "unconfirmed", reason: verdict.reason } as const;
          fx.tally.resettle(h.settled.index, h.settled.line, outcome);
          await fx.onRow({ ...h.settled, outcome }, verdict);
        }
      }
    }
    const halt = report?.poll.halt;
    const summary: VerifySummary = {
      confirmed,
      unconfirmed,
      notChecked: this.held.length - confirmed - unconfirmed,
      side: report?.side.side ?? "objects",
      sideReason: report?.side.reason ?? skip ?? "nothing applied to verify",
      listings: report?.targets ?? 0,
      reads: report?.poll.reads ?? 0,
      rounds: report?.poll.rounds ?? 0,
      requests: fx.client.stats.requests - requestsBefore,
      timeoutMs: this.flags.timeoutMs,
      durationMs: Math.round(now() - started),
      sample: report?.sample !== undefined ? { objects: report.sample.objects, of: report.sample.of } : null,
      halt: halt !== undefined ? halt.reason : skip !== undefined ? `not verified: ${skip}` : null,
    };
    return halt !== undefined ? { summary, halt: halt.kind } : { summary };
  }
}
