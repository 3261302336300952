import type { Row } from "../input/types.js";
import type { AttributeValue, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import { createWindowPlanner, DEFAULT_WINDOW_SIZE, MAX_WINDOW_BYTES, type PlannerOptions, type WindowedPlanner } from "./planner.js";
import { attributesJson } from "./serialize.js";
import { Bloom, DistinctCount, objectHash, personHash } from "./sketch.js";
import {
  ATTRIBUTES_ID,
  AttributeTable,
  CIO_OBJECT,
  decodeRecords,
  encodeRecord,
  HAS_ATTRIBUTES,
  HAS_ROW,
  HEAD_BYTES,
  parseRowFields,
  PERSON_KEY_CODES,
  readString,
  recordBound,
  rowFieldsJson,
  u32,
  type DecodedRecord,
  type SpillExtras,
} from "./spill-codec.js";
import { PartitionGrouper } from "./spill-group.js";
import type { PlanEvent, PlanStats } from "./types.js";

// Any input order packs like sorted (issue 16). The packer fills batches best when it sees every
// relationship of an object (or of a person) together; a window of the input sees that only when the
// input is sorted. So relationships go one of three ways:
//
//   memory  the first `decideAfter` relationships (a window's worth) are held; an input that ends there is
//           grouped whole, by whichever grouping is fewer bytes.
//   stream  an input whose held prefix comes in runs of its cheaper grouping's key (sorted by object, say)
//           is streamed through the windowed planner as before: it packs optimally and costs nothing more.
//           A Bloom filter of the runs already closed watches the rest; once more than 1 % of runs reopen
//           a group, the remainder spills instead.
//   spill   any other order is hash-partitioned by the grouping key into compact records (the failures
//           file's row included), kept in memory up to `memoryBytes` and in temporary files beyond, then
//           read back one partition at a time, grouped whole by the records' bytes (spill-group.ts) and
//           packed a group at a time; the packer's open batch carries across partitions. With --group-by auto the partition key is the prefix's cheaper grouping;
//           when distinct counts of the whole spill (HyperLogLog) say the other is fewer bytes, the records
//           are partitioned again by the other key before packing.
//
// Duplicates keep the windowed planner's rules: both rows of a pair land in the same partition in input
// order, so the later row wins within a partition exactly as within a window. The files are an injected
// SpillStore (src/spill/temp-store.ts); this module stays pure.

/** Where spilled records go: temporary files in the CLI (src/spill/temp-store.ts), memory in tests. */
export interface SpillStore {
  /** Appends whole records to a partition; on a throw none of these bytes count. */
  append(partition: number, bytes: Uint8Array): void;
  /** Reads a partition's appended bytes from `position` into `into` at `offset`; 0 at the end. */
  read(partition: number, position: number, into: Buffer, offset: number, length: number): number;
  /** Frees a partition once it has been read back. */
  drop(partition: number): void;
  /** Removes everything the store holds; safe to call twice. */
  close(): void;
}

/** How a grouping planner is set up: a windowed planner's options and the spill's. */
export interface GroupingOptions extends PlannerOptions {
  /** Opens the store once the spill outgrows memoryBytes. Absent: the spill stays in memory (tests). */
  openStore?: () => SpillStore;
  /** Told once when the store fails (a full disk). Rows not written stay in memory and are still planned at finish. */
  onSpillError?: (error: unknown) => void;
  /** Relationships held before deciding between streaming and spilling (default windowSize): an input no longer is grouped whole. */
  decideAfter?: number;
  /** Bytes of spilled records kept in memory before they go to temporary files (default 1,600 × windowSize: 16 MB). */
  memoryBytes?: number;
  /**
   * The input's size in bytes, when known (a regular file): an input larger than memoryBytes spills to the store
   * from its first record, since its spill would outgrow memory anyway (issue 16: holding 16 MB first, then moving
   * it, cost a copy of every record into fresh memory, ~76 ms of a 1M-row shuffled run).
   */
  inputBytes?: number;
  /** Partitions of a spill (default 128). */
  partitions?: number;
  /** Window the input as before, never hold or spill (--via pipelines: one call per relationship, grouping is moot). */
  windowOnly?: boolean;
}

/** How an input was grouped (for the benchmark and tests). */
export interface GroupingStats {
  mode: "memory" | "stream" | "spill";
  /** Relationships written to the store. */
  spilled: number;
  /** Bytes written to the store (all passes). */
  spilledBytes: number;
  /** The key the spill was partitioned by at the end. */
  partitionedBy?: "object" | "person";
}

/** Turns relationships into plan events, grouping whole whatever the input order. */
export interface GroupingPlanner {
  /** Takes one relationship (and its input row, when the failures file needs it); returns the events it caused. */
  add(rel: Relationship, row?: Row): readonly PlanEvent[];
  /** The rest of the events, a few batches at a time: consume each before asking for the next (back-pressure). */
  finish(): AsyncGenerator<readonly PlanEvent[], void, undefined>;
  /** The input row a planned relationship came from, when add() was given one. */
  rowOf(rel: Relationship): Row | undefined;
  stats(): PlanStats;
  grouping(): GroupingStats;
  /** Removes the temporary files (also done when finish() ends); safe to call twice. */
  close(): void;
}

type Dim = "object" | "person";

const NO_EVENTS: readonly PlanEvent[] = Object.freeze([]);
const DEFAULT_PARTITIONS = 128;
/**
 * Spilled records kept in memory before the first temporary file, per relationship of the window: 16 MB at the
 * default window, so inputs up to ~300k rows never touch the disk (the hidden --window-size scales it for tests).
 */
const MEMORY_BYTES_PER_SLOT = 1_600;
/** Each partition's write buffer at most (128 of them hold 4 MB); within memoryBytes / partitions. */
const PART_BUFFER = 32 * 1024;
/** Bytes read back at a time. */
const READ_CHUNK = 1024 * 1024;
/** Reopened runs the order watch tolerates whatever their share (a few stragglers in a sorted export). */
const MIN_REOPENED = 10;
/** Share of runs that may reopen a closed group while streaming (each costs about one operation head). */
const MAX_REOPENED = 0.01;
/** Bytes of an operation head without its identifiers: {"type":"object","identifiers":,"action":"add_relationships","cio_relationships":[ ]}, */
const HEAD_FRAME = 83;
/** Bytes of a relationship entry without its identifiers: {"identifiers":} and a comma. */
const ENTRY_FRAME = 17;

/** Approximate JSON bytes of a person's identifiers ({"id":"v"}); string lengths are close enough to compare. */
function personLen(p: PersonRef): number {
  return p.key.length + p.value.length + 7;
}

/** Approximate JSON bytes of an object's identifiers. */
function objectLen(o: ObjectRef): number {
  return "cioObjectId" in o ? o.cioObjectId.length + 20 : o.typeId.length + o.id.length + 35;
}

function sameObject(a: ObjectRef, b: ObjectRef): boolean {
  if ("cioObjectId" in a) return "cioObjectId" in b && a.cioObjectId === b.cioObjectId;
  return !("cioObjectId" in b) && a.id === b.id && a.typeId === b.typeId;
}

function samePerson(a: PersonRef, b: PersonRef): boolean {
  return a.value === b.value && a.key === b.key;
}

function same(dim: Dim, a: Relationship, b: Relationship): boolean {
  return dim === "object" ? sameObject(a.object, b.object) : samePerson(a.person, b.person);
}

function keyHash(dim: Dim, rel: Relationship): number {
  return dim === "object" ? objectHash(rel.object) : personHash(rel.person);
}

/** Rough bytes a relationship holds in memory (the window planner's measure). */
function weight(rel: Relationship): number {
  return 64 + rel.person.value.length + (rel.attributes === undefined ? 0 : attributesJson(rel.attributes).length);
}

/** Builds a grouping planner; throws RangeError on limits that cannot work. */
export function createGroupingPlanner(options: GroupingOptions): GroupingPlanner {
  return new Grouper(options);
}

/** Cost of both groupings of a set of relationships, from exact distinct counts (the held prefix). */
function exactCosts(rels: readonly Relationship[]): { object: number; person: number; runs: Record<Dim, number>; distinct: Record<Dim, number> } {
  const objects = new Set<string>();
  const people = new Set<string>();
  let object = 0;
  let person = 0;
  const runs = { object: 0, person: 0 };
  let prev: Relationship | undefined;
  for (const rel of rels) {
    const o = rel.object;
    const ok = "cioObjectId" in o ? `\u0001${o.cioObjectId}` : `${o.typeId}\u0000${o.id}`;
    const pk = `${rel.person.key}\u0000${rel.person.value}`;
    const ol = objectLen(o);
    const pl = personLen(rel.person);
    if (!objects.has(ok)) {
      objects.add(ok);
      object += HEAD_FRAME + ol;
    }
    if (!people.has(pk)) {
      people.add(pk);
      person += HEAD_FRAME + pl;
    }
    object += ENTRY_FRAME + pl;
    person += ENTRY_FRAME + ol;
    if (prev === undefined || !sameObject(prev.object, o)) runs.object++;
    if (prev === undefined || !samePerson(prev.person, rel.person)) runs.person++;
    prev = rel;
  }
  return { object, person, runs, distinct: { object: objects.size, person: people.size } };
}

class Grouper implements GroupingPlanner {
  readonly #o: GroupingOptions;
  readonly #window: WindowedPlanner;
  readonly #windowSize: number;
  readonly #decideAfter: number;
  readonly #memBytes: number;
  readonly #parts: number;
  readonly #partBuffer: number;
  /** Input rows by relationship, for the failures file: those held or streamed... */
  readonly #rows = new WeakMap<Relationship, Row>();
  /** ...and those read back from the spill, as their JSON until rowOf asks for one (issue 16: few are). */
  readonly #spilledRows = new WeakMap<Relationship, string>();
  /** Distinct attributes of the spill, which records carry by id. */
  readonly #table = new AttributeTable();
  readonly #grouper = new PartitionGrouper();
  /** The partition being packed, whole. */
  #partBuf: Buffer = Buffer.alloc(0);
  /** #extras' answer (issue 16: an object per spilled row was ~55 MB of garbage a million rows). */
  readonly #extrasOfRecord: SpillExtras = { attributesJson: undefined, attributesId: undefined, rowJson: undefined, excluded: false };
  /** Attribute objects by JSON, for records that carry JSON (past the table's cap). */
  readonly #attributes = new Map<string, Record<string, AttributeValue>>();

  #mode: "memory" | "stream" | "spill";
  // memory: the prefix held whole until the decision
  #held: Relationship[] = [];
  #heldBytes = 0;
  // stream: the order watch
  #dim: Dim = "object";
  #watch = false;
  #prev: Relationship | undefined;
  #closed: Bloom | undefined;
  #runs = 0;
  #reopened = 0;
  // spill
  #store: SpillStore | undefined;
  #failed = false;
  /** Partition id offset of the current partition set (a repartition writes a second set). */
  #base = 0;
  #bufs: (Buffer | undefined)[] = [];
  #pos: number[] = [];
  /** Records not in the store, per partition: all of them until memoryBytes is reached, and those a failed store could not take. */
  #mem: Buffer[][] = [];
  #memHeld = 0;
  #written: boolean[] = [];
  #spilled = 0;
  #spilledBytes = 0;
  // spill with --group-by auto: what each grouping of the spilled relationships would cost
  #objects: DistinctCount | undefined;
  #people: DistinctCount | undefined;
  #objectIdBytes = 0;
  #personIdBytes = 0;
  #closedStore = false;

  constructor(o: GroupingOptions) {
    this.#o = o;
    this.#windowSize = o.windowSize ?? DEFAULT_WINDOW_SIZE;
    // Spilled relationships are asked about --resume when they are written (the answer rides in the record), so
    // that the caller's exclude is asked once per row and never has to remember rows until they are read back.
    this.#window = createWindowPlanner(o);
    this.#decideAfter = o.decideAfter ?? this.#windowSize;
    this.#memBytes = o.memoryBytes ?? this.#windowSize * MEMORY_BYTES_PER_SLOT;
    this.#parts = o.partitions ?? DEFAULT_PARTITIONS;
    if (!Number.isInteger(this.#parts) || this.#parts < 1) throw new RangeError("partitions must be a positive integer");
    this.#partBuffer = Math.max(256, Math.min(PART_BUFFER, Math.floor(this.#memBytes / this.#parts)));
    this.#mode = o.windowOnly === true ? "stream" : "memory";
  }

  add(rel: Relationship, row?: Row): readonly PlanEvent[] {
    if (this.#mode === "spill") {
      this.#spill(rel, row === undefined ? undefined : rowFieldsJson(row.fields));
      return NO_EVENTS;
    }
    if (row !== undefined) this.#rows.set(rel, row);
    if (this.#mode === "stream") {
      const events = this.#window.add(rel);
      return this.#watch ? this.#watchOrder(rel, events) : events;
    }
    this.#held.push(rel);
    this.#heldBytes += weight(rel);
    if (this.#held.length < this.#decideAfter && this.#heldBytes < MAX_WINDOW_BYTES) return NO_EVENTS;
    return this.#decide();
  }

  async *finish(): AsyncGenerator<readonly PlanEvent[], void, undefined> {
    try {
      if (this.#mode === "memory") {
        const held = this.#held;
        this.#held = [];
        const costs = exactCosts(held);
        const dim = this.#o.groupBy !== "auto" ? this.#o.groupBy : costs.object <= costs.person ? "object" : "person";
        this.#window.configure(dim, Number.MAX_SAFE_INTEGER);
        const out: PlanEvent[] = [];
        for (const rel of held) for (const ev of this.#window.add(rel)) out.push(ev);
        yield out;
      } else if (this.#mode === "spill") {
        yield* this.#readBack();
      }
      yield this.#window.finish();
    } finally {
      this.close();
    }
  }

  rowOf(rel: Relationship): Row | undefined {
    const row = this.#rows.get(rel);
    if (row !== undefined) return row;
    const json = this.#spilledRows.get(rel);
    return json === undefined ? undefined : { index: rel.index, line: rel.line, fields: parseRowFields(json) };
  }

  stats(): PlanStats {
    return this.#window.stats();
  }

  grouping(): GroupingStats {
    const g: GroupingStats = { mode: this.#mode, spilled: this.#spilled, spilledBytes: this.#spilledBytes };
    if (this.#mode === "spill") g.partitionedBy = this.#dim;
    return g;
  }

  close(): void {
    if (this.#closedStore) return;
    this.#closedStore = true;
    this.#store?.close();
  }

  // ---- memory → stream or spill

  /** The held prefix is full: stream it if it comes in runs of its cheaper grouping, else spill from here on. */
  #decide(): readonly PlanEvent[] {
    const held = this.#held;
    this.#held = [];
    const costs = exactCosts(held);
    const dim: Dim = this.#o.groupBy !== "auto" ? this.#o.groupBy : costs.object <= costs.person ? "object" : "person";
    this.#dim = dim;
    // In runs: each group's relationships together, and groups of two or more on average: a prefix whose keys are
    // nearly all distinct (a shuffled input's first rows) says nothing about the order. A prefix with no key twice in
    // either grouping streams too: grouping it gains nothing, and the order watch spills the rest if keys repeat later.
    const noRepeats = costs.distinct.object === held.length && costs.distinct.person === held.length;
    const inRuns = costs.runs[dim] <= costs.distinct[dim] * (1 + MAX_REOPENED) + 1 && (costs.distinct[dim] * 2 <= held.length || noRepeats);
    if (inRuns) {
      this.#mode = "stream";
      this.#window.configure(dim, this.#windowSize, true);
      const out: PlanEvent[] = [];
      for (const rel of held) for (const ev of this.#window.add(rel)) out.push(ev);
      // Watch the rest: every group of the prefix but the open one is closed.
      this.#watch = true;
      this.#closed = new Bloom();
      this.#runs = costs.runs[dim];
      this.#reopened = costs.runs[dim] - costs.distinct[dim];
      const last = held[held.length - 1] as Relationship;
      for (const rel of held) if (!same(dim, rel, last)) this.#closed.add(keyHash(dim, rel));
      this.#prev = last;
      return out;
    }
    this.#startSpill(dim);
    for (const rel of held) {
      const row = this.#rows.get(rel);
      this.#spill(rel, row === undefined ? undefined : rowFieldsJson(row.fields));
    }
    return NO_EVENTS;
  }

  /** Streaming: counts runs that reopen a closed group; too many, and the rest of the input spills. */
  #watchOrder(rel: Relationship, events: readonly PlanEvent[]): readonly PlanEvent[] {
    const dim = this.#dim;
    const prev = this.#prev as Relationship;
    this.#prev = rel;
    if (same(dim, prev, rel)) return events;
    const closed = this.#closed as Bloom;
    this.#runs++;
    closed.add(keyHash(dim, prev));
    if (closed.has(keyHash(dim, rel))) this.#reopened++;
    if (this.#reopened <= MIN_REOPENED || this.#reopened <= this.#runs * MAX_REOPENED) return events;
    // Out of order after all: pack what the window holds, spill the rest.
    this.#watch = false;
    this.#closed = undefined;
    this.#window.configure(dim, this.#windowSize);
    const flushed = this.#window.flush();
    this.#startSpill(dim);
    return events.length === 0 ? flushed : [...events, ...flushed];
  }

  // ---- spill

  #startSpill(dim: Dim): void {
    this.#mode = "spill";
    this.#dim = dim;
    if (this.#o.groupBy === "auto") {
      this.#objects = new DistinctCount();
      this.#people = new DistinctCount();
    }
  }

  #spill(rel: Relationship, rowJson: string | undefined): void {
    const dim = this.#dim;
    const h = keyHash(dim, rel);
    if (this.#objects !== undefined && this.#people !== undefined) {
      const oh = dim === "object" ? h : objectHash(rel.object);
      const ph = dim === "person" ? h : personHash(rel.person);
      this.#objects.add(oh);
      this.#people.add(ph);
      this.#objectIdBytes += objectLen(rel.object);
      this.#personIdBytes += personLen(rel.person);
    }
    this.#write(this.#base + ((h >>> 0) % this.#parts), rel, this.#extras(rel, rowJson, this.#o.exclude?.(rel.index) === true));
    this.#spilled++;
  }

  /** What a record carries besides the relationship, in one object refilled for every record (#write reads it at once). */
  #extras(rel: Relationship, rowJson: string | undefined, excluded: boolean): SpillExtras {
    const extras = this.#extrasOfRecord;
    extras.rowJson = rowJson;
    extras.excluded = excluded;
    if (rel.attributes === undefined) {
      extras.attributesJson = undefined;
      extras.attributesId = undefined;
    } else {
      const json = attributesJson(rel.attributes);
      const id = this.#table.idOf(json);
      extras.attributesJson = json;
      extras.attributesId = id < 0 ? undefined : id;
    }
    return extras;
  }

  #write(part: number, rel: Relationship, extras: SpillExtras): void {
    const bound = recordBound(rel, extras);
    let buf = this.#bufs[part];
    if (buf === undefined) {
      buf = Buffer.allocUnsafe(Math.max(this.#partBuffer, bound));
      this.#bufs[part] = buf;
      this.#pos[part] = 0;
    }
    let pos = this.#pos[part] as number;
    if (pos + bound > buf.length) {
      this.#flushPart(part);
      pos = 0;
      if (bound > buf.length) {
        buf = Buffer.allocUnsafe(bound);
        this.#bufs[part] = buf;
      }
    }
    this.#pos[part] = encodeRecord(buf, pos, rel, extras);
  }

  /** Moves a partition's write buffer on: to memory while the spill is small, else to the store. */
  #flushPart(part: number): void {
    const buf = this.#bufs[part];
    const pos = this.#pos[part] ?? 0;
    if (buf === undefined || pos === 0) return;
    this.#pos[part] = 0;
    const outgrown = this.#memHeld + pos > this.#memBytes || (this.#o.inputBytes ?? 0) > this.#memBytes;
    if (this.#store === undefined && !this.#failed && outgrown && this.#o.openStore !== undefined) this.#toStore();
    if (this.#store !== undefined && !this.#failed && this.#append(part, buf.subarray(0, pos))) return;
    (this.#mem[part] ??= []).push(Buffer.from(buf.subarray(0, pos)));
    this.#memHeld += pos;
  }

  /** The spill outgrew memory: opens the store and moves what memory holds into it, in order. */
  #toStore(): void {
    try {
      this.#store = (this.#o.openStore as () => SpillStore)();
    } catch (e) {
      this.#fail(e);
      return;
    }
    for (let p = 0; p < this.#mem.length; p++) {
      const chunks = this.#mem[p];
      if (chunks === undefined) continue;
      while (chunks.length > 0 && !this.#failed && this.#append(p, chunks[0] as Buffer)) {
        this.#memHeld -= (chunks.shift() as Buffer).length;
      }
    }
  }

  /** Appends to the store; false (and the failure told) when it cannot. */
  #append(part: number, bytes: Buffer): boolean {
    try {
      (this.#store as SpillStore).append(part, bytes);
    } catch (e) {
      this.#fail(e);
      return false;
    }
    this.#written[part] = true;
    this.#spilledBytes += bytes.length;
    return true;
  }

  #fail(e: unknown): void {
    this.#failed = true;
    this.#o.onSpillError?.(e);
  }

  /** Every partition grouped whole and packed, one at a time; events a chunk at a time. */
  async *#readBack(): AsyncGenerator<readonly PlanEvent[], void, undefined> {
    for (let p = this.#base; p < this.#base + this.#parts; p++) this.#flushPart(p);
    const flushed = this.#window.flush();
    if (flushed.length > 0) yield flushed;
    const other: Dim = this.#dim === "object" ? "person" : "object";
    if (this.#objects !== undefined && this.#people !== undefined) {
      // Which grouping of the whole spilled input is fewer bytes: entries by identifier bytes, heads by distinct count.
      const n = Math.max(1, this.#spilled);
      const byObject = this.#personIdBytes + n * ENTRY_FRAME + this.#objects.estimate() * (HEAD_FRAME + this.#objectIdBytes / n);
      const byPerson = this.#objectIdBytes + n * ENTRY_FRAME + this.#people.estimate() * (HEAD_FRAME + this.#personIdBytes / n);
      const cheaper: Dim = byObject <= byPerson ? "object" : "person";
      if (cheaper !== this.#dim) this.#repartition(other);
    }
    for (let p = this.#base; p < this.#base + this.#parts; p++) {
      const end = this.#load(p);
      if (end > 0) yield* this.#packPartition(end);
    }
    this.#partBuf = Buffer.alloc(0);
  }

  /** A partition's bytes, whole, in written order (the store's, then those memory kept) in #partBuf; the partition is dropped. */
  #load(part: number): number {
    let buf = this.#partBuf;
    let end = 0;
    const room = (n: number): void => {
      if (end + n <= buf.length) return;
      const bigger = Buffer.allocUnsafeSlow(Math.max(READ_CHUNK, 2 * (end + n)));
      buf.copy(bigger, 0, 0, end);
      buf = bigger;
    };
    if (this.#written[part] === true && this.#store !== undefined) {
      for (;;) {
        room(READ_CHUNK);
        const n = this.#store.read(part, end, buf, end, buf.length - end);
        if (n === 0) break;
        end += n;
      }
      this.#store.drop(part);
      this.#written[part] = false;
    }
    for (const chunk of this.#mem[part] ?? []) {
      room(chunk.length);
      end += chunk.copy(buf, end);
      this.#memHeld -= chunk.length;
    }
    this.#mem[part] = [];
    this.#partBuf = buf;
    return end;
  }

  /**
   * One partition grouped whole and packed, as a window of it would be: superseded pairs first (the earlier row a
   * duplicate of the later), then each group in first-seen order, decoded only when it is packed.
   */
  *#packPartition(end: number): Generator<readonly PlanEvent[], void, undefined> {
    const g = this.#grouper;
    const dim = this.#dim;
    const scan = g.scan(this.#partBuf, end, dim);
    if (scan.superseded.length > 0) {
      const out: PlanEvent[] = [];
      for (const [earlier, later] of scan.superseded) {
        if (g.excluded(earlier)) continue;
        out.push({ type: "duplicate", relationship: this.#decode(earlier, undefined, undefined), supersededBy: u32(this.#partBuf, g.start(later)) });
      }
      if (out.length > 0) yield out;
    }
    for (const group of scan.order) {
      const rels: Relationship[] = [];
      let object: ObjectRef | undefined;
      let person: PersonRef | undefined;
      for (let r = g.first(group); r >= 0; r = g.next(r)) {
        if (g.dead(r) || g.excluded(r)) continue;
        // Relationships of a group share its side's identifiers (one object, not one per row).
        const rel = this.#decode(r, object, person);
        if (dim === "object") object = rel.object;
        else person = rel.person;
        rels.push(rel);
      }
      if (rels.length === 0) continue;
      const out: PlanEvent[] = [];
      this.#window.packGroup(dim, dim === "object" ? (object as ObjectRef) : (person as PersonRef), rels, out);
      if (out.length > 0) yield out;
    }
  }

  /** Record `r` of the scanned partition as a relationship (its row noted for rowOf), with the given shared sides. */
  #decode(r: number, object: ObjectRef | undefined, person: PersonRef | undefined): Relationship {
    const buf = this.#partBuf;
    const g = this.#grouper;
    const s = g.start(r);
    const flags = buf[s + 8] as number;
    const o = g.object(r);
    let obj = object;
    if (obj === undefined) {
      if ((flags & CIO_OBJECT) !== 0) obj = { cioObjectId: readString(buf, o) };
      else obj = { typeId: readString(buf, o), id: readString(buf, o + 4 + u32(buf, o)) };
    }
    const index = u32(buf, s);
    const line = u32(buf, s + 4);
    const who = person ?? { key: PERSON_KEY_CODES[flags & 3] as PersonRef["key"], value: readString(buf, g.person(r)) };
    let p = g.objectEnd(r);
    let attributes: Record<string, AttributeValue> | undefined;
    if ((flags & ATTRIBUTES_ID) !== 0) attributes = this.#table.objectOf(u32(buf, s + HEAD_BYTES));
    else if ((flags & HAS_ATTRIBUTES) !== 0) {
      attributes = this.#attributesOf(readString(buf, p));
      p += 4 + u32(buf, p);
    }
    // One literal, whole: a property added afterwards would cost a second object per relationship.
    const rel: Relationship =
      attributes === undefined ? { index, line, person: who, object: obj } : { index, line, person: who, object: obj, attributes };
    // Parsed only if asked for: the failures file wants the rows that fail, not the million that apply (issue 16).
    if ((flags & HAS_ROW) !== 0) this.#spilledRows.set(rel, readString(buf, p));
    return rel;
  }

  /** The attributes object of a JSON text, one per distinct text (the serialiser caches per object); at most 4,096 kept. */
  #attributesOf(json: string): Record<string, AttributeValue> {
    let a = this.#attributes.get(json);
    if (a === undefined) {
      if (this.#attributes.size >= 4096) this.#attributes.clear();
      a = JSON.parse(json) as Record<string, AttributeValue>;
      this.#attributes.set(json, a);
    }
    return a;
  }

  /** Partitions the spilled records again by the other key (the whole input turned out cheaper grouped by it). */
  #repartition(dim: Dim): void {
    const from = this.#base;
    this.#base = from + this.#parts;
    this.#dim = dim;
    for (let p = from; p < from + this.#parts; p++) {
      for (const chunk of this.#records(p)) {
        for (const r of chunk) {
          const extras = this.#extras(r.rel, r.row === undefined ? undefined : rowFieldsJson(r.row.fields), r.excluded);
          this.#write(this.#base + ((keyHash(dim, r.rel) >>> 0) % this.#parts), r.rel, extras);
        }
      }
      this.#bufs[p] = undefined;
    }
    for (let p = this.#base; p < this.#base + this.#parts; p++) this.#flushPart(p);
  }

  /** A partition's records in written order, a chunk at a time; the partition is dropped once read. */
  *#records(part: number): Generator<DecodedRecord[], void, undefined> {
    const attributesOf = (json: string): Record<string, AttributeValue> => this.#attributesOf(json);
    if (this.#written[part] === true && this.#store !== undefined) {
      const store = this.#store;
      let buf = Buffer.allocUnsafe(READ_CHUNK);
      let carry = 0;
      let position = 0;
      for (;;) {
        if (carry === buf.length) {
          // One record larger than the chunk: grow.
          const bigger = Buffer.allocUnsafe(buf.length * 2);
          buf.copy(bigger, 0, 0, carry);
          buf = bigger;
        }
        const n = store.read(part, position, buf, carry, buf.length - carry);
        if (n === 0) break;
        position += n;
        const end = carry + n;
        const records: DecodedRecord[] = [];
        const used = decodeRecords(buf, 0, end, attributesOf, this.#table, (r) => records.push(r));
        carry = end - used;
        if (carry > 0) buf.copy(buf, 0, used, end);
        yield records;
      }
      store.drop(part);
      this.#written[part] = false;
    }
    const chunks = this.#mem[part] ?? [];
    this.#mem[part] = [];
    for (const chunk of chunks) {
      this.#memHeld -= chunk.length;
      const records: DecodedRecord[] = [];
      decodeRecords(chunk, 0, chunk.length, attributesOf, this.#table, (r) => records.push(r));
      yield records;
    }
  }
}
