// `cio-rel sync` and `cio-rel undo` (issue 13): read the desired state (a file, or a snapshot), read the
// current state through the App API, plan, guard, confirm, and send the plan's adds and deletes through
// the same pipeline as add/delete.
//
// Identity: the plan's operations are the rows of the run. Each planned entry has its 1-based place in the
// plan (adds first, then deletes, then unchanged and kept pairs) as its Row.index and line, so a deletion
// worked out from Customer.io's state — which has no input line — still ends in exactly one outcome, and
// the tally balances over add + delete operations. The report, failures file and journal name plan lines.
import { createWriteStream } from "node:fs";
import { open as openFile, readFile, stat } from "node:fs/promises";
import { once } from "node:events";
import { resolve } from "node:path";
import { EXIT, InputError, UsageError } from "../errors.js";
import { openRowSource } from "../input/open.js";
import type { Row, RowSource } from "../input/types.js";
import { ColumnError, createMapper, type Mapper } from "../model/mapping.js";
import { objectLabel, personLabel, type ObjectRef, type PersonKey, type PersonRef } from "../model/types.js";
import { FailuresFile } from "../report/failures-file.js";
import { formatCount, formatDuration } from "../report/format.js";
import { openJournal, type Journal } from "../report/journal.js";
import { createProgress, resolveProgressMode } from "../report/progress.js";
import { ReportFile } from "../report/report-file.js";
import { colorLevel, formatSummary, summaryJson, type RunSummary } from "../report/summary.js";
import { Tally, outcomeError } from "../report/tally.js";
import { checkOutputs, type NamedPath } from "../report/outputs.js";
import { guardDeletes, type DeleteLimit } from "../sync/guard.js";
import { assertPlanBalanced, objectKey, personKeyOf, planObjectScope, planPersonScope } from "../sync/plan.js";
import { entryJson, estimateReads, formatEstimate, formatPlan, parseEntry } from "../sync/render.js";
import {
  createSnapshotParser,
  desiredOfSnapshot,
  snapshotHeaderLine,
  snapshotObjectLine,
  snapshotPersonLine,
  type Snapshot,
} from "../sync/snapshot.js";
import type { CurrentObject, CurrentPerson, DesiredPair, Plan, PlanEntry, ScopeKind } from "../sync/types.js";
import { encoderFor, openTransport, sendUrl } from "./destination.js";
import type { BatchTransport } from "../transport/types.js";
import { VERSION } from "../version.js";
import { createAppClient, PAGE_LIMIT, type AppClient } from "../workspace/client.js";
import { readAppApiKey, resolveAppUrl } from "../workspace/config.js";
import type { CommandContext } from "./context.js";
import { closeInput, prepareInput } from "./input.js";
import { noteWorkspaceWrite, readWaitMs } from "./freshness.js";
import type { SyncFlags } from "./flags.js";
import { parseRunOptions, type RunOptions } from "./options.js";
import type { SettledRow } from "./outcomes.js";
import { startPipeline, type PipelineResult } from "./pipeline.js";
import type { Halt } from "../pipeline/types.js";
import { exitCodeFor } from "./relationships.js";
import { redactor } from "./secrets.js";
import { appConnection, parseVerifyFlags, Verifier } from "./verify-phase.js";
import type { VerifySummary } from "../report/summary.js";

/** The halt of a run interrupted between its adds and its deletes. */
const INTERRUPTED: Halt = { kind: "interrupted", reason: "not sent: interrupted" };

/** Listings read at once: the client paces every request under 10/s; a few in flight hide each one's latency. */
const READS_IN_FLIGHT = 4;

/** `cio-rel sync` (desired state from a file) and `cio-rel undo` (from a snapshot); returns the exit code. */
export async function runSync(ctx: CommandContext, command: "sync" | "undo", raw: SyncFlags, fromEnv?: ReadonlyMap<string, string>): Promise<number> {
  const now = ctx.now ?? Date.now;
  const started = now();
  const at = (path: string): string => resolve(ctx.cwd, path);
  if (command === "undo" && raw.snapshot === undefined) throw new UsageError("undo needs --snapshot <file> (written by cio-rel sync --snapshot)");
  // undo reads no mapped file: the snapshot stands in as the input for the shared option checks.
  const opts: RunOptions = parseRunOptions("add", command === "undo" ? { ...raw, file: raw.snapshot as string } : raw, ctx.env, fromEnv);
  const scopeKind: ScopeKind = raw.scope;
  if (raw.objectsScope !== undefined && scopeKind === "person")
    throw new UsageError("--objects-scope names objects to mirror; it does not go with --scope person");
  if (command === "sync" && opts.input.path === "-" && opts.output.journal !== undefined) {
    throw new UsageError("--journal needs the input in a file: standard input cannot be read again to resume");
  }
  const limit: DeleteLimit = raw.maxDeletes;
  const readDelayMs = raw.readDelay * 1000;
  const dryRun = opts.output.dryRun;
  if (dryRun && (opts.output.report !== undefined || opts.output.journal !== undefined)) {
    throw new UsageError("--report and --journal record what was sent; a dry run sends nothing (use --plan-out)");
  }
  // Every file written is checked before anything is read, as for add (issue 9): never an input, a symlink or a folder.
  const named = (flag: string, given: string | undefined): NamedPath[] => (given === undefined ? [] : [{ flag, given, path: at(given) }]);
  await checkOutputs({
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
  });
  // --verify (issue 14): read back what the sync applied, once both its adds and deletes are sent.
  const verifyFlags = parseVerifyFlags(raw, { dryRun: opts.output.dryRun });
  const verifier = verifyFlags !== undefined ? new Verifier(verifyFlags) : undefined;
  const quiet = opts.output.quiet || opts.output.json;
  const say = (line: string): void => {
    if (!quiet) ctx.stderr.write(line + "\n");
  };
  const trackUrl = dryRun ? undefined : sendUrl(opts.send);
  const planFile = opts.output.journal !== undefined ? at(opts.output.journal) + ".plan.ndjson" : undefined;
  const source = command === "undo" ? at(raw.snapshot as string) : opts.input.path === "-" ? "<stdin>" : opts.input.path;

  // A resumed run sends the plan it saved, not a new one: Customer.io's state has moved since (partly by it).
  let plan: Plan | undefined;
  let reads = { requests: 0, pages: 0 };
  let resumed = false;
  if (opts.output.resume && planFile !== undefined && (await exists(planFile)) && (await exists(at(opts.output.journal as string)))) {
    plan = await readPlanFile(planFile);
    resumed = true;
    say(
      `Resuming the plan saved in ${planFile}: ${plan.counts.add} adds and ${plan.counts.delete} deletes, those the journal settled are not sent again.`,
    );
  } else {
    const built = await buildPlan(ctx, command, raw, opts, scopeKind, readDelayMs, say);
    if (typeof built === "number") return built;
    plan = built.plan;
    reads = built.reads;
  }
  assertPlanBalanced(plan);

  if (raw.planOut !== undefined) await writeLines(at(raw.planOut), plan.entries.map(entryJson));
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
  if (!dryRun && plan.counts.delete > 0 && !opts.output.yes && !resumed) {
    const declined = await confirmSync(ctx, command, plan, source);
    if (declined !== undefined) return declined;
  }

  // Apply (or, in a dry run, pack) the plan's operations through the add/delete pipeline.
  const ops = plan.entries.map((e, i) => ({ entry: e, index: i + 1 })).filter((x) => x.entry.op === "add" || x.entry.op === "delete");
  if (planFile !== undefined && !resumed) await writeLines(planFile, plan.entries.map(entryJson));
  const tally = new Tally();
  const redact = redactor([opts.send.siteId, opts.send.apiKey, opts.send.pipelinesApiKey, ctx.env.CIO_APP_API_KEY]);
  const journal: Journal | undefined =
    opts.output.journal !== undefined && planFile !== undefined
      ? await openJournal(at(opts.output.journal), {
          input: planFile,
          options: { command, scope: plan.scope, personKey: plan.personKey, via: opts.send.via },
          resume: opts.output.resume,
        })
      : undefined;
  const report = opts.output.report !== undefined ? await ReportFile.open(at(opts.output.report)) : undefined;
  const failures =
    opts.output.failures !== undefined
      ? await FailuresFile.open(at(opts.output.failures), { format: "ndjson", headerless: false, columns: () => undefined, delimiter: undefined })
      : undefined;
  const mode = resolveProgressMode(opts.output.progress, ctx.stderr.isTTY === true, quiet);
  const progress = createProgress({ mode, stream: ctx.stderr, ...(ctx.now !== undefined ? { now: ctx.now } : {}) });
  let transport: BatchTransport | undefined;
  let appClient: AppClient | undefined;
  let verified: { summary: VerifySummary; halt?: "auth" | "interrupted" } | undefined;
  let out: NodeJS.WritableStream | undefined;
  const results: PipelineResult[] = [];
  let interrupted = false;
  let unhook: (() => void) | undefined;
  /** The report and failures lines of a row; `confirmed` is --verify's verdict on an applied row. */
  const writeRow = (s: SettledRow, confirmed?: boolean): void | Promise<void> => {
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
      if (fail) await failures.write(s.row as Row, redact(error));
    })();
  };
  let action: "add_relationships" | "delete_relationships" = "add_relationships";
  const rows = {
    // With --verify, applied rows wait for their verdict before their lines are written.
    settle: (s: SettledRow): void | Promise<void> => (verifier?.take(s, action) === true ? undefined : writeRow(s)),
    ignoresApplied: report === undefined && verifier === undefined,
  };
  try {
    if (dryRun) {
      if (opts.output.out !== undefined) out = createWriteStream(at(opts.output.out));
    } else {
      transport = openTransport(opts.send, opts.input, {
        baseUrl: trackUrl as string,
        userAgent: `cio-rel/${VERSION}`,
        ...(opts.output.verbose
          ? {
              onRequest: (r) =>
                progress.log(redact(`${r.method} ${r.url} ${r.status ?? r.error ?? "no answer"} ${r.bytes} B ${Math.round(r.ms)} ms`)),
            }
          : {}),
      });
    }
    let control: { interrupt(): void } | undefined;
    unhook = ctx.onInterrupt?.(() => {
      if (interrupted) transport?.abort();
      interrupted = true;
      progress.log("Interrupted: finishing the requests in flight (Ctrl-C again to abort them)…");
      control?.interrupt();
    });
    // Adds first: a run cut short leaves people with both the old and the new relationships, never neither.
    for (const a of ["add_relationships", "delete_relationships"] as const) {
      action = a;
      const mine = ops.filter((x) => (x.entry.op === "add") === (action === "add_relationships"));
      if (mine.length === 0) continue;
      // Once the adds halted (or Ctrl-C came), the deletes are not sent at all, yet planned: each still ends in one outcome.
      const halted = results.find((r) => r.halt !== undefined)?.halt ?? (interrupted ? INTERRUPTED : undefined);
      const pipeline = startPipeline({
        action,
        input: { ...opts.input, path: planFile ?? source },
        encoder: encoderFor(opts.send.via),
        source: planSource(mine, planFile ?? "<plan>"),
        mapper: planMapper(mine, encoderFor(opts.send.via).personKeys),
        plannedRows: true,
        ...(halted !== undefined ? { halted } : {}),
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
        ...(journal?.resume !== undefined ? { resume: journal.resume } : {}),
        ...(journal !== undefined ? { journal } : {}),
        onProgress: (p) =>
          progress.update({
            rowsRead: p.tally.rowsRead,
            applied: p.tally.count("applied"),
            failed: p.tally.count("failed"),
            requests: transport?.stats.requests ?? 0,
            bytesRead: 0,
          }),
      });
      control = pipeline.control;
      if (interrupted) control.interrupt();
      results.push(await pipeline.done);
    }
    // ---- issue 14: read back what was applied; held rows get their report/failures lines here ----
    if (verifier !== undefined) {
      progress.stop();
      const app = await appConnection(raw, ctx.env, opts.send.region, "--verify");
      appClient = createAppClient({
        baseUrl: app.baseUrl,
        apiKey: app.apiKey,
        timeoutMs: opts.send.timeoutMs,
        maxRetries: opts.send.maxRetries,
        userAgent: `cio-rel/${VERSION}`,
      });
      verified = await verifier.finish(
        {
          client: appClient,
          tally,
          onRow: (s, verdict) => writeRow(s, verdict?.confirmed),
          progress: { mode, stream: ctx.stderr },
          ...(ctx.now !== undefined ? { now: ctx.now } : {}),
        },
        interrupted ? "the run was interrupted" : undefined,
      );
    }
  } finally {
    unhook?.();
    progress.stop();
    await Promise.all([
      report?.close(),
      failures?.close(),
      journal?.close(),
      transport?.close(),
      appClient?.close(),
      out !== undefined ? endStream(out) : undefined,
    ]);
  }
  if (!dryRun && tally.count("applied") > 0) noteWorkspaceWrite(now());
  tally.assertBalanced();
  // The sync's own identity: every planned add and delete was read into the pipeline and settled once.
  if (tally.rowsRead !== ops.length) throw new Error(`sync accounting mismatch: ${ops.length} operations planned, ${tally.rowsRead} settled`);

  const merged = mergeResults(results);
  const exitCode = interrupted && merged.halt === undefined ? EXIT.interrupted : exitCodeFor(merged, tally, dryRun, verified?.halt);
  const summary: RunSummary = {
    command,
    dryRun,
    input: planFile ?? source,
    ...tally.snapshot(),
    relationships: merged.plan.relationships,
    operations: merged.plan.operations,
    batches: merged.plan.batches,
    requests: (transport?.stats.requests ?? 0) + reads.requests,
    retries: transport?.stats.retries ?? 0,
    bytes: dryRun ? merged.plan.bytes : (transport?.stats.bytesSent ?? 0),
    durationMs: Math.round(now() - started),
    files: {
      report: opts.output.report ?? null,
      failures: opts.output.failures ?? null,
      journal: opts.output.journal ?? null,
      out: opts.output.out ?? null,
    },
    exitCode,
    verify: verified !== undefined ? { ...verified.summary, halt: verified.summary.halt === null ? null : redact(verified.summary.halt) } : null,
    ...(merged.halt !== undefined ? { halt: redact(merged.halt.reason) } : {}),
  };
  if (opts.output.json) {
    ctx.stdout.write(JSON.stringify({ ...summaryJson(summary), plan: planJson(plan), reads }, null, 2) + "\n");
  } else if (!opts.output.quiet) {
    ctx.stdout.write(formatSummary(summary, { color: colorLevel(ctx.env, ctx.stdout.isTTY === true) > 0 }) + "\n");
  }
  if (merged.halt?.kind === "input-error") ctx.stderr.write(`cio-rel: ${merged.halt.error.message}\n`);
  if (!dryRun && exitCode === EXIT.ok && ops.length > 0) {
    say("Customer.io applies writes asynchronously: a sync (or list) run within the next minute may not see them yet.");
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
  const appKey = await readAppApiKey(raw.appApiKeyFile !== undefined ? at(raw.appApiKeyFile) : undefined, ctx.env);
  if (appKey === undefined) {
    throw new UsageError(
      `CIO_APP_API_KEY is not set: ${command} reads the current relationships through the App API (export it or pass --app-api-key-file)`,
    );
  }

  // The desired state.
  let scope: ScopeKind = scopeKind;
  let desired: DesiredPair[];
  let personKey: PersonKey;
  let scopeObjects: ObjectRef[] = [];
  let scopePeople: PersonRef[] = [];
  let types = new Set<string>();
  let attributesMode: "desired" | "exact" = "desired";
  if (command === "undo") {
    const snap = await readSnapshot(at(raw.snapshot as string), raw.snapshot as string);
    ({ desired, personKey } = desiredOfSnapshot(snap));
    scope = snap.scope;
    types = new Set(snap.objectTypes);
    attributesMode = "exact";
    if (snap.scope === "object") scopeObjects = snap.objects.map((o) => o.object);
    else scopePeople = snap.people.map((p) => p.person);
  } else {
    const read = await readDesired(ctx, opts);
    if (read.invalid.length > 0) {
      for (const p of read.invalid.slice(0, 5)) ctx.stderr.write(`cio-rel: ${p}\n`);
      if (read.invalid.length > 5) ctx.stderr.write(`cio-rel: … and ${read.invalid.length - 5} more invalid rows\n`);
      ctx.stderr.write(
        `cio-rel: refused: ${read.invalid.length} invalid rows. A sync makes Customer.io match the file, so the relationships they meant would be deleted; fix them first (cio-rel validate). Nothing was read or sent.\n`,
      );
      return EXIT.usage;
    }
    desired = read.desired;
    personKey = opts.input.fixedPerson?.key ?? read.personKey;
    if (raw.objectsScope !== undefined) scopeObjects = await readObjectsScope(ctx, opts, raw.objectsScope);
    if (scope === "person") {
      for (const d of desired) if ("typeId" in d.object) types.add(d.object.typeId);
      if (raw.objectType !== undefined || desired.some((d) => "cioObjectId" in d.object) || types.size === 0) types.add(opts.input.objectType);
    }
  }

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
    let plan: Plan;
    const snapshotLines: string[] = [];
    if (scope === "object") {
      const members = new Map<string, ObjectRef>();
      const expected = new Map<string, number>();
      for (const d of desired) {
        const k = objectKey(d.object);
        if (!members.has(k)) members.set(k, d.object);
        expected.set(k, (expected.get(k) ?? 0) + 1);
      }
      for (const o of scopeObjects) if (!members.has(objectKey(o))) members.set(objectKey(o), o);
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
      plan = planObjectScope({
        personKey,
        desired,
        scope: [...members.values()],
        current: byKey,
        resendAttributes: command === "sync" && opts.input.attributes !== undefined,
        deleteUnmatchable: raw.deleteUnmatchable === true,
      });
      if (raw.snapshot !== undefined && command === "sync") {
        snapshotLines.push(
          snapshotHeaderLine({
            scope,
            personKey,
            objectTypes: [...new Set([...members.values()].map(typeOf))],
            takenAt: new Date((ctx.now ?? Date.now)()).toISOString(),
          }),
        );
        for (const [o, people] of current) snapshotLines.push(snapshotObjectLine(o, people));
      }
    } else {
      const members = new Map<string, PersonRef>();
      for (const p of scopePeople) members.set(personKeyOf(p), p);
      for (const d of desired) if (!members.has(personKeyOf(d.person))) members.set(personKeyOf(d.person), d.person);
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
      plan = planPersonScope({ personKey, desired, people: [...members.values()], types, current: byKey, attributes: attributesMode });
      if (raw.snapshot !== undefined && command === "sync") {
        snapshotLines.push(
          snapshotHeaderLine({ scope, personKey, objectTypes: [...types].sort(), takenAt: new Date((ctx.now ?? Date.now)()).toISOString() }),
        );
        for (const [p, objects] of current)
          snapshotLines.push(
            snapshotPersonLine(
              p,
              objects.filter((o) => types.has(o.object_type_id)),
            ),
          );
      }
    }
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
      for (const { entry, index } of ops) yield { index, line: index, fields: JSON.parse(entryJson(entry)) as Record<string, unknown> };
    },
  };
}

/** Maps a planned row to its relationship, from the entry itself rather than through the mapping flags. */
function planMapper(ops: ReadonlyArray<{ entry: PlanEntry; index: number }>, personKeys: readonly PersonKey[]): Mapper {
  const byIndex = new Map(ops.map((o) => [o.index, o.entry]));
  return {
    map(row) {
      const e = byIndex.get(row.index);
      if (e === undefined) return { ok: false, reason: "not a planned operation" };
      const rel = { index: row.index, line: row.line, person: routePerson(e, personKeys), object: e.object };
      return { ok: true, relationship: e.op === "add" && e.attributes !== undefined ? { ...rel, attributes: e.attributes } : rel };
    },
  };
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

async function endStream(s: NodeJS.WritableStream): Promise<void> {
  s.end();
  if (!("writableFinished" in s) || (s as { writableFinished?: boolean }).writableFinished !== true) await once(s, "finish");
}
