import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { EXIT, UsageError } from "../errors.js";
import type { SqlRowSource } from "../input/sql/source.js";
import { hasTopLevelOrderBy, SQL_DISPLAY_NAME } from "../input/sql/text.js";
import type { RowSource } from "../input/types.js";
import { objectLabel, personLabel } from "../model/types.js";
import { looksLikeEmail, validateObject, validatePerson } from "../model/validate.js";
import { DISTINCT_CAP } from "../pipeline/sides.js";
import { FailuresFile } from "../report/failures-file.js";
import { openJournal, type JournalInput } from "../report/journal.js";
import { checkOutputs, type NamedPath, type OutputError, type OutputPlan } from "../report/outputs.js";
import { createProgress, resolveProgressMode } from "../report/progress.js";
import { ReportFile } from "../report/report-file.js";
import { plural } from "../report/summary.js";
import { Tally } from "../report/tally.js";
import type { BatchTransport } from "../transport/types.js";
import type { AppClient } from "../workspace/client.js";
import type { CommandContext } from "./context.js";
import { encoderFor, sendUrl } from "./destination.js";
import { noteWorkspaceWrite } from "./freshness.js";
import { closeInput, prepareInput, type PreparedInput } from "./input.js";
import type { InputFlags, RelationshipFlags } from "./flags.js";
import { parseRunOptions, payloadShapingOptions, type RunOptions } from "./options.js";
import { startPipeline, type PipelineResult } from "./pipeline.js";
import { redactor } from "./secrets.js";
import { formatCount } from "../report/format.js";
import {
  closeOutputs,
  createSendTransport,
  endStream,
  exitCodeFor,
  openOut,
  pipelineSink,
  printSummary,
  progressFigures,
  rowSinkOf,
  rowWriter,
  runSummary,
  RunInterrupts,
  verifyApplied,
  type RowFiles,
  type Verified,
} from "./send-run.js";
import { appConnection, parseVerifyFlags, Verifier } from "./verify-phase.js";

/** `cio-rel add` and `cio-rel delete`: plan, (confirm,) send or dry-run, report; returns the exit code. */
export async function runRelationships(
  ctx: CommandContext,
  command: "add" | "delete",
  raw: RelationshipFlags,
  fromEnv?: ReadonlyMap<string, string>,
): Promise<number> {
  const started = (ctx.now ?? Date.now)();
  const opts = parseRunOptions(command, raw, ctx, fromEnv);
  checkFixedSides(opts);
  const fixedWarning = fixedEmailWarning(raw);
  if (fixedWarning !== undefined) ctx.stderr.write(`cio-rel: warning: ${fixedWarning}\n`);
  // ---- issue 14: --verify (flags and the App API key checked before anything is sent) ----
  const verifyFlags = parseVerifyFlags(raw, { dryRun: opts.output.dryRun });
  const app = verifyFlags !== undefined ? await appConnection(raw, ctx, opts.send.region, "--verify") : undefined;
  // ---- end issue 14 ----
  const baseUrl = opts.output.dryRun ? undefined : sendUrl(opts.send);
  checkRecordFlags(opts);
  const notes = new Notes(ctx);
  // Files the user named are relative to the command's folder, which is not the process's in tests.
  const at = (path: string): string => resolve(ctx.cwd, path);
  // --- issue 9: every output is checked before anything is read (nothing is created here) ---
  await checkOutputs(outputPlan(opts, raw, at));
  const input = await prepareInput(ctx, opts.input, { onNote: (m) => notes.say(`cio-rel: note: ${m}`) });
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
  const files = await openRowFiles(ctx, opts, input, source, at);
  const run: SendRun = {
    ctx,
    command,
    raw,
    opts,
    source,
    files,
    tally: new Tally(),
    redact: redactor([opts.send.siteId, opts.send.apiKey, opts.send.pipelinesApiKey, app?.apiKey]),
    baseUrl,
    app,
    verifier: verifyFlags !== undefined ? new Verifier(verifyFlags) : undefined,
    notes,
    at,
  };
  const sent = await sendAll(run);
  return finishRun(run, sent, started);
}

/** Everything a run of add/delete carries from its setup into sending and reporting. */
interface SendRun {
  ctx: CommandContext;
  command: "add" | "delete";
  raw: RelationshipFlags;
  opts: RunOptions;
  source: RowSource;
  files: RowFiles;
  tally: Tally;
  redact: (text: string) => string;
  /** The Track URL; undefined in a dry run. */
  baseUrl: string | undefined;
  app: { baseUrl: string; apiKey: string } | undefined;
  verifier: Verifier | undefined;
  notes: Notes;
  at: (path: string) => string;
}

/** What sending (and --verify) left for the summary. */
interface Sent {
  result: PipelineResult;
  verified: Verified | undefined;
  transport: BatchTransport | undefined;
  /** issue 9: an output that could not be finished (a full disk). */
  closeFailure: OutputError | undefined;
}

/** --report and --journal record what was sent, so a dry run refuses them; a journal needs a file to read again. */
function checkRecordFlags(opts: RunOptions): void {
  if (opts.output.dryRun && (opts.output.report !== undefined || opts.output.journal !== undefined)) {
    throw new UsageError("--report and --journal record what was sent; a dry run sends nothing (use --out and --failures)");
  }
  if (opts.output.journal !== undefined && opts.input.path === "-") {
    throw new UsageError("--journal needs the input in a file: standard input cannot be read again to resume");
  }
}

/**
 * Notes (a sniffed delimiter) go through the progress display once it runs; the delete question reads the
 * input twice, so each note is said once.
 */
class Notes {
  log: ((line: string) => void) | undefined;
  readonly #said = new Set<string>();

  constructor(private readonly ctx: CommandContext) {}

  say(line: string): void {
    if (this.#said.has(line)) return;
    this.#said.add(line);
    if (this.log !== undefined) this.log(line);
    else this.ctx.stderr.write(line + "\n");
  }
}

/** Opens the journal, then --report and --failures; on a failure closes what was opened (and the input). */
async function openRowFiles(
  ctx: CommandContext,
  opts: RunOptions,
  input: PreparedInput,
  source: RowSource,
  at: (path: string) => string,
): Promise<RowFiles> {
  const opener = ctx.openOutput;
  const files: RowFiles = {};
  try {
    // The journal first: a refused resume must not truncate the report and failures of the run it resumes.
    if (opts.output.journal !== undefined) {
      files.journal = await openJournal(at(opts.output.journal), {
        input: journalInput(opts, input, source, at),
        options: payloadShapingOptions(opts),
        resume: opts.output.resume,
        ...(opener !== undefined ? { opener } : {}),
      });
    }
    if (opts.output.report !== undefined) files.report = await ReportFile.open(at(opts.output.report), opener);
    if (opts.output.failures !== undefined) {
      const layout = {
        format: source.format,
        headerless: source.headerless,
        columns: () => source.columns(),
        delimiter: () => source.delimiter?.() ?? opts.input.delimiter,
      };
      files.failures = await FailuresFile.open(at(opts.output.failures), layout, opener);
    }
    return files;
  } catch (error) {
    await Promise.all([closeInput(source), files.journal?.close(), files.report?.close()]);
    throw error;
  }
}

/** Sends (or dry-runs) the input through the pipeline, then --verify; closes every output. */
async function sendAll(run: SendRun): Promise<Sent> {
  const { ctx, opts, source, files, tally, redact } = run;
  const mode = resolveProgressMode(opts.output.progress, ctx.stderr.isTTY === true, opts.output.quiet || opts.output.json);
  const progress = await createProgress({
    mode,
    stream: ctx.stderr,
    ...(source.totalBytes !== undefined ? { totalBytes: source.totalBytes } : {}),
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
    ...(ctx.progressIntervalMs !== undefined ? { intervalMs: ctx.progressIntervalMs } : {}),
  });
  run.notes.log = (line) => progress.log(line);
  const verbose = opts.output.verbose ? (line: string): void => progress.log(redact(line)) : undefined;
  let out: NodeJS.WritableStream | undefined;
  let transport: BatchTransport | undefined;
  let appClient: AppClient | undefined;
  let unhook: (() => void) | undefined;
  let result: PipelineResult;
  let verified: Verified | undefined;
  let closeFailure: OutputError | undefined;
  try {
    if (opts.output.dryRun) out = openOut(opts, run.at);
    else transport = createSendTransport(opts, run.baseUrl as string, verbose);
    const write = rowWriter(files, redact);
    const interrupts = new RunInterrupts(progress, transport, run.verifier);
    const pipeline = startPipeline({
      action: opts.action,
      input: opts.input,
      encoder: encoderFor(opts.send.via),
      source,
      sink: pipelineSink(opts, transport, out),
      rows: rowSinkOf(write, files, run.verifier, () => opts.action),
      tally,
      keepRows: files.failures !== undefined,
      ...(opts.output.tempDir !== undefined ? { tempDir: opts.output.tempDir } : {}),
      ...(run.raw.personKey === undefined ? { onEmailsAsIds: (w: string) => run.notes.say(`cio-rel: warning: ${w}`) } : {}),
      ...(files.journal?.resume !== undefined ? { resume: files.journal.resume } : {}),
      ...(files.journal !== undefined ? { journal: files.journal } : {}),
      onProgress: (p) => progress.update(progressFigures(p, transport, true)),
    });
    interrupts.control = pipeline.control;
    unhook = interrupts.hook(ctx);
    result = await pipeline.done;
    if (run.verifier !== undefined && run.app !== undefined) {
      progress.stop();
      interrupts.verifying();
      verified = await verifyApplied({
        ctx,
        verifier: run.verifier,
        app: run.app,
        opts,
        tally,
        write,
        mode,
        log: verbose,
        skip: result.halt?.kind === "interrupted" ? "the run was interrupted" : undefined,
        onClient: (c) => (appClient = c),
      });
    }
  } finally {
    unhook?.();
    progress.stop();
    const closing = [files.report?.close(), files.failures?.close(), files.journal?.close(), transport?.close(), appClient?.close()];
    closeFailure = await closeOutputs([
      ...closing,
      out !== undefined ? endStream(out, run.at(opts.output.out as string)) : undefined,
      closeInput(source),
    ]);
  }
  return { result, verified, transport, closeFailure };
}

/** The summary, notes and exit code of a finished run. */
function finishRun(run: SendRun, sent: Sent, started: number): number {
  const { ctx, opts, tally, source } = run;
  const { result } = sent;
  tally.assertBalanced();
  // A sync later in this process waits for these writes to show in reads (issue 13).
  if (!opts.output.dryRun && tally.count("applied") > 0) noteWorkspaceWrite((ctx.now ?? Date.now)());
  const outputFailure = result.outputError ?? sent.closeFailure;
  const exitCode = outputFailure !== undefined ? EXIT.output : exitCodeFor(result, tally, opts.output.dryRun, sent.verified?.halt);
  // issue 9: a run that stopped early says how to finish it (null without a journal).
  // So did one whose rows failed for a transient reason (retries ran out on a dead endpoint before
  // --give-up-after): they are not journalled, and --resume sends them again.
  const resumable =
    result.halt?.kind === "interrupted" || result.halt?.kind === "gave-up" || outputFailure !== undefined || (result.retryableFailures ?? 0) > 0;
  const resume = resumable ? (resumeCommand(ctx.argv, opts) ?? null) : undefined;
  const summary = runSummary({
    command: run.command,
    opts,
    input: source.displayName,
    tally,
    result,
    transport: sent.transport,
    durationMs: Math.round((ctx.now ?? Date.now)() - started),
    verified: sent.verified,
    exitCode,
    redact: run.redact,
    resumeCommand: resume ?? undefined,
  });
  printSummary(ctx, opts, summary, resume !== undefined ? { resume } : {});
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
  const capped = n >= DISTINCT_CAP ? `${formatCount(DISTINCT_CAP)}+` : formatCount(n);
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
