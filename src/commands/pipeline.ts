import { InputError } from "../errors.js";
import type { BatchedRowSource, Row, RowBlock, RowSource } from "../input/types.js";
import { ColumnError, createMapper, MapFailure, type Mapper, type MappingOptions } from "../model/mapping.js";
import type { Action, Relationship } from "../model/types.js";
import { EmailSample } from "../pipeline/emails.js";
import { SendQueue } from "../pipeline/send-queue.js";
import { Settler } from "../pipeline/settler.js";
import { SideCounter } from "../pipeline/sides.js";
import type { Halt, JournalWriter, SettledRows } from "../pipeline/types.js";
import { trackEncoder, type Encoder } from "../plan/encoder.js";
import { createGroupingPlanner, type GroupingPlanner, type GroupingStats } from "../plan/grouping.js";
import { packBatch } from "../plan/packed-batch.js";
import { openTempStore } from "../spill/temp-store.js";
import { MAX_BATCH_BYTES, type Batch, type PlanEvent, type PlanStats } from "../plan/types.js";
import type { Tally } from "../report/tally.js";
import type { OutputError } from "../report/outputs.js";
import type { BatchTransport } from "../transport/types.js";
import type { InputOptions } from "./options.js";
import type { RowSink } from "./outcomes.js";

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
  /**
   * The rows exist before the run (sync's planned operations; a deletion has no input line): each must end in
   * an outcome, so an interrupt settles the rest as skipped instead of leaving them unread.
   */
  plannedRows?: boolean;
  /** Start halted (sync's deletions once its additions halted): every row is settled skipped with its reason. */
  halted?: Halt;
  /** Count object types and distinct people/objects (for the delete question); costs a Set insert per row. */
  countSides?: boolean;
  /** The destination's wire format and limits (--via), shared by planner and transport; default Track's. */
  encoder?: Encoder;
  /** issue 16: the folder for the planner's temporary files (default: the system temp folder). */
  tempDir?: string;
  /** issue 16: plan in windows only, never grouping the whole input in memory or temporary files (the delete question). */
  windowOnly?: boolean;
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

/** What the pipeline did besides settling rows (the tally holds those counts). */
export interface PipelineResult {
  plan: PlanStats;
  /** issue 16: how the input was grouped (held whole, streamed in runs, or split into temporary files). */
  grouping?: GroupingStats;
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

/**
 * Bytes of planned batches that may wait for a send slot while reading goes on (push waits once they are more;
 * the send queue also holds at most twice the concurrency in batches): half a full batch, so that one full
 * batch waits at most. Full batches take the planner longer than the API takes to send them, so a deeper queue
 * only held rows long enough to be promoted to V8's old space (issue 16: with 2 MB, 1M shuffled rows sent in
 * 500 KB batches peaked at 246-269 MB RSS; with one batch waiting, 198-201 MB).
 */
const MAX_QUEUED_BYTES = MAX_BATCH_BYTES / 2;

/** A controller the command uses to stop the pipeline from outside (SIGINT). */
export interface PipelineControl {
  /** First call: stop reading, let requests in flight finish. */
  interrupt(): void;
}

/** Where planned batches go: the send queue, or the dry run's writer. */
interface BatchSink {
  put(batch: Batch): Promise<void>;
  /** No more batches: resolves once every one is settled. */
  end(): Promise<void>;
}

/**
 * read rows → map → plan → send or write → settle every row exactly once.
 * The only place that knows how the stages fit; each stage is its own module.
 */
export function startPipeline(o: PipelineOptions): { control: PipelineControl; done: Promise<PipelineResult> } {
  const run = new PipelineRun(o);
  const control: PipelineControl = {
    // Stops reading, and stops dispatching batches that are planned but not yet sent.
    interrupt: () => run.settler.stop({ kind: "interrupted", reason: "not sent: interrupted" }),
  };
  // issue 16: the planner's temporary files go whichever way the run ends (success, error, halt, Ctrl-C).
  return { control, done: run.run().finally(() => run.close()) };
}

/**
 * The planner of a run: the one place that decides how rows become batches. issue 16: it groups the whole input
 * (in memory, or in temporary files whose failure is an output failure) unless grouping cannot save a request.
 */
function plannerFor(o: PipelineOptions, exclude: ((index: number) => boolean) | undefined, settler: Settler): GroupingPlanner {
  // One relationship per operation (--via pipelines): grouping cannot save a request, so nothing is held or spilled.
  const windowOnly = o.windowOnly === true || o.encoder?.onePerOperation === true;
  return createGroupingPlanner({
    action: o.action,
    groupBy: o.input.groupBy,
    windowSize: o.input.windowSize,
    maxBatchBytes: o.input.batchBytes,
    ...(o.encoder !== undefined ? { encoder: o.encoder } : {}),
    ...(exclude !== undefined ? { exclude } : {}),
    ...(o.source.totalBytes !== undefined ? { inputBytes: o.source.totalBytes } : {}),
    ...(windowOnly ? { windowOnly } : { openStore: () => openTempStore(o.tempDir), onSpillError: (e: unknown) => settler.outputFailed(e) }),
  });
}

/** One run of the pipeline: the read loop, with the settler, planner and batch sink it feeds. */
class PipelineRun {
  readonly settler: Settler;
  readonly #planner: GroupingPlanner;
  readonly #sink: BatchSink;
  readonly #sides: SideCounter | undefined;
  readonly #emails: EmailSample;
  /**
   * Rows of the current window that the resumed journal settled: the planner drops them (after dedupe) and
   * asks about each exactly once, so the set never holds more than a window. Resume is read in take() only.
   */
  readonly #resumed = new Set<number>();
  #mapper: Mapper | undefined;

  constructor(private readonly o: PipelineOptions) {
    const progress = (): void => this.#progress();
    this.settler = new Settler({
      tally: o.tally,
      rows: o.rows,
      keepRows: o.keepRows,
      onBatch: progress,
      rowOf: (rel) => this.#planner.rowOf(rel),
      ...(o.journal !== undefined ? { journal: o.journal } : {}),
      ...(o.sink.kind === "send" && o.sink.maxErrors !== undefined ? { maxErrors: o.sink.maxErrors } : {}),
    });
    if (o.halted !== undefined) this.settler.stop(o.halted);
    this.#planner = plannerFor(o, o.resume !== undefined ? (index) => this.#resumed.delete(index) : undefined, this.settler);
    this.#sink = this.#batchSink();
    this.#sides = o.countSides === true ? new SideCounter() : undefined;
    this.#emails = new EmailSample(o.input.fixedPerson === undefined ? o.onEmailsAsIds : undefined);
    this.#mapper = o.mapper;
  }

  async run(): Promise<PipelineResult> {
    try {
      await this.#read();
    } catch (e) {
      // Before anything was sent a malformed file is simply an error; once batches are out, the rows
      // already read are still settled (skipped) so that the report and failures file stay complete.
      if (!(e instanceof InputError) || this.o.sink.kind === "dry-run" || this.#planner.stats().batches === 0) throw e;
      this.settler.inputFailed(e);
    }
    // A header with no rows under it is still checked against the mapping (issue 10: header first), so that a
    // header-only file whose columns do not match is an error, not "0 rows, all valid".
    const source = this.o.source;
    if (this.#mapper === undefined && this.settler.halt === undefined && (source.columns() !== undefined || source.headerless)) {
      createMapperFor(this.o.input, source, { index: 0, line: 1, fields: {} });
    }
    this.#emails.tell();
    // Once halted, the sink settles the planned batches as skipped instead of sending them.
    for await (const events of this.#planner.finish()) await this.#handle(events);
    await this.#sink.end();
    await this.settler.drained();
    this.#progress();
    return this.#result();
  }

  /**
   * A chunk of rows at a time: one await per chunk instead of several per row (the per-row awaits cost as
   * much as parsing). Within a chunk, only real work (a full send queue, a sink write) awaits.
   */
  async #read(): Promise<void> {
    const tally = this.o.tally;
    for await (const block of rowBlocksOf(this.o.source)) {
      for (let i = 0; i < block.length; i++) {
        // An interrupt stops reading; rows that exist before the run (a plan's) are still settled, as skipped.
        if (this.settler.halt?.kind === "interrupted" && this.o.plannedRows !== true) return;
        tally.read();
        const p = this.#take(block, i);
        if (p !== undefined) await p;
        if ((tally.rowsRead & 1023) === 0) this.#progress();
      }
    }
  }

  /**
   * Row i of a block: invalid, settled by the resumed journal, skipped after a halt, or on to the planner. The row
   * is read through the block's lent view; one is made to keep only where an outcome or the planner holds it.
   */
  #take(block: RowBlock, i: number): void | Promise<void> {
    const s = this.settler;
    const row = block.view(i);
    // The reader could not make fields of it (nested too deep): invalid before any mapping.
    if (row.problem !== undefined)
      return s.row({ index: row.index, line: row.line, outcome: { kind: "invalid", reason: row.problem }, row: block.row(i) });
    this.#mapper ??= createMapperFor(this.o.input, this.o.source, row);
    const rel = mapFor(this.#mapper, this.o.source.displayName, row);
    if (rel instanceof MapFailure)
      return s.row({ index: row.index, line: row.line, outcome: { kind: "invalid", reason: rel.reason }, row: block.row(i) });
    this.#emails.note(rel);
    this.#sides?.note(rel);
    const previous = this.o.resume?.outcomeOf(rel.index);
    if (previous !== undefined) {
      // Settled by the journal, yet still planned (and dropped there) so that dedupe decides as before.
      this.#resumed.add(rel.index);
      return chain(s.row({ index: rel.index, line: rel.line, outcome: previous, relationship: rel, row: block.row(i) }), () => this.#plan(rel));
    }
    const halt = s.halt;
    if (halt !== undefined)
      return s.row({ index: rel.index, line: rel.line, outcome: { kind: "skipped", reason: halt.reason }, relationship: rel, row: block.row(i) });
    return this.#plan(rel, this.o.keepRows ? block.row(i) : undefined);
  }

  /** Hands a relationship (and its row, when the failures file needs it: the planner keeps it) to the planner, its events on. */
  #plan(rel: Relationship, row?: Row): void | Promise<void> {
    const events = this.#planner.add(rel, row);
    return events.length > 0 ? this.#handle(events) : undefined;
  }

  /** The planner's events: batches to the sink, superseded and oversized rows to the settler. */
  async #handle(events: readonly PlanEvent[]): Promise<void> {
    for (const ev of events) {
      let p: void | Promise<void>;
      if (ev.type === "batch") p = this.#sink.put(ev.batch);
      else {
        const rel = ev.relationship;
        const outcome =
          ev.type === "duplicate" ? { kind: "duplicate" as const, supersededBy: ev.supersededBy } : { kind: "invalid" as const, reason: ev.reason };
        p = this.settler.row({ index: rel.index, line: rel.line, outcome, relationship: rel });
      }
      if (p !== undefined) await p;
    }
  }

  #batchSink(): BatchSink {
    const sink = this.o.sink;
    if (sink.kind === "dry-run") return dryRunSink(this.settler, sink.out);
    const settler = this.settler;
    const read = (this.o.encoder ?? trackEncoder).readBody;
    const queue = new SendQueue({
      transport: sink.transport,
      concurrency: sink.concurrency,
      maxQueuedBytes: MAX_QUEUED_BYTES,
      // Only additions with attributes can differ between two rows of one pair; order is moot otherwise.
      orderPairs: this.o.action === "add_relationships" && this.o.input.attributes !== undefined,
      // issue 16: batches in flight as body and row ids when an applied batch needs only the ids (no failures file, no report).
      ...(read !== undefined && !this.o.keepRows && this.o.rows.ignoresApplied === true ? { pack: (b: Batch) => packBatch(b, read) } : {}),
      haltReason: () => settler.halt?.reason,
      settled: (s) => settler.batch(s),
      skipped: (batch, reason) => settler.skip(batch, reason),
    });
    return { put: (batch) => queue.push(batch), end: () => queue.end() };
  }

  /** Removes the planner's temporary files; safe to call twice. */
  close(): void {
    this.#planner.close();
  }

  #progress(): void {
    this.o.onProgress?.({ tally: this.o.tally, bytesRead: this.o.source.bytesRead() });
  }

  #result(): PipelineResult {
    const s = this.settler;
    const result: PipelineResult = {
      plan: this.#planner.stats(),
      grouping: this.#planner.grouping(),
      ...(this.#sides?.figures() ?? { objectTypes: [], distinctPeople: 0, distinctObjects: 0 }),
    };
    if (s.halt !== undefined) result.halt = s.halt;
    if (s.retryableFailures > 0) result.retryableFailures = s.retryableFailures;
    if (s.outputError !== undefined) result.outputError = s.outputError;
    return result;
  }
}

/** Runs `then` after `first`, awaiting only when `first` is a promise. */
function chain(first: void | Promise<void>, then: () => void | Promise<void>): void | Promise<void> {
  return first === undefined ? then() : first.then(then);
}

/** Ends each body in a dry run's --out. */
const NEWLINE = Buffer.from("\n");

/** The dry run's sink: each body to --out (if given); its rows count as planned. */
function dryRunSink(settler: Settler, out: NodeJS.WritableStream | undefined): BatchSink {
  // A destroyed --out (a failed write) takes no more; the command reports it with exit 4 when it ends the stream.
  const stream = out as (NodeJS.WritableStream & { destroyed?: boolean }) | undefined;
  return {
    async put(batch) {
      settler.planned(batch);
      if (stream === undefined || stream.destroyed === true) batch.release?.();
      else {
        // The body's memory carries the next batch once the stream has written it (issue 16).
        stream.write(batch.body);
        if (!stream.write(NEWLINE, () => batch.release?.())) await drainOrClose(stream);
      }
    },
    end: async () => undefined,
  };
}

/** Waits for a stream's drain or close, leaving no listener behind (a race of two once() leaks the loser's). */
function drainOrClose(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}

/** The source's rows a block at a time: a CSV's own blocks, else its row arrays (one-row ones from a source that cannot batch). */
function rowBlocksOf(source: RowSource): AsyncIterable<RowBlock> {
  const batched = source as Partial<BatchedRowSource>;
  if (batched.rowBlocks !== undefined) return batched.rowBlocks();
  return (async function* () {
    if (batched.rowBatches !== undefined) for await (const rows of batched.rowBatches()) yield new ArrayBlock(rows);
    else for await (const row of source.rows()) yield new ArrayBlock([row]);
  })();
}

/** Rows that are objects already, as a block: the view is the row itself. */
class ArrayBlock implements RowBlock {
  constructor(private readonly rows: readonly Row[]) {}

  get length(): number {
    return this.rows.length;
  }

  view(i: number): Row {
    return this.rows[i] as Row;
  }

  row(i: number): Row {
    return this.rows[i] as Row;
  }
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
function mapFor(mapper: Mapper, file: string, row: Row): ReturnType<Mapper["relationshipOf"]> {
  try {
    return mapper.relationshipOf(row);
  } catch (e) {
    if (e instanceof ColumnError) throw new InputError({ file, line: row.line }, e.message, { cause: e });
    throw e;
  }
}
