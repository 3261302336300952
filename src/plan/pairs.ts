import type { Relationship } from "../model/types.js";
import type { Batch } from "./types.js";

// Duplicates further apart than the planner's window are both sent. When they carry different
// attributes the later row must win, so a batch holding such a pair must not overtake the batch that
// holds the earlier row. Pairs are tracked as 32-bit hashes: a collision only costs a needless wait.

/** FNV-1a over the person (key and value) and the object of a relationship. */
export function pairHash(rel: Relationship): number {
  const o = rel.object;
  let h = mix(0x811c9dc5, rel.person.key);
  h = mix(h, rel.person.value);
  if ("cioObjectId" in o) return mix(h, o.cioObjectId) >>> 0;
  return mix(mix(h, o.typeId), o.id) >>> 0;
}

/** One string into an FNV-1a state, then a NUL, so that "ab"+"c" and "a"+"bc" differ. */
function mix(state: number, s: string): number {
  let h = state;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h, 0x01000193);
}

/** The pair hashes of every relationship a batch carries, sorted (for a linear overlap test). */
export function batchPairs(batch: Batch): Uint32Array {
  let n = 0;
  for (const op of batch.operations) n += op.relationships.length;
  const out = new Uint32Array(n);
  let i = 0;
  for (const op of batch.operations) for (const rel of op.relationships) out[i++] = pairHash(rel);
  return out.sort();
}

/**
 * The pairs of the batches in flight, so a later batch can wait for an earlier one it repeats. A few
 * sorted arrays (one per batch in flight) merged against the new one: cheaper than a hash set that
 * would take an insert and a delete per row.
 */
export class PairsInFlight {
  readonly #batches: Uint32Array[] = [];

  /** Whether any of these (sorted) pairs is in flight. */
  overlaps(pairs: Uint32Array): boolean {
    for (const held of this.#batches) if (intersects(held, pairs)) return true;
    return false;
  }

  /** Marks a batch's pairs (from batchPairs) as in flight. */
  add(pairs: Uint32Array): void {
    this.#batches.push(pairs);
  }

  /** Marks a batch's pairs as settled (the same array that was added). */
  remove(pairs: Uint32Array): void {
    const i = this.#batches.indexOf(pairs);
    if (i >= 0) this.#batches.splice(i, 1);
  }
}

/** Whether two sorted arrays share a value. */
function intersects(a: Uint32Array, b: Uint32Array): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x === y) return true;
    if (x < y) i++;
    else j++;
  }
  return false;
}
