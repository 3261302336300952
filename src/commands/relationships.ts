import { createWriteStream, openSync } from "node:fs";
import { resolve } from "node:path";
import { EXIT, UsageError } from "../errors.js";
import { createHash } from "node:crypto";
import type { SqlRowSource } from "../input/sql/source.js";
import { hasTopLevelOrderBy, SQL_DISPLAY_NAME } from "../input/sql/text.js";
import type { Row, RowSource } from "../input/types.js";
import { looksLikeEmail, validateObject, validatePerson } from "../model/validate.js";
import { objectLabel, personLabel } from "../model/types.js";
import { FailuresFile } from "../report/failures-file.js";
import { openJournal, type Journal, type JournalInput } from "../report/journal.js";
import { createProgress, resolveProgressMode } from "../report/progress.js";
import { ReportFile } from "../report/report-file.js";
import { Chalk } from "chalk";
import { colorLevel, formatSummary, plural, problemLines, summaryJson, type RunSummary } from "../report/summary.js";
import { Tally, outcomeError } from "../report/tally.js";
import { encoderFor, openTransport, sendUrl } from "./destination.js";
import type { BatchTransport } from "../transport/types.js";
import { VERSION } from "../version.js";
import type { CommandContext } from "./context.js";
import { closeInput, prepareInput, type PreparedInput } from "./input.js";
import type { InputFlags, RelationshipFlags } from "./flags.js";
import { parseRunOptions, payloadShapingOptions, type RunOptions } from "./options.js";
import type { SettledRow } from "./outcomes.js";
import { startPipeline, type PipelineResult } from "./pipeline.js";
import { DISTINCT_CAP } from "../pipeline/sides.js";
import { redactor } from "./secrets.js";
import { appConnection, parseVerifyFlags, Verifier } from "./verify-phase.js";
import { createAppClient, type AppClient } from "../workspace/client.js";
import type { VerifySummary } from "../report/summary.js";
import { noteWorkspaceWrite } from "./freshness.js";
import { OUTPUT_MODE, OutputError, WRITE_FLAGS, checkOutputs, describeFsError, type NamedPath, type OutputPlan } from "../report/outputs.js";

/** `cio-rel add` and `cio-rel delete`: plan, (confirm,) send or dry-run, report; returns the exit code. */
export async function runRelationships(
  ctx: CommandContext,
  command: "add" | "delete",
  raw: RelationshipFlags,
  fromEnv?: ReadonlyMap<string, string>,
): Promise<number> {
  const started = (ctx.now ?? Date.now)();
  const opts = parseRunOptions(command, raw, ctx.env, fromEnv);
  checkFixedSides(opts);
  const fixedWarning = fixedEmailWarning(raw);
  if (fixedWarning !== undefined) ctx.stderr.write(`cio-rel: warning: ${fixedWarning}\n`);
  // ---- issue 14: --verify (flags and the App API key checked before anything is sent) ----
  const verifyFlags = parseVerifyFlags(raw, { dryRun: opts.output.dryRun });
  const app = verifyFlags !== undefined ? await appConnection(raw, ctx.env, opts.send.region, "--verify") : undefined;
  const verifier = verifyFlags !== undefined ? new Verifier(verifyFlags) : undefined;
  // ---- end issue 14 ----
  const baseUrl = opts.output.dryRun ? undefined : sendUrl(opts.send);
  if (opts.output.dryRun && (opts.output.report !== undefined || opts.output.journal !== undefined)) {
    throw new UsageError("--report and --journal record what was sent; a dry run sends nothing (use --out and --failures)");
  }
  if (opts.output.journal !== undefined && opts.input.path === "-") {
    throw new UsageError("--journal needs the input in a file: standard input cannot be read again to resume");
  }
  // Notes (a sniffed delimiter) go through the progress display once it runs; the delete question reads the
  // input twice, so each note is said once.
  let log: ((line: string) => void) | undefined;
  const said = new Set<string>();
  const note = (line: string): void => {
    if (said.has(line)) return;
    said.add(line);
    if (log !== undefined) log(line);
    else ctx.stderr.write(line + "\n");
  };
  // Files the user named are relative to the command's folder, which is not the process's in tests.
  const at = (path: string): string => resolve(ctx.cwd, path);
  // --- issue 9: every output is checked before anything is read (nothing is created here) ---
  await checkOutputs(outputPlan(opts, raw, at));
  const opener = ctx.openOutput;
  // --- end issue 9 output checks ---
  const input = await prepareInput(ctx, opts.input, { onNote: (m) => note(`cio-rel: note: ${m}`) });
  const journaling = opts.output.journal !== undefined;
  // --- SQL source (issue 17): a resume must read the same rows in the same order ---
  if (journaling && input.sql !== undefined && !hasTopLevelOrderBy(input.sql.query)) {
    throw new UsageError(
      "--journal with --sql needs a query with ORDER BY at its top level: a resumed run must read the same rows in the same order",
    );
  }
  const open = (): Promise<RowSource> => input.open({ hashHead: journaling });

  if (command === "delete" && !opts.output.dryRun && !opts.output.yes) {
    const declined = await confirmDelete(ctx, opts, open);
    if (declined !== undefined) return declined;
  }

  const source = await open();
  const tally = new Tally();
  const redact = redactor([opts.send.siteId, opts.send.apiKey, opts.send.pipelinesApiKey, app?.apiKey]);

  let journal: Journal | undefined;
  let report: ReportFile | undefined;
  let failures: FailuresFile | undefined;
  try {
    // The journal first: a refused resume must not truncate the report and failures of the run it resumes.
    if (opts.output.journal !== undefined) {
      journal = await openJournal(at(opts.output.journal), {
        input: journalInput(opts, input, source, at),
        options: payloadShapingOptions(opts),
        resume: opts.output.resume,
        ...(opener !== undefined ? { opener } : {}),
      });
    }
    if (opts.output.report !== undefined) report = await ReportFile.open(at(opts.output.report), opener);
    if (opts.output.failures !== undefined) {
      failures = await FailuresFile.open(
        at(opts.output.failures),
        {
          format: source.format,
          headerless: source.headerless,
          columns: () => source.columns(),
          delimiter: () => source.delimiter?.() ?? opts.input.delimiter,
        },
        opener,
      );
    }
  } catch (error) {
    await Promise.all([closeInput(source), journal?.close(), report?.close()]);
    throw error;
  }
  const mode = resolveProgressMode(opts.output.progress, ctx.stderr.isTTY === true, opts.output.quiet || opts.output.json);
  const progress = createProgress({
    mode,
    stream: ctx.stderr,
    ...(source.totalBytes !== undefined ? { totalBytes: source.totalBytes } : {}),
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  });
  log = (line) => progress.log(line);
  let out: NodeJS.WritableStream | undefined;
  let transport: BatchTransport | undefined;
  let appClient: AppClient | undefined;
  // issue 9: a file that cannot be finished (a full disk) is reported with exit 4 after the summary, not thrown.
  let closeFailure: OutputError | undefined;
  const closeAll = async (): Promise<void> => {
    const closing = [
      report?.close(),
      failures?.close(),
      journal?.close(),
      transport?.close(),
      appClient?.close(),
      out !== undefined ? endStream(out, at(opts.output.out as string)) : undefined,
      closeInput(source),
    ].filter((p) => p !== undefined);
    for (const r of await Promise.allSettled(closing)) {
      if (r.status === "fulfilled") continue;
      if (!(r.reason instanceof OutputError)) throw r.reason;
      closeFailure ??= r.reason;
    }
  };

  let result: PipelineResult;
  let verified: { summary: VerifySummary; halt?: "auth" | "interrupted" } | undefined;
  let interrupts = 0;
  let unhook: (() => void) | undefined;
  try {
    if (opts.output.dryRun) {
      if (opts.output.out !== undefined) {
        // No-follow and 0600 like every output (issue 9); opened here so a failure is a message, not a stream error.
        const path = at(opts.output.out);
        let fd: number;
        try {
          fd = openSync(path, WRITE_FLAGS, OUTPUT_MODE);
        } catch (e) {
          throw new UsageError(`--out ${opts.output.out}: cannot write it: ${describeFsError(e)}`);
        }
        out = createWriteStream(path, { fd });
        // A write that fails later is reported when the stream ends (endStream), not as an unhandled error.
        out.on("error", () => undefined);
      }
    } else {
      transport = openTransport(opts.send, opts.input, {
        baseUrl: baseUrl as string,
        userAgent: `cio-rel/${VERSION}`,
        ...(opts.output.verbose
          ? {
              onRequest: (r) =>
                progress.log(
                  redact(
                    `${r.method} ${r.url} ${r.status ?? r.error ?? "no answer"} ${r.bytes} B ${Math.round(r.ms)} ms` +
                      (r.attempt > 1 ? ` (attempt ${r.attempt})` : ""),
                  ),
                ),
            }
          : {}),
      });
    }
    /** The report and failures lines of a row; `confirmed` is --verify's verdict on an applied row. */
    const writeRow = (s: SettledRow, confirmed?: boolean): void | Promise<void> => {
      const error = outcomeError(s.outcome);
      const failuresFile = failures; // a const, so the check below narrows it inside the closure
      const fail = failuresFile !== undefined && error !== undefined && s.row !== undefined;
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
        if (fail) await failuresFile.write(s.row as Row, redact(error));
      })();
    };
    const rows = {
      // Not async: most rows write nothing, and the pipeline awaits only a promise it is given.
      // With --verify, applied rows wait for their verdict before their lines are written.
      settle: (s: SettledRow): void | Promise<void> => (verifier?.take(s, opts.action) === true ? undefined : writeRow(s)),
      ignoresApplied: report === undefined && verifier === undefined,
    };
    const pipeline = startPipeline({
      action: opts.action,
      input: opts.input,
      encoder: encoderFor(opts.send.via),
      source,
      sink:
        transport !== undefined
          ? {
              kind: "send",
              transport,
              concurrency: opts.send.concurrency,
              ...(opts.send.maxErrors !== undefined ? { maxErrors: opts.send.maxErrors } : {}),
            }
          : out !== undefined
            ? { kind: "dry-run", out }
            : { kind: "dry-run" },
      rows,
      tally,
      keepRows: failures !== undefined,
      ...(opts.output.tempDir !== undefined ? { tempDir: opts.output.tempDir } : {}),
      ...(raw.personKey === undefined ? { onEmailsAsIds: (w: string) => note(`cio-rel: warning: ${w}`) } : {}),
      ...(journal?.resume !== undefined ? { resume: journal.resume } : {}),
      ...(journal !== undefined ? { journal } : {}),
      onProgress: (p) =>
        progress.update({
          rowsRead: p.tally.rowsRead,
          applied: p.tally.count("applied"),
          failed: p.tally.count("failed"),
          requests: transport?.stats.requests ?? 0,
          // Reading runs ahead of sending by up to a window of rows; scale the bytes read by the share of
          // rows read that are settled, so percent and ETA follow the work done, not the reader.
          bytesRead: p.tally.rowsRead === 0 ? 0 : (p.bytesRead * p.tally.settled()) / p.tally.rowsRead,
        }),
    });
    let verifying = false;
    unhook = ctx.onInterrupt?.(() => {
      interrupts++;
      if (verifying) {
        if (interrupts === 1) {
          progress.log("Interrupted: stopping the verification (Ctrl-C again to abort the reads in flight)…");
          verifier?.interrupt();
        } else verifier?.abort();
      } else if (interrupts === 1) {
        progress.log("Interrupted: finishing the requests in flight (Ctrl-C again to abort them)…");
        pipeline.control.interrupt();
        // issue 9: waits (backoff, Retry-After, rate limit) end now; only requests on the wire finish.
        transport?.stopWaiting();
      } else {
        transport?.abort();
      }
    });
    result = await pipeline.done;
    // ---- issue 14: read back what was applied; held rows get their report/failures lines here ----
    if (verifier !== undefined && app !== undefined) {
      progress.stop();
      // A new interrupt during the verification stops it, not the (finished) sending.
      interrupts = 0;
      verifying = true;
      appClient = createAppClient({
        baseUrl: app.baseUrl,
        apiKey: app.apiKey,
        timeoutMs: opts.send.timeoutMs,
        maxRetries: opts.send.maxRetries,
        userAgent: `cio-rel/${VERSION}`,
        ...(opts.output.verbose
          ? {
              onRequest: (r) =>
                progress.log(
                  redact(
                    `${r.method} ${r.url} ${r.status ?? r.error ?? "no answer"} ${Math.round(r.ms)} ms` +
                      (r.attempt > 1 ? ` (attempt ${r.attempt})` : ""),
                  ),
                ),
            }
          : {}),
      });
      verified = await verifier.finish(
        {
          client: appClient,
          tally,
          onRow: (s, verdict) => writeRow(s, verdict?.confirmed),
          progress: { mode, stream: ctx.stderr },
          ...(ctx.now !== undefined ? { now: ctx.now } : {}),
        },
        result.halt?.kind === "interrupted" ? "the run was interrupted" : undefined,
      );
    }
  } finally {
    unhook?.();
    progress.stop();
    await closeAll();
  }
  tally.assertBalanced();
  // A sync later in this process waits for these writes to show in reads (issue 13).
  if (!opts.output.dryRun && tally.count("applied") > 0) noteWorkspaceWrite((ctx.now ?? Date.now)());

  const outputFailure = result.outputError ?? closeFailure;
  const exitCode = outputFailure !== undefined ? EXIT.output : exitCodeFor(result, tally, opts.output.dryRun, verified?.halt);
  // issue 9: a run that stopped early says how to finish it (null without a journal).
  // So did one whose rows failed for a transient reason (retries ran out on a dead endpoint before
  // --give-up-after): they are not journalled, and --resume sends them again.
  const resumable =
    result.halt?.kind === "interrupted" || result.halt?.kind === "gave-up" || outputFailure !== undefined || (result.retryableFailures ?? 0) > 0;
  const resume = resumable ? (resumeCommand(ctx.argv, opts) ?? null) : undefined;
  const summary: RunSummary = {
    command,
    dryRun: opts.output.dryRun,
    input: source.displayName,
    ...tally.snapshot(),
    relationships: result.plan.relationships,
    operations: result.plan.operations,
    batches: result.plan.batches,
    requests: transport?.stats.requests ?? 0,
    retries: transport?.stats.retries ?? 0,
    bytes: opts.output.dryRun ? result.plan.bytes : (transport?.stats.bytesSent ?? 0),
    durationMs: Math.round((ctx.now ?? Date.now)() - started),
    files: {
      report: opts.output.report ?? null,
      failures: opts.output.failures ?? null,
      journal: opts.output.journal ?? null,
      out: opts.output.out ?? null,
    },
    verify: verified !== undefined ? { ...verified.summary, halt: verified.summary.halt === null ? null : redact(verified.summary.halt) } : null,
    exitCode,
    ...(result.halt !== undefined ? { halt: redact(result.halt.reason) } : {}),
    ...(resume !== undefined && resume !== null ? { resumeCommand: resume } : {}),
  };
  if (opts.output.json) {
    const doc = resume !== undefined ? { ...summaryJson(summary), resume } : summaryJson(summary);
    ctx.stdout.write(JSON.stringify(doc, null, 2) + "\n");
  } else if (!opts.output.quiet) ctx.stdout.write(formatSummary(summary, { color: colorLevel(ctx.env, ctx.stdout.isTTY === true) > 0 }) + "\n");
  else if (summary.failed + summary.invalid + summary.skipped > 0 || summary.halt !== undefined) {
    // --quiet prints only errors, and the rows that did not make it are errors (issue 10).
    const quietLines = summary.groups !== undefined && summary.groups.length > 0 ? problemLines(summary, new Chalk({ level: 0 })) : [];
    if (summary.halt !== undefined) quietLines.push(`Stopped: ${summary.halt}`);
    ctx.stderr.write(quietLines.join("\n") + "\n");
  }
  if (result.halt?.kind === "input-error") ctx.stderr.write(`cio-rel: ${result.halt.error.message}\n`);
  if (tally.rowsRead === 0) ctx.stderr.write(`cio-rel: note: ${noRowsNote(source)}\n`);
  if (outputFailure !== undefined) ctx.stderr.write(`cio-rel: ${outputFailure.message}\n`);
  return exitCode;
}

/**
 * What the journal records of the input: the file's path (its size and first 64 KiB are read from it), or for
 * --sql a hash of the query text with the hash of the result's first 64 KiB of rows and their count, so that
 * a resume whose query or first rows differ is refused. The database URL is never part of it.
 */
function journalInput(opts: RunOptions, input: PreparedInput, source: RowSource, at: (path: string) => string): string | JournalInput {
  if (input.sql === undefined) return at(opts.input.path);
  const head = (source as SqlRowSource).head;
  const query = createHash("sha256").update(input.sql.query).digest("hex").slice(0, 16);
  return { path: `${SQL_DISPLAY_NAME} (query sha256 ${query})`, size: head?.rows ?? 0, headHash: head?.hash ?? "" };
}

/** What to say about an input that held no data rows (issue 10: "says so plainly"). */
export function noRowsNote(source: RowSource): string {
  const what = source.columns() !== undefined ? "only a header row, no data rows" : "no data rows";
  return `${source.displayName} has ${what}: nothing to do`;
}

/** The warning for --person given an email address without --person-key (it would be sent as an id). */
export function fixedEmailWarning(raw: Pick<InputFlags, "person" | "personKey">): string | undefined {
  if (raw.person === undefined || raw.personKey !== undefined || !looksLikeEmail(raw.person.trim())) return undefined;
  return `--person ${JSON.stringify(raw.person)} looks like an email address but is sent as id: pass --person-key email to send it as an email address`;
}

/** --object and --person values are checked like any row's, before anything is read (a usage error). */
function checkFixedSides(opts: RunOptions): void {
  const { fixedObject, fixedPerson } = opts.input;
  const objectProblem = fixedObject !== undefined ? validateObject(fixedObject) : undefined;
  if (objectProblem !== undefined) throw new UsageError(`--object: ${objectProblem}`);
  const personProblem = fixedPerson !== undefined ? validatePerson(fixedPerson) : undefined;
  if (personProblem !== undefined) throw new UsageError(`--person: ${personProblem}`);
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

/**
 * Plans the whole input once and asks before deleting (issue 5). Returns an exit code when the run must
 * end here (declined), undefined to go on.
 */
async function confirmDelete(ctx: CommandContext, opts: RunOptions, open: () => Promise<RowSource>): Promise<number | undefined> {
  const interactive = ctx.stdin.isTTY === true && ctx.stderr.isTTY === true && ctx.confirm !== undefined && opts.input.path !== "-";
  if (!interactive) {
    // With --people - (or --objects/--file -) standard input holds the rows, so it cannot also hold the answer.
    throw new UsageError(
      opts.input.path === "-"
        ? "cio-rel delete asks before removing relationships, but standard input is taken by the input (-): add --yes to go ahead"
        : "cio-rel delete removes relationships and there is no terminal to confirm on: add --yes to go ahead",
    );
  }
  const source = await open();
  const tally = new Tally();
  const { done } = startPipeline({
    action: opts.action,
    input: opts.input,
    encoder: encoderFor(opts.send.via),
    source,
    sink: { kind: "dry-run" },
    rows: { settle: () => undefined },
    tally,
    keepRows: false,
    countSides: true,
    windowOnly: true,
  });
  const plan = await done;
  const n = plan.plan.relationships;
  if (n === 0) return undefined;
  const { fixedObject, fixedPerson } = opts.input;
  const people = fixedPerson !== undefined ? personLabel(fixedPerson) : count(plan.distinctPeople, "person", "people");
  const objects = fixedObject !== undefined ? objectLabel(fixedObject) : count(plan.distinctObjects, "object", "objects");
  const types = plan.objectTypes.length > 0 ? ` (object type ${plan.objectTypes.join(", ")})` : "";
  const invalid = tally.count("invalid") > 0 ? ` ${plural(tally.count("invalid"), "invalid row")} will not be sent.` : "";
  const ok = await (ctx.confirm as (q: string) => Promise<boolean>)(
    `Remove ${plural(n, "relationship")} between ${people} and ${objects}${types}?${invalid} [y/N] `,
  );
  if (ok) return undefined;
  ctx.stderr.write("Nothing deleted.\n");
  return EXIT.interrupted;
}

/** "3 people", "1 person", "100,000+ people" (the distinct count is capped). */
function count(n: number, one: string, many: string): string {
  const capped = n >= DISTINCT_CAP ? `${DISTINCT_CAP.toLocaleString("en-US")}+` : n.toLocaleString("en-US");
  return `${capped} ${n === 1 ? one : many}`;
}

/** The command that resumes an interrupted run: the same arguments with --resume, credentials left to the environment. */
function resumeCommand(argv: readonly string[], opts: RunOptions): string | undefined {
  if (opts.output.journal === undefined) return undefined;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--api-key" || a === "--site-id") {
      i++;
      continue;
    }
    if (a.startsWith("--api-key=") || a.startsWith("--site-id=") || a === "--resume") continue;
    args.push(a);
  }
  args.push("--resume");
  return ["cio-rel", ...args.map(shellQuote)].join(" ");
}

/** Quotes an argument for a POSIX shell when it needs it. */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Ends a write stream and waits until it has flushed; a write that failed (a full disk) is an OutputError. */
async function endStream(s: NodeJS.WritableStream, path: string): Promise<void> {
  const failed = (s as { errored?: unknown }).errored;
  if (failed !== null && failed !== undefined) throw new OutputError(path, failed);
  s.end();
  if ((s as { writableFinished?: boolean }).writableFinished === true) return;
  await new Promise<void>((resolve, reject) => {
    s.once("finish", resolve);
    s.once("error", (e: unknown) => reject(new OutputError(path, e)));
  });
}

/** issue 9: the files read and the files written, as checkOutputs compares them. */
function outputPlan(opts: RunOptions, raw: RelationshipFlags, at: (path: string) => string): OutputPlan {
  const named = (flag: string, given: string | undefined): NamedPath[] => (given === undefined ? [] : [{ flag, given, path: at(given) }]);
  const inputFlag = raw.file !== undefined ? "--file" : raw.people !== undefined ? "--people" : "--objects";
  const inputs = [
    ...(opts.input.sql === undefined && opts.input.path !== "-" ? named(inputFlag, opts.input.path) : []),
    ...named("--sql-file", raw.sqlFile),
    ...named("--api-key-file", raw.apiKeyFile),
    ...named("--site-id-file", raw.siteIdFile),
    ...named("--pipelines-api-key-file", raw.pipelinesApiKeyFile),
  ];
  const outputs = [
    ...named("--journal", opts.output.journal),
    ...named("--report", opts.output.report),
    ...named("--failures", opts.output.failures),
    ...named("--out", opts.output.out),
  ];
  return { inputs, outputs, mustExist: new Set(opts.output.resume ? ["--journal"] : []) };
}
