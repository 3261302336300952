import { once } from "node:events";
import { InputError } from "../errors.js";
import { OutputError } from "../report/outputs.js";
import type { BatchedRowSource, Row, RowSource } from "../input/types.js";
import { ColumnError, createMapper, type Mapper, type MappingOptions } from "../model/mapping.js";
import type { Action, Outcome, Relationship } from "../model/types.js";
import { looksLikeEmail } from "../model/validate.js";
import { batchPairs, PairsInFlight } from "../plan/pairs.js";
import type { Encoder } from "../plan/encoder.js";
import { createPlanner } from "../plan/planner.js";
import { MAX_BATCH_BYTES, type Batch, type PlanEvent, type PlanStats } from "../plan/types.js";
import type { BatchSettlement, BatchTransport } from "../transport/types.js";
import type { InputOptions } from "./options.js";
import type { RowSink, SettledRow } from "./outcomes.js";
import type { Tally } from "../report/tally.js";

/** What a previous run already settled, read from its journal (--resume), by Row.index. */
export interface SettledRows {
  isSettled(index: number): boolean;
  outcomeOf(index: number): Outcome | undefined;
}

/** Appends settled rows (by Row.index) to the journal, durably, before the pipeline goes on. */
export interface JournalWriter {
  record(applied: readonly number[], failed: readonly { index: number; reason: string }[]): Promise<void>;
}

/** Why sending stopped before the input ran out. */
export type Halt =
  | { kind: "auth"; status: number; reason: string }
  | { kind: "max-errors"; reason: string }
  | { kind: "interrupted"; reason: string }
  | { kind: "input-error"; reason: string; error: InputError }
  /** issue 9: no request succeeded for --give-up-after seconds (an outage). */
  | { kind: "gave-up"; reason: string }
  /** issue 9: the report, failures file or journal could not be written (a full disk). */
  | { kind: "output"; reason: string; error: OutputError };

/** Everything the pipeline needs besides the rows. */
export interface PipelineOptions {
  action: Action;
  input: InputOptions;
  source: RowSource;
  /** Where batches go: a transport (send) or a writer of bodies (dry run). */
  sink: { kind: "send"; transport: BatchTransport; concurrency: number; maxErrors?: number } | { kind: "dry-run"; out?: NodeJS.WritableStream };
  rows: RowSink;
  /** Counts every row read and every outcome; the pipeline reads it for --max-errors. */
  tally: Tally;
  /** Whether settled rows must carry their input row (the failures file needs it). */
  keepRows: boolean;
  /** Rows that are already relationships (sync's planned operations): used instead of the mapping flags. */
  mapper?: Mapper;
  /** Count object types and distinct people/objects (for the delete question); costs a Set insert per row. */
  countSides?: boolean;
  /** The destination's wire format and limits (--via), shared by planner and transport; default Track's. */
  encoder?: Encoder;
  resume?: SettledRows;
  journal?: JournalWriter;
  /** Called often with running figures, for the progress display. */
  onProgress?: (p: PipelineProgress) => void;
  /**
   * Given when the person key was not chosen with --person-key: told once when most of the first rows' person
   * values, sent as `id`, look like email addresses (issue 10), with the warning to print.
   */
  onEmailsAsIds?: (warning: string) => void;
}

/** Running figures while the pipeline works. */
export interface PipelineProgress {
  tally: Tally;
  bytesRead: number;
}

/** Why the pipeline stopped, and the first output that failed (it decides the exit code whatever the halt). */
interface PipelineState {
  halt?: Halt;
  outputError?: OutputError;
  retryableFailures?: number;
}

/** What the pipeline did besides settling rows (the tally holds those counts). */
export interface PipelineResult {
  plan: PlanStats;
  halt?: Halt;
  /** issue 9: an output file could not be written (exit 4). */
  outputError?: OutputError;
  /** Object type ids seen (for the delete confirmation), capped. */
  objectTypes: string[];
  distinctPeople: number;
  distinctObjects: number;
  /** issue 9: rows that failed for a transient reason (network, 5xx, 429 after retries): --resume resends them. */
  retryableFailures?: number;
}

const APPLIED: Outcome = { kind: "applied" };

/**
 * Bytes of planned batches that may wait for a send slot while reading goes on: enough to keep the slots
 * busy through the planning of the next window when batches are small, little memory when they are full.
 */
const MAX_QUEUED_BYTES = 4 * MAX_BATCH_BYTES;

/** How many valid rows the emails-sent-as-id warning looks at: enough to judge, early enough to come before sending. */
const EMAIL_SAMPLE = 1_000;

/** Cap on the distinct people/objects counted for the delete question, to keep memory bounded. */
export const DISTINCT_CAP = 100_000;

/** A controller the command uses to stop the pipeline from outside (SIGINT). */
export interface PipelineControl {
  /** First call: stop reading, let requests in flight finish. */
  interrupt(): void;
}

/**
 * read rows → map → plan → send or write → settle every row exactly once.
 * The only place that knows how the stages fit; each stage is its own module.
 */
export function startPipeline(o: PipelineOptions): { control: PipelineControl; done: Promise<PipelineResult> } {
  const state: PipelineState = {};
  const control: PipelineControl = {
    interrupt() {
      // Stops reading, and stops dispatching batches that are planned but not yet sent.
      state.halt ??= { kind: "interrupted", reason: "not sent: interrupted" };
    },
  };
  return { control, done: run(o, state) };
}

async function run(o: PipelineOptions, state: PipelineState): Promise<PipelineResult> {
  const tally = o.tally;
  // issue 9: an output that cannot be written stops sending (the rest is skipped); the run ends with exit 4.
  const onOutputError = (e: unknown): void => {
    if (!(e instanceof OutputError)) throw e;
    if (state.halt === undefined || state.halt.kind !== "output") {
      const halt: Halt = { kind: "output", reason: `not sent: ${e.message}`, error: e };
      // An earlier halt keeps its reason for the rows, but the output failure decides the exit code.
      if (state.halt === undefined) state.halt = halt;
      state.outputError ??= e;
    }
  };
  // Rows waiting for their outcome (failures file only), by Row.index: the row's identity, never its line.
  const pending = new Map<number, Row>();
  const inflight = new Set<Promise<void>>();
  let journalChain: Promise<void> = Promise.resolve();
  const objectTypes = new Set<string>();
  const people = new Set<string>();
  const objects = new Set<string>();

  // Returns the sink's promise only when it has one, so that callers await only real work: a million
  // rows each awaiting an already-settled promise cost more than reading them.
  const settle = (s: SettledRow): void | Promise<void> => {
    tally.record(s.index, s.line, s.outcome);
    if (o.keepRows) {
      if (s.row === undefined) {
        const row = pending.get(s.index);
        if (row !== undefined) s.row = row;
      }
      pending.delete(s.index);
    }
    const written = o.rows.settle(s);
    return written === undefined ? undefined : written.catch(onOutputError);
  };
  // Applied rows need no sink call when it ignores them (no --report); the tally is all they touch.
  const sinkApplied = o.rows.ignoresApplied !== true;
  const journaling = o.journal !== undefined;

  const progress = (): void => {
    o.onProgress?.({ tally, bytesRead: o.source.bytesRead() });
  };

  const skipBatch = async (batch: Batch, reason: string): Promise<void> => {
    for (const op of batch.operations) {
      for (const rel of op.relationships) {
        const p = settle({ index: rel.index, line: rel.line, outcome: { kind: "skipped", reason }, relationship: rel });
        if (p !== undefined) await p;
      }
    }
  };

  const onSettlement = async (s: BatchSettlement): Promise<void> => {
    // Row index → relationship, built only when a row needs the sink (most batches are applied whole).
    let byIndex: Map<number, Relationship> | undefined;
    const relationshipOf = (index: number): Relationship | undefined => {
      if (byIndex === undefined) {
        byIndex = new Map();
        for (const op of s.batch.operations) for (const rel of op.relationships) byIndex.set(rel.index, rel);
      }
      return byIndex.get(index);
    };
    const applied: number[] = [];
    const failed: { index: number; reason: string }[] = [];
    for (const r of s.rows) {
      if (r.outcome.kind === "failed" && r.outcome.retry === true) state.retryableFailures = (state.retryableFailures ?? 0) + 1;
      if (r.outcome.kind === "applied" && !sinkApplied && !o.keepRows) tally.record(r.index, r.line, r.outcome);
      else {
        const rel = relationshipOf(r.index);
        const base = { index: r.index, line: r.line, outcome: r.outcome };
        const p = settle(rel === undefined ? base : { ...base, relationship: rel });
        if (p !== undefined) await p;
      }
      if (!journaling) continue;
      if (r.outcome.kind === "applied") applied.push(r.index);
      // Only failures Customer.io answered for the row are journalled; transient ones (network, 5xx, 429
      // after retries) are sent again by --resume (issue 9).
      else if (r.outcome.kind === "failed" && r.outcome.retry !== true) failed.push({ index: r.index, reason: r.outcome.reason });
    }
    // Journal writes are serialised and awaited before the slot frees: "flushed to disk before going on".
    if (o.journal !== undefined && (applied.length > 0 || failed.length > 0)) {
      const journal = o.journal;
      journalChain = journalChain.then(() => journal.record(applied, failed)).catch(onOutputError);
      await journalChain;
    }
    if (o.sink.kind === "send") {
      if (state.halt === undefined && s.halt !== undefined) state.halt = { ...s.halt };
      const max = o.sink.maxErrors;
      if (state.halt === undefined && max !== undefined && tally.count("failed") >= max) {
        state.halt = { kind: "max-errors", reason: `not sent: --max-errors ${max} reached` };
      }
    }
    progress();
  };

  // Planned batches waiting for a send slot (send only), and the sender that takes them.
  const queue: Batch[] = [];
  let queuedBytes = 0;
  let queueEnded = false;
  let sending: Promise<void> | undefined;
  let sendFailure: { error: unknown } | undefined;
  let wakeSender: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;

  const dispatch = async (batch: Batch): Promise<void> => {
    const sink = o.sink;
    if (sink.kind === "dry-run") {
      // A dry run counts the rows it would send as applied (the summary calls them "planned"). Nothing
      // but the tally wants them (--report is refused in a dry run), so they skip the row sink.
      for (const op of batch.operations) {
        for (const rel of op.relationships) {
          tally.record(rel.index, rel.line, APPLIED);
          if (o.keepRows) pending.delete(rel.index);
        }
      }
      // A destroyed --out (a failed write) takes no more; the command reports it with exit 4 when it ends the stream.
      const out = sink.out as (NodeJS.WritableStream & { destroyed?: boolean }) | undefined;
      if (out !== undefined && out.destroyed !== true && !out.write(batch.body + "\n")) {
        await Promise.race([once(out, "drain"), once(out, "close")]).catch(() => undefined);
      }
      return;
    }
    // Sending: the batch joins the queue, and reading goes on unless the queue is full. Waiting here
    // for a send slot instead would leave the slots idle while the next window is read and planned.
    sending ??= sendQueued(sink).catch((e: unknown) => {
      sendFailure = { error: e };
    });
    queue.push(batch);
    queuedBytes += batch.bytes;
    wakeSender?.();
    while (queuedBytes > MAX_QUEUED_BYTES && sendFailure === undefined) {
      await Promise.race([sending, new Promise<void>((resolve) => (wakeReader = resolve))]);
    }
    if (sendFailure !== undefined) throw sendFailure.error;
  };

  // Only additions with attributes can differ between two rows of one pair; order is moot otherwise.
  const pairsInFlight = o.action === "add_relationships" && o.input.attributes !== undefined ? new PairsInFlight() : undefined;

  /** Takes batches from the queue in order and starts each once a slot is free, until the queue ends. */
  const sendQueued = async (sink: Extract<PipelineOptions["sink"], { kind: "send" }>): Promise<void> => {
    for (;;) {
      const batch = queue.shift();
      if (batch === undefined) {
        if (queueEnded) break;
        await new Promise<void>((resolve) => (wakeSender = resolve));
        wakeSender = undefined;
        continue;
      }
      queuedBytes -= batch.bytes;
      wakeReader?.();
      if (state.halt !== undefined) {
        await skipBatch(batch, state.halt.reason);
        continue;
      }
      while (inflight.size >= sink.concurrency) await Promise.race(inflight);
      // A settlement may have halted the run while this batch waited for a slot.
      const haltedMeanwhile = state.halt as Halt | undefined;
      if (haltedMeanwhile !== undefined) {
        await skipBatch(batch, haltedMeanwhile.reason);
        continue;
      }
      // A pair repeated beyond the window must reach Customer.io after its earlier row (later attributes
      // win), so a batch that repeats a pair in flight waits for it; batches keep their queue order.
      let pairs: Uint32Array | undefined;
      if (pairsInFlight !== undefined) {
        pairs = batchPairs(batch);
        while (inflight.size > 0 && pairsInFlight.overlaps(pairs)) await Promise.race(inflight);
        pairsInFlight.add(pairs);
      }
      const p: Promise<void> = sink.transport
        .send(batch)
        .then(onSettlement)
        .finally(() => {
          inflight.delete(p);
          if (pairs !== undefined) pairsInFlight?.remove(pairs);
        });
      inflight.add(p);
    }
    while (inflight.size > 0) await Promise.race(inflight);
  };

  const handle = async (events: readonly PlanEvent[]): Promise<void> => {
    for (const ev of events) {
      let p: void | Promise<void>;
      if (ev.type === "batch") p = dispatch(ev.batch);
      else if (ev.type === "duplicate") {
        // A row settled by the resumed journal keeps its journaled outcome.
        const rel = ev.relationship;
        if (o.resume?.isSettled(rel.index) === true) continue;
        p = settle({ index: rel.index, line: rel.line, outcome: { kind: "duplicate", supersededBy: ev.supersededBy }, relationship: rel });
      } else {
        const rel = ev.relationship;
        p = settle({ index: rel.index, line: rel.line, outcome: { kind: "invalid", reason: ev.reason }, relationship: rel });
      }
      if (p !== undefined) await p;
    }
  };

  const planner = createPlanner({
    action: o.action,
    groupBy: o.input.groupBy,
    windowSize: o.input.windowSize,
    maxBatchBytes: o.input.batchBytes,
    ...(o.encoder !== undefined ? { encoder: o.encoder } : {}),
    ...(o.resume !== undefined ? { exclude: (index: number) => o.resume?.isSettled(index) === true } : {}),
  });

  // Person values sent as id that look like emails, among the first EMAIL_SAMPLE valid rows.
  const emails = { seen: 0, like: 0, told: o.onEmailsAsIds === undefined };
  const tellEmails = (): void => {
    if (emails.told || emails.seen === 0) return;
    emails.told = true;
    if (emails.like * 2 > emails.seen) {
      (o.onEmailsAsIds as (w: string) => void)(
        `${emails.like} of the first ${emails.seen === 1 ? "person value" : `${emails.seen} person values`} look like email addresses but are sent as id: pass --person-key email to send them as email addresses`,
      );
    }
  };

  let mapper: Mapper | undefined = o.mapper;
  try {
    // A chunk of rows at a time: one await per chunk instead of several per row (the per-row awaits
    // cost as much as parsing). Within a chunk, only real work (a full send slot, a sink write) awaits.
    reading: for await (const rows of rowBatchesOf(o.source)) {
      for (const row of rows) {
        if (state.halt?.kind === "interrupted") break reading;
        tally.read();
        let p: void | Promise<void> = undefined;
        if (row.problem !== undefined) {
          // The reader could not make fields of it (nested too deep): invalid before any mapping.
          p = settle({ index: row.index, line: row.line, outcome: { kind: "invalid", reason: row.problem }, row });
          if (p !== undefined) await p;
          continue;
        }
        if (mapper === undefined) mapper = createMapperFor(o.input, o.source, row);
        const mapped = mapFor(mapper, o.source.displayName, row);
        if (mapped.ok && !emails.told && o.input.fixedPerson === undefined && mapped.relationship.person.key === "id") {
          emails.seen++;
          if (looksLikeEmail(mapped.relationship.person.value)) emails.like++;
          if (emails.seen >= EMAIL_SAMPLE) tellEmails();
        }
        if (!mapped.ok) {
          p = settle({ index: row.index, line: row.line, outcome: { kind: "invalid", reason: mapped.reason }, row });
        } else {
          const rel = mapped.relationship;
          if (o.countSides === true) noteSides(rel, objectTypes, people, objects);
          const previous = o.resume?.outcomeOf(row.index);
          if (previous !== undefined) {
            // Settled by the journal, yet still planned (excluded there) so that dedupe decides as before.
            const s = settle({ index: row.index, line: row.line, outcome: previous, relationship: rel, row });
            if (s !== undefined) await s;
          } else if (state.halt !== undefined) {
            p = settle({ index: row.index, line: row.line, outcome: { kind: "skipped", reason: state.halt.reason }, relationship: rel, row });
            if (p !== undefined) await p;
            continue;
          } else if (o.keepRows) {
            pending.set(row.index, row);
          }
          const events = planner.add(rel);
          if (events.length > 0) p = handle(events);
        }
        if (p !== undefined) await p;
        if ((tally.rowsRead & 1023) === 0) progress();
      }
    }
  } catch (e) {
    // Before anything was sent a malformed file is simply an error; once batches are out, the rows
    // already read are still settled (skipped) so that the report and failures file stay complete.
    if (!(e instanceof InputError) || o.sink.kind === "dry-run" || planner.stats().batches === 0) throw e;
    state.halt = { kind: "input-error", reason: `not sent: ${e.message}`, error: e };
  }
  // A header with no rows under it is still checked against the mapping (issue 10: header first), so that a
  // header-only file whose columns do not match is an error, not "0 rows, all valid".
  if (mapper === undefined && state.halt === undefined && (o.source.columns() !== undefined || o.source.headerless)) {
    createMapperFor(o.input, o.source, { index: 0, line: 1, fields: {} });
  }
  tellEmails();
  // Once halted, dispatch settles the planned batches as skipped instead of sending them.
  await handle(planner.finish());
  queueEnded = true;
  wakeSender?.();
  await sending;
  if (sendFailure !== undefined) throw sendFailure.error;
  while (inflight.size > 0) await Promise.race(inflight);
  await journalChain;
  progress();
  const result: PipelineResult = {
    plan: planner.stats(),
    objectTypes: [...objectTypes].sort(),
    distinctPeople: people.size,
    distinctObjects: objects.size,
  };
  if (state.halt !== undefined) result.halt = state.halt;
  if (state.retryableFailures !== undefined) result.retryableFailures = state.retryableFailures;
  if (state.outputError !== undefined) result.outputError = state.outputError;
  return result;
}

/** The source's rows a chunk at a time (one-row chunks from a source that cannot batch). */
function rowBatchesOf(source: RowSource): AsyncIterable<readonly Row[]> {
  if ("rowBatches" in source) return (source as BatchedRowSource).rowBatches();
  return (async function* () {
    for await (const row of source.rows()) yield [row];
  })();
}

/** Column problems (no person column, an unknown --attributes name) are errors of the file's first record. */
function createMapperFor(mapping: MappingOptions, source: RowSource, first: Row): Mapper {
  const names = source.columns();
  try {
    return createMapper(mapping, names === undefined ? { headerless: source.headerless } : { headerless: source.headerless, names });
  } catch (e) {
    if (e instanceof ColumnError)
      throw new InputError({ file: source.displayName, line: names === undefined ? first.line : 1 }, e.message, { cause: e });
    throw e;
  }
}

/** Maps one row; a JSON column problem found on the first row is a file error at that row's line. */
function mapFor(mapper: Mapper, file: string, row: Row): ReturnType<Mapper["map"]> {
  try {
    return mapper.map(row);
  } catch (e) {
    if (e instanceof ColumnError) throw new InputError({ file, line: row.line }, e.message, { cause: e });
    throw e;
  }
}

/** Remembers object types and (up to a cap) distinct people and objects, for the delete question. */
function noteSides(rel: Relationship, types: Set<string>, people: Set<string>, objects: Set<string>): void {
  const o = rel.object;
  if ("typeId" in o) {
    if (types.size < 100) types.add(o.typeId);
    if (objects.size < DISTINCT_CAP) objects.add(`${o.typeId}\u0000${o.id}`);
  } else if (objects.size < DISTINCT_CAP) objects.add(`cio\u0000${o.cioObjectId}`);
  if (people.size < DISTINCT_CAP) people.add(`${rel.person.key}\u0000${rel.person.value}`);
}
