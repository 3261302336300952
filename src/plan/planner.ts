import type { Action, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import { trackEncoder, type Encoder } from "./encoder.js";
import { Packer } from "./packer.js";
import { PersonIndex } from "./person-index.js";
import { attributesJson } from "./serialize.js";
import type { GroupBy, PlanEvent, PlanStats } from "./types.js";

// Relationships → batches, in bounded memory (issue 2, "Planning and packing"). Relationships are
// held in a window of at most `windowSize`; when it fills (and at finish) the window is deduplicated,
// grouped and handed to the packer, whose open batch carries over to the next window.
//
// Duplicates: the same person–object pair twice within one window keeps the later row (its
// attributes win) at the later row's place, and the earlier row becomes a `duplicate` event at once.
// Pairs further apart than a window are both sent, in input order; the sender keeps a batch that
// repeats a pair in flight from overtaking it (src/plan/pairs.ts), so the later row's attributes win.

/**
 * Relationships per window unless told otherwise: groups large enough to pack sorted input optimally,
 * and few enough that they die young in V8's heap (a 50,000 window measured ≈ 60 MB more peak RSS).
 */
export const DEFAULT_WINDOW_SIZE = 10_000;

/**
 * The window also flushes once its relationships weigh this much (ids and attribute JSON), so that
 * rows carrying large attributes (up to 100 KB each) cannot make the window's memory unbounded.
 */
export const MAX_WINDOW_BYTES = 16_000_000;

/** Rough bytes a relationship holds in the window: its person id and its attributes' JSON. */
function weight(rel: Relationship): number {
  return 64 + rel.person.value.length + (rel.attributes === undefined ? 0 : attributesJson(rel.attributes).length);
}

/** How a planner is set up. */
export interface PlannerOptions {
  action: Action;
  groupBy: GroupBy;
  /** Relationships held before grouping and packing (default DEFAULT_WINDOW_SIZE). */
  windowSize?: number;
  /** The destination's wire format and limits (default: the Track API's). */
  encoder?: Encoder;
  /** Largest batch body (default the encoder's); smaller values are --batch-bytes and tests. */
  maxBatchBytes?: number;
  /** Largest operation (default the encoder's). */
  maxOperationBytes?: number;
  /**
   * Rows (by Row.index) already settled (--resume): their relationships still take part in dedupe,
   * then are dropped instead of packed. They never produce events, not even `duplicate`.
   */
  exclude?: (index: number) => boolean;
}

/**
 * Turns relationships into batch, duplicate and invalid events. `add` and `finish` return the events
 * they caused, most often the shared empty array (never mutate it); events come in the order they happen.
 */
export interface Planner {
  add(rel: Relationship): readonly PlanEvent[];
  /** Flushes the window and emits the last, partly filled batch. */
  finish(): readonly PlanEvent[];
  /** Relationships, operations, batches and body bytes emitted so far. */
  stats(): PlanStats;
}

const NO_EVENTS: readonly PlanEvent[] = Object.freeze([]);

/** Slots of the window's slot chains allocated up front at most; a larger window grows them. */
const MAX_INITIAL_SLOTS = 1 << 14;

/** One object's relationships in a window: a chain of slots (through WindowPlanner.#next), in input order. */
interface ObjectGroup {
  ref: ObjectRef;
  /** Its place in #groups, which names it in the dedupe index. */
  id: number;
  first: number;
  last: number;
}

/**
 * The dedupe and grouping key of a person: an id is its own key, so that the usual row builds no string
 * (issue 16); other keys are prefixed. Identifiers never hold a control character, so "email\0…" is no id.
 */
function personKey(p: PersonRef): string {
  return p.key === "id" ? p.value : `${p.key}\u0000${p.value}`;
}

/** Builds a planner; throws RangeError on limits that cannot work. */
export function createPlanner(options: PlannerOptions): Planner {
  return createWindowPlanner(options);
}

/** A windowed planner that can also be flushed and regrouped between windows (the grouping planner packs through it). */
export interface WindowedPlanner extends Planner {
  /** Packs the window now, without emitting the open batch (the next window may fill it). */
  flush(): readonly PlanEvent[];
  /**
   * Changes how the next windows are grouped and how large they may grow (flush first). With `carry`, a full
   * window keeps its last group for the next one instead of packing it: input in runs of that grouping's key then
   * packs every group whole, whatever the window boundaries.
   */
  configure(groupBy: GroupBy, windowSize: number, carry?: boolean): void;
  /**
   * Packs one whole group that the caller grouped and deduplicated (a spilled partition, issue 16), past the window:
   * relationships the route refuses become `invalid` events. Flush first.
   */
  packGroup(type: "object" | "person", ref: ObjectRef | PersonRef, rels: readonly Relationship[], out: PlanEvent[]): void;
}

/** Builds a windowed planner; throws RangeError on limits that cannot work. */
export function createWindowPlanner(options: PlannerOptions): WindowedPlanner {
  const windowSize = options.windowSize ?? DEFAULT_WINDOW_SIZE;
  if (!Number.isInteger(windowSize) || windowSize < 1) throw new RangeError("windowSize must be a positive integer");
  return new WindowPlanner(options, windowSize);
}

// Speed matters here (a million rows per run): the window is indexed by object without building
// key strings — object type → object id → group —, a group's slots are chained in a typed array, and
// a duplicate person is found in one window-wide hash table (person-index.ts), so a row allocates nothing.
class WindowPlanner implements WindowedPlanner {
  #groupBy: GroupBy;
  #windowSize: number;
  #carry = false;
  readonly #exclude: ((index: number) => boolean) | undefined;
  readonly #packer: Packer;
  readonly #encoder: Encoder;
  readonly #action: Action;

  /**
   * The window in input order, its first #size slots; undefined where a later duplicate or --resume removed a
   * relationship. One array for every window (issue 16: a new one grew to 10,000 slots for every window, 24 MB of
   * garbage per million rows), emptied when the window is packed.
   */
  readonly #window: (Relationship | undefined)[] = [];
  #size = 0;
  /** A group's live relationships while it is packed; one array for every group (its copy when a group is carried). */
  readonly #groupRels: Relationship[] = [];
  /** Sum of weight() over the window. */
  #windowBytes = 0;
  /** Object groups in first-seen order. */
  #groups: ObjectGroup[] = [];
  /** The slot after each slot in its group's chain; -1 ends a chain. */
  #next: Int32Array;
  /** The live slot of each (group, person) in the window. */
  readonly #people: PersonIndex;
  /** object_type_id → object id → group. */
  readonly #byType = new Map<string, Map<string, ObjectGroup>>();
  /** cio_object_id → group. */
  readonly #byCioId = new Map<string, ObjectGroup>();

  constructor(options: PlannerOptions, windowSize: number) {
    this.#groupBy = options.groupBy;
    this.#windowSize = windowSize;
    this.#next = new Int32Array(Math.min(windowSize, MAX_INITIAL_SLOTS));
    this.#people = new PersonIndex(windowSize);
    this.#exclude = options.exclude;
    const encoder = options.encoder ?? trackEncoder;
    this.#encoder = encoder;
    this.#action = options.action;
    this.#packer = new Packer({
      action: options.action,
      encoder,
      maxBatchBytes: options.maxBatchBytes ?? encoder.maxBatchBytes,
      maxOperationBytes: options.maxOperationBytes ?? encoder.maxOperationBytes,
    });
  }

  add(rel: Relationship): readonly PlanEvent[] {
    // A row the route cannot carry (a person by email via Data Pipelines) is invalid before dedupe; a row a
    // resumed journal settled keeps its journaled outcome and is not planned at all.
    const refused = this.#encoder.reject(rel, this.#action);
    if (refused !== undefined) return this.#exclude?.(rel.index) === true ? NO_EVENTS : [{ type: "invalid", relationship: rel, reason: refused }];
    const group = this.#groupOf(rel.object);
    const slot = this.#size;
    const earlierSlot = this.#people.put(group.id, rel.person, slot, this.#window);
    let out: PlanEvent[] | undefined;
    if (earlierSlot >= 0) {
      const earlier = this.#window[earlierSlot] as Relationship;
      this.#window[earlierSlot] = undefined;
      if (this.#exclude === undefined || !this.#exclude(earlier.index)) {
        out = [{ type: "duplicate", relationship: earlier, supersededBy: rel.index }];
      }
    }
    this.#window[slot] = rel;
    this.#size = slot + 1;
    this.#windowBytes += weight(rel);
    this.#chain(group, slot);
    if (this.#size >= this.#windowSize || this.#windowBytes >= MAX_WINDOW_BYTES) {
      out ??= [];
      this.#flush(out, this.#carry);
    }
    return out ?? NO_EVENTS;
  }

  finish(): readonly PlanEvent[] {
    const out: PlanEvent[] = [];
    this.#flush(out);
    this.#packer.finish(out);
    return out;
  }

  flush(): readonly PlanEvent[] {
    if (this.#size === 0) return NO_EVENTS;
    const out: PlanEvent[] = [];
    this.#flush(out);
    return out;
  }

  configure(groupBy: GroupBy, windowSize: number, carry = false): void {
    this.#groupBy = groupBy;
    this.#windowSize = windowSize;
    this.#carry = carry && groupBy !== "auto";
  }

  stats(): PlanStats {
    return this.#packer.stats();
  }

  packGroup(type: "object" | "person", ref: ObjectRef | PersonRef, rels: readonly Relationship[], out: PlanEvent[]): void {
    let kept: Relationship[] | undefined;
    for (let i = 0; i < rels.length; i++) {
      const rel = rels[i] as Relationship;
      const refused = this.#encoder.reject(rel, this.#action);
      if (refused !== undefined) {
        kept ??= rels.slice(0, i);
        out.push({ type: "invalid", relationship: rel, reason: refused });
      } else kept?.push(rel);
    }
    const packed = kept ?? rels;
    if (packed.length > 0) this.#packer.addGroup(type, ref, packed, out);
  }

  #groupOf(o: ObjectRef): ObjectGroup {
    let ids: Map<string, ObjectGroup> | undefined;
    let id: string;
    if ("cioObjectId" in o) {
      ids = this.#byCioId;
      id = o.cioObjectId;
    } else {
      ids = this.#byType.get(o.typeId);
      if (ids === undefined) this.#byType.set(o.typeId, (ids = new Map<string, ObjectGroup>()));
      id = o.id;
    }
    let group = ids.get(id);
    if (group === undefined) {
      group = { ref: o, id: this.#groups.length, first: -1, last: -1 };
      ids.set(id, group);
      this.#groups.push(group);
    }
    return group;
  }

  /** Appends a slot to its group's chain. */
  #chain(group: ObjectGroup, slot: number): void {
    let next = this.#next;
    if (slot >= next.length) {
      next = new Int32Array(Math.max(16, 2 * next.length));
      next.set(this.#next);
      this.#next = next;
    }
    next[slot] = -1;
    if (group.last < 0) group.first = slot;
    else next[group.last] = slot;
    group.last = slot;
  }

  /** Packs the window's live relationships, grouped; group order is first-seen order. */
  #flush(out: PlanEvent[], carry = false): void {
    const window = this.#window;
    const size = this.#size;
    // The last relationship's group, carried into the next window when it is small enough to be still open.
    const lastRel = carry ? window[size - 1] : undefined;
    let carried: Relationship[] | undefined;
    this.#windowBytes = 0;
    const exclude = this.#exclude;
    if (exclude !== undefined) {
      for (let i = 0; i < size; i++) {
        const rel = window[i];
        if (rel !== undefined && exclude(rel.index)) window[i] = undefined;
      }
    }
    const type = this.#groupBy === "auto" ? this.#cheaperGrouping() : this.#groupBy;
    if (type === "object") {
      const last = lastRel !== undefined ? this.#groups[this.#groups.length - 1] : undefined;
      const next = this.#next;
      const rels = this.#groupRels;
      for (const group of this.#groups) {
        let count = 0;
        for (let slot = group.first; slot >= 0; slot = next[slot] as number) {
          const rel = window[slot];
          if (rel !== undefined) rels[count++] = rel;
        }
        if (group === last && count * 2 < this.#windowSize) carried = rels.slice(0, count);
        else if (count > 0) this.#packer.addGroup("object", group.ref, rels, out, count);
      }
      // Nothing of this window stays reachable from the array (it regrows once per window, to the largest group).
      rels.length = 0;
    } else {
      const people = new Map<string, Relationship[]>();
      for (let i = 0; i < size; i++) {
        const rel = window[i];
        if (rel === undefined) continue;
        const key = personKey(rel.person);
        const rels = people.get(key);
        if (rels === undefined) people.set(key, [rel]);
        else rels.push(rel);
      }
      const last = lastRel !== undefined ? people.get(personKey(lastRel.person)) : undefined;
      for (const rels of people.values()) {
        if (rels === last && rels.length * 2 < this.#windowSize) carried = rels;
        else this.#packer.addGroup("person", (rels[0] as Relationship).person, rels, out);
      }
    }
    window.fill(undefined, 0, size);
    this.#size = 0;
    this.#groups = [];
    this.#people.clear();
    this.#byType.clear();
    this.#byCioId.clear();
    // Distinct pairs already: adding them again raises no duplicate, and they fill less than half the window.
    if (carried !== undefined) for (const rel of carried) this.add(rel);
  }

  /** `auto`: the grouping with fewer groups in this window; a tie goes to object. */
  #cheaperGrouping(): "object" | "person" {
    const window = this.#window;
    const next = this.#next;
    let objects = 0;
    for (const group of this.#groups) {
      for (let slot = group.first; slot >= 0; slot = next[slot] as number) {
        if (window[slot] !== undefined) {
          objects++;
          break;
        }
      }
    }
    // Counting people stops as soon as they are as many as the objects: object wins then.
    const people = new Set<string>();
    for (let i = 0; i < this.#size; i++) {
      const rel = window[i];
      if (rel === undefined) continue;
      people.add(personKey(rel.person));
      if (people.size >= objects) return "object";
    }
    return "person";
  }
}
