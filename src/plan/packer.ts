import { utf8Length } from "../model/limits.js";
import type { Action, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import { trackEncoder, type Encoder } from "./encoder.js";
import { bodyPool, type BodyPool } from "./body-pool.js";
import type { Batch, Operation, PlanEvent, PlanStats } from "./types.js";

// Packs groups of relationships into operations and batches with exact byte accounting (issue 2,
// "Planning and packing"). Each relationship is serialised once, straight into the bytes of the open
// batch's body (issue 16): the write returns its byte count, so nothing is measured twice, joined or
// copied from a string into a buffer, and the body's memory comes from a pool (body-pool.ts) that takes
// it back once the batch is written or applied. The byte counts follow the encoder (encoder.ts):
//   op    = head + rel,rel,... + operationTail
//   body  = batchHead + op,op,... + batchTail
// A route whose operations hold one relationship each (encoder.onePerOperation) closes the operation
// after every relationship; the batch still fills to its byte limit.
// Near-optimal filling: when a group's next relationship does not fit the room left in the open
// batch, the operation is closed there, the batch is emitted, and the group continues in a new
// operation of the next batch. So every emitted batch but the last is full to within one
// relationship plus one operation head of the limit.

/** Limits and action of a packer. */
export interface PackerOptions {
  action: Action;
  /** Largest batch body in bytes (the encoder's maxBatchBytes or less: --batch-bytes). */
  maxBatchBytes: number;
  /** Largest operation in bytes (the encoder's maxOperationBytes); must fit a batch on its own. */
  maxOperationBytes: number;
  /** The wire format (default: Track's). */
  encoder?: Encoder;
  /** Every batch gets this seq instead of counting from 0: a sender re-packing the parts of one batch. */
  seq?: number;
}

const COMMA = 0x2c;

/** Incremental operation and batch builder; events go into the array the caller passes. */
export class Packer {
  readonly #action: Action;
  readonly #maxBatch: number;
  readonly #maxOp: number;
  readonly #encoder: Encoder;
  readonly #fixedSeq: number | undefined;
  /** Bytes of the batch frame (head and tail). */
  readonly #frame: number;
  readonly #pool: BodyPool;
  /** Holds a relationship's bytes while operations close and open around it (at most maxOperationBytes). */
  readonly #scratch: Buffer;

  // The open batch: its body so far (bytes 0 to #pos of #buf, the open operation included), its closed
  // operations, and the size the body has with them (frame included).
  #buf: Buffer | undefined;
  #pos = 0;
  #ops: Operation[] = [];
  #batchBytes: number;

  // The open operation, if #open: its relationships and its full size (head and tail included).
  #open = false;
  #type: "object" | "person" = "object";
  #ref: ObjectRef | PersonRef | undefined;
  // Its relationships are gathered in one array for every operation, and copied at their count when it closes (issue
  // 16: an array per operation grown one push at a time was ~22 MB of garbage per million rows).
  readonly #rels: Relationship[] = [];
  #relCount = 0;
  #opBytes = 0;

  #seq = 0;
  readonly #stats: PlanStats = { relationships: 0, operations: 0, batches: 0, bytes: 0 };

  constructor(options: PackerOptions) {
    const encoder = options.encoder ?? trackEncoder;
    this.#frame = utf8Length(encoder.batchHead) + utf8Length(encoder.batchTail);
    if (options.maxOperationBytes + this.#frame > options.maxBatchBytes) {
      throw new RangeError("maxOperationBytes must leave room for the batch frame within maxBatchBytes");
    }
    this.#action = options.action;
    this.#maxBatch = options.maxBatchBytes;
    this.#maxOp = options.maxOperationBytes;
    this.#encoder = encoder;
    this.#fixedSeq = options.seq;
    this.#batchBytes = this.#frame;
    // A relationship is written after the body's last byte before it is known to fit: room for the largest
    // that may (maxOperationBytes UTF-16 units of up to 3 bytes each) after a comma past a full body.
    this.#pool = bodyPool(options.maxBatchBytes + 1 + 3 * options.maxOperationBytes);
    this.#scratch = Buffer.allocUnsafe(options.maxOperationBytes);
  }

  /**
   * Packs one group: relationships sharing the object (type "object") or the person (type "person")
   * that `ref` names, in order. Emits batches as they fill, and `invalid` for a relationship whose
   * operation alone would exceed the operation limit.
   */
  addGroup(type: "object" | "person", ref: ObjectRef | PersonRef, rels: readonly Relationship[], out: PlanEvent[], count = rels.length): void {
    const action = this.#action;
    const encoder = this.#encoder;
    const head = encoder.operationHead(type, action, ref);
    const headBytes = utf8Length(head) + utf8Length(encoder.operationTail);
    const single = encoder.onePerOperation;
    const direct = encoder.writeRelationship;
    for (let i = 0; i < count; i++) {
      const rel = rels[i] as Relationship;
      // Written where it goes when it joins the open operation (after a comma), which counts its bytes: straight
      // from the relationship when the encoder can, else through its JSON. A string longer than the operation
      // limit is too large whatever its bytes: it is only measured.
      const buf = (this.#buf ??= this.#newBody());
      const at = this.#pos + 1;
      let bytes = direct === undefined ? -1 : direct(type, action, rel, buf, at, this.#maxOp);
      if (bytes < 0) {
        const json = encoder.relationshipJson(type, action, rel);
        bytes = json.length > this.#maxOp ? utf8Length(json) : buf.write(json, at);
      }
      const alone = headBytes + bytes;
      if (alone > this.#maxOp) {
        const noun = encoder.operationNoun;
        out.push({
          type: "invalid",
          relationship: rel,
          reason: `too large to send: its ${noun} alone is ${alone} bytes; Customer.io allows at most ${this.#maxOp}`,
        });
        continue;
      }
      const grown = this.#opBytes + 1 + bytes;
      // One relationship per operation: the open one is closed, and the batch goes on if there is room.
      const fitsOp = this.#open && !single && grown <= this.#maxOp;
      if (fitsOp && this.#batchBytes + (this.#ops.length > 0 ? 1 : 0) + grown <= this.#maxBatch) {
        buf[this.#pos] = COMMA;
        this.#pos = at + bytes;
        this.#rels[this.#relCount++] = rel;
        this.#opBytes = grown;
        continue;
      }
      // A new operation: the relationship's bytes wait aside while the open one closes (and the batch goes).
      buf.copy(this.#scratch, 0, at, at + bytes);
      if (this.#open) {
        this.#closeOperation();
        // The operation had room but the batch did not: the batch is full.
        if (fitsOp) this.#emitBatch(out);
      }
      if (this.#batchBytes + (this.#ops.length > 0 ? 1 : 0) + alone > this.#maxBatch) this.#emitBatch(out);
      const body = (this.#buf ??= this.#newBody());
      if (this.#ops.length > 0) body[this.#pos++] = COMMA;
      this.#pos += body.write(head, this.#pos);
      this.#pos += this.#scratch.copy(body, this.#pos, 0, bytes);
      this.#open = true;
      this.#type = type;
      this.#ref = ref;
      this.#rels[0] = rel;
      this.#relCount = 1;
      this.#opBytes = alone;
    }
    if (this.#open) this.#closeOperation();
  }

  /** Emits the open batch, if it holds anything (at the end of the input). */
  finish(out: PlanEvent[]): void {
    this.#emitBatch(out);
  }

  /** Figures of what has been emitted so far. */
  stats(): PlanStats {
    return { ...this.#stats };
  }

  /** Memory for the next body, its head written. */
  #newBody(): Buffer {
    const buf = this.#pool.take();
    this.#pos = buf.write(this.#encoder.batchHead, 0);
    return buf;
  }

  #closeOperation(): void {
    const gathered = this.#rels;
    const relationships = gathered.slice(0, this.#relCount);
    const op: Operation =
      this.#type === "object"
        ? { type: "object", action: this.#action, object: this.#ref as ObjectRef, relationships }
        : { type: "person", action: this.#action, person: this.#ref as PersonRef, relationships };
    this.#batchBytes += (this.#ops.length > 0 ? 1 : 0) + this.#opBytes;
    this.#ops.push(op);
    this.#pos += (this.#buf as Buffer).write(this.#encoder.operationTail, this.#pos);
    this.#open = false;
    // The gathering array holds no relationship past its operation (nor grows again past the largest one).
    gathered.fill(undefined as unknown as Relationship, 0, this.#relCount);
    this.#relCount = 0;
  }

  #emitBatch(out: PlanEvent[]): void {
    const buf = this.#buf;
    if (this.#ops.length === 0 || buf === undefined) return;
    const end = this.#pos + buf.write(this.#encoder.batchTail, this.#pos);
    // The writes and the count are two records of one body: should they ever differ, that is a bug to stop on.
    if (end !== this.#batchBytes) throw new Error(`internal error: a batch body of ${end} bytes was counted as ${this.#batchBytes}`);
    const pool = this.#pool;
    let released = false;
    const batch: Batch = {
      seq: this.#fixedSeq ?? this.#seq++,
      operations: this.#ops,
      body: buf.subarray(0, end),
      bytes: end,
      release: () => {
        // Once only: a second call could hand back memory another batch is using by then.
        if (!released) pool.give(buf);
        released = true;
      },
    };
    const s = this.#stats;
    s.batches++;
    s.operations += this.#ops.length;
    for (const op of this.#ops) s.relationships += op.relationships.length;
    s.bytes += end;
    this.#ops = [];
    this.#batchBytes = this.#frame;
    this.#buf = undefined;
    out.push({ type: "batch", batch });
  }
}
