import { expect } from "vitest";
import type { AttributeValue, ObjectRef, PersonRef, Relationship } from "../../src/model/types.js";
import type { Planner } from "../../src/plan/planner.js";
import { makeBatch, operationJson } from "../../src/plan/serialize.js";
import type { Batch, PlanEvent } from "../../src/plan/types.js";

/** A relationship of person id `person` and object `1:object`, optionally with attributes. */
export function rel(line: number, person: string, object: string, attributes?: Record<string, AttributeValue>): Relationship {
  const r: Relationship = { index: line, line, person: { key: "id", value: person }, object: { typeId: "1", id: object } };
  if (attributes !== undefined) r.attributes = attributes;
  return r;
}

/** A relationship between any person and object. */
export function relOf(line: number, person: PersonRef, object: ObjectRef, attributes?: Record<string, AttributeValue>): Relationship {
  const r: Relationship = { index: line, line, person, object };
  if (attributes !== undefined) r.attributes = attributes;
  return r;
}

/** Everything a planner emits for these relationships, in order. */
export function run(planner: Planner, rels: Iterable<Relationship>): PlanEvent[] {
  const events: PlanEvent[] = [];
  for (const r of rels) events.push(...planner.add(r));
  events.push(...planner.finish());
  return events;
}

/** The batches among events. */
export function batchesOf(events: readonly PlanEvent[]): Batch[] {
  return events.flatMap((e) => (e.type === "batch" ? [e.batch] : []));
}

/** Lines in the order batches carry them. */
export function sentLines(batches: readonly Batch[]): number[] {
  return batches.flatMap((b) => b.operations.flatMap((op) => op.relationships.map((r) => r.line)));
}

/**
 * The packer's contract for every batch: body is exactly makeBatch's, parses as JSON, byte count is
 * exact, seq counts from 0, and no operation or body exceeds its limit.
 */
export function checkBatches(batches: readonly Batch[], maxBatch: number, maxOp: number): void {
  batches.forEach((b, i) => {
    expect(b.seq).toBe(i);
    expect(b.body.toString()).toBe(makeBatch(b.seq, b.operations).body.toString());
    expect(b.bytes).toBe(b.body.length);
    expect(b.bytes).toBeLessThanOrEqual(maxBatch);
    expect(() => JSON.parse(b.body.toString()) as unknown).not.toThrow();
    expect(b.operations.length).toBeGreaterThan(0);
    for (const op of b.operations) {
      expect(op.relationships.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(operationJson(op))).toBeLessThanOrEqual(maxOp);
    }
  });
}

/** Seeded PRNG (mulberry32, shared with the fake), so property tests are repeatable. */
export { seededRandom as prng } from "../fake-track-api/faults.js";
