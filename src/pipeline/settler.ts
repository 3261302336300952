// Where every row of a run ends: the tally, the row sinks (report, failures file), the journal, and the
// halt that stops sending (a 401, --max-errors, an outage, an output that cannot be written). The read
// loop and the send queue hand rows and batch settlements here; nothing else records an outcome.
import type { InputError } from "../errors.js";
import type { Row } from "../input/types.js";
import type { Outcome, Relationship } from "../model/types.js";
import type { Batch } from "../plan/types.js";
import type { RowSink, SettledRow } from "../commands/outcomes.js";
import { OutputError } from "../report/outputs.js";
import type { Tally } from "../report/tally.js";
import type { BatchSettlement } from "../transport/types.js";
import type { Halt, JournalWriter } from "./types.js";

/** What a Settler writes to and when it halts. */
export interface SettlerOptions {
  tally: Tally;
  rows: RowSink;
  /** Whether settled rows must carry their input row (the failures file needs it): hold() keeps them until then. */
  keepRows: boolean;
  journal?: JournalWriter;
  /** --max-errors: failed rows that stop sending. */
  maxErrors?: number;
  /** Called after each batch settlement, for the progress display. */
  onBatch?: () => void;
  /** issue 16: the input row a planned relationship came from, kept by the planner (in memory or its temporary files). */
  rowOf?: (rel: Relationship) => Row | undefined;
}

const APPLIED: Outcome = { kind: "applied" };

/** Settles rows exactly once each, journals what Customer.io answered, and decides when sending halts. */
export class Settler {
  #halt: Halt | undefined;
  #outputError: OutputError | undefined;
  #retryableFailures = 0;
  /** Input rows waiting for their outcome (failures file only), by Row.index: the row's identity, never its line. */
  readonly #held = new Map<number, Row>();
  /** Journal writes, one after another: "flushed to disk before going on". */
  #journalChain: Promise<void> = Promise.resolve();
  /** Applied rows need no sink call when it ignores them (no --report): the tally is all they touch. */
  readonly #sinkApplied: boolean;

  constructor(private readonly o: SettlerOptions) {
    this.#sinkApplied = o.rows.ignoresApplied !== true;
  }

  /** Why sending stopped, if it did: the first halt wins. */
  get halt(): Halt | undefined {
    return this.#halt;
  }

  /** issue 9: the first output that could not be written (it decides the exit code whatever the halt). */
  get outputError(): OutputError | undefined {
    return this.#outputError;
  }

  /** issue 9: rows that failed for a transient reason (network, 5xx, 429 after retries): --resume resends them. */
  get retryableFailures(): number {
    return this.#retryableFailures;
  }

  /** Stops sending for this reason unless something stopped it already. */
  stop(halt: Halt): void {
    this.#halt ??= halt;
  }

  /** A malformed input once batches are out: the rows read are still settled, and this halt decides the exit code. */
  inputFailed(error: InputError): void {
    this.#halt = { kind: "input-error", reason: `not sent: ${error.message}`, error };
  }

  /** Keeps an input row until its outcome, when the failures file needs it. */
  hold(row: Row): void {
    if (this.o.keepRows) this.#held.set(row.index, row);
  }

  /**
   * Settles one row. Returns the sink's promise only when it has one, so that callers await only real work:
   * a million rows each awaiting an already-settled promise cost more than reading them.
   */
  row(s: SettledRow): void | Promise<void> {
    this.o.tally.record(s.index, s.line, s.outcome);
    if (this.o.keepRows) {
      if (s.row === undefined && this.o.rows.needsRow?.(s.outcome) !== false) {
        const row = this.#held.get(s.index) ?? (s.relationship !== undefined ? this.o.rowOf?.(s.relationship) : undefined);
        if (row !== undefined) s.row = row;
      }
      this.#held.delete(s.index);
    }
    const written = this.o.rows.settle(s);
    return written === undefined ? undefined : written.catch((e: unknown) => this.#outputFailed(e));
  }

  /** A dry run counts the rows it would send as applied (the summary calls them "planned"); only the tally wants them. */
  planned(batch: Batch): void {
    for (const op of batch.operations) {
      for (const rel of op.relationships) {
        this.o.tally.record(rel.index, rel.line, APPLIED);
        if (this.o.keepRows) this.#held.delete(rel.index);
      }
    }
  }

  /** Settles every row of a batch that will not be sent as skipped. */
  async skip(batch: Batch, reason: string): Promise<void> {
    for (const op of batch.operations) {
      for (const rel of op.relationships) {
        const p = this.row({ index: rel.index, line: rel.line, outcome: { kind: "skipped", reason }, relationship: rel });
        if (p !== undefined) await p;
      }
    }
  }

  /** Settles the rows of a batch the transport delivered, journals them, then halts if the run must stop. */
  async batch(s: BatchSettlement): Promise<void> {
    const relationshipOf = relationshipsOf(s.batch);
    const journaling = this.o.journal !== undefined;
    const applied: number[] = [];
    const failed: { index: number; reason: string }[] = [];
    for (const r of s.rows) {
      if (r.outcome.kind === "failed" && r.outcome.retry === true) this.#retryableFailures++;
      if (r.outcome.kind === "applied" && !this.#sinkApplied && !this.o.keepRows) this.o.tally.record(r.index, r.line, r.outcome);
      else {
        const rel = relationshipOf(r.index);
        // Literals, not a spread: a spread object took a slow path on every property added later (its row, with
        // --failures), 1.2 s of a 1M-row run (issue 16).
        const p = this.row(
          rel === undefined
            ? { index: r.index, line: r.line, outcome: r.outcome }
            : { index: r.index, line: r.line, outcome: r.outcome, relationship: rel },
        );
        if (p !== undefined) await p;
      }
      if (!journaling) continue;
      if (r.outcome.kind === "applied") applied.push(r.index);
      // Only failures Customer.io answered for the row are journalled; transient ones (network, 5xx, 429
      // after retries) are sent again by --resume (issue 9).
      else if (r.outcome.kind === "failed" && r.outcome.retry !== true) failed.push({ index: r.index, reason: r.outcome.reason });
    }
    // Awaited before the send slot frees: the journal holds a batch before the next one can settle.
    if (this.o.journal !== undefined && (applied.length > 0 || failed.length > 0)) {
      const journal = this.o.journal;
      this.#journalChain = this.#journalChain.then(() => journal.record(applied, failed)).catch((e: unknown) => this.#outputFailed(e));
      await this.#journalChain;
    }
    if (s.halt !== undefined) this.stop({ ...s.halt });
    const max = this.o.maxErrors;
    if (max !== undefined && this.o.tally.count("failed") >= max) this.stop({ kind: "max-errors", reason: `not sent: --max-errors ${max} reached` });
    this.o.onBatch?.();
  }

  /** Resolves once every journal write has finished. */
  async drained(): Promise<void> {
    await this.#journalChain;
  }

  /** issue 16: the planner's temporary files could not be written (a full disk): as any output, exit 4. */
  outputFailed(e: unknown): void {
    this.#outputFailed(e);
  }

  /** issue 9: an output that cannot be written stops sending (the rest is skipped); the run ends with exit 4. */
  #outputFailed(e: unknown): void {
    if (!(e instanceof OutputError)) throw e;
    // An earlier halt keeps its reason for the rows, but the output failure decides the exit code.
    this.stop({ kind: "output", reason: `not sent: ${e.message}`, error: e });
    this.#outputError ??= e;
  }
}

/** Row index → relationship of a batch, built only when a row needs it (most batches are applied whole, without a sink). */
function relationshipsOf(batch: Batch): (index: number) => Relationship | undefined {
  let byIndex: Map<number, Relationship> | undefined;
  return (index) => {
    if (byIndex === undefined) {
      byIndex = new Map();
      for (const op of batch.operations) for (const rel of op.relationships) byIndex.set(rel.index, rel);
    }
    return byIndex.get(index);
  };
}
