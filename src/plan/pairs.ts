import type { Relationship } from "../model/types.js";
import type { Batch } from "./types.js";

// Duplicates further apart than the planner's window are both sent. When they carry different
// attributes the later row must win, so a batch holding such a pair must not overtake the batch that
// holds the earlier row. Pairs are tracked as 32-bit hashes: a collision only costs a needless wait.

/** FNV-1a over the person (key and value) and the object of a relationship. */
export function pairHash(rel: Relationship): number {
  let h = 0x811c9dc5;
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0, 0x01000193); // separator, so "ab"+"c" and "a"+"bc" differ
  };
  mix(rel.person.key);
  mix(rel.person.value);
  const o = rel.object;
  if ("cioObjectId" in o) mix(o.cioObjectId);
  else {
    mix(o.typeId);
    mix(o.id);
  }
  return h >>> 0;
}

/** The pair hashes of every relationship a batch carries. */
export function batchPairs(batch: Batch): Uint32Array {
  let n = 0;
  for (const op of batch.operations) n += op.relationships.length;
  const out = new Uint32Array(n);
  let i = 0;
  for (const op of batch.operations) for (const rel of op.relationships) out[i++] = pairHash(rel);
  return out;
}

/** The pairs of the batches in flight, counted, so a later batch can wait for an earlier one it repeats. */
export class PairsInFlight {
  readonly #counts = new Map<number, number>();

  /** Whether any of these pairs is in flight. */
  overlaps(pairs: Uint32Array): boolean {
    if (this.#counts.size === 0) return false;
    for (const h of pairs) if (this.#counts.has(h)) return true;
    return false;
  }

  /** Marks a batch's pairs as in flight. */
  add(pairs: Uint32Array): void {
    for (const h of pairs) this.#counts.set(h, (this.#counts.get(h) ?? 0) + 1);
  }

  /** Marks a batch's pairs as settled. */
  remove(pairs: Uint32Array): void {
    for (const h of pairs) {
      const n = this.#counts.get(h) ?? 0;
      if (n <= 1) this.#counts.delete(h);
      else this.#counts.set(h, n - 1);
    }
  }
}
