import { describe, expect, it } from "vitest";
import { pairsOf } from "../../src/verify/pairs.js";
import { sampleObjects, seededRandom } from "../../src/verify/sample.js";
import { row } from "./helpers.js";

const rows = [
  row(1, "id:1", "1:a"),
  row(2, "id:2", "1:a"),
  row(3, "id:1", "1:b"),
  row(4, "id:3", "2:a"),
  row(5, "id:4", "cio:x"),
  row(6, "id:5", "1:c"),
];

describe("sampleObjects", () => {
  it.each([
    { n: 1, kept: 1 },
    { n: 3, kept: 3 },
    { n: 5, kept: 5 },
    { n: 9, kept: 5 },
  ])("n=$n keeps $kept distinct objects and exactly their pairs", ({ n, kept }) => {
    const s = sampleObjects(pairsOf(rows), n, seededRandom(n));
    expect(s.of).toBe(5);
    expect(s.objects).toHaveLength(kept);
    expect(new Set(s.objects).size).toBe(kept);
    const labels = new Set(s.objects);
    const objectOf = (key: number): string => {
      const r = rows[key - 1];
      const o = r?.object;
      return o === undefined ? "" : "cioObjectId" in o ? `cio_object_id:${o.cioObjectId}` : `${o.typeId}:${o.id}`;
    };
    const keptRows = s.pairs.flatMap((p) => p.rows).sort((a, b) => a - b);
    expect(keptRows).toEqual(rows.map((r) => r.key).filter((k) => labels.has(objectOf(k))));
    expect(s.rowsNotChecked).toBe(rows.length - keptRows.length);
  });

  it("lists the sample in input order", () => {
    const s = sampleObjects(pairsOf(rows), 5, seededRandom(3));
    expect(s.objects).toEqual(["1:a", "1:b", "2:a", "cio_object_id:x", "1:c"]);
  });

  it("is uniform: over many seeds each object is chosen about equally often", () => {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < 5000; seed++) {
      for (const o of sampleObjects(pairsOf(rows), 2, seededRandom(seed)).objects) counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    // 5000 samples of 2 of 5 objects: 2000 each expected.
    for (const c of counts.values()) expect(Math.abs(c - 2000)).toBeLessThan(200);
    expect(counts.size).toBe(5);
  });

  it("survives a random source that returns 1", () => {
    const s = sampleObjects(pairsOf(rows), 3, () => 1);
    expect(new Set(s.objects).size).toBe(3);
  });
});
