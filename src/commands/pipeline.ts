import { once } from "node:events";
import { InputError } from "../errors.js";
import type { Row, RowSource } from "../input/types.js";
import { ColumnError, createMapper, type Mapper, type MappingOptions } from "../model/mapping.js";
import type { Outcome, Relationship } from "../model/types.js";
import { createPlanner } from "../plan/planner.js";
import type { Batch, PlanEvent, PlanStats } from "../plan/types.js";
import type { BatchSettlement, BatchTransport } from "../transport/types.js";
import type { InputOptions } from "./options.js";
import type { RowSink, SettledRow } from "./outcomes.js";
import type { Action } from "../model/types.js";
import type { Tally } from "../report/tally.js";

/** What a previous run already settled, read from its journal (--resume). */
export interface SettledLines {
  isSettled(line: number): boolean;
  outcomeOf(line: number): Outcome | undefined;
}

/** Appends settled lines to the journal, durably, before the pipeline goes on. */
export interface JournalWriter {
  record(applied: readonly number[], failed: readonly { line: number; reason: string }[]): Promise<void>;
}

/** Why sending stopped before the input ran out. */
export type Halt =
  | { kind: "auth"; status: number; reason: string }
  | { kind: "max-errors"; reason: string }
  | { kind: "interrupted"; reason: string }
  | { kind: "input-error"; reason: string; error: InputError };

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
  /** Count object types and distinct people/objects (for the delete question); costs a Set insert per row. */
  countSides?: boolean;
  resume?: SettledLines;
  journal?: JournalWriter;
  /** Called often with running figures, for the progress display. */
  onProgress?: (p: PipelineProgress) => void;
}

/** Running figures while the pipeline works. */
export interface PipelineProgress {
  tally: Tally;
  bytesRead: number;
}

/** The pipeline's result: counts add up to rowsRead. */
export interface PipelineResult {
  plan: PlanStats;
  halt?: Halt;
  /** Object type ids seen (for the delete confirmation), capped. */
  objectTypes: string[];
  distinctPeople: number;
  distinctObjects: number;
}

const APPLIED: Outcome = { kind: "applied" };

/** Cap on the distinct people/objects counted for the delete question, to keep memory bounded. */
const DISTINCT_CAP = 100_000;

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
  const state: { halt?: Halt } = {};
  const control: PipelineControl = {
    interrupt() {
      // Stops reading, and stops dispatching batches that are planned but not yet sent.
      state.halt ??= { kind: "interrupted", reason: "not sent: interrupted" };
    },
  };
  return { control, done: run(o, state) };
}

async function run(o: PipelineOptions, state: { halt?: Halt }): Promise<PipelineResult> {
  const tally = o.tally;
  const pending = new Map<number, Row>();
  const inflight = new Set<Promise<void>>();
  let journalChain: Promise<void> = Promise.resolve();
  const objectTypes = new Set<string>();
  const people = new Set<string>();
  const objects = new Set<string>();

  const settle = async (s: SettledRow): Promise<void> => {
    tally.record(s.line, s.outcome);
    if (o.keepRows && s.row === undefined) {
      const row = pending.get(s.line);
      if (row !== undefined) s.row = row;
    }
    pending.delete(s.line);
    await o.rows.settle(s);
  };

  const progress = (): void => {
    o.onProgress?.({ tally, bytesRead: o.source.bytesRead() });
  };

  const skipBatch = async (batch: Batch, reason: string): Promise<void> => {
    for (const op of batch.operations) {
      for (const rel of op.relationships) await settle({ line: rel.line, outcome: { kind: "skipped", reason }, relationship: rel });
    }
  };

  const onSettlement = async (s: BatchSettlement): Promise<void> => {
    const byLine = new Map<number, Relationship>();
    for (const op of s.batch.operations) for (const rel of op.relationships) byLine.set(rel.line, rel);
    const applied: number[] = [];
    const failed: { line: number; reason: string }[] = [];
    for (const r of s.rows) {
      const rel = byLine.get(r.line);
      await settle(rel === undefined ? { line: r.line, outcome: r.outcome } : { line: r.line, outcome: r.outcome, relationship: rel });
      if (r.outcome.kind === "applied") applied.push(r.line);
      else if (r.outcome.kind === "failed") failed.push({ line: r.line, reason: r.outcome.reason });
    }
    // Journal writes are serialised and awaited before the slot frees: "flushed to disk before going on".
    if (o.journal !== undefined && (applied.length > 0 || failed.length > 0)) {
      const journal = o.journal;
      journalChain = journalChain.then(() => journal.record(applied, failed));
      await journalChain;
    }
    if (o.sink.kind === "send") {
      const stopped = o.sink.transport.stopped;
      if (state.halt === undefined && stopped !== undefined) state.halt = { kind: "auth", status: stopped.status, reason: stopped.reason };
      const max = o.sink.maxErrors;
      if (state.halt === undefined && max !== undefined && tally.count("failed") >= max) {
        state.halt = { kind: "max-errors", reason: `not sent: --max-errors ${max} reached` };
      }
    }
    progress();
  };

  const dispatch = async (batch: Batch): Promise<void> => {
    const sink = o.sink;
    if (sink.kind === "dry-run") {
      // A dry run counts the rows it would send as applied (the summary calls them "planned"). Nothing
      // but the tally wants them (--report is refused in a dry run), so they skip the row sink.
      for (const op of batch.operations) {
        for (const rel of op.relationships) {
          tally.record(rel.line, APPLIED);
          pending.delete(rel.line);
        }
      }
      if (sink.out !== undefined && !sink.out.write(batch.body + "\n")) await once(sink.out, "drain");
      return;
    }
    if (state.halt !== undefined) return skipBatch(batch, state.halt.reason);
    while (inflight.size >= sink.concurrency) await Promise.race(inflight);
    // A settlement may have halted the run while this batch waited for a slot.
    const haltedMeanwhile = state.halt as Halt | undefined;
    if (haltedMeanwhile !== undefined) return skipBatch(batch, haltedMeanwhile.reason);
    const p: Promise<void> = sink.transport.send(batch).then(onSettlement).finally(() => inflight.delete(p));
    inflight.add(p);
  };

  const handle = async (events: readonly PlanEvent[]): Promise<void> => {
    for (const ev of events) {
      if (ev.type === "batch") await dispatch(ev.batch);
      else if (ev.type === "duplicate") {
        // A row settled by the resumed journal keeps its journaled outcome.
        if (o.resume?.isSettled(ev.relationship.line) === true) continue;
        await settle({ line: ev.relationship.line, outcome: { kind: "duplicate", supersededBy: ev.supersededBy }, relationship: ev.relationship });
      } else {
        await settle({ line: ev.relationship.line, outcome: { kind: "invalid", reason: ev.reason }, relationship: ev.relationship });
      }
    }
  };

  const planner = createPlanner({
    action: o.action,
    groupBy: o.input.groupBy,
    windowSize: o.input.windowSize,
    maxBatchBytes: o.input.batchBytes,
    ...(o.resume !== undefined ? { exclude: (line: number) => o.resume?.isSettled(line) === true } : {}),
  });

  let mapper: Mapper | undefined;
  const mapping = mappingOptions(o.input);
  try {
    for await (const row of o.source.rows()) {
      if (state.halt?.kind === "interrupted") break;
      tally.read();
      if (mapper === undefined) mapper = createMapperFor(mapping, o.source, row);
      const mapped = mapFor(mapper, o.source.displayName, row);
      if (!mapped.ok) {
        await settle({ line: row.line, outcome: { kind: "invalid", reason: mapped.reason }, row });
      } else {
        const rel = mapped.relationship;
        if (o.countSides === true) noteSides(rel, objectTypes, people, objects);
        const previous = o.resume?.outcomeOf(row.line);
        if (previous !== undefined) {
          await settle({ line: row.line, outcome: previous, relationship: rel, row });
        } else if (state.halt !== undefined) {
          await settle({ line: row.line, outcome: { kind: "skipped", reason: state.halt.reason }, relationship: rel, row });
          continue;
        } else if (o.keepRows) {
          pending.set(row.line, row);
        }
        await handle(planner.add(rel));
      }
      if ((tally.rowsRead & 1023) === 0) progress();
    }
  } catch (e) {
    // Before anything was sent a malformed file is simply an error; once batches are out, the rows
    // already read are still settled (skipped) so that the report and failures file stay complete.
    if (!(e instanceof InputError) || o.sink.kind === "dry-run" || planner.stats().batches === 0) throw e;
    state.halt = { kind: "input-error", reason: `not sent: ${e.message}`, error: e };
  }
  // Once halted, dispatch settles the planned batches as skipped instead of sending them.
  await handle(planner.finish());
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
  return result;
}

/** The mapping flags, in the shape src/model expects. */
function mappingOptions(i: InputOptions): MappingOptions {
  const m: MappingOptions = { objectType: i.objectType, emptyRemoves: i.emptyRemoves };
  if (i.fixedObject !== undefined) m.fixedObject = i.fixedObject;
  if (i.fixedPerson !== undefined) m.fixedPerson = i.fixedPerson;
  if (i.personColumn !== undefined) m.personColumn = i.personColumn;
  if (i.personKey !== undefined) m.personKey = i.personKey;
  if (i.objectColumn !== undefined) m.objectColumn = i.objectColumn;
  if (i.attributes !== undefined) m.attributes = i.attributes;
  return m;
}

/** Column problems (no person column, an unknown --attributes name) are errors of the file's first record. */
function createMapperFor(mapping: MappingOptions, source: RowSource, first: Row): Mapper {
  const names = source.columns();
  try {
    return createMapper(mapping, names === undefined ? { headerless: source.headerless } : { headerless: source.headerless, names });
  } catch (e) {
    if (e instanceof ColumnError) throw new InputError({ file: source.displayName, line: names === undefined ? first.line : 1 }, e.message, { cause: e });
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
