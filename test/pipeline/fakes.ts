import type { Row, RowSource } from "../../src/input/types.js";
import { MapFailure, mapperOf, type Mapper } from "../../src/model/mapping.js";
import type { Relationship } from "../../src/model/types.js";
import { makeBatch } from "../../src/plan/serialize.js";
import type { Batch } from "../../src/plan/types.js";
import type { BatchSettlement, BatchTransport, RowSettlement, TransportHalt } from "../../src/transport/types.js";

/** A relationship of person id `person` and object `1:object`, at Row.index (and line) `index`. */
export function rel(index: number, person: string, object: string, attributes?: Record<string, string>): Relationship {
  const r: Relationship = { index, line: index, person: { key: "id", value: person }, object: { typeId: "1", id: object } };
  if (attributes !== undefined) r.attributes = attributes;
  return r;
}

/** A batch of one object operation per relationship. */
export function batchOf(seq: number, ...rels: Relationship[]): Batch {
  return makeBatch(
    seq,
    rels.map((r) => ({ type: "object" as const, action: "add_relationships" as const, object: r.object, relationships: [r] })),
  );
}

/** The indices a batch carries. */
export function indicesOf(batch: Batch): number[] {
  return batch.operations.flatMap((op) => op.relationships.map((r) => r.index));
}

/** How the fake answers one batch: an outcome per row, and the halt the settlement carries. */
export type Answer = { outcome?: (rel: Relationship) => RowSettlement["outcome"]; halt?: TransportHalt };

/**
 * A BatchTransport that records what it is given and answers when the test says so (`manual`) or at once.
 * Tracks the sends in flight so a test can check concurrency.
 */
export class FakeTransport implements BatchTransport {
  readonly sent: Batch[] = [];
  readonly stats = { requests: 0, retries: 0, bytesSent: 0 };
  inFlight = 0;
  maxInFlight = 0;
  readonly #waiting: { batch: Batch; answer: (a?: Answer) => void }[] = [];

  constructor(private readonly opts: { manual?: boolean; answer?: (batch: Batch) => Answer } = {}) {}

  async send(batch: Batch): Promise<BatchSettlement> {
    this.sent.push(batch);
    this.stats.requests++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const given =
      this.opts.manual === true ? await new Promise<Answer | undefined>((resolve) => this.#waiting.push({ batch, answer: resolve })) : undefined;
    await Promise.resolve();
    this.inFlight--;
    const a = given ?? this.opts.answer?.(batch) ?? {};
    const rows = batch.operations.flatMap((op) =>
      op.relationships.map((r) => ({ index: r.index, line: r.line, outcome: a.outcome?.(r) ?? { kind: "applied" as const } })),
    );
    return a.halt !== undefined ? { batch, rows, halt: a.halt } : { batch, rows };
  }

  /** Batches sent and not yet answered (manual mode), oldest first. */
  get waiting(): Batch[] {
    return this.#waiting.map((w) => w.batch);
  }

  /** Answers the oldest waiting send (or the one carrying `seq`). */
  release(a?: Answer, seq?: number): void {
    const i = seq === undefined ? 0 : this.#waiting.findIndex((w) => w.batch.seq === seq);
    const [w] = this.#waiting.splice(i, 1);
    if (w === undefined) throw new Error("nothing waiting");
    w.answer(a);
  }

  abort(): void {}
  stopWaiting(): void {}
  async close(): Promise<void> {}
}

/** Lets every pending promise callback run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Waits (by turns, not by time) until `cond` holds. */
export async function until(cond: () => boolean, turns = 1000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error("condition never held");
}

/** Rows for the test mapper: `p` person id, `o` object id; `bad` makes the row invalid. */
export function rowsOf(specs: ReadonlyArray<{ p: string; o: string; a?: string; bad?: string }>): Row[] {
  return specs.map((fields, i) => ({ index: i + 1, line: i + 1, fields }));
}

/** A RowSource over rows held in memory. */
export function memorySource(rows: readonly Row[]): RowSource {
  return {
    displayName: "rows.ndjson",
    format: "ndjson",
    headerless: false,
    columns: () => undefined,
    bytesRead: () => 0,
    totalBytes: undefined,
    rows: async function* () {
      for (const r of rows) yield r;
    },
  };
}

/** Maps {p, o, a?, bad?} rows to relationships of object type 1; `a` becomes a `role` attribute. */
export const testMapper: Mapper = mapperOf((row) => {
  const f = row.fields as { p: string; o: string; a?: string; bad?: string };
  if (f.bad !== undefined) return new MapFailure(f.bad);
  return rel(row.index, f.p, f.o, f.a !== undefined ? { role: f.a } : undefined);
});
