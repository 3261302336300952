import { utf8Length } from "../model/limits.js";
import type { Action, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import { trackEncoder, type Encoder } from "./encoder.js";
import type { Batch, Operation, PlanEvent, PlanStats } from "./types.js";

// Packs groups of relationships into operations and batches with exact byte accounting (issue 2,
// "Planning and packing"). Each relationship is serialised once; an operation's JSON is joined once
// when it closes, a batch's body once when it is emitted. The byte counts follow the encoder (encoder.ts):
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

/** Incremental operation and batch builder; events go into the array the caller passes. */
export class Packer {
  readonly #action: Action;
  readonly #maxBatch: number;
  readonly #maxOp: number;
  readonly #encoder: Encoder;
  readonly #fixedSeq: number | undefined;
  /** Bytes of the batch frame (head and tail). */
  readonly #frame: number;

  // The open batch: closed operations, their JSON, and the body size they make (frame included).
  #ops: Operation[] = [];
  #opJson: string[] = [];
  #batchBytes: number;

  // The open operation, if #open: its head, the relationships and their JSON, and its full size.
  #open = false;
  #type: "object" | "person" = "object";
  #ref: ObjectRef | PersonRef | undefined;
  #head = "";
  #rels: Relationship[] = [];
  #relJson: string[] = [];
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
  }

  /**
   * Packs one group: relationships sharing the object (type "object") or the person (type "person")
   * that `ref` names, in order. Emits batches as they fill, and `invalid` for a relationship whose
   * operation alone would exceed the operation limit.
   */
  addGroup(type: "object" | "person", ref: ObjectRef | PersonRef, rels: readonly Relationship[], out: PlanEvent[]): void {
    const action = this.#action;
    const encoder = this.#encoder;
    const head = encoder.operationHead(type, action, ref);
    const headBytes = utf8Length(head) + utf8Length(encoder.operationTail);
    const single = encoder.onePerOperation;
    for (const rel of rels) {
      const json = encoder.relationshipJson(type, action, rel);
      const bytes = utf8Length(json);
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
      // One relationship per operation: the open one is closed, and the batch goes on if there is room.
      if (this.#open && single) this.#closeOperation();
      if (this.#open) {
        const grown = this.#opBytes + 1 + bytes;
        const fitsOp = grown <= this.#maxOp;
        if (fitsOp && this.#batchBytes + (this.#ops.length > 0 ? 1 : 0) + grown <= this.#maxBatch) {
          this.#rels.push(rel);
          this.#relJson.push(json);
          this.#opBytes = grown;
          continue;
        }
        this.#closeOperation();
        // The operation had room but the batch did not: the batch is full.
        if (fitsOp) this.#emitBatch(out);
      }
      if (this.#batchBytes + (this.#ops.length > 0 ? 1 : 0) + alone > this.#maxBatch) this.#emitBatch(out);
      this.#open = true;
      this.#type = type;
      this.#ref = ref;
      this.#head = head;
      this.#rels = [rel];
      this.#relJson = [json];
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

  #closeOperation(): void {
    const op: Operation =
      this.#type === "object"
        ? { type: "object", action: this.#action, object: this.#ref as ObjectRef, relationships: this.#rels }
        : { type: "person", action: this.#action, person: this.#ref as PersonRef, relationships: this.#rels };
    this.#batchBytes += (this.#ops.length > 0 ? 1 : 0) + this.#opBytes;
    this.#ops.push(op);
    this.#opJson.push(this.#head + this.#relJson.join(",") + this.#encoder.operationTail);
    this.#open = false;
    this.#rels = [];
    this.#relJson = [];
  }

  #emitBatch(out: PlanEvent[]): void {
    if (this.#ops.length === 0) return;
    const batch: Batch = {
      seq: this.#fixedSeq ?? this.#seq++,
      operations: this.#ops,
      body: this.#encoder.batchHead + this.#opJson.join(",") + this.#encoder.batchTail,
      bytes: this.#batchBytes,
    };
    const s = this.#stats;
    s.batches++;
    s.operations += this.#ops.length;
    for (const op of this.#ops) s.relationships += op.relationships.length;
    s.bytes += this.#batchBytes;
    this.#ops = [];
    this.#opJson = [];
    this.#batchBytes = this.#frame;
    out.push({ type: "batch", batch });
  }
}
