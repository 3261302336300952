import { describe, expect, it } from "vitest";
import { SendQueue, type SendQueueOptions } from "../../src/pipeline/send-queue.js";
import { readBody } from "../../src/plan/serialize.js";
import { isPacked, packBatch } from "../../src/plan/packed-batch.js";
import type { Batch } from "../../src/plan/types.js";
import type { BatchSettlement } from "../../src/transport/types.js";
import { batchOf, FakeTransport, indicesOf, rel, settle, until } from "./fakes.js";

/** A queue over `transport` that records settlements and skips; `halt` is read before each send. */
function queueOf(
  transport: FakeTransport,
  { defaultBatchBound, ...o }: Partial<SendQueueOptions> & { halt?: () => string | undefined; defaultBatchBound?: boolean } = {},
) {
  const settled: BatchSettlement[] = [];
  const skipped: { batch: Batch; reason: string }[] = [];
  const queue = new SendQueue({
    transport,
    concurrency: 2,
    maxQueuedBytes: 1_000_000,
    // Unbounded unless the test is about the bound: tests push ahead of the answers they control.
    ...(defaultBatchBound === true ? {} : { maxQueuedBatches: 1_000_000 }),
    orderPairs: false,
    haltReason: o.halt ?? (() => undefined),
    settled: async (s) => {
      settled.push(s);
    },
    skipped: async (batch, reason) => {
      skipped.push({ batch, reason });
    },
    ...o,
  });
  return { queue, settled, skipped };
}

/** Batches packed as a Track run's are. */
const pack = (b: Batch): Batch => packBatch(b, readBody);

/** Batches 0..n-1, batch i carrying row i+1 (person p{i+1}, object o{i+1}). */
function batches(n: number): Batch[] {
  return Array.from({ length: n }, (_, i) => batchOf(i, rel(i + 1, `p${i + 1}`, `o${i + 1}`)));
}

describe("SendQueue", () => {
  it.each([1, 2, 5])("sends in queue order and settles every batch once (concurrency %i)", async (concurrency) => {
    const transport = new FakeTransport();
    const { queue, settled, skipped } = queueOf(transport, { concurrency });
    for (const b of batches(12)) await queue.push(b);
    await queue.end();
    expect(transport.sent.map((b) => b.seq)).toEqual([...Array(12).keys()]);
    expect(settled.map((s) => s.batch.seq).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(skipped).toEqual([]);
  });

  it.each([1, 3, 4])("keeps at most %i sends in flight", async (concurrency) => {
    const transport = new FakeTransport({ manual: true });
    const { queue, settled } = queueOf(transport, { concurrency });
    for (const b of batches(10)) await queue.push(b);
    const ended = queue.end();
    while (settled.length < 10) {
      await until(() => transport.waiting.length > 0);
      await settle();
      expect(transport.waiting.length).toBeLessThanOrEqual(concurrency);
      // Slots are filled: as many in flight as allowed, or every batch not yet settled.
      expect(transport.waiting.length).toBe(Math.min(concurrency, 10 - settled.length));
      transport.release();
      await settle();
    }
    await ended;
    expect(transport.maxInFlight).toBe(concurrency);
  });

  it("bounds the bytes queued: push waits while they exceed maxQueuedBytes, and goes on once a slot takes a batch", async () => {
    const transport = new FakeTransport({ manual: true });
    const all = batches(8);
    const size = (all[0] as Batch).bytes;
    const { queue } = queueOf(transport, { concurrency: 1, maxQueuedBytes: 2 * size });
    let pushed = 0;
    const reader = (async () => {
      for (const b of all) {
        await queue.push(b);
        pushed++;
      }
    })();
    await until(() => transport.waiting.length === 1);
    await settle();
    // One in flight, one taken by the sender to wait for the slot, and the queue over its bound by the
    // one batch whose push has not resolved: batches 0..3 pushed, the push of 4 waits.
    expect(pushed).toBe(4);
    expect(transport.sent).toHaveLength(1);
    expect(queue.queuedBytes).toBe(3 * size);
    for (let i = 0; i < 20 && transport.sent.length < 8; i++) {
      expect(queue.queuedBytes).toBeLessThanOrEqual(3 * size);
      transport.release();
      await settle();
    }
    await reader;
    while (transport.waiting.length > 0) {
      transport.release();
      await settle();
    }
    await queue.end();
    expect(transport.sent).toHaveLength(8);
  });

  it.each([
    [1, 2],
    [2, 4],
    [3, 6],
  ])("bounds the batches queued (concurrency %i: %i by default), however small they are", async (concurrency, bound) => {
    const transport = new FakeTransport({ manual: true });
    const { queue } = queueOf(transport, { concurrency, defaultBatchBound: true });
    let pushed = 0;
    const reader = (async () => {
      for (const b of batches(20)) {
        await queue.push(b);
        pushed++;
      }
    })();
    await until(() => transport.waiting.length === concurrency);
    await settle();
    // `concurrency` in flight, one taken by the sender to wait for a slot, the bound queued, and one more
    // pushed whose push waits.
    expect(pushed).toBe(concurrency + 1 + bound);
    expect(transport.sent).toHaveLength(concurrency);
    // While a request is in flight, each answer lets the reader queue exactly one more batch.
    for (let answered = 1; answered <= 4; answered++) {
      transport.release();
      await settle();
      expect(transport.sent).toHaveLength(concurrency + answered);
      expect(pushed).toBe(concurrency + 1 + bound + answered);
    }
    while (pushed < 20 || transport.waiting.length > 0) {
      transport.release();
      await settle();
    }
    await reader;
    await queue.end();
    expect(transport.sent.map((b) => b.seq)).toEqual([...Array(20).keys()]);
  });

  it("refills the queue while a request is in flight: the reader is not held until an answer", async () => {
    const transport = new FakeTransport({ manual: true });
    const { queue } = queueOf(transport, { concurrency: 1, maxQueuedBatches: 1 });
    let pushed = 0;
    const reader = (async () => {
      for (const b of batches(6)) {
        await queue.push(b);
        pushed++;
      }
    })();
    await until(() => transport.waiting.length === 1);
    await settle();
    // Batch 0 in flight and unanswered, batch 1 taken for the slot, 2 queued, 3 pushed and waiting.
    expect(pushed).toBe(3);
    expect(transport.waiting).toHaveLength(1);
    transport.release();
    await until(() => transport.sent.length === 2);
    await settle();
    // Batch 1 now in flight (and unanswered): the reader already queued the next.
    expect(transport.waiting).toHaveLength(1);
    expect(pushed).toBe(4);
    while (transport.sent.length < 6 || transport.waiting.length > 0) {
      transport.release();
      await settle();
    }
    await reader;
    await queue.end();
    expect(transport.sent).toHaveLength(6);
  });

  it("a batch repeating a person–object pair in flight waits for its earlier batch; other batches do not wait", async () => {
    const transport = new FakeTransport({ manual: true });
    const { queue } = queueOf(transport, { concurrency: 4, orderPairs: true });
    await queue.push(batchOf(0, rel(1, "ann", "acme", { role: "a" })));
    await queue.push(batchOf(1, rel(2, "bob", "acme")));
    await queue.push(batchOf(2, rel(3, "ann", "acme", { role: "b" }))); // repeats batch 0's pair
    await queue.push(batchOf(3, rel(4, "cid", "acme")));
    await settle();
    expect(transport.waiting.map((b) => b.seq)).toEqual([0, 1]);
    transport.release(undefined, 1); // bob's batch does not free ann's pair
    await settle();
    expect(transport.waiting.map((b) => b.seq)).toEqual([0]);
    transport.release(undefined, 0);
    await settle();
    // Queue order is kept: batch 3 goes after batch 2, which went once batch 0 had settled.
    expect(transport.sent.map((b) => b.seq)).toEqual([0, 1, 2, 3]);
    transport.release();
    transport.release();
    await queue.end();
  });

  it("pack: the batches waiting for a slot and those in flight hold their body and row ids, not their rows (issue 16)", async () => {
    const transport = new FakeTransport({ manual: true });
    const { queue, settled } = queueOf(transport, { concurrency: 2, pack });
    const all = batches(5);
    for (const b of all) await queue.push(b);
    await settle();
    expect(transport.waiting.map((b) => b.seq)).toEqual([0, 1]);
    expect(transport.waiting.every(isPacked)).toBe(true);
    // The queue keeps nothing of the planner's batches but their seq, body, bytes and row ids.
    for (const b of all) expect(transport.waiting.includes(b)).toBe(false);
    while (settled.length < 5) {
      await until(() => transport.waiting.length > 0);
      expect(transport.waiting.every(isPacked)).toBe(true);
      transport.release();
      await settle();
    }
    await queue.end();
    // Once read back (the fake settles from the operations), they are the rows the planner made.
    expect(settled.map((s) => indicesOf(s.batch))).toEqual([[1], [2], [3], [4], [5]]);
  });

  it("pack with orderPairs: a batch repeating a pair in flight still waits for it", async () => {
    const transport = new FakeTransport({ manual: true });
    const { queue } = queueOf(transport, { concurrency: 4, orderPairs: true, pack });
    await queue.push(batchOf(0, rel(1, "ann", "acme", { role: "a" })));
    await queue.push(batchOf(1, rel(2, "ann", "acme", { role: "b" })));
    await queue.push(batchOf(2, rel(3, "bob", "acme")));
    await settle();
    expect(transport.waiting.map((b) => b.seq)).toEqual([0]);
    transport.release();
    await settle();
    expect(transport.waiting.map((b) => b.seq)).toEqual([1, 2]);
    transport.release();
    transport.release();
    await queue.end();
  });

  it("without orderPairs, a repeated pair does not wait", async () => {
    const transport = new FakeTransport({ manual: true });
    const { queue } = queueOf(transport, { concurrency: 4 });
    await queue.push(batchOf(0, rel(1, "ann", "acme")));
    await queue.push(batchOf(1, rel(2, "ann", "acme")));
    await settle();
    expect(transport.waiting.map((b) => b.seq)).toEqual([0, 1]);
    transport.release();
    transport.release();
    await queue.end();
  });

  it("once halted, batches still queued are handed to skipped, not sent, with the halt's reason", async () => {
    const transport = new FakeTransport({ manual: true });
    let halt: string | undefined;
    const { queue, settled, skipped } = queueOf(transport, { concurrency: 1, halt: () => halt });
    for (const b of batches(5)) await queue.push(b);
    await until(() => transport.waiting.length === 1);
    // The halt comes while batch 1 waits for the slot batch 0 holds.
    halt = "not sent: authentication refused (401)";
    transport.release();
    await queue.end();
    expect(transport.sent.map((b) => b.seq)).toEqual([0]);
    expect(settled.map((s) => s.batch.seq)).toEqual([0]);
    expect(skipped.map((s) => s.batch.seq)).toEqual([1, 2, 3, 4]);
    expect(new Set(skipped.map((s) => s.reason))).toEqual(new Set([halt]));
  });

  it("a settlement that throws fails push/end instead of losing the error", async () => {
    const transport = new FakeTransport();
    const { queue } = queueOf(transport, {
      concurrency: 1,
      settled: () => Promise.reject(new Error("disk on fire")),
    });
    await expect(
      (async () => {
        for (const b of batches(4)) await queue.push(b);
        await queue.end();
      })(),
    ).rejects.toThrow("disk on fire");
  });

  it("ending an unused queue sends nothing", async () => {
    const transport = new FakeTransport();
    const { queue } = queueOf(transport);
    await queue.end();
    expect(transport.sent).toEqual([]);
  });
});
