import { ATTRIBUTES_ID, CIO_OBJECT, EXCLUDED, HAS_ATTRIBUTES, HAS_ROW, HEAD_BYTES, u32 } from "./spill-codec.js";

// Groups one spilled partition by the bytes of its records (issue 16), so that reading a partition back
// creates no object until its group is packed: a shuffled million rows spill and come back once each, and
// decoding every record of a partition into objects before grouping them (as a window would) cost a sixth of
// the run and kept each partition's objects alive long enough to be promoted — old-space garbage that set the
// peak RSS. Here a partition is scanned once into typed arrays (where each record's person and object bytes
// are), its records are linked per group through an open-addressing table keyed by the grouping key's bytes,
// and duplicates (the same pair twice) are found through a second table keyed by the group and the other
// side's bytes: the later record wins, as in a window. The caller then decodes one group at a time.

/** Which side a partition is grouped by. */
export type GroupDim = "object" | "person";

/** What scanning a partition found: its records, their groups in packing order, and the pairs superseded. */
export interface PartitionScan {
  /** Records in the partition. */
  readonly records: number;
  /** Group ids in the order they are packed (the windowed planner's order: first seen; by person, first live). */
  readonly order: readonly number[];
  /** Pairs [earlier record, later record] where the later superseded the earlier, in the order they were met. */
  readonly superseded: readonly (readonly [number, number])[];
}

/** FNV-1a over bytes, then murmur3's finaliser. */
function hashBytes(buf: Buffer, start: number, end: number, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function sameBytes(buf: Buffer, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; i < aEnd - a; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}

function pow2Above(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

/** Scans partitions; its arrays are reused from one partition to the next. */
export class PartitionGrouper {
  #cap = 0;
  /** Per record: where it starts, where its person (length-prefixed value) starts, where its object starts and ends. */
  #start = new Int32Array(0);
  #person = new Int32Array(0);
  #object = new Int32Array(0);
  #objectEnd = new Int32Array(0);
  /** Per record: its group, the next record of the group (-1 at the end), 1 once superseded. */
  #group = new Int32Array(0);
  #next = new Int32Array(0);
  #dead = new Uint8Array(0);
  /** Per group: its first and last record. */
  #first = new Int32Array(0);
  #last = new Int32Array(0);
  #buf: Buffer = Buffer.alloc(0);

  /** Where record `i` starts in the scanned buffer. */
  start(i: number): number {
    return this.#start[i] as number;
  }

  /** Where record `i`'s person (its length prefix) starts; its object starts where the person ends. */
  person(i: number): number {
    return this.#person[i] as number;
  }

  /** Where record `i`'s object (the first length prefix) starts. */
  object(i: number): number {
    return this.#object[i] as number;
  }

  /** Where record `i`'s object ends (its attributes and row, when it has them, follow). */
  objectEnd(i: number): number {
    return this.#objectEnd[i] as number;
  }

  /** The first record of group `g`. */
  first(g: number): number {
    return this.#first[g] as number;
  }

  /** The record after `i` in its group, or -1. */
  next(i: number): number {
    return this.#next[i] as number;
  }

  /** Whether a later record of the same pair superseded record `i`. */
  dead(i: number): boolean {
    return this.#dead[i] === 1;
  }

  /** Whether --resume settled record `i`. */
  excluded(i: number): boolean {
    return ((this.#buf[(this.#start[i] as number) + 8] as number) & EXCLUDED) !== 0;
  }

  /** Indexes buf[0, end) (whole records only), groups its records by `dim` and finds superseded pairs. */
  scan(buf: Buffer, end: number, dim: GroupDim): PartitionScan {
    this.#buf = buf;
    const n = this.#index(buf, end);
    const superseded: [number, number][] = [];
    const order: number[] = [];
    const groupTable = new Int32Array(pow2Above(2 * n));
    const pairTable = new Int32Array(pow2Above(2 * n));
    const mask = groupTable.length - 1;
    const pairMask = pairTable.length - 1;
    const byObject = dim === "object";
    let groups = 0;
    for (let i = 0; i < n; i++) {
      const flags = buf[(this.#start[i] as number) + 8] as number;
      const ps = this.#person[i] as number;
      const os = this.#object[i] as number;
      const oe = this.#objectEnd[i] as number;
      // The key's bytes (length prefixes included, so that a type id and an id cannot run into each other) and
      // the flag bits that belong to it: the person key's code, or whether the object is a cio_object_id.
      const keyStart = byObject ? os : ps;
      const keyEnd = byObject ? oe : os;
      const keyBits = byObject ? flags & CIO_OBJECT : flags & 3;
      const otherStart = byObject ? ps : os;
      const otherEnd = byObject ? os : oe;
      const otherBits = byObject ? flags & 3 : flags & CIO_OBJECT;
      // The group.
      let slot = hashBytes(buf, keyStart, keyEnd, keyBits) & mask;
      let g = -1;
      for (;;) {
        const e = groupTable[slot] as number;
        if (e === 0) break;
        const f = this.#first[e - 1] as number;
        const fFlags = buf[(this.#start[f] as number) + 8] as number;
        const fs = byObject ? (this.#object[f] as number) : (this.#person[f] as number);
        const fe = byObject ? (this.#objectEnd[f] as number) : (this.#object[f] as number);
        if ((byObject ? fFlags & CIO_OBJECT : fFlags & 3) === keyBits && sameBytes(buf, keyStart, keyEnd, fs, fe)) {
          g = e - 1;
          break;
        }
        slot = (slot + 1) & mask;
      }
      if (g < 0) {
        g = groups++;
        this.#growGroups(groups);
        groupTable[slot] = g + 1;
        this.#first[g] = i;
        if (byObject) order.push(g);
      } else this.#next[this.#last[g] as number] = i;
      this.#last[g] = i;
      this.#group[i] = g;
      this.#next[i] = -1;
      this.#dead[i] = 0;
      // The pair: an earlier record of it is superseded by this one.
      let ps2 = (hashBytes(buf, otherStart, otherEnd, otherBits) ^ Math.imul(g + 1, 0x9e3779b1)) & pairMask;
      for (;;) {
        const e = pairTable[ps2] as number;
        if (e === 0) {
          pairTable[ps2] = i + 1;
          break;
        }
        const r = e - 1;
        if (this.#group[r] === g) {
          const rFlags = buf[(this.#start[r] as number) + 8] as number;
          const rs = byObject ? (this.#person[r] as number) : (this.#object[r] as number);
          const re = byObject ? (this.#object[r] as number) : (this.#objectEnd[r] as number);
          if ((byObject ? rFlags & 3 : rFlags & CIO_OBJECT) === otherBits && sameBytes(buf, otherStart, otherEnd, rs, re)) {
            this.#dead[r] = 1;
            superseded.push([r, i]);
            pairTable[ps2] = i + 1;
            break;
          }
        }
        ps2 = (ps2 + 1) & pairMask;
      }
    }
    if (!byObject) {
      // By person, the windowed planner orders groups by their first record still planned.
      const seen = new Uint8Array(groups);
      for (let i = 0; i < n; i++) {
        const g = this.#group[i] as number;
        if (seen[g] === 0 && this.#dead[i] === 0 && !this.excluded(i)) {
          seen[g] = 1;
          order.push(g);
        }
      }
    }
    return { records: n, order, superseded };
  }

  /** Finds where every record and its parts start; returns the count. */
  #index(buf: Buffer, end: number): number {
    let i = 0;
    let pos = 0;
    while (pos < end) {
      if (i === this.#cap) this.#grow(Math.max(1024, this.#cap * 2));
      const flags = buf[pos + 8] as number;
      let p = pos + HEAD_BYTES + ((flags & ATTRIBUTES_ID) !== 0 ? 4 : 0);
      this.#start[i] = pos;
      this.#person[i] = p;
      p += 4 + u32(buf, p);
      this.#object[i] = p;
      p += 4 + u32(buf, p);
      if ((flags & CIO_OBJECT) === 0) p += 4 + u32(buf, p);
      this.#objectEnd[i] = p;
      if ((flags & HAS_ATTRIBUTES) !== 0) p += 4 + u32(buf, p);
      if ((flags & HAS_ROW) !== 0) p += 4 + u32(buf, p);
      pos = p;
      i++;
    }
    if (pos !== end) throw new Error(`internal error: a spilled partition ends inside a record (${pos} of ${end} bytes)`);
    return i;
  }

  #grow(cap: number): void {
    const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.#start = grow(this.#start);
    this.#person = grow(this.#person);
    this.#object = grow(this.#object);
    this.#objectEnd = grow(this.#objectEnd);
    this.#group = new Int32Array(cap);
    this.#next = new Int32Array(cap);
    this.#dead = new Uint8Array(cap);
    this.#cap = cap;
  }

  #growGroups(groups: number): void {
    if (groups <= this.#first.length) return;
    const cap = Math.max(256, this.#first.length * 2);
    const first = new Int32Array(cap);
    first.set(this.#first);
    const last = new Int32Array(cap);
    last.set(this.#last);
    this.#first = first;
    this.#last = last;
  }
}
