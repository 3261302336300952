import type { Action, AttributeValue, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import type { Batch, Operation } from "./types.js";

// issue 16: a batch waiting for a send slot or on the wire is its body and its rows' ids, not its row objects. A
// 500 KB body of shuffled rows carries ~13,700 relationships, each three heap objects (relationship, person, id
// string) that had to outlive the request; the planner allocates the next batches meanwhile, so the rows of every
// batch in flight lived through several scavenges and were promoted to V8's old space, which then grew with them
// until its next mark-compact. Packed, a row costs 8 bytes (its index and line), and the body already says the
// rest: an answer that applies the batch whole, the common case, needs only the ids; an answer about single rows
// (isolation, a halt) reads the relationships back from the body, once, as the values that were sent.

/** One relationship as a body carries it: the side its operation does not share, and the attributes sent (if any). */
export interface BodyEntry {
  /** The person of an object operation's relationship, the object of a person operation's. */
  other: PersonRef | ObjectRef;
  attributes?: Record<string, AttributeValue>;
}

/** Reads a route's body back: the entries of each operation, in order (Encoder.readBody). */
export type BodyReader = (body: Buffer) => BodyEntry[][];

/** Each operation's shape: what every relationship of it shares, and how many it has. */
interface OperationShape {
  type: Operation["type"];
  action: Action;
  /** The object of an object operation, the person of a person operation. */
  ref: ObjectRef | PersonRef;
  count: number;
}

/** A batch whose relationships are read back from its body when something reads `operations`. */
class PackedBatch implements Batch {
  readonly seq: number;
  readonly body: Buffer;
  readonly bytes: number;
  readonly release?: () => void;
  /** Row.index and line of each relationship, in operation order: [index0, line0, index1, line1, ...]. */
  readonly rowIds: Uint32Array;
  readonly #shapes: OperationShape[];
  readonly #read: BodyReader;
  #released = false;
  #operations: Operation[] | undefined;

  constructor(batch: Batch, shapes: OperationShape[], rowIds: Uint32Array, read: BodyReader) {
    this.seq = batch.seq;
    this.body = batch.body;
    this.bytes = batch.bytes;
    const release = batch.release;
    if (release !== undefined) {
      this.release = () => {
        this.#released = true;
        release();
      };
    }
    this.#shapes = shapes;
    this.rowIds = rowIds;
    this.#read = read;
  }

  get operationCount(): number {
    return this.#shapes.length;
  }

  /** Whether the relationships have been read back. */
  get decoded(): boolean {
    return this.#operations !== undefined;
  }

  /** The operations, read back from the body on first read; the same objects on every later read (a sender's ledger is keyed by them). */
  get operations(): Operation[] {
    if (this.#operations === undefined) {
      // Released, the body's memory carries another batch: only a batch applied whole is released, and its rows are settled by their ids.
      if (this.#released) throw new Error(`internal error: the rows of batch ${this.seq} were read after its body was released`);
      this.#operations = unpack(this.#shapes, this.rowIds, this.#read(this.body), this.seq);
    }
    return this.#operations;
  }
}

/**
 * The batch with its relationships packed (see above): the same seq, body, bytes and release, and operations equal
 * to those the body sends once read. Relationships lose their identity, and the attributes a body does not send (an
 * empty set, a deletion's), so a run that keeps input rows by relationship (the failures file) or reports every
 * row must not pack its batches.
 */
export function packBatch(batch: Batch, read: BodyReader): Batch {
  if (batch instanceof PackedBatch) return batch;
  const rowIds = new Uint32Array(2 * rowCount(batch));
  const shapes: OperationShape[] = [];
  let i = 0;
  for (const op of batch.operations) {
    shapes.push({ type: op.type, action: op.action, ref: op.type === "object" ? op.object : op.person, count: op.relationships.length });
    for (const rel of op.relationships) {
      rowIds[i++] = rel.index;
      rowIds[i++] = rel.line;
    }
  }
  return new PackedBatch(batch, shapes, rowIds, read);
}

/** Whether a batch's relationships are packed and not read back. */
export function isPacked(batch: Batch): boolean {
  return batch instanceof PackedBatch && !batch.decoded;
}

/** How many operations a batch carries, without reading a packed one back. */
export function operationCount(batch: Batch): number {
  return batch instanceof PackedBatch ? batch.operationCount : batch.operations.length;
}

/** Calls `each` with the Row.index and line of every relationship of a batch, in operation order, without reading a packed one back. */
export function forEachRow(batch: Batch, each: (index: number, line: number) => void): void {
  if (batch instanceof PackedBatch) {
    const ids = batch.rowIds;
    for (let i = 0; i < ids.length; i += 2) each(ids[i] as number, ids[i + 1] as number);
  } else {
    for (const op of batch.operations) for (const rel of op.relationships) each(rel.index, rel.line);
  }
}

/** How many relationships a batch carries, without reading a packed one back. */
export function rowCount(batch: Batch): number {
  if (batch instanceof PackedBatch) return batch.rowIds.length / 2;
  let n = 0;
  for (const op of batch.operations) n += op.relationships.length;
  return n;
}

/** The operations of a packed batch: each shape with its entries from the body and its rows' ids. */
function unpack(shapes: OperationShape[], ids: Uint32Array, entries: BodyEntry[][], seq: number): Operation[] {
  if (entries.length !== shapes.length) throw new Error(`internal error: batch ${seq} has ${shapes.length} operations, its body ${entries.length}`);
  const ops: Operation[] = [];
  let k = 0;
  shapes.forEach((s, i) => {
    const carried = entries[i] ?? [];
    if (carried.length !== s.count)
      throw new Error(`internal error: operation ${i} of batch ${seq} has ${s.count} relationships, its body ${carried.length}`);
    const relationships = carried.map((e): Relationship => {
      const index = ids[k++] as number;
      const line = ids[k++] as number;
      const person = (s.type === "object" ? e.other : s.ref) as PersonRef;
      const object = (s.type === "object" ? s.ref : e.other) as ObjectRef;
      return e.attributes === undefined ? { index, line, person, object } : { index, line, person, object, attributes: e.attributes };
    });
    ops.push(
      s.type === "object"
        ? { type: "object", action: s.action, object: s.ref as ObjectRef, relationships }
        : { type: "person", action: s.action, person: s.ref as PersonRef, relationships },
    );
  });
  return ops;
}
