import { describe, expect, it } from "vitest";
import { BodyPool } from "../../src/plan/body-pool.js";
import { Packer } from "../../src/plan/packer.js";
import { makeBatch } from "../../src/plan/serialize.js";
import type { Batch, PlanEvent } from "../../src/plan/types.js";
import { batchesOf, rel } from "./helpers.js";

// issue 16: batch bodies are written into reused memory. What must hold: a body is never touched while its batch
// has not been released (released once, at most), and a released body's memory carries a later batch.

describe("BodyPool", () => {
  it("hands back what it was given, once, and only buffers of its size", () => {
    const pool = new BodyPool(64, 2);
    const a = pool.take();
    expect(a.length).toBe(64);
    pool.give(a);
    pool.give(a);
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(a);
    pool.give(Buffer.alloc(32));
    expect(pool.take().length).toBe(64);
  });

  it("keeps at most `keep` buffers", () => {
    const pool = new BodyPool(16, 1);
    const [a, b] = [pool.take(), pool.take()];
    pool.give(a);
    pool.give(b);
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(b);
  });
});

/** A packer with small limits, fed one object group of `count` relationships; returns the batches as they come. */
function pack(packer: Packer, from: number, count: number): Batch[] {
  const out: PlanEvent[] = [];
  const rels = Array.from({ length: count }, (_, i) => rel(from + i, `person-${from + i}`, "acme", { role: "member" }));
  packer.addGroup("object", { typeId: "1", id: "acme" }, rels, out);
  return batchesOf(out);
}

const text = (b: Batch): string => b.body.toString();
const expected = (b: Batch): string => makeBatch(b.seq, b.operations).body.toString();
const sameMemory = (a: Batch, b: Batch): boolean => a.body.buffer === b.body.buffer && a.body.byteOffset === b.body.byteOffset;

describe("Packer: bodies in pooled memory", () => {
  // A size no other test uses, so that this test's pool is its own.
  const limits = { action: "add_relationships" as const, maxBatchBytes: 4_003, maxOperationBytes: 2_000 };

  it("never writes into a body that was not released, and reuses a released one", () => {
    const packer = new Packer(limits);
    const first = pack(packer, 1, 400);
    expect(first.length).toBeGreaterThan(3);
    // Nothing released: every body is its own memory and stays exactly what makeBatch writes.
    for (const b of first) expect(text(b)).toBe(expected(b));
    expect(new Set(first.map((b) => b.body.buffer)).size).toBe(first.length);

    const [released, ...kept] = first as [Batch, ...Batch[]];
    released.release?.();
    released.release?.(); // a second call must not hand the memory out twice
    const second = pack(packer, 1_000, 400);
    packer.finish([]);
    expect(second.filter((b) => sameMemory(b, released))).toHaveLength(1);
    for (const b of [...kept, ...second]) expect(text(b)).toBe(expected(b));
  });
});
