// `cio-rel sync` and `cio-rel undo` (issue 13): read the desired state (a file, or a snapshot), read the
// current state through the App API, plan, guard, confirm, and send the plan's adds and deletes through
// the same pipeline as add/delete.
//
// Identity: the plan's operations are the rows of the run. Each planned entry has its 1-based place in the
// plan (adds first, then deletes, then unchanged and kept pairs) as its Row.index and line, so a deletion
// worked out from Customer.io's state — which has no input line — still ends in exactly one outcome, and
// the tally balances over add + delete operations. The report, failures file and journal name plan lines.
import { open as openFile, readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { EXIT, InputError, UsageError } from "../errors.js";
import { openRowSource } from "../input/open.js";
import type { Row, RowSource } from "../input/types.js";
import { ColumnError, createMapper, MapFailure, mapperOf, type Mapper } from "../model/mapping.js";
import { objectLabel, personLabel, type Action, type ObjectRef, type PersonKey, type PersonRef } from "../model/types.js";
import { FailuresFile } from "../report/failures-file.js";
import { formatCount, formatDuration } from "../report/format.js";
import { openJournal } from "../report/journal.js";
import { createProgress, resolveProgressMode } from "../report/progress.js";
import { ReportFile } from "../report/report-file.js";
import { Tally } from "../report/tally.js";
import { checkOutputs, type NamedPath, type OutputError, type OutputPlan } from "../report/outputs.js";
import { guardDeletes, type DeleteLimit } from "../sync/guard.js";
import { assertPlanBalanced, objectKey, personKeyOf, planObjectScope, planPersonScope } from "../sync/plan.js";
import { entryDoc, entryJson, estimateReads, formatEstimate, formatPlan, parseEntry } from "../sync/render.js";
import {
  createSnapshotParser,
  desiredOfSnapshot,
  snapshotHeaderLine,
  snapshotObjectLine,
  snapshotPersonLine,
  type Snapshot,
} from "../sync/snapshot.js";
import type { CurrentObject, CurrentPerson, DesiredPair, Plan, PlanEntry, ScopeKind } from "../sync/types.js";
import type { BatchTransport } from "../transport/types.js";
import { VERSION } from "../version.js";
import { createAppClient, PAGE_LIMIT, type AppClient } from "../workspace/client.js";
import { readAppApiKey, resolveAppUrl } from "../workspace/config.js";
import type { CommandContext } from "./context.js";
import { encoderFor, sendUrl } from "./destination.js";
import { closeInput, prepareInput } from "./input.js";
import { noteWorkspaceWrite, readWaitMs } from "./freshness.js";
import type { SyncFlags } from "./flags.js";
import { parseRunOptions, type RunOptions } from "./options.js";
import { startPipeline, type PipelineResult } from "./pipeline.js";
import type { Halt } from "../pipeline/types.js";
import { redactor } from "./secrets.js";
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

/** The halt of a run interrupted between its adds and its deletes. */
const INTERRUPTED: Halt = { kind: "interrupted", reason: "not sent: interrupted" };

/** Listings read at once: the client paces every request under 10/s; a few in flight hide each one's latency. */
const READS_IN_FLIGHT = 4;

/** `cio-rel sync` (desired state from a file) and `cio-rel undo` (from a snapshot); returns the exit code. */
export async function runSync(ctx: CommandContext, command: "sync" | "undo", raw: SyncFlags, fromEnv?: ReadonlyMap<string, string>): Promise<number> {
  const started = (ctx.now ?? Date.now)();
  const at = (path: string): string => resolve(ctx.cwd, path);
  const flags = parseSyncFlags(ctx, command, raw, fromEnv);
  const { opts } = flags;
  await checkOutputs(syncOutputPlan(command, raw, opts, at));
  // --verify (issue 14): read back what the sync applied, once both its adds and deletes are sent.
  const verifyFlags = parseVerifyFlags(raw, { dryRun: opts.output.dryRun });
  const quiet = opts.output.quiet || opts.output.json;
  const say = (line: string): void => {
    if (!quiet) ctx.stderr.write(line + "\n");
  };
  const baseUrl = opts.output.dryRun ? undefined : sendUrl(opts.send);
  const planFile = opts.output.journal !== undefined ? at(opts.output.journal) + ".plan.ndjson" : undefined;
  const source = command === "undo" ? at(raw.snapshot as string) : opts.input.path === "-" ? "<stdin>" : opts.input.path;
  const planned = await planOrResume(ctx, command, raw, flags, planFile, say);
  if (typeof planned === "number") return planned;
  const { plan, reads, resumed } = planned;
  const stop = await showAndConfirm(ctx, command, raw, opts, plan, flags.limit, resumed, source);
  if (stop !== undefined) return stop;
  // Apply (or, in a dry run, pack) the plan's operations through the add/delete pipeline.
  const ops = plan.entries.map((e, i) => ({ entry: e, index: i + 1 })).filter((x) => x.entry.op === "add" || x.entry.op === "delete");
  if (planFile !== undefined && !resumed) await writeLines(planFile, plan.entries.map(entryJson));
  const run: SyncRun = {
    ctx,
    command,
    raw,
    opts,
    plan,
    planFile,
    source,
    tally: new Tally(),
    redact: redactor([opts.send.siteId, opts.send.apiKey, opts.send.pipelinesApiKey, ctx.env.CIO_APP_API_KEY]),
    baseUrl,
    verifier: verifyFlags !== undefined ? new Verifier(verifyFlags) : undefined,
    at,
  };
  const sent = await sendPlan(run, ops);
  return finishSync(run, sent, { ops: ops.length, reads, started, say });
}

/** The flags of sync and undo, checked. */
interface SyncSettings {
  opts: RunOptions;
  scopeKind: ScopeKind;
  limit: DeleteLimit;
  readDelayMs: number;
}

/** Parses and checks the flags of sync and undo (nothing is read yet). */
function parseSyncFlags(
  ctx: CommandContext,
  command: "sync" | "undo",
  raw: SyncFlags,
  fromEnv: ReadonlyMap<string, string> | undefined,
): SyncSettings {
  if (command === "undo" && raw.snapshot === undefined) throw new UsageError("undo needs --snapshot <file> (written by cio-rel sync --snapshot)");
  // undo reads no mapped file: the snapshot stands in as the input for the shared option checks.
  const opts: RunOptions = parseRunOptions("add", command === "undo" ? { ...raw, file: raw.snapshot as string } : raw, ctx, fromEnv);
  const scopeKind: ScopeKind = raw.scope;
  if (raw.objectsScope !== undefined && scopeKind === "person")
    throw new UsageError("--objects-scope names objects to mirror; it does not go with --scope person");
  if (command === "sync" && opts.input.path === "-" && opts.output.journal !== undefined) {
    throw new UsageError("--journal needs the input in a file: standard input cannot be read again to resume");
  }
  const limit: DeleteLimit = raw.maxDeletes;
  const readDelayMs = raw.readDelay * 1000;
  if (opts.output.dryRun && (opts.output.report !== undefined || opts.output.journal !== undefined)) {
    throw new UsageError("--report and --journal record what was sent; a dry run sends nothing (use --plan-out)");
  }
  return { opts, scopeKind, limit, readDelayMs };
}

/** Every file written is checked before anything is read, as for add (issue 9): never an input, a symlink or a folder. */
function syncOutputPlan(command: "sync" | "undo", raw: SyncFlags, opts: RunOptions, at: (path: string) => string): OutputPlan {
  const named = (flag: string, given: string | undefined): NamedPath[] => (given === undefined ? [] : [{ flag, given, path: at(given) }]);
  return {
    inputs: [
      ...(command === "sync" && opts.input.sql === undefined && opts.input.path !== "-"
        ? named(raw.file !== undefined ? "--file" : raw.people !== undefined ? "--people" : "--objects", opts.input.path)
        : []),
      ...(command === "undo" ? named("--snapshot", raw.snapshot) : []),
      ...named("--objects-scope", raw.objectsScope),
      ...named("--app-api-key-file", raw.appApiKeyFile),
      ...named("--api-key-file", raw.apiKeyFile),
      ...named("--site-id-file", raw.siteIdFile),
      ...named("--pipelines-api-key-file", raw.pipelinesApiKeyFile),
    ],
    outputs: [
      ...named("--journal", opts.output.journal),
      ...named("--report", opts.output.report),
      ...named("--failures", opts.output.failures),
      ...named("--out", opts.output.out),
      ...named("--plan-out", raw.planOut),
      ...(command === "sync" ? named("--snapshot", raw.snapshot) : []),
    ],
    mustExist: new Set(opts.output.resume ? ["--journal"] : []),
  };
}

/**
 * The plan: the one a journalled run saved when it is resumed (Customer.io's state has moved since, partly by
 * it), else a new one from the desired and current states; an exit code when planning must stop.
 */
async function planOrResume(
  ctx: CommandContext,
  command: "sync" | "undo",
  raw: SyncFlags,
  flags: SyncSettings,
  planFile: string | undefined,
  say: (line: string) => void,
): Promise<{ plan: Plan; reads: { requests: number; pages: number }; resumed: boolean } | number> {
  const { opts } = flags;
  const journal = opts.output.journal;
  if (
    opts.output.resume &&
    planFile !== undefined &&
    journal !== undefined &&
    (await exists(planFile)) &&
    (await exists(resolve(ctx.cwd, journal)))
  ) {
    const plan = await readPlanFile(planFile);
    say(
      `Resuming the plan saved in ${planFile}: ${plan.counts.add} adds and ${plan.counts.delete} deletes, those the journal settled are not sent again.`,
    );
    assertPlanBalanced(plan);
    return { plan, reads: { requests: 0, pages: 0 }, resumed: true };
  }
  const built = await buildPlan(ctx, command, raw, opts, flags.scopeKind, flags.readDelayMs, say);
  if (typeof built === "number") return built;
  assertPlanBalanced(built.plan);
  return { ...built, resumed: false };
}

/** Writes --plan-out, shows the plan, applies the delete guard and asks before deleting; an exit code to stop. */
async function showAndConfirm(
  ctx: CommandContext,
  command: "sync" | "undo",
  raw: SyncFlags,
  opts: RunOptions,
  plan: Plan,
  limit: DeleteLimit,
  resumed: boolean,
  source: string,
): Promise<number | undefined> {
  const dryRun = opts.output.dryRun;
  if (raw.planOut !== undefined) await writeLines(resolve(ctx.cwd, raw.planOut), plan.entries.map(entryJson));
  const refusal = plan.counts.delete > 0 && !resumed ? guardDeletes(plan.counts, limit) : undefined;
  if (!opts.output.json && !opts.output.quiet) {
    (dryRun ? ctx.stdout : ctx.stderr).write(formatPlan(plan) + "\n");
  }
  if (refusal !== undefined) {
    ctx.stderr.write(`cio-rel: ${refusal}\n`);
    if (opts.output.json)
      ctx.stdout.write(JSON.stringify({ command, dryRun, plan: planJson(plan), refused: refusal, exitCode: EXIT.usage }, null, 2) + "\n");
    return EXIT.usage;
  }
  if (!dryRun && plan.counts.delete > 0 && !opts.output.yes && !resumed) return confirmSync(ctx, command, plan, source);
  return undefined;
}

/** Everything a sync run carries from planning into sending and reporting. */
interface SyncRun {
  ctx: CommandContext;
  command: "sync" | "undo";
  raw: SyncFlags;
  opts: RunOptions;
  plan: Plan;
  planFile: string | undefined;
  /** The desired state's file, for messages. */
  source: string;
  tally: Tally;
  redact: (text: string) => string;
  /** Where the route sends; undefined in a dry run. */
  baseUrl: string | undefined;
  verifier: Verifier | undefined;
  at: (path: string) => string;
}

/** What sending the plan (and --verify) left for the summary. */
interface SyncSent {
  result: PipelineResult;
  verified: Verified | undefined;
  transport: BatchTransport | undefined;
  interrupted: boolean;
  closeFailure: OutputError | undefined;
}

/** Opens the journal (of the plan file), --report and --failures (the plan's entries as NDJSON). */
async function openSyncFiles(run: SyncRun): Promise<RowFiles> {
  const { opts, at, planFile, plan } = run;
  const opener = run.ctx.openOutput;
  const files: RowFiles = {};
  try {
    if (opts.output.journal !== undefined && planFile !== undefined) {
      files.journal = await openJournal(at(opts.output.journal), {
        input: planFile,
        options: { command: run.command, scope: plan.scope, personKey: plan.personKey, via: opts.send.via },
        resume: opts.output.resume,
        ...(opener !== undefined ? { opener } : {}),
      });
    }
    if (opts.output.report !== undefined) files.report = await ReportFile.open(at(opts.output.report), opener);
    if (opts.output.failures !== undefined) {
      const layout = { format: "ndjson" as const, headerless: false, columns: () => undefined, delimiter: undefined };
      files.failures = await FailuresFile.open(at(opts.output.failures), layout, opener);
    }
    return files;
  } catch (error) {
    await Promise.all([files.journal?.close(), files.report?.close()]);
    throw error;
  }
}

/** Sends (or dry-runs) the plan's adds, then its deletes, through the pipeline; then --verify; closes every output. */
async function sendPlan(run: SyncRun, ops: ReadonlyArray<{ entry: PlanEntry; index: number }>): Promise<SyncSent> {
  const { ctx, opts, tally, redact, verifier } = run;
  const app = verifier !== undefined ? await appConnection(run.raw, ctx, opts.send.region, "--verify") : undefined;
  const files = await openSyncFiles(run);
  const mode = resolveProgressMode(opts.output.progress, ctx.stderr.isTTY === true, opts.output.quiet || opts.output.json);
  const progress = await createProgress({ mode, stream: ctx.stderr, ...(ctx.now !== undefined ? { now: ctx.now } : {}) });
  const verbose = opts.output.verbose ? (line: string): void => progress.log(redact(line)) : undefined;
  const write = rowWriter(files, redact);
  let action: Action = "add_relationships";
  const rows = rowSinkOf(write, files, verifier, () => action);
  let transport: BatchTransport | undefined;
  let out: NodeJS.WritableStream | undefined;
  let appClient: AppClient | undefined;
  let unhook: (() => void) | undefined;
  let closeFailure: OutputError | undefined;
  const results: PipelineResult[] = [];
  let verified: Verified | undefined;
  let interrupts: RunInterrupts | undefined;
  try {
    if (opts.output.dryRun) out = openOut(opts, run.at);
    else transport = createSendTransport(opts, run.baseUrl as string, verbose);
    interrupts = new RunInterrupts(progress, transport, verifier);
    unhook = interrupts.hook(ctx);
    // Adds first: a run cut short leaves people with both the old and the new relationships, never neither.
    for (const a of ["add_relationships", "delete_relationships"] as const) {
      action = a;
      const mine = ops.filter((x) => (x.entry.op === "add") === (action === "add_relationships"));
      if (mine.length === 0) continue;
      // Once the adds halted (or Ctrl-C came), the deletes are not sent at all, yet planned: each still ends in one outcome.
      const halted = results.find((r) => r.halt !== undefined)?.halt ?? (interrupts.interrupted ? INTERRUPTED : undefined);
      const pipeline = startPipeline({
        action,
        input: { ...opts.input, path: run.planFile ?? run.source },
        encoder: encoderFor(opts.send.via),
        source: planSource(mine, run.planFile ?? "<plan>"),
        mapper: planMapper(mine, encoderFor(opts.send.via).personKeys),
        plannedRows: true,
        ...(halted !== undefined ? { halted } : {}),
        sink: pipelineSink(opts, transport, out),
        rows,
        tally,
        keepRows: files.failures !== undefined,
        ...(opts.output.tempDir !== undefined ? { tempDir: opts.output.tempDir } : {}),
        ...(files.journal?.resume !== undefined ? { resume: files.journal.resume } : {}),
        ...(files.journal !== undefined ? { journal: files.journal } : {}),
        onProgress: (p) => progress.update(progressFigures(p, transport, false)),
      });
      interrupts.control = pipeline.control;
      results.push(await pipeline.done);
    }
    // ---- issue 14: read back what was applied; held rows get their report/failures lines here ----
    if (verifier !== undefined && app !== undefined) {
      progress.stop();
      interrupts.verifying();
      verified = await verifyApplied({
        ctx,
        verifier,
        app,
        opts,
        tally,
        write,
        mode,
        log: verbose,
        skip: interrupts.interrupted ? "the run was interrupted" : undefined,
        onClient: (c) => (appClient = c),
      });
    }
  } finally {
    unhook?.();
    progress.stop();
    const closing = [files.report?.close(), files.failures?.close(), files.journal?.close(), transport?.close(), appClient?.close()];
    closeFailure = await closeOutputs([...closing, out !== undefined ? endStream(out, run.at(opts.output.out as string)) : undefined]);
  }
  return { result: mergeResults(results), verified, transport, interrupted: interrupts.interrupted, closeFailure };
}

/** The summary, notes and exit code of a finished sync. */
function finishSync(
  run: SyncRun,
  sent: SyncSent,
  o: { ops: number; reads: { requests: number; pages: number }; started: number; say: (line: string) => void },
): number {
  const { ctx, opts, tally } = run;
  const dryRun = opts.output.dryRun;
  const now = ctx.now ?? Date.now;
  if (!dryRun && tally.count("applied") > 0) noteWorkspaceWrite(now());
  tally.assertBalanced();
  // The sync's own identity: every planned add and delete was read into the pipeline and settled once.
  if (tally.rowsRead !== o.ops) throw new Error(`sync accounting mismatch: ${o.ops} operations planned, ${tally.rowsRead} settled`);
  const merged = sent.result;
  const outputFailure = merged.outputError ?? sent.closeFailure;
  const exitCode =
    outputFailure !== undefined
      ? EXIT.output
      : sent.interrupted && merged.halt === undefined
        ? EXIT.interrupted
        : exitCodeFor(merged, tally, dryRun, sent.verified?.halt);
  const summary = runSummary({
    command: run.command,
    opts,
    input: run.planFile ?? run.source,
    tally,
    result: merged,
    transport: sent.transport,
    otherRequests: o.reads.requests,
    durationMs: Math.round(now() - o.started),
    verified: sent.verified,
    exitCode,
    redact: run.redact,
  });
  printSummary(ctx, opts, summary, { plan: planJson(run.plan), reads: o.reads });
  if (merged.halt?.kind === "input-error") ctx.stderr.write(`cio-rel: ${merged.halt.error.message}\n`);
  if (outputFailure !== undefined) ctx.stderr.write(`cio-rel: ${outputFailure.message}\n`);
  if (!dryRun && exitCode === EXIT.ok && o.ops > 0) {
    o.say("Customer.io applies writes asynchronously: a sync (or list) run within the next minute may not see them yet.");
  }
  return exitCode;
}

/** The plan counts as --json shows them; add, delete and unchanged exactly as issue 13 names them. */
function planJson(plan: Plan): Record<string, unknown> {
  const c = plan.counts;
  return {
    add: c.add,
    delete: c.delete,
    unchanged: c.unchanged,
    keep: c.keep,
    resend: c.resend,
    current: c.current,
    desired: c.desired,
    duplicates: c.duplicates,
    scope: plan.scope,
    members: plan.groups.length,
    personKey: plan.personKey,
  };
}

/** The desired side of a sync or undo: the pairs wanted, and the scope they are read in. */
interface DesiredState {
  scope: ScopeKind;
  desired: DesiredPair[];
  personKey: PersonKey;
  scopeObjects: ObjectRef[];
  scopePeople: PersonRef[];
  types: Set<string>;
  attributesMode: "desired" | "exact";
}

/** What buildPlan's scope readers share. */
interface PlanReadContext {
  ctx: CommandContext;
  command: "sync" | "undo";
  raw: SyncFlags;
  opts: RunOptions;
  client: AppClient;
  say: (line: string) => void;
}

/** A plan and the snapshot lines of the current state it was made from (empty unless sync --snapshot). */
interface ScopePlan {
  plan: Plan;
  snapshotLines: string[];
}

/** Reads the desired state and the current state, plans, and writes --snapshot; an exit code when it must stop. */
async function buildPlan(
  ctx: CommandContext,
  command: "sync" | "undo",
  raw: SyncFlags,
  opts: RunOptions,
  scopeKind: ScopeKind,
  readDelayMs: number,
  say: (line: string) => void,
): Promise<{ plan: Plan; reads: { requests: number; pages: number } } | number> {
  const at = (path: string): string => resolve(ctx.cwd, path);
  const appUrl = resolveAppUrl({ region: opts.send.region, appUrl: raw.appUrl });
  const appKey = await readAppApiKey(raw.appApiKeyFile, ctx.env, ctx.cwd);
  if (appKey === undefined) {
    throw new UsageError(
      `CIO_APP_API_KEY is not set: ${command} reads the current relationships through the App API (export it or pass --app-api-key-file)`,
    );
  }
  const state = await readDesiredState(ctx, command, raw, opts, scopeKind);
  if (typeof state === "number") return state;

  // Writes of this process may not be visible yet: wait for them rather than plan from stale reads.
  const { waitMs, sinceMs } = readWaitMs((ctx.now ?? Date.now)(), readDelayMs);
  if (waitMs > 0) {
    say(
      `This process wrote to Customer.io ${formatDuration(sinceMs)} ago and reads may not show it yet: waiting ${formatDuration(waitMs)} (--read-delay).`,
    );
    await new Promise((r) => setTimeout(r, waitMs));
  }

  const client = createAppClient({
    baseUrl: appUrl,
    apiKey: appKey,
    timeoutMs: opts.send.timeoutMs,
    maxRetries: opts.send.maxRetries,
    backoffBaseMs: opts.send.backoffBaseMs,
    backoffCapMs: opts.send.backoffCapMs,
    userAgent: `cio-rel/${VERSION}`,
    ...(ctx.now !== undefined ? { now: ctx.now } : {}),
  });
  try {
    const rc: PlanReadContext = { ctx, command, raw, opts, client, say };
    const made = state.scope === "object" ? await planObjects(rc, state) : await planPeople(rc, state);
    if (typeof made === "number") return made;
    const { plan, snapshotLines } = made;
    if (snapshotLines.length > 0) {
      await writeLines(at(raw.snapshot as string), snapshotLines);
      say(
        `Snapshot of the ${formatCount(plan.counts.current)} relationships in scope written to ${raw.snapshot}: cio-rel undo --snapshot ${raw.snapshot} brings them back.`,
      );
    }
    return { plan, reads: { requests: client.stats.requests, pages: client.stats.pages } };
  } finally {
    await client.close();
  }
}

/** The desired state: the snapshot (undo) or the input file (sync); an exit code when the file has invalid rows. */
async function readDesiredState(
  ctx: CommandContext,
  command: "sync" | "undo",
  raw: SyncFlags,
  opts: RunOptions,
  scopeKind: ScopeKind,
): Promise<DesiredState | number> {
  if (command === "undo") {
    const snap = await readSnapshot(resolve(ctx.cwd, raw.snapshot as string), raw.snapshot as string);
    const { desired, personKey } = desiredOfSnapshot(snap);
    return {
      scope: snap.scope,
      desired,
      personKey,
      scopeObjects: snap.scope === "object" ? snap.objects.map((o) => o.object) : [],
      scopePeople: snap.scope === "object" ? [] : snap.people.map((p) => p.person),
      types: new Set(snap.objectTypes),
      attributesMode: "exact",
    };
  }
  const read = await readDesired(ctx, opts);
  if (read.invalid.length > 0) {
    for (const p of read.invalid.slice(0, 5)) ctx.stderr.write(`cio-rel: ${p}\n`);
    if (read.invalid.length > 5) ctx.stderr.write(`cio-rel: … and ${read.invalid.length - 5} more invalid rows\n`);
    ctx.stderr.write(
      `cio-rel: refused: ${read.invalid.length} invalid rows. A sync makes Customer.io match the file, so the relationships they meant would be deleted; fix them first (cio-rel validate). Nothing was read or sent.\n`,
    );
    return EXIT.usage;
  }
  const desired = read.desired;
  const types = new Set<string>();
  if (scopeKind === "person") {
    for (const d of desired) if ("typeId" in d.object) types.add(d.object.typeId);
    if (raw.objectType !== undefined || desired.some((d) => "cioObjectId" in d.object) || types.size === 0) types.add(opts.input.objectType);
  }
  return {
    scope: scopeKind,
    desired,
    personKey: opts.input.fixedPerson?.key ?? read.personKey,
    scopeObjects: raw.objectsScope !== undefined ? await readObjectsScope(ctx, opts, raw.objectsScope) : [],
    scopePeople: [],
    types,
    attributesMode: "desired",
  };
}

/** Whether this run writes --snapshot (sync only: undo restores one). */
function takesSnapshot(rc: PlanReadContext): boolean {
  return rc.raw.snapshot !== undefined && rc.command === "sync";
}

/** The snapshot's first line: scope, person key, the object types it covers, and when it was taken. */
function snapshotHeader(rc: PlanReadContext, s: DesiredState, objectTypes: string[]): string {
  return snapshotHeaderLine({ scope: s.scope, personKey: s.personKey, objectTypes, takenAt: new Date((rc.ctx.now ?? Date.now)()).toISOString() });
}

/** Object scope: reads the people of every object in the file (and --objects-scope), and plans them. */
async function planObjects(rc: PlanReadContext, s: DesiredState): Promise<ScopePlan | number> {
  const { ctx, command, raw, opts, client, say } = rc;
  const members = new Map<string, ObjectRef>();
  const expected = new Map<string, number>();
  for (const d of s.desired) {
    const k = objectKey(d.object);
    if (!members.has(k)) members.set(k, d.object);
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  for (const o of s.scopeObjects) if (!members.has(objectKey(o))) members.set(objectKey(o), o);
  say(
    `Reading the people of ${formatCount(members.size)} ${members.size === 1 ? "object" : "objects"}: ${formatEstimate(
      estimateReads(
        [...members.keys()].map((k) => expected.get(k) ?? 0),
        PAGE_LIMIT,
      ),
    )}.`,
  );
  const typeOf = (o: ObjectRef): string => ("typeId" in o ? o.typeId : opts.input.objectType);
  const current = await readAll(
    ctx,
    client,
    [...members.values()],
    objectLabel,
    (o) => client.peopleOf("typeId" in o ? { typeId: o.typeId, id: o.id } : { typeId: typeOf(o), cioObjectId: o.cioObjectId }),
    say,
  );
  if (typeof current === "number") return current;
  const byKey = new Map<string, CurrentPerson[]>();
  for (const [o, people] of current) byKey.set(objectKey(o), people);
  const plan = planObjectScope({
    personKey: s.personKey,
    desired: s.desired,
    scope: [...members.values()],
    current: byKey,
    resendAttributes: command === "sync" && opts.input.attributes !== undefined,
    deleteUnmatchable: raw.deleteUnmatchable === true,
  });
  const snapshotLines: string[] = [];
  if (takesSnapshot(rc)) {
    snapshotLines.push(snapshotHeader(rc, s, [...new Set([...members.values()].map(typeOf))]));
    for (const [o, people] of current) snapshotLines.push(snapshotObjectLine(o, people));
  }
  return { plan, snapshotLines };
}

/** Person scope: reads the objects of every person in the file (or the snapshot), and plans them. */
async function planPeople(rc: PlanReadContext, s: DesiredState): Promise<ScopePlan | number> {
  const { ctx, client, say } = rc;
  const members = new Map<string, PersonRef>();
  for (const p of s.scopePeople) members.set(personKeyOf(p), p);
  for (const d of s.desired) if (!members.has(personKeyOf(d.person))) members.set(personKeyOf(d.person), d.person);
  say(
    `Reading the objects of ${formatCount(members.size)} ${members.size === 1 ? "person" : "people"}: ${formatEstimate(
      estimateReads(
        [...members.keys()].map(() => 0),
        PAGE_LIMIT,
      ),
    )}.`,
  );
  const current = await readAll(ctx, client, [...members.values()], personLabel, (p) => client.objectsOf(p), say);
  if (typeof current === "number") return current;
  const byKey = new Map<string, CurrentObject[]>();
  for (const [p, objects] of current) byKey.set(personKeyOf(p), objects);
  const plan = planPersonScope({
    personKey: s.personKey,
    desired: s.desired,
    people: [...members.values()],
    types: s.types,
    current: byKey,
    attributes: s.attributesMode,
  });
  const snapshotLines: string[] = [];
  if (takesSnapshot(rc)) {
    snapshotLines.push(snapshotHeader(rc, s, [...s.types].sort()));
    for (const [p, objects] of current)
      snapshotLines.push(
        snapshotPersonLine(
          p,
          objects.filter((o) => s.types.has(o.object_type_id)),
        ),
      );
  }
  return { plan, snapshotLines };
}

/** Reads every member's listing, a few at a time, with a progress line every few seconds; an exit code on failure. */
async function readAll<M, T>(
  ctx: CommandContext,
  client: AppClient,
  members: readonly M[],
  label: (m: M) => string,
  read: (
    m: M,
  ) =>
    | ReturnType<AppClient["peopleOf"]>
    | Promise<
        { ok: true; items: T[]; pages: number } | ({ ok: false; pages: number } & { kind: string; reason: string; status?: number | undefined })
      >,
  say: (line: string) => void,
): Promise<Array<[M, T[]]> | number> {
  const now = ctx.now ?? Date.now;
  const started = now();
  let lastSaid = started;
  const out = new Array<[M, T[]]>(members.length);
  let next = 0;
  let done = 0;
  let failure: { kind: string; reason: string; label: string } | undefined;
  let stop = false;
  const unhook = ctx.onInterrupt?.(() => {
    stop = true;
    client.abort();
  });
  const worker = async (): Promise<void> => {
    while (failure === undefined && !stop) {
      const i = next++;
      if (i >= members.length) return;
      const m = members[i] as M;
      const r = await read(m);
      if (r.ok) out[i] = [m, r.items as T[]];
      else if (r.kind === "not-found")
        out[i] = [m, []]; // nothing related yet: everything desired is an add
      else failure ??= { kind: r.kind, reason: r.reason, label: label(m) };
      done++;
      if (now() - lastSaid >= 5000) {
        lastSaid = now();
        const rate = done / Math.max(1, (lastSaid - started) / 1000);
        say(
          `  read ${formatCount(done)}/${formatCount(members.length)} (${formatCount(client.stats.requests)} requests, about ${formatDuration(((members.length - done) / rate) * 1000)} left)`,
        );
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, members.length) }, worker));
  } finally {
    unhook?.();
  }
  if (stop) {
    ctx.stderr.write("cio-rel: interrupted while reading the current relationships: nothing was sent\n");
    return EXIT.interrupted;
  }
  if (failure !== undefined) {
    ctx.stderr.write(
      `cio-rel: could not read the current relationships of ${failure.label}: ${failure.reason}. A plan needs all of them: nothing was sent.\n`,
    );
    return failure.kind === "auth" ? EXIT.auth : EXIT.api;
  }
  return out;
}

/** The file's rows mapped to desired pairs with the flags of add; invalid rows as "file:line: reason". */
async function readDesired(ctx: CommandContext, opts: RunOptions): Promise<{ desired: DesiredPair[]; invalid: string[]; personKey: PersonKey }> {
  // The same input as add: files, stdin, gzip, --sql.
  const input = await prepareInput(ctx, opts.input, { onNote: (m) => ctx.stderr.write(`cio-rel: note: ${m}\n`) });
  const source = await input.open();
  try {
    return await mapDesired(opts, source);
  } finally {
    await closeInput(source);
  }
}

async function mapDesired(opts: RunOptions, source: RowSource): Promise<{ desired: DesiredPair[]; invalid: string[]; personKey: PersonKey }> {
  const desired: DesiredPair[] = [];
  const invalid: string[] = [];
  let mapper: Mapper | undefined;
  for await (const row of source.rows()) {
    if (row.problem !== undefined) {
      invalid.push(`${source.displayName}:${row.line}: ${row.problem}`);
      continue;
    }
    mapper ??= mapperFor(opts, source, row);
    let r: ReturnType<Mapper["map"]>;
    try {
      r = mapper.map(row);
    } catch (e) {
      if (e instanceof ColumnError) throw new InputError({ file: source.displayName, line: row.line }, e.message, { cause: e });
      throw e;
    }
    if (!r.ok) invalid.push(`${source.displayName}:${row.line}: ${r.reason}`);
    else {
      const { person, object, attributes } = r.relationship;
      desired.push(attributes !== undefined ? { person, object, attributes, line: row.line } : { person, object, line: row.line });
    }
  }
  return { desired, invalid, personKey: desired[0]?.person.key ?? opts.input.personKey ?? "id" };
}

/** --objects-scope FILE: objects (object_id / cio_object_id / object_type_id columns, or one id per line) mirrored even when absent from the file. */
async function readObjectsScope(ctx: CommandContext, opts: RunOptions, path: string): Promise<ObjectRef[]> {
  const source = await openRowSource(path, { cwd: ctx.cwd, stdin: ctx.stdin, header: true });
  // The object side of the mapping, with a placeholder person, reads objects exactly as --objects does.
  const { attributes: _a, fixedObject: _o, ...input } = opts.input;
  const mapper = (first: Row): Mapper => mapperFor({ ...opts, input: { ...input, fixedPerson: { key: "id", value: "-" } } }, source, first);
  let m: Mapper | undefined;
  const out: ObjectRef[] = [];
  for await (const row of source.rows()) {
    m ??= mapper(row);
    const r = m.map(row);
    if (!r.ok) throw new InputError({ file: source.displayName, line: row.line }, `--objects-scope: ${r.reason}`);
    out.push(r.relationship.object);
  }
  return out;
}

function mapperFor(opts: RunOptions, source: RowSource, first: Row): Mapper {
  const names = source.columns();
  try {
    const { fixedObject: _o, fixedPerson: _p, ...rest } = opts.input;
    const mapping = {
      ...rest,
      ...(opts.input.fixedObject ? { fixedObject: opts.input.fixedObject } : {}),
      ...(opts.input.fixedPerson ? { fixedPerson: opts.input.fixedPerson } : {}),
    };
    return createMapper(mapping, names === undefined ? { headerless: source.headerless } : { headerless: source.headerless, names });
  } catch (e) {
    if (e instanceof ColumnError)
      throw new InputError({ file: source.displayName, line: names === undefined ? first.line : 1 }, e.message, { cause: e });
    throw e;
  }
}

/** Reads a snapshot file whole, line by line; a bad line is an InputError at file:line. */
async function readSnapshot(path: string, shown: string): Promise<Snapshot> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new UsageError(`--snapshot ${shown}: cannot read it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const parser = createSnapshotParser();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const problem = parser.line(lines[i] as string, i + 1);
    if (problem !== undefined) throw new InputError({ file: shown, line: i + 1 }, problem);
  }
  const r = parser.result();
  if ("problem" in r) throw new InputError({ file: shown }, r.problem);
  return r;
}

/** The plan a journalled run saved, read back to resume it. */
async function readPlanFile(path: string): Promise<Plan> {
  const lines = (await readFile(path, "utf8")).split("\n").filter((l) => l !== "");
  const entries: PlanEntry[] = lines.map((l, i) => {
    const e = parseEntry(l);
    if ("problem" in e) throw new InputError({ file: path, line: i + 1 }, e.problem);
    return e;
  });
  const count = (op: PlanEntry["op"]): number => entries.filter((e) => e.op === op).length;
  const add = count("add");
  const unchanged = count("unchanged");
  const del = count("delete");
  const keep = count("keep");
  // The saved plan carries its entries, not the listings: matched is what makes the identities hold.
  return {
    scope: "object",
    personKey: entries[0]?.person.key ?? "id",
    attributes: "none",
    entries,
    groups: [{ label: path, add, delete: del, unchanged, keep, current: unchanged + del + keep }],
    counts: {
      add,
      delete: del,
      unchanged,
      keep,
      resend: entries.filter((e) => e.resend === true).length,
      desired: add + unchanged,
      duplicates: 0,
      current: unchanged + del + keep,
      matched: unchanged,
    },
  };
}

/** Planned operations as rows: index and line are the entry's place in the plan. */
function planSource(ops: ReadonlyArray<{ entry: PlanEntry; index: number }>, name: string): RowSource {
  return {
    displayName: name,
    format: "ndjson",
    headerless: false,
    columns: () => undefined,
    bytesRead: () => 0,
    totalBytes: undefined,
    rows: async function* () {
      for (const { entry, index } of ops) yield { index, line: index, fields: entryDoc(entry) };
    },
  };
}

/** Maps a planned row to its relationship, from the entry itself rather than through the mapping flags. */
function planMapper(ops: ReadonlyArray<{ entry: PlanEntry; index: number }>, personKeys: readonly PersonKey[]): Mapper {
  const byIndex = new Map(ops.map((o) => [o.index, o.entry]));
  return mapperOf((row) => {
    const e = byIndex.get(row.index);
    if (e === undefined) return new MapFailure("not a planned operation");
    const person = routePerson(e, personKeys);
    // One literal either way: a relationship spread into a second object for its attributes is built twice.
    return e.op === "add" && e.attributes !== undefined
      ? { index: row.index, line: row.line, person, object: e.object, attributes: e.attributes }
      : { index: row.index, line: row.line, person, object: e.object };
  });
}

/**
 * The entry's person as the route can address them (issue 15): a delete names the listed person by cio_id, which
 * Data Pipelines cannot take; another identifier Customer.io listed for them (their id) is used instead.
 */
function routePerson(e: PlanEntry, personKeys: readonly PersonKey[]): PersonRef {
  if (personKeys.includes(e.person.key)) return e.person;
  for (const key of personKeys) {
    const value = e.known?.[key];
    if (value !== undefined) return { key, value };
  }
  return e.person;
}

/** The two runs (adds, deletes) as one result: summed figures, the first halt. */
function mergeResults(results: readonly PipelineResult[]): PipelineResult {
  const plan = { relationships: 0, operations: 0, batches: 0, bytes: 0 };
  let halt: PipelineResult["halt"];
  for (const r of results) {
    plan.relationships += r.plan.relationships;
    plan.operations += r.plan.operations;
    plan.batches += r.plan.batches;
    plan.bytes += r.plan.bytes;
    halt ??= r.halt;
  }
  const merged: PipelineResult = { plan: { ...(results[0]?.plan ?? {}), ...plan }, objectTypes: [], distinctPeople: 0, distinctObjects: 0 };
  if (halt !== undefined) merged.halt = halt;
  const outputError = results.find((r) => r.outputError !== undefined)?.outputError;
  if (outputError !== undefined) merged.outputError = outputError;
  return merged;
}

/** Asks before deleting, on a terminal only, as delete does; an exit code when declined. */
async function confirmSync(ctx: CommandContext, command: "sync" | "undo", plan: Plan, source: string): Promise<number | undefined> {
  const interactive = ctx.stdin.isTTY === true && ctx.stderr.isTTY === true && ctx.confirm !== undefined;
  if (!interactive) {
    throw new UsageError(
      `cio-rel ${command} deletes ${formatCount(plan.counts.delete)} relationships and there is no terminal to confirm on: add --yes to go ahead`,
    );
  }
  const members = plan.scope === "object" ? "objects" : "people";
  const ok = await ctx.confirm!(
    `Delete ${formatCount(plan.counts.delete)} and add ${formatCount(plan.counts.add)} relationships so that ${formatCount(plan.groups.length)} ${members} match ${source}? [y/N] `,
  );
  if (ok) return undefined;
  ctx.stderr.write("Nothing sent.\n");
  return EXIT.interrupted;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.size > 0,
    () => false,
  );
}

/** Writes lines to a new file; a file that exists is never overwritten (the user's files are theirs). */
async function writeLines(path: string, lines: readonly string[]): Promise<void> {
  let handle;
  try {
    handle = await openFile(path, "wx");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST")
      throw new UsageError(`${path} already exists: cio-rel does not overwrite files; remove it or name another`);
    throw new UsageError(`${path}: cannot write it (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const chunk = 1000;
    for (let i = 0; i < lines.length; i += chunk) await handle.write(lines.slice(i, i + chunk).join("\n") + "\n");
    await handle.sync();
  } finally {
    await handle.close();
  }
}
