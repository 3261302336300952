// The send-and-report wiring that add, delete, sync and undo share (issue 11): the row files (report,
// failures, journal), the transport, the pipeline's sink and progress, Ctrl-C, --verify's read-back, the
// closing of every output, the summary and the exit code. Each command keeps only what is its own.
import { createWriteStream, openSync } from "node:fs";
import { Chalk } from "chalk";
import { EXIT, UsageError } from "../errors.js";
import type { Action } from "../model/types.js";
import { MAX_BATCH_BYTES } from "../plan/types.js";
import type { FailuresFile } from "../report/failures-file.js";
import type { Journal } from "../report/journal.js";
import { OUTPUT_MODE, OutputError, WRITE_FLAGS, describeFsError } from "../report/outputs.js";
import type { Progress, ProgressMode } from "../report/progress.js";
import type { ReportFile } from "../report/report-file.js";
import { colorLevel, formatSummary, problemLines, summaryJson, type RunSummary, type VerifySummary } from "../report/summary.js";
import { outcomeError, type Tally } from "../report/tally.js";
import type { BatchTransport, RequestInfo } from "../transport/types.js";
import { VERSION } from "../version.js";
import { createAppClient, type AppClient } from "../workspace/client.js";
import type { CommandContext } from "./context.js";
import { openTransport } from "./destination.js";
import type { RunOptions } from "./options.js";
import type { RowSink, SettledRow } from "./outcomes.js";
import type { PipelineControl, PipelineOptions, PipelineProgress, PipelineResult } from "./pipeline.js";
import type { Verifier } from "./verify-phase.js";

/** The files a sending run writes row by row. */
export interface RowFiles {
  journal?: Journal | undefined;
  report?: ReportFile | undefined;
  failures?: FailuresFile | undefined;
}

/** What --verify found, and why it stopped early if it did. */
export type Verified = { summary: VerifySummary; halt?: "auth" | "interrupted" };

/** The report and failures lines of a row; `confirmed` is --verify's verdict on an applied row. */
export function rowWriter(files: RowFiles, redact: (text: string) => string): (s: SettledRow, confirmed?: boolean) => void | Promise<void> {
  const { report, failures } = files;
  return (s, confirmed) => {
    const error = outcomeError(s.outcome);
    const fail = failures !== undefined && error !== undefined && s.row !== undefined;
    if (report === undefined && !fail) return;
    return (async () => {
      if (report !== undefined) {
        await report.write({
          row: s.index,
          line: s.line,
          outcome: s.outcome,
          person: s.relationship?.person,
          object: s.relationship?.object,
          ...(confirmed !== undefined ? { confirmed } : {}),
        });
      }
      if (fail) await failures.write(s.row as NonNullable<SettledRow["row"]>, redact(error));
    })();
  };
}

/**
 * The pipeline's row sink. Not async: most rows write nothing, and the pipeline awaits only a promise it is
 * given. With --verify, applied rows wait for their verdict before their lines are written.
 */
export function rowSinkOf(
  write: (s: SettledRow) => void | Promise<void>,
  files: RowFiles,
  verifier: Verifier | undefined,
  action: () => Action,
): RowSink {
  return {
    settle: (s) => (verifier?.take(s, action()) === true ? undefined : write(s)),
    ignoresApplied: files.report === undefined && verifier === undefined,
    // The failures file takes the rows with an error; --verify may yet find an applied row missing.
    needsRow: (outcome) => verifier !== undefined || outcomeError(outcome) !== undefined,
  };
}

/** "POST https://… 200 1234 B 56 ms (attempt 2)" for --verbose; `bytes` only when the request has a body. */
function requestLine(r: Pick<RequestInfo, "method" | "url" | "status" | "error" | "ms" | "attempt"> & { bytes?: number }): string {
  const bytes = r.bytes !== undefined ? ` ${r.bytes} B` : "";
  return (
    `${r.method} ${r.url} ${r.status ?? r.error ?? "no answer"}${bytes} ${Math.round(r.ms)} ms` + (r.attempt > 1 ? ` (attempt ${r.attempt})` : "")
  );
}

/** The sender of the route --via chose, with the run's send options; --verbose logs each request (`log` redacts). */
export function createSendTransport(opts: RunOptions, baseUrl: string, log: ((line: string) => void) | undefined): BatchTransport {
  return openTransport(opts.send, opts.input, {
    baseUrl,
    userAgent: `cio-rel/${VERSION}`,
    ...(log !== undefined ? { onRequest: (r: RequestInfo) => log(requestLine(r)) } : {}),
  });
}

/** Where the pipeline's batches go: the transport, or (dry run) --out or nowhere. */
export function pipelineSink(
  opts: RunOptions,
  transport: BatchTransport | undefined,
  out: NodeJS.WritableStream | undefined,
): PipelineOptions["sink"] {
  if (transport !== undefined) {
    const maxErrors = opts.send.maxErrors;
    return { kind: "send", transport, concurrency: opts.send.concurrency, ...(maxErrors !== undefined ? { maxErrors } : {}) };
  }
  return out !== undefined ? { kind: "dry-run", out } : { kind: "dry-run" };
}

/** The progress display's figures; `scaleBytes` when the input's size is known (a file). */
export function progressFigures(p: PipelineProgress, transport: BatchTransport | undefined, scaleBytes: boolean): Parameters<Progress["update"]>[0] {
  return {
    rowsRead: p.tally.rowsRead,
    applied: p.tally.count("applied"),
    failed: p.tally.count("failed"),
    requests: transport?.stats.requests ?? 0,
    // Reading runs ahead of sending by up to a window of rows; scale the bytes read by the share of rows
    // read that are settled, so percent and ETA follow the work done, not the reader.
    bytesRead: !scaleBytes || p.tally.rowsRead === 0 ? 0 : (p.bytesRead * p.tally.settled()) / p.tally.rowsRead,
  };
}

/**
 * Ctrl-C during a sending run: the first stops reading and ends every wait (backoff, Retry-After, rate limit)
 * while requests on the wire finish; the second aborts them. During --verify the same two steps stop the reads.
 */
export class RunInterrupts {
  /** Set by the command to the pipeline running now. */
  control: PipelineControl | undefined;
  #count = 0;
  #sending = true;
  #interrupted = false;

  constructor(
    private readonly progress: Progress,
    private readonly transport: BatchTransport | undefined,
    private readonly verifier: Verifier | undefined,
  ) {}

  /** Whether Ctrl-C came while sending. */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /** Hooks the command's interrupt signal; returns the unhook. */
  hook(ctx: CommandContext): (() => void) | undefined {
    return ctx.onInterrupt?.(() => this.#on());
  }

  /** Sending is over: a new Ctrl-C stops the verification, not the (finished) sending. */
  verifying(): void {
    this.#count = 0;
    this.#sending = false;
  }

  #on(): void {
    this.#count++;
    if (!this.#sending) {
      if (this.#count === 1) {
        this.progress.log("Interrupted: stopping the verification (Ctrl-C again to abort the reads in flight)…");
        this.verifier?.interrupt();
      } else this.verifier?.abort();
    } else if (this.#count === 1) {
      this.#interrupted = true;
      this.progress.log("Interrupted: finishing the requests in flight (Ctrl-C again to abort them)…");
      this.control?.interrupt();
      this.transport?.stopWaiting();
    } else {
      this.transport?.abort();
    }
  }
}

/** What verifyApplied needs: the App API, the run's tally, and where held rows get their lines. */
export interface VerifyAppliedOptions {
  ctx: CommandContext;
  verifier: Verifier;
  app: { baseUrl: string; apiKey: string };
  opts: RunOptions;
  tally: Tally;
  write: (s: SettledRow, confirmed?: boolean) => void | Promise<void>;
  mode: ProgressMode;
  /** Logs --verbose request lines (already redacted), or undefined. */
  log: ((line: string) => void) | undefined;
  /** Why nothing is read back (the run was interrupted), if so. */
  skip: string | undefined;
  /** Takes the App API client so the command closes it with its other outputs. */
  onClient: (client: AppClient) => void;
}

/** issue 14: reads back what the run applied; held rows get their report and failures lines here. */
export async function verifyApplied(o: VerifyAppliedOptions): Promise<Verified> {
  const log = o.log;
  const client = createAppClient({
    baseUrl: o.app.baseUrl,
    apiKey: o.app.apiKey,
    timeoutMs: o.opts.send.timeoutMs,
    maxRetries: o.opts.send.maxRetries,
    userAgent: `cio-rel/${VERSION}`,
    ...(log !== undefined ? { onRequest: (r) => log(requestLine(r)) } : {}),
  });
  o.onClient(client);
  return o.verifier.finish(
    {
      client,
      tally: o.tally,
      onRow: (s, verdict) => o.write(s, verdict?.confirmed),
      progress: { mode: o.mode, stream: o.ctx.stderr },
      ...(o.ctx.now !== undefined ? { now: o.ctx.now } : {}),
    },
    o.skip,
  );
}

/**
 * Closes every output; a file that cannot be finished (a full disk) is returned, to be reported with exit 4
 * after the summary (issue 9), anything else is thrown.
 */
export async function closeOutputs(closing: ReadonlyArray<Promise<void> | undefined>): Promise<OutputError | undefined> {
  let failure: OutputError | undefined;
  for (const r of await Promise.allSettled(closing.filter((p) => p !== undefined))) {
    if (r.status === "fulfilled") continue;
    if (!(r.reason instanceof OutputError)) throw r.reason;
    failure ??= r.reason;
  }
  return failure;
}

/**
 * Exit status from what happened (issues 5, 14): interrupted > auth > API failures > unconfirmed rows >
 * invalid rows > ok. `verifyHalt` is why --verify stopped reading early, if it did.
 */
export function exitCodeFor(result: PipelineResult, tally: Tally, dryRun: boolean, verifyHalt?: "auth" | "interrupted"): number {
  const halt = result.halt;
  if (halt?.kind === "interrupted" || verifyHalt === "interrupted") return EXIT.interrupted;
  if (halt?.kind === "auth" || verifyHalt === "auth") return EXIT.auth;
  if (halt?.kind === "input-error") return EXIT.usage;
  if (!dryRun && (tally.count("failed") > 0 || tally.count("skipped") > 0)) return EXIT.api;
  if (tally.count("unconfirmed") > 0) return EXIT.unconfirmed;
  if (tally.count("invalid") > 0) return EXIT.usage;
  return EXIT.ok;
}

/** What runSummary puts together. */
export interface SummaryParts {
  command: RunSummary["command"];
  opts: RunOptions;
  input: string;
  tally: Tally;
  result: PipelineResult;
  transport: BatchTransport | undefined;
  /** Requests made besides the sender's (sync's reads of the current state). */
  otherRequests?: number;
  durationMs: number;
  verified: Verified | undefined;
  exitCode: number;
  redact: (text: string) => string;
  resumeCommand?: string | undefined;
}

/** The run's summary, as printed and as --json shows it. */
export function runSummary(p: SummaryParts): RunSummary {
  const { opts, result, transport, verified } = p;
  const dryRun = opts.output.dryRun;
  return {
    command: p.command,
    dryRun,
    via: opts.send.via,
    input: p.input,
    ...p.tally.snapshot(),
    relationships: result.plan.relationships,
    operations: result.plan.operations,
    batches: result.plan.batches,
    requests: (transport?.stats.requests ?? 0) + (p.otherRequests ?? 0),
    retries: transport?.stats.retries ?? 0,
    bytes: dryRun ? result.plan.bytes : (transport?.stats.bytesSent ?? 0),
    durationMs: p.durationMs,
    files: {
      report: opts.output.report ?? null,
      failures: opts.output.failures ?? null,
      journal: opts.output.journal ?? null,
      out: opts.output.out ?? null,
    },
    verify: verified !== undefined ? { ...verified.summary, halt: verified.summary.halt === null ? null : p.redact(verified.summary.halt) } : null,
    exitCode: p.exitCode,
    ...(result.halt !== undefined ? { halt: p.redact(result.halt.reason) } : {}),
    ...(p.resumeCommand !== undefined ? { resumeCommand: p.resumeCommand } : {}),
  };
}

/**
 * Prints the summary: one JSON document (with `json` merged in) on stdout, the text summary, or with --quiet
 * only the rows that did not make it and the halt, on stderr (issue 10: they are errors).
 */
export function printSummary(ctx: CommandContext, opts: RunOptions, summary: RunSummary, json: Record<string, unknown> = {}): void {
  if (opts.output.json) {
    ctx.stdout.write(JSON.stringify({ ...summaryJson(summary), ...json }, null, 2) + "\n");
  } else if (!opts.output.quiet) {
    ctx.stdout.write(formatSummary(summary, { color: colorLevel(ctx.env, ctx.stdout.isTTY === true) > 0 }) + "\n");
  } else if (summary.failed + summary.invalid + summary.skipped > 0 || summary.halt !== undefined) {
    const lines = summary.groups !== undefined && summary.groups.length > 0 ? problemLines(summary, new Chalk({ level: 0 })) : [];
    if (summary.halt !== undefined) lines.push(`Stopped: ${summary.halt}`);
    ctx.stderr.write(lines.join("\n") + "\n");
  }
}

/** Bytes --out buffers before the dry run waits for the disk: four full batches. */
const OUT_BUFFER_BYTES = 4 * MAX_BATCH_BYTES;

/** --out for a dry run: no-follow and 0600 like every output (issue 9), opened here so a failure is a message. */
export function openOut(opts: RunOptions, at: (path: string) => string): NodeJS.WritableStream | undefined {
  if (opts.output.out === undefined) return undefined;
  const path = at(opts.output.out);
  let fd: number;
  try {
    fd = openSync(path, WRITE_FLAGS, OUTPUT_MODE);
  } catch (e) {
    throw new UsageError(`--out ${opts.output.out}: cannot write it: ${describeFsError(e)}`);
  }
  // Room for a few batch bodies (issue 16): with the default 16 KB, every 500 KB body waited for its write to
  // finish before the next was planned, ~60 ms of a 1M-row run spent idle.
  const out = createWriteStream(path, { fd, highWaterMark: OUT_BUFFER_BYTES });
  // A write that fails later is reported when the stream ends (endStream), not as an unhandled error.
  out.on("error", () => undefined);
  return out;
}

/** Ends a write stream and waits until it has flushed; a write that failed (a full disk) is an OutputError. */
export async function endStream(s: NodeJS.WritableStream, path: string): Promise<void> {
  const failed = (s as { errored?: unknown }).errored;
  if (failed !== null && failed !== undefined) throw new OutputError(path, failed);
  s.end();
  if ((s as { writableFinished?: boolean }).writableFinished === true) return;
  await new Promise<void>((resolve, reject) => {
    s.once("finish", resolve);
    s.once("error", (e: unknown) => reject(new OutputError(path, e)));
  });
}
