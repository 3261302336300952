// --verify-sample N (issue 14): read back N objects chosen at random instead of everything. Pure: the
// random source is injected.
import { objectLabel, type ObjectRef } from "../model/types.js";
import { objectMatchKey, type Pair } from "./pairs.js";

/** The sample taken and the pairs it covers. */
export interface Sample {
  /** The objects chosen, as "1:acme", in the order they first appear in the input. */
  objects: string[];
  /** Distinct objects the run touched, of which `objects` were chosen. */
  of: number;
  /** The pairs whose object was chosen: the only ones verified. */
  pairs: Pair[];
  /** Rows of the pairs left out: applied, not checked. */
  rowsNotChecked: number;
}

/**
 * Chooses `n` distinct objects uniformly at random (a partial Fisher–Yates shuffle driven by `random`) and
 * keeps the pairs of those objects. With n ≥ the objects touched, every pair is kept.
 */
export function sampleObjects(pairs: readonly Pair[], n: number, random: () => number): Sample {
  const order = new Map<string, { index: number; object: ObjectRef }>();
  for (const p of pairs) {
    const key = objectMatchKey(p.object);
    if (!order.has(key)) order.set(key, { index: order.size, object: p.object });
  }
  const keys = [...order.keys()];
  const take = Math.min(n, keys.length);
  for (let i = 0; i < take; i++) {
    // random() is in [0, 1); the min guards a source that returns 1.
    const j = i + Math.min(keys.length - i - 1, Math.floor(random() * (keys.length - i)));
    [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
  }
  const chosen = new Set(keys.slice(0, take));
  const kept: Pair[] = [];
  let rowsNotChecked = 0;
  for (const p of pairs) {
    if (chosen.has(objectMatchKey(p.object))) kept.push(p);
    else rowsNotChecked += p.rows.length;
  }
  const objects = [...chosen]
    .map((k) => order.get(k) as { index: number; object: ObjectRef })
    .sort((a, b) => a.index - b.index)
    .map((e) => objectLabel(e.object));
  return { objects, of: order.size, pairs: kept, rowsNotChecked };
}

/** A small seeded generator (mulberry32) for reproducible samples in tests; production passes Math.random. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
