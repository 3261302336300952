import { describe, expect, it } from "vitest";
import type { Relationship } from "../../src/model/types.js";
import { trackEncoder } from "../../src/plan/encoder.js";
import { pipelinesEncoder } from "../../src/plan/pipelines-encoder.js";
import { forEachRow, isPacked, operationCount, packBatch, rowCount } from "../../src/plan/packed-batch.js";
import { makeBatch, readBody } from "../../src/plan/serialize.js";
import type { Batch, Operation } from "../../src/plan/types.js";

const role = { role: "admin", weight: 2.5, lead: true, note: null, name: "Zoë 東京" };

/** Every kind of identifier and attribute a Track body can carry, in an object and a person operation. */
function mixedBatch(): Batch {
  const acme = { typeId: "1", id: "acme" };
  const byObject: Relationship[] = [
    { index: 4, line: 5, person: { key: "id", value: "u-1" }, object: acme, attributes: role },
    { index: 9, line: 12, person: { key: "email", value: "zoë@example.com" }, object: acme, attributes: { role: "viewer" } },
    { index: 2, line: 3, person: { key: "cio_id", value: "a3f0" }, object: acme },
    { index: 70_000, line: 4_000_000_000, person: { key: "id", value: 'quote " and \\ slash' }, object: acme },
  ];
  const ann = { key: "id" as const, value: "ann" };
  const byPerson: Relationship[] = [
    { index: 11, line: 13, person: ann, object: { cioObjectId: "cio-obj-7" } },
    { index: 12, line: 14, person: ann, object: { typeId: "22", id: 'globex "inc"' }, attributes: { role: "viewer" } },
  ];
  const ops: Operation[] = [
    { type: "object", action: "add_relationships", object: acme, relationships: byObject },
    { type: "person", action: "add_relationships", person: ann, relationships: byPerson },
  ];
  return makeBatch(7, ops);
}

describe("packBatch", () => {
  it("keeps seq, body and bytes, and reads back operations equal to the original's", () => {
    const batch = mixedBatch();
    const expected = structuredClone(batch.operations);
    const packed = packBatch(batch, readBody);
    expect(packed.seq).toBe(7);
    expect(packed.body).toBe(batch.body);
    expect(packed.bytes).toBe(batch.bytes);
    expect(isPacked(packed)).toBe(true);
    expect(packed.operations).toEqual(expected);
    expect(isPacked(packed)).toBe(false);
    // Read once: a sender's ledger is keyed by these objects, so every read gives the same ones.
    expect(packed.operations).toBe(packed.operations);
  });

  it("reads back what the body sends: no attributes where none are sent (an empty set, a deletion)", () => {
    const rel = (index: number, attributes: Record<string, string>): Relationship => ({
      index,
      line: index,
      person: { key: "id", value: `u${index}` },
      object: { typeId: "1", id: "acme" },
      attributes,
    });
    const ops: Operation[] = [
      { type: "object", action: "add_relationships", object: { typeId: "1", id: "acme" }, relationships: [rel(1, {})] },
      { type: "object", action: "delete_relationships", object: { typeId: "1", id: "acme" }, relationships: [rel(2, { role: "x" })] },
    ];
    const packed = packBatch(makeBatch(0, ops), readBody);
    expect(packed.operations.map((op) => op.relationships[0]?.attributes)).toEqual([undefined, undefined]);
    // Encoded again (a sender's halves), they are the same bytes.
    expect(makeBatch(0, packed.operations).body).toEqual(packed.body);
  });

  it("answers the row ids, the row count and the operation count without reading the body", () => {
    const packed = packBatch(mixedBatch(), readBody);
    const rows: [number, number][] = [];
    forEachRow(packed, (index, line) => rows.push([index, line]));
    expect(rows).toEqual([
      [4, 5],
      [9, 12],
      [2, 3],
      [70_000, 4_000_000_000],
      [11, 13],
      [12, 14],
    ]);
    expect(rowCount(packed)).toBe(6);
    expect(operationCount(packed)).toBe(2);
    expect(isPacked(packed)).toBe(true);
  });

  it("the same answers for a batch that is not packed", () => {
    const batch = mixedBatch();
    const rows: number[] = [];
    forEachRow(batch, (index) => rows.push(index));
    expect(rows).toEqual([4, 9, 2, 70_000, 11, 12]);
    expect(rowCount(batch)).toBe(6);
    expect(operationCount(batch)).toBe(2);
    expect(isPacked(batch)).toBe(false);
  });

  it("hands on the body's release; once released, its rows cannot be read back (the body carries another batch)", () => {
    let released = 0;
    const packed = packBatch({ ...mixedBatch(), release: () => void released++ }, readBody);
    packed.release?.();
    expect(released).toBe(1);
    expect(rowCount(packed)).toBe(6);
    expect(() => packed.operations).toThrow(/internal error: the rows of batch 7 were read after its body was released/);
  });

  it("packs an empty batch, and a packed batch once", () => {
    const packed = packBatch(makeBatch(1, []), readBody);
    expect(rowCount(packed)).toBe(0);
    expect(packed.operations).toEqual([]);
    expect(packBatch(packed, readBody)).toBe(packed);
  });

  it("Track's encoder reads its bodies back; a route that cannot is sent unpacked", () => {
    expect(trackEncoder.readBody).toBe(readBody);
    expect(pipelinesEncoder.readBody).toBeUndefined();
  });
});
