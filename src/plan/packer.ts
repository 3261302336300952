import { utf8Length } from "../model/limits.js";
import type { Action, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import { BATCH_HEAD, BATCH_TAIL, OP_TAIL, operationHead, relationshipJson } from "./serialize.js";
import type { Batch, Operation, PlanEvent, PlanStats } from "./types.js";

// Packs groups of relationships into operations and batches with exact byte accounting (issue 2,
// "Planning and packing"). Each relationship is serialised once; an operation's JSON is joined once
// when it closes, a batch's body once when it is emitted. The byte counts follow serialize.ts:
//   op    = head + rel,rel,... + OP_TAIL
//   body  = BATCH_HEAD + op,op,... + BATCH_TAIL
// Near-optimal filling: when a group's next relationship does not fit the room left in the open
// batch, the operation is closed there, the batch is emitted, and the group continues in a new
// operation of the next batch. So every emitted batch but the last is full to within one
// relationship plus one operation head of the limit.

const FRAME_BYTES = BATCH_HEAD.length + BATCH_TAIL.length;

/** Limits and action of a packer. */
export interface PackerOptions {
  action: Action;
  /** Largest batch body in bytes (MAX_BATCH_BYTES). */
  maxBatchBytes: number;
  /** Largest operation in bytes (MAX_OPERATION_BYTES); must fit a batch on its own. */
  maxOperationBytes: number;
}

/** Incremental operation and batch builder; events go into the array the caller passes. */
export class Packer {
  readonly #action: Action;
  readonly #maxBatch: number;
  readonly #maxOp: number;

  // The open batch: closed operations, their JSON, and the body size they make (frame included).
  #ops: Operation[] = [];
  #opJson: string[] = [];
  #batchBytes = FRAME_BYTES;

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
    if (options.maxOperationBytes + FRAME_BYTES > options.maxBatchBytes) {
      throw new RangeError("maxOperationBytes must leave room for the batch frame within maxBatchBytes");
    }
    this.#action = options.action;
    this.#maxBatch = options.maxBatchBytes;
    this.#maxOp = options.maxOperationBytes;
  }

  /**
   * Packs one group: relationships sharing the object (type "object") or the person (type "person")
   * that `ref` names, in order. Emits batches as they fill, and `invalid` for a relationship whose
   * operation alone would exceed the operation limit.
   */
  addGroup(type: "object" | "person", ref: ObjectRef | PersonRef, rels: readonly Relationship[], out: PlanEvent[]): void {
    const action = this.#action;
    const head =
      type === "object" ? operationHead({ type, action, object: ref as ObjectRef }) : operationHead({ type, action, person: ref as PersonRef });
    const headBytes = utf8Length(head);
    for (const rel of rels) {
      const json = relationshipJson(type, action, rel);
      const bytes = utf8Length(json);
      const alone = headBytes + bytes + OP_TAIL.length;
      if (alone > this.#maxOp) {
        out.push({
          type: "invalid",
          relationship: rel,
          reason: `too large to send: its operation alone is ${alone} bytes; Customer.io allows at most ${this.#maxOp}`,
        });
        continue;
      }
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
    this.#opJson.push(this.#head + this.#relJson.join(",") + OP_TAIL);
    this.#open = false;
    this.#rels = [];
    this.#relJson = [];
  }

  #emitBatch(out: PlanEvent[]): void {
    if (this.#ops.length === 0) return;
    const batch: Batch = {
      seq: this.#seq++,
      operations: this.#ops,
      body: BATCH_HEAD + this.#opJson.join(",") + BATCH_TAIL,
      bytes: this.#batchBytes,
    };
    const s = this.#stats;
    s.batches++;
    s.operations += this.#ops.length;
    for (const op of this.#ops) s.relationships += op.relationships.length;
    s.bytes += this.#batchBytes;
    this.#ops = [];
    this.#opJson = [];
    this.#batchBytes = FRAME_BYTES;
    out.push({ type: "batch", batch });
  }
}
