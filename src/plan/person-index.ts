import type { PersonRef, Relationship } from "../model/types.js";
import { fmix } from "./sketch.js";

// The window planner's dedupe (issue 16): which slot of the window holds a given person in a given group. One
// open-addressing table for the whole window, in a typed array, so that a row allocates nothing: no key string, no
// Map per group (the 1M-row sorted bench has ~25k objects of ~40 rows, and a Map per group cost a Map.set per row
// and a rebuild per group). A bucket holds (slot + 1, hash, group); a hash hit is confirmed against the window's
// relationship, so a collision costs a comparison, never a wrong answer.

/** Ints per bucket: slot + 1 (0 while empty), the key's hash, the group. */
const STRIDE = 3;
/** Buckets allocated up front at most; a larger window (the in-memory whole grouping) grows the table as it fills. */
const MAX_INITIAL = 1 << 15;
/** Person keys as numbers, part of the hash. */
const KEY_CODES: Readonly<Record<PersonRef["key"], number>> = { id: 0, email: 1, cio_id: 2 };

/** Slots of the window by (group, person); cleared whenever the window is. */
export class PersonIndex {
  #buckets: Int32Array;
  #mask: number;
  #size = 0;

  /** A table for about `expected` relationships (it grows past that). */
  constructor(expected: number) {
    let n = 16;
    while (n < 2 * expected && n < MAX_INITIAL) n *= 2;
    this.#buckets = new Int32Array(n * STRIDE);
    this.#mask = n - 1;
  }

  /**
   * Records `slot` as the place of `person` in `group`, and returns the slot it held there before (now replaced), or
   * -1. `window[s]` must be the relationship recorded at every slot `s` still in the table.
   */
  put(group: number, person: PersonRef, slot: number, window: readonly (Relationship | undefined)[]): number {
    const value = person.value;
    let h = Math.imul(group, 3) + KEY_CODES[person.key];
    // FNV-1a over the value, then a finaliser: ids like "u13" and "u7932" differ in few bits.
    h = Math.imul(h ^ 0x811c9dc5, 0x01000193);
    for (let i = 0; i < value.length; i++) h = Math.imul(h ^ value.charCodeAt(i), 0x01000193);
    h = fmix(h) | 0;
    const buckets = this.#buckets;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const b = i * STRIDE;
      const held = (buckets[b] as number) - 1;
      if (held < 0) {
        buckets[b] = slot + 1;
        buckets[b + 1] = h;
        buckets[b + 2] = group;
        // At most half full, so that a probe ends soon at an empty bucket.
        if (++this.#size * 2 > mask + 1) this.#grow();
        return -1;
      }
      if (buckets[b + 1] === h && buckets[b + 2] === group) {
        const r = window[held];
        if (r !== undefined && r.person.value === value && r.person.key === person.key) {
          buckets[b] = slot + 1;
          return held;
        }
      }
    }
  }

  /** Forgets every slot (the window was packed). */
  clear(): void {
    if (this.#size === 0) return;
    this.#buckets.fill(0);
    this.#size = 0;
  }

  /** Twice the buckets, the entries placed again by their stored hashes. */
  #grow(): void {
    const old = this.#buckets;
    const n = (this.#mask + 1) * 2;
    const buckets = new Int32Array(n * STRIDE);
    const mask = n - 1;
    for (let b = 0; b < old.length; b += STRIDE) {
      if (old[b] === 0) continue;
      let i = (old[b + 1] as number) & mask;
      while (buckets[i * STRIDE] !== 0) i = (i + 1) & mask;
      buckets.set(old.subarray(b, b + STRIDE), i * STRIDE);
    }
    this.#buckets = buckets;
    this.#mask = mask;
  }
}
