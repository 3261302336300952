import type { ObjectRef, PersonRef } from "../model/types.js";

// Small fixed-size summaries the grouping planner keeps of a stream of keys (issue 16): a hash per key, a
// Bloom filter of the groups already closed (is the input still in runs?), and a HyperLogLog of distinct
// groups (which grouping is fewer bytes?). Each answers a question about packing cost, never about
// correctness, so their small errors only make packing a little less than optimal.

/** FNV-1a of one string into a state, then a NUL, so that "ab"+"c" and "a"+"bc" differ. */
function mix(state: number, s: string): number {
  let h = state;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h, 0x01000193);
}

/**
 * murmur3's finaliser: spreads FNV's low-entropy high bits over the whole word. The 32 bits come back as a signed
 * integer (issue 16): half of the unsigned values do not fit a small integer, and each was a heap number, ~22 MB
 * of garbage a million shuffled rows. Users take bits (&, >>>) or `>>> 0` first.
 */
export function fmix(h0: number): number {
  let h = h0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A 32-bit hash of an object (type and id, or cio_object_id), as a signed integer. */
export function objectHash(o: ObjectRef): number {
  if ("cioObjectId" in o) return fmix(mix(0x811c9dc5, o.cioObjectId));
  return fmix(mix(mix(0x811c9dc5 ^ 1, o.typeId), o.id));
}

/** A 32-bit hash of a person (key and value), as a signed integer. */
export function personHash(p: PersonRef): number {
  return fmix(mix(mix(0x811c9dc5, p.key), p.value));
}

/** A Bloom filter of 2^bits bits with two probes per key (4 MB at the default 2^25: ~0.3 % false positives at 1M keys). */
export class Bloom {
  readonly #words: Uint32Array;
  readonly #mask: number;

  constructor(bits = 25) {
    this.#words = new Uint32Array(2 ** (bits - 5));
    this.#mask = 2 ** bits - 1;
  }

  /** Adds a key by its hash. */
  add(hash: number): void {
    const a = hash & this.#mask;
    const b = fmix(hash ^ 0x9e3779b9) & this.#mask;
    this.#words[a >>> 5] = (this.#words[a >>> 5] as number) | (1 << (a & 31));
    this.#words[b >>> 5] = (this.#words[b >>> 5] as number) | (1 << (b & 31));
  }

  /** Whether the key may have been added (false: it certainly was not). */
  has(hash: number): boolean {
    const a = hash & this.#mask;
    const b = fmix(hash ^ 0x9e3779b9) & this.#mask;
    return ((this.#words[a >>> 5] as number) & (1 << (a & 31))) !== 0 && ((this.#words[b >>> 5] as number) & (1 << (b & 31))) !== 0;
  }
}

const HLL_BITS = 14;
const HLL_M = 1 << HLL_BITS;

/** HyperLogLog distinct count of 32-bit hashes: 16 KB, ~0.8 % standard error. */
export class DistinctCount {
  readonly #registers = new Uint8Array(HLL_M);

  /** Counts a key by its hash. */
  add(hash: number): void {
    const h = fmix(hash ^ 0x5bd1e995);
    const i = h >>> (32 - HLL_BITS);
    const rank = Math.min(Math.clz32((h << HLL_BITS) | (1 << (HLL_BITS - 1))) + 1, 32 - HLL_BITS + 1);
    if (rank > (this.#registers[i] as number)) this.#registers[i] = rank;
  }

  /** The estimated number of distinct keys added. */
  estimate(): number {
    let sum = 0;
    let zeros = 0;
    for (const r of this.#registers) {
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / HLL_M);
    const e = (alpha * HLL_M * HLL_M) / sum;
    // Small cardinalities: linear counting is exact enough and unbiased.
    return e <= 2.5 * HLL_M && zeros > 0 ? HLL_M * Math.log(HLL_M / zeros) : e;
  }
}
