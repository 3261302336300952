// Planned batches on their way to the transport: a queue bounded in bytes (so reading and planning go on
// while the send slots are busy, in bounded memory), at most `concurrency` sends in flight, and the rule
// that a batch repeating a person–object pair in flight waits for the earlier batch (src/plan/pairs.ts).
import { batchPairs, PairsInFlight } from "../plan/pairs.js";
import type { Batch } from "../plan/types.js";
import type { BatchSettlement, BatchTransport } from "../transport/types.js";

/** How a SendQueue sends, and where the settlements go. */
export interface SendQueueOptions {
  transport: BatchTransport;
  /** Sends in flight at most. */
  concurrency: number;
  /** Bytes of batches that may wait for a send slot before push() waits. */
  maxQueuedBytes: number;
  /**
   * Batches that may wait for a send slot before push() waits (default twice the concurrency: a slot that frees
   * finds a batch ready). issue 16: small batches under a bytes bound alone meant tens of thousands of rows
   * waiting, long enough for their objects to be promoted to V8's old space: ~60 MB more peak RSS than a dry run.
   */
  maxQueuedBatches?: number;
  /** Whether a batch repeating a pair in flight waits for it (additions with attributes: the later row must win). */
  orderPairs: boolean;
  /**
   * issue 16: what a batch keeps while it waits and is sent, e.g. its body and row ids only (packBatch in
   * src/plan/packed-batch.ts), so that the rows of up to concurrency + maxQueuedBatches batches do not outlive
   * the scavenges that promote them. Given each batch as pushed (its pairs already taken); default: the batch.
   */
  pack?: (batch: Batch) => Batch;
  /** Why nothing more may be sent, if so: asked before each batch is sent. */
  haltReason(): string | undefined;
  /** Takes each settlement; the batch's send slot frees once it resolves. */
  settled(s: BatchSettlement): Promise<void>;
  /** Takes each batch that will not be sent because the run halted. */
  skipped(batch: Batch, reason: string): Promise<void>;
}

/** A byte-bounded queue of batches, sent in queue order with bounded concurrency. */
export class SendQueue {
  /** Batches waiting for a send slot, with their pairs when pairs are ordered (taken before the rows are packed). */
  readonly #queue: { batch: Batch; pairs: Uint32Array | undefined }[] = [];
  #queuedBytes = 0;
  #ended = false;
  readonly #inflight = new Set<Promise<void>>();
  readonly #pairs: PairsInFlight | undefined;
  readonly #maxQueuedBatches: number;
  /** The sender loop, started by the first push. */
  #sending: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;
  #wakeSender: (() => void) | undefined;
  #wakeReader: (() => void) | undefined;

  constructor(private readonly o: SendQueueOptions) {
    if (!(o.concurrency >= 1)) throw new RangeError("concurrency must be at least 1");
    this.#pairs = o.orderPairs ? new PairsInFlight() : undefined;
    this.#maxQueuedBatches = o.maxQueuedBatches ?? 2 * o.concurrency;
  }

  /** Bytes of the batches waiting for a send slot. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Sends in flight now. */
  get inFlight(): number {
    return this.#inflight.size;
  }

  /**
   * Queues a batch; resolves at once unless the queue holds more than maxQueuedBytes or maxQueuedBatches, then
   * once it has room. Waiting here for a send slot instead would leave the slots idle while the next window is
   * read and planned.
   */
  async push(batch: Batch): Promise<void> {
    if (this.#ended) throw new Error("SendQueue: push after end");
    this.#sending ??= this.#sendQueued().catch((e: unknown) => {
      this.#failure = { error: e };
    });
    const pairs = this.#pairs !== undefined ? batchPairs(batch) : undefined;
    this.#queue.push({ batch: this.o.pack !== undefined ? this.o.pack(batch) : batch, pairs });
    this.#queuedBytes += batch.bytes;
    this.#wakeSender?.();
    while (this.#full() && this.#failure === undefined) {
      await Promise.race([this.#sending, new Promise<void>((resolve) => (this.#wakeReader = resolve))]);
    }
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  #full(): boolean {
    return this.#queuedBytes > this.o.maxQueuedBytes || this.#queue.length > this.#maxQueuedBatches;
  }

  /**
   * Lets the reader go on, after the I/O already waiting: the reader plans (seconds of CPU in all, in steps of
   * up to a partition), and woken straight from a settlement it would run before the other answers that came
   * in meanwhile are read and their slots refilled — each such answer held a slot for a whole planning step.
   */
  #wake(): void {
    const wake = this.#wakeReader;
    if (wake === undefined) return;
    this.#wakeReader = undefined;
    setImmediate(wake);
  }

  /** No more batches: resolves once every queued batch is sent (or skipped) and settled. */
  async end(): Promise<void> {
    this.#ended = true;
    this.#wakeSender?.();
    await this.#sending;
    if (this.#failure !== undefined) throw this.#failure.error;
    await this.#drain(0);
  }

  /** Takes batches from the queue in order and starts each once a slot is free, until the queue ends. */
  async #sendQueued(): Promise<void> {
    for (;;) {
      const next = this.#queue.shift();
      if (next === undefined) {
        if (this.#ended) break;
        await new Promise<void>((resolve) => (this.#wakeSender = resolve));
        this.#wakeSender = undefined;
        continue;
      }
      const batch = next.batch;
      this.#queuedBytes -= batch.bytes;
      this.#wake();
      let why = this.o.haltReason();
      if (why === undefined) {
        await this.#drain(this.o.concurrency - 1);
        // A settlement may have halted the run while this batch waited for a slot.
        why = this.o.haltReason();
      }
      if (why !== undefined) await this.o.skipped(batch, why);
      else await this.#start(batch, next.pairs);
    }
    await this.#drain(0);
  }

  /** Sends one batch once no batch in flight carries one of its pairs (when pairs are ordered). */
  async #start(batch: Batch, pairs: Uint32Array | undefined): Promise<void> {
    // A pair repeated beyond the planner's window must reach Customer.io after its earlier row (later
    // attributes win), so a batch that repeats a pair in flight waits for it; batches keep their queue order.
    if (this.#pairs !== undefined && pairs !== undefined) {
      while (this.#inflight.size > 0 && this.#pairs.overlaps(pairs)) await Promise.race(this.#inflight);
      this.#pairs.add(pairs);
    }
    const p: Promise<void> = this.o.transport
      .send(batch)
      .then((s) => this.o.settled(s))
      .finally(() => {
        this.#inflight.delete(p);
        if (pairs !== undefined) this.#pairs?.remove(pairs);
      });
    this.#inflight.add(p);
  }

  /** Waits until at most `n` sends are in flight. */
  async #drain(n: number): Promise<void> {
    while (this.#inflight.size > n) await Promise.race(this.#inflight);
  }
}
