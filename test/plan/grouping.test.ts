import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JsonNumber, type Row } from "../../src/input/types.js";
import type { Relationship } from "../../src/model/types.js";
import { createGroupingPlanner, type GroupingOptions, type GroupingPlanner, type SpillStore } from "../../src/plan/grouping.js";
import { createPlanner } from "../../src/plan/planner.js";
import { operationJson } from "../../src/plan/serialize.js";
import type { Operation, PlanEvent } from "../../src/plan/types.js";
import { openTempStore } from "../../src/spill/temp-store.js";
import { batchesOf, checkBatches, prng, rel, relOf } from "./helpers.js";

/** A store in memory that counts what it is asked, and can be told to fail after n appends. */
class MemoryStore implements SpillStore {
  readonly parts = new Map<number, Buffer[]>();
  appends = 0;
  closed = 0;
  dropped = new Set<number>();
  constructor(readonly failAfter = Infinity) {}
  append(partition: number, bytes: Uint8Array): void {
    if (this.appends >= this.failAfter) throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    this.appends++;
    const list = this.parts.get(partition) ?? [];
    list.push(Buffer.from(bytes));
    this.parts.set(partition, list);
  }
  read(partition: number, position: number, into: Buffer, offset: number, length: number): number {
    const all = Buffer.concat(this.parts.get(partition) ?? []);
    const n = Math.max(0, Math.min(length, all.length - position));
    all.copy(into, offset, position, position + n);
    return n;
  }
  drop(partition: number): void {
    this.dropped.add(partition);
    this.parts.delete(partition);
  }
  close(): void {
    this.closed++;
  }
  get bytes(): number {
    let n = 0;
    for (const l of this.parts.values()) for (const b of l) n += b.length;
    return n;
  }
}

const MAX_BATCH = 4_000;
const MAX_OP = 2_000;

/** Options that make a few hundred relationships decide, spill and reach the store. */
function tiny(store: SpillStore | undefined, extra: Partial<GroupingOptions> = {}): GroupingOptions {
  return {
    action: "add_relationships",
    groupBy: "auto",
    windowSize: 50,
    maxBatchBytes: MAX_BATCH,
    maxOperationBytes: MAX_OP,
    decideAfter: 50,
    memoryBytes: 2_000,
    partitions: 8,
    ...(store !== undefined ? { openStore: () => store } : {}),
    ...extra,
  };
}

/** Everything a grouping planner emits for these relationships (rows optional), in order. */
async function runAll(planner: GroupingPlanner, rels: readonly Relationship[], rows?: Map<number, Row>): Promise<PlanEvent[]> {
  const events: PlanEvent[] = [];
  for (const r of rels) events.push(...planner.add(r, rows?.get(r.index)));
  for await (const evs of planner.finish()) events.push(...evs);
  return events;
}

/** Memberships: `accounts` objects of 1..maxPer people, people shared among accounts, with a role; sorted by account. */
function memberships(accounts: number, maxPer: number, seed = 1): Relationship[] {
  const rand = prng(seed);
  const out: Relationship[] = [];
  for (let a = 0; a < accounts; a++) {
    const n = 1 + Math.floor(rand() * maxPer);
    const people = new Set<number>();
    while (people.size < n) people.add(Math.floor(rand() * accounts * 3));
    for (const p of people) out.push(rel(out.length + 2, `u${p}`, `acct-${a}`, { role: rand() < 0.7 ? "member" : "admin" }));
  }
  return out;
}

function shuffled<T>(items: readonly T[], seed = 9): T[] {
  const rand = prng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** The true optimum, computed apart from the planner: every object's (or person's) relationships in one operation stream. */
function optimum(rels: readonly Relationship[], maxBatch = MAX_BATCH): number {
  const cost = (type: "object" | "person"): number => {
    const groups = new Map<string, Relationship[]>();
    for (const r of rels) {
      const k = type === "object" ? JSON.stringify(r.object) : JSON.stringify(r.person);
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    let bytes = 0;
    for (const g of groups.values()) {
      const first = g[0] as Relationship;
      const op: Operation =
        type === "object"
          ? { type, action: "add_relationships", object: first.object, relationships: g }
          : { type, action: "add_relationships", person: first.person, relationships: g };
      bytes += Buffer.byteLength(operationJson(op)) + 1;
    }
    return bytes;
  };
  return Math.ceil(Math.min(cost("object"), cost("person")) / maxBatch);
}

/** Row.index of every relationship in the batches, sorted. */
function sentIndexes(events: readonly PlanEvent[]): number[] {
  return batchesOf(events)
    .flatMap((b) => b.operations.flatMap((op) => op.relationships.map((r) => r.index)))
    .sort((a, b) => a - b);
}

describe("grouping planner: any order packs like sorted", () => {
  const rels = memberships(120, 12);

  it.each([
    ["sorted by object", rels, "stream"],
    ["shuffled", shuffled(rels), "spill"],
    ["reversed", [...rels].reverse(), "stream"],
  ])("%s: requests within 1.02 × the true optimum + 1, every relationship once", async (_name, input, mode) => {
    const store = new MemoryStore();
    const planner = createGroupingPlanner(tiny(store));
    const events = await runAll(planner, input);
    const batches = batchesOf(events);
    checkBatches(batches, MAX_BATCH, MAX_OP);
    expect(sentIndexes(events)).toEqual(rels.map((r) => r.index));
    expect(batches.length).toBeLessThanOrEqual(1.02 * optimum(rels) + 1);
    expect(planner.grouping().mode).toBe(mode);
    expect(store.closed).toBe(mode === "spill" ? 1 : 0);
  });

  it("the windowed planner alone packs the shuffled input far from the optimum (what the spill fixes)", () => {
    const planner = createPlanner({
      action: "add_relationships",
      groupBy: "auto",
      windowSize: 50,
      maxBatchBytes: MAX_BATCH,
      maxOperationBytes: MAX_OP,
    });
    const events: PlanEvent[] = [];
    for (const r of shuffled(rels)) events.push(...planner.add(r));
    events.push(...planner.finish());
    expect(batchesOf(events).length).toBeGreaterThan(1.2 * optimum(rels));
  });

  it("a spill larger than memoryBytes goes to the store, one partition at a time, each dropped once read", async () => {
    const store = new MemoryStore();
    const planner = createGroupingPlanner(tiny(store));
    await runAll(planner, shuffled(rels));
    expect(store.appends).toBeGreaterThan(0);
    expect(planner.grouping().spilledBytes).toBeGreaterThan(2_000);
    expect(store.parts.size).toBe(0);
    expect(store.dropped.size).toBeGreaterThan(1);
  });

  it("an input known to be larger than memoryBytes spills to the store from its first record, held in memory by none", async () => {
    const store = new MemoryStore();
    const appended: number[] = [];
    const planner = createGroupingPlanner(
      tiny(undefined, {
        memoryBytes: 1_000_000,
        inputBytes: 2_000_000,
        openStore: () => {
          appended.push(store.appends);
          return store;
        },
      }),
    );
    const events = await runAll(planner, shuffled(rels));
    // The store opened at the first partition flush, and took every spilled byte.
    expect(appended).toEqual([0]);
    expect(planner.grouping()).toMatchObject({ mode: "spill" });
    expect(planner.grouping().spilledBytes).toBeGreaterThan(0);
    expect(batchesOf(events).length).toBeLessThanOrEqual(1.02 * optimum(rels) + 1);
    const small = createGroupingPlanner(tiny(undefined, { memoryBytes: 1_000_000, inputBytes: 900_000, openStore: () => new MemoryStore() }));
    await runAll(small, shuffled(rels));
    expect(small.grouping().spilledBytes).toBe(0);
  });

  it("a spill within memoryBytes never opens the store", async () => {
    let opened = 0;
    const planner = createGroupingPlanner(
      tiny(undefined, {
        memoryBytes: 1_000_000,
        openStore: () => {
          opened++;
          return new MemoryStore();
        },
      }),
    );
    const events = await runAll(planner, shuffled(rels));
    expect(opened).toBe(0);
    expect(planner.grouping()).toMatchObject({ mode: "spill", spilledBytes: 0 });
    expect(batchesOf(events).length).toBeLessThanOrEqual(1.02 * optimum(rels) + 1);
  });

  it("an input smaller than decideAfter is grouped whole in memory", async () => {
    const few = shuffled(memberships(10, 6, 3));
    const planner = createGroupingPlanner(tiny(new MemoryStore(), { decideAfter: 10_000, windowSize: 10_000 }));
    const events = await runAll(planner, few);
    expect(planner.grouping().mode).toBe("memory");
    expect(batchesOf(events).length).toBe(optimum(few));
  });

  // What was streamed before the watch noticed is packed as streamed (it may be sent already); the rest is grouped whole.
  const many = memberships(1_500, 3, 5);
  const half = Math.floor(many.length / 2);
  it.each([
    ["sorted, then shuffled", [...many.slice(0, half), ...shuffled(many.slice(half))]],
    ["two sorted halves (two sorted exports, one after the other)", [...many].sort((a, b) => (a.index % 2) - (b.index % 2) || a.index - b.index)],
  ])("%s: the order watch notices and spills the rest, which packs like sorted", async (_name, input) => {
    const planner = createGroupingPlanner(tiny(new MemoryStore()));
    const events = await runAll(planner, input);
    const { mode, spilled } = planner.grouping();
    expect(mode).toBe("spill");
    expect(spilled).toBeGreaterThan(input.length / 3);
    expect(sentIndexes(events)).toEqual(many.map((r) => r.index));
    const streamed = input.slice(0, input.length - spilled);
    const rest = input.slice(input.length - spilled);
    expect(batchesOf(events).length).toBeLessThanOrEqual(1.02 * (optimum(streamed) + optimum(rest)) + 2);
  });

  it("--group-by auto: many objects of one person each, shuffled, are partitioned by person", async () => {
    const rand = prng(4);
    const input: Relationship[] = [];
    for (let i = 0; i < 600; i++) input.push(rel(i + 2, `p${Math.floor(rand() * 8)}`, `obj-${i}`));
    const planner = createGroupingPlanner(tiny(new MemoryStore()));
    const events = await runAll(planner, input);
    expect(planner.grouping()).toMatchObject({ mode: "spill", partitionedBy: "person" });
    expect(batchesOf(events).every((b) => b.operations.every((op) => op.type === "person"))).toBe(true);
    expect(batchesOf(events).length).toBeLessThanOrEqual(1.02 * optimum(input) + 1);
  });

  it.each(["object", "person"] as const)("--group-by %s is kept when spilling", async (groupBy) => {
    const planner = createGroupingPlanner(tiny(new MemoryStore(), { groupBy }));
    const events = await runAll(planner, shuffled(rels));
    expect(planner.grouping()).toMatchObject({ mode: "spill", partitionedBy: groupBy });
    expect(batchesOf(events).every((b) => b.operations.every((op) => op.type === groupBy))).toBe(true);
  });

  it("windowOnly plans exactly as the windowed planner does (no hold, no spill)", async () => {
    const input = shuffled(rels);
    const planner = createGroupingPlanner(tiny(new MemoryStore(), { windowOnly: true }));
    const events = await runAll(planner, input);
    const windowed = createPlanner({
      action: "add_relationships",
      groupBy: "auto",
      windowSize: 50,
      maxBatchBytes: MAX_BATCH,
      maxOperationBytes: MAX_OP,
    });
    const expected: PlanEvent[] = [];
    for (const r of input) expected.push(...windowed.add(r));
    expected.push(...windowed.finish());
    expect(batchesOf(events).map((b) => b.body)).toEqual(batchesOf(expected).map((b) => b.body));
    expect(planner.grouping().mode).toBe("stream");
  });
});

describe("grouping planner: what settlement needs survives the spill", () => {
  it("duplicates: the later row of a pair wins wherever the rows are, the earlier is a duplicate of it", async () => {
    const base = shuffled(memberships(80, 8, 2));
    const n = base.length;
    // Repeat three pairs far apart, with other roles.
    const repeats = [base[3], base[40], base[n - 10]].map((r, i) =>
      rel(n + 10 + i, (r as Relationship).person.value, ((r as Relationship).object as { id: string }).id, { role: `late-${i}` }),
    );
    const input = [...base.slice(0, n - 5), ...repeats, ...base.slice(n - 5)];
    for (const storeless of [false, true]) {
      const planner = createGroupingPlanner(storeless ? tiny(undefined, { memoryBytes: 1e9 }) : tiny(new MemoryStore()));
      const events = await runAll(planner, input);
      expect(planner.grouping().mode).toBe("spill");
      const dups = events.flatMap((e) => (e.type === "duplicate" ? [[e.relationship.index, e.supersededBy]] : [])).sort((a, b) => a[0]! - b[0]!);
      expect(dups).toEqual([3, 40, n - 10].map((i, k) => [(base[i] as Relationship).index, n + 10 + k]).sort((a, b) => a[0]! - b[0]!));
      const sent = batchesOf(events).flatMap((b) => b.operations.flatMap((op) => op.relationships));
      for (const [k, r] of repeats.entries()) {
        const same = sent.filter((s) => s.person.value === r.person.value && "id" in s.object && "id" in r.object && s.object.id === r.object.id);
        expect(same.map((s) => s.attributes)).toEqual([{ role: `late-${k}` }]);
      }
      expect(sent.length + dups.length).toBe(input.length);
    }
  });

  it("--resume: excluded rows take part in dedupe but are neither sent nor reported", async () => {
    const input = shuffled(memberships(60, 6, 8));
    const excluded = new Set(input.filter((_, i) => i % 3 === 0).map((r) => r.index));
    // As the pipeline does: each resumed row is answered once (it forgets it then), so nothing waits in memory.
    const pending = new Set(excluded);
    const planner = createGroupingPlanner(tiny(new MemoryStore(), { exclude: (i) => pending.delete(i) }));
    const events = await runAll(planner, input);
    expect(sentIndexes(events)).toEqual(
      input
        .map((r) => r.index)
        .filter((i) => !excluded.has(i))
        .sort((a, b) => a - b),
    );
    expect(events.some((e) => e.type !== "batch")).toBe(false);
    expect(planner.grouping().mode).toBe("spill");
    expect(pending.size).toBe(0);
  });

  it("input rows come back with their relationships (JSON numbers, nesting, unicode), for the failures file", async () => {
    const input = shuffled(memberships(60, 6, 6));
    const rows = new Map<number, Row>();
    for (const r of input) {
      rows.set(r.index, {
        index: r.index,
        line: r.line,
        fields: {
          user_id: r.person.value,
          account_id: (r.object as { id: string }).id,
          big: new JsonNumber("12345678901234567890", 12345678901234567000),
          note: { ü: [1, null, "x"] },
        },
      });
    }
    const planner = createGroupingPlanner(tiny(new MemoryStore()));
    const events = await runAll(planner, input, rows);
    expect(planner.grouping().mode).toBe("spill");
    const sent = batchesOf(events).flatMap((b) => b.operations.flatMap((op) => op.relationships));
    expect(sent).toHaveLength(input.length);
    for (const r of sent) {
      const row = planner.rowOf(r);
      expect(row).toEqual(rows.get(r.index));
      expect(row?.fields.big).toBeInstanceOf(JsonNumber);
    }
  });

  it("relationships with every identifier shape and non-ASCII text come back byte for byte", async () => {
    const input: Relationship[] = [];
    for (let i = 0; i < 300; i++) {
      const person = [
        { key: "id", value: `ü${i % 37}` },
        { key: "email", value: `p${i % 23}@例え.jp` },
        { key: "cio_id", value: `c${i % 11}` },
      ][i % 3] as Relationship["person"];
      const object = i % 4 === 0 ? { cioObjectId: `co-${i % 13}` } : { typeId: String(1 + (i % 2)), id: `ob ${i % 29} "q"` };
      input.push(relOf(i + 2, person, object, i % 5 === 0 ? undefined : { role: `r${i % 3}`, n: i % 7, ok: i % 2 === 0, gone: null }));
    }
    const planner = createGroupingPlanner(tiny(new MemoryStore()));
    const events = await runAll(planner, shuffled(input));
    const sent = batchesOf(events).flatMap((b) => b.operations.flatMap((op) => op.relationships));
    const byIndex = new Map(sent.map((r) => [r.index, r]));
    const dupIndexes = new Set(events.flatMap((e) => (e.type === "duplicate" ? [e.relationship.index] : [])));
    for (const r of input) if (!dupIndexes.has(r.index)) expect(byIndex.get(r.index)).toEqual(r);
    expect(sent.length + dupIndexes.size).toBe(input.length);
  });
});

describe("grouping planner: failures and clean-up", () => {
  it("a store that fails (a full disk) is told once; every relationship is still planned from memory", async () => {
    const store = new MemoryStore(2);
    const errors: unknown[] = [];
    const input = shuffled(memberships(120, 12));
    const planner = createGroupingPlanner(tiny(store, { onSpillError: (e) => errors.push(e) }));
    const events = await runAll(planner, input);
    expect(errors).toHaveLength(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("ENOSPC");
    expect(sentIndexes(events)).toEqual(input.map((r) => r.index).sort((a, b) => a - b));
    expect(store.closed).toBe(1);
  });

  it("a store that cannot be opened is told once; nothing is lost", async () => {
    const errors: unknown[] = [];
    const input = shuffled(memberships(120, 12));
    const planner = createGroupingPlanner(
      tiny(undefined, {
        openStore: () => {
          throw new Error("EACCES");
        },
        onSpillError: (e) => errors.push(e),
      }),
    );
    const events = await runAll(planner, input);
    expect(errors).toHaveLength(1);
    expect(sentIndexes(events)).toEqual(input.map((r) => r.index).sort((a, b) => a - b));
  });

  it("finish() abandoned part-way (an error downstream) still closes the store", async () => {
    const store = new MemoryStore();
    const planner = createGroupingPlanner(tiny(store));
    for (const r of shuffled(memberships(120, 12))) planner.add(r);
    for await (const _ of planner.finish()) break;
    expect(store.closed).toBe(1);
    planner.close();
    expect(store.closed).toBe(1);
  });

  describe("temporary files", () => {
    let parent: string;
    afterEach(() => rmSync(parent, { recursive: true, force: true }));

    it("live in a private folder (0700, files 0600) under the given parent, and are all gone after finish", async () => {
      parent = mkdtempSync(join(tmpdir(), "grouping-test-"));
      const seen: { dirMode: number; fileModes: number[] }[] = [];
      let dir = "";
      const planner = createGroupingPlanner(
        tiny(undefined, {
          openStore: () => {
            const store = openTempStore(parent);
            dir = store.dir;
            return store;
          },
        }),
      );
      const input = shuffled(memberships(120, 12));
      for (const r of input) planner.add(r);
      const gen = planner.finish();
      const first = await gen.next();
      expect(first.done).toBe(false);
      seen.push({
        dirMode: statSync(dir).mode & 0o777,
        fileModes: readdirSync(dir).map((f) => statSync(join(dir, f)).mode & 0o777),
      });
      const events: PlanEvent[] = [...((first.value as readonly PlanEvent[] | undefined) ?? [])];
      for await (const evs of gen) events.push(...evs);
      expect(seen[0]?.dirMode).toBe(0o700);
      expect(seen[0]?.fileModes.length).toBeGreaterThan(0);
      expect(new Set(seen[0]?.fileModes)).toEqual(new Set([0o600]));
      expect(readdirSync(parent)).toEqual([]);
      expect(sentIndexes(events)).toEqual(input.map((r) => r.index).sort((a, b) => a - b));
    });

    it("a parent folder that does not exist is an output error naming it", () => {
      parent = mkdtempSync(join(tmpdir(), "grouping-test-"));
      expect(() => openTempStore(join(parent, "missing"))).toThrow(/cannot write a temporary folder in .*missing: no such file or folder/);
    });
  });
});

describe("grouping planner: a spilled partition packs exactly as the whole input grouped in memory", () => {
  /** Relationships with every identifier shape, repeats of pairs (some far apart), non-ASCII text and attributes. */
  function mixed(n: number, seed: number, distinctAttributes = 5): Relationship[] {
    const rand = prng(seed);
    const out: Relationship[] = [];
    for (let i = 0; i < n; i++) {
      const k = Math.floor(rand() * 40);
      const person = [
        { key: "id", value: `ü${k}` },
        { key: "email", value: `p${k % 9}@例え.jp` },
        { key: "cio_id", value: `c${k % 7}` },
        { key: "id", value: `plain-${k}` },
      ][k % 4] as Relationship["person"];
      const o = Math.floor(rand() * 25);
      const object = o % 5 === 0 ? { cioObjectId: `co-${o}` } : { typeId: String(1 + (o % 2)), id: `ob ${o} "q" ${"ß".repeat(o % 3)}` };
      const attributes = rand() < 0.2 ? undefined : { role: `r${Math.floor(rand() * distinctAttributes)}`, n: o % 7 };
      out.push(relOf(i + 2, person, object, attributes));
    }
    return out;
  }

  /** What a plan says: bodies in order, duplicates and invalid rows as sets. */
  function summary(events: readonly PlanEvent[]): { bodies: string[]; duplicates: number[][]; invalid: number[] } {
    return {
      bodies: batchesOf(events).map((b) => b.body.toString()),
      duplicates: events.flatMap((e) => (e.type === "duplicate" ? [[e.relationship.index, e.supersededBy]] : [])).sort((a, b) => a[0]! - b[0]!),
      invalid: events.flatMap((e) => (e.type === "invalid" ? [e.relationship.index] : [])).sort((a, b) => a - b),
    };
  }

  it.each([
    ["by object", "object", mixed(600, 1), false],
    ["by person", "person", mixed(600, 2), false],
    ["by object, --resume excluding every third row", "object", mixed(600, 3), true],
    ["by person, --resume excluding every third row", "person", mixed(600, 4), true],
    ["by object, more distinct attributes than the table takes by id", "object", mixed(4_500, 5, 5_000), false],
  ] as const)("%s", async (_name, groupBy, input, resume) => {
    const rows = new Map<number, Row>(
      input.map((r) => [r.index, { index: r.index, line: r.line, fields: { n: new JsonNumber("1.50", 1.5), p: r.person.value } }]),
    );
    const excluded = new Set(resume ? input.filter((_, i) => i % 3 === 0).map((r) => r.index) : []);
    const plan = async (options: Partial<GroupingOptions>): Promise<{ events: PlanEvent[]; planner: GroupingPlanner }> => {
      const pending = new Set(excluded);
      const planner = createGroupingPlanner(
        tiny(new MemoryStore(), { groupBy, ...(resume ? { exclude: (i: number) => pending.delete(i) } : {}), ...options }),
      );
      return { events: await runAll(planner, input, rows), planner };
    };
    const spilled = await plan({ partitions: 1 });
    const whole = await plan({ decideAfter: 1e9 });
    expect(spilled.planner.grouping().mode).toBe("spill");
    expect(whole.planner.grouping().mode).toBe("memory");
    const s = summary(spilled.events);
    expect(s).toEqual(summary(whole.events));
    expect(s.duplicates.length).toBeGreaterThan(10);
    // Every row once: sent, a duplicate, or excluded; the sent ones with their input rows for the failures file.
    const sent = batchesOf(spilled.events).flatMap((b) => b.operations.flatMap((op) => op.relationships));
    expect(sent.length + s.duplicates.length + excluded.size).toBe(input.length);
    for (const r of sent) expect(spilled.planner.rowOf(r)).toEqual(rows.get(r.index));
    for (const e of spilled.events) if (e.type === "duplicate") expect(spilled.planner.rowOf(e.relationship)).toEqual(rows.get(e.relationship.index));
    // And over many partitions, every row still ends once.
    const parted = await plan({});
    const p = summary(parted.events);
    expect(p.duplicates).toEqual(s.duplicates);
    expect(sentIndexes(parted.events)).toEqual(sent.map((r) => r.index).sort((a, b) => a - b));
  });
});
