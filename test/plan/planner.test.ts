import { describe, expect, it } from "vitest";
import type { Relationship } from "../../src/model/types.js";
import { createPlanner, createWindowPlanner, type PlannerOptions } from "../../src/plan/planner.js";
import type { GroupBy } from "../../src/plan/types.js";
import { batchesOf, checkBatches, prng, rel, relOf, run, sentLines } from "./helpers.js";

const add = (options: Partial<PlannerOptions> = {}) => createPlanner({ action: "add_relationships", groupBy: "object", ...options });

/** The memberships fixture: user_id,account_id,role. */
const memberships = [
  rel(2, "1001", "acme", { role: "owner" }),
  rel(3, "1002", "acme", { role: "admin" }),
  rel(4, "1003", "acme", { role: "member" }),
  rel(5, "1004", "globex", { role: "owner" }),
  rel(6, "1005", "globex", { role: "member" }),
  rel(7, "1001", "globex", { role: "member" }),
  rel(8, "1006", "initech", { role: "owner" }),
  rel(9, "1007", "initech", { role: "member" }),
  rel(10, "1008", "initech", { role: "member, billing" }),
];

describe("planner: dedupe", () => {
  it("the same pair twice: the earlier row is a duplicate, the later row's attributes are sent in its place", () => {
    const events = run(add(), [rel(2, "1", "acme", { role: "a" }), rel(3, "2", "acme"), rel(4, "1", "acme", { role: "b" })]);
    expect(events.filter((e) => e.type === "duplicate")).toEqual([
      { type: "duplicate", relationship: rel(2, "1", "acme", { role: "a" }), supersededBy: 4 },
    ]);
    const [batch] = batchesOf(events);
    expect(batch?.operations[0]?.relationships).toEqual([rel(3, "2", "acme"), rel(4, "1", "acme", { role: "b" })]);
  });

  it("a chain of three: each earlier row is superseded by the next", () => {
    const events = run(add(), [rel(2, "1", "a"), rel(3, "1", "a"), rel(4, "1", "a")]);
    expect(events.flatMap((e) => (e.type === "duplicate" ? [[e.relationship.line, e.supersededBy]] : []))).toEqual([
      [2, 3],
      [3, 4],
    ]);
    expect(sentLines(batchesOf(events))).toEqual([4]);
  });

  it("the duplicate event comes out of add() at once", () => {
    const planner = add();
    expect(planner.add(rel(2, "1", "a"))).toEqual([]);
    expect(planner.add(rel(3, "1", "a"))).toEqual([{ type: "duplicate", relationship: rel(2, "1", "a"), supersededBy: 3 }]);
  });

  it.each([
    ["another person key with the same value", relOf(3, { key: "cio_id", value: "1" }, { typeId: "1", id: "a" })],
    ["another object type with the same id", relOf(3, { key: "id", value: "1" }, { typeId: "2", id: "a" })],
    ["a cio_object_id equal to the object id", relOf(3, { key: "id", value: "1" }, { cioObjectId: "a" })],
  ])("not a duplicate: %s", (_name, other) => {
    const events = run(add(), [rel(2, "1", "a"), other]);
    expect(events.some((e) => e.type === "duplicate")).toBe(false);
    expect(sentLines(batchesOf(events)).sort()).toEqual([2, 3]);
  });

  it("dedupes within large groups (one object, many people) too", () => {
    const rels = Array.from({ length: 100 }, (_, i) => rel(i + 2, String(i), "acme"));
    rels.push(rel(102, "3", "acme"), rel(103, "77", "acme"), rel(104, "3", "acme"));
    const events = run(add(), rels);
    expect(events.flatMap((e) => (e.type === "duplicate" ? [[e.relationship.line, e.supersededBy]] : []))).toEqual([
      [5, 102],
      [79, 103],
      [102, 104],
    ]);
    const lines = sentLines(batchesOf(events));
    expect(lines).toHaveLength(100);
    expect(lines.slice(-2)).toEqual([103, 104]);
  });

  it("pairs further apart than the window are both sent, in order", () => {
    const events = run(add({ windowSize: 2 }), [rel(2, "1", "a"), rel(3, "2", "a"), rel(4, "1", "a")]);
    expect(events.some((e) => e.type === "duplicate")).toBe(false);
    expect(sentLines(batchesOf(events))).toEqual([2, 3, 4]);
  });
});

/** What a windowed planner grouping by object must do, the slow and obvious way: a scan of the window for each row. */
function plainDedupe(rels: readonly Relationship[], windowSize: number, carry: boolean, exclude: (index: number) => boolean) {
  const duplicates: number[][] = [];
  const sent: number[] = [];
  type Held = { r: Relationship; object: string; person: string; live: boolean };
  let window: Held[] = [];
  let call = 0;
  const add = (r: Relationship): void => {
    const object = JSON.stringify(r.object);
    const person = JSON.stringify(r.person);
    const earlier = window.find((w) => w.live && w.object === object && w.person === person);
    if (earlier !== undefined) {
      if (!exclude(earlier.r.index)) duplicates.push([call, earlier.r.line, r.index]);
      earlier.live = false;
    }
    window.push({ r, object, person, live: true });
    if (window.length >= windowSize) flush(carry);
  };
  const flush = (carrying: boolean): void => {
    const held = window;
    window = [];
    // Groups in first-seen order, superseded rows included; the last one carries over when it is under half a window.
    const groups = new Map<string, Held[]>();
    for (const w of held) {
      const g = groups.get(w.object);
      if (g === undefined) groups.set(w.object, [w]);
      else g.push(w);
    }
    let carried: Relationship[] = [];
    [...groups.values()].forEach((g, i) => {
      const live = g.filter((w) => w.live && !exclude(w.r.index)).map((w) => w.r);
      if (carrying && i === groups.size - 1 && live.length * 2 < windowSize) carried = live;
      else sent.push(...live.map((r) => r.line));
    });
    for (const r of carried) add(r);
  };
  for (const r of rels) {
    add(r);
    call++;
  }
  flush(false);
  return { duplicates, sent };
}

/** Rows in runs of one object (1 to 60 rows: groups past and under any scan limit), people drawn from a few, some objects revisited. */
function runsOfObjects(seed: number, rows: number): Relationship[] {
  const random = prng(seed);
  const rels: Relationship[] = [];
  let object = 0;
  while (rels.length < rows) {
    const o = random() < 0.2 ? Math.floor(random() * (object + 1)) : ++object;
    const size = 1 + Math.floor(random() * 60);
    for (let i = 0; i < size && rels.length < rows; i++) {
      const line = rels.length + 2;
      const person = { key: random() < 0.1 ? ("email" as const) : ("id" as const), value: `p${Math.floor(random() * 30)}` };
      const ref = random() < 0.05 ? { cioObjectId: `o${o}` } : { typeId: random() < 0.1 ? "2" : "1", id: `o${o}` };
      rels.push(relOf(line, person, ref, { n: line }));
    }
  }
  return rels;
}

describe("planner: dedupe matches the plain rules", () => {
  const none = () => false;
  const everyFifth = (index: number) => index % 5 === 0;
  it.each([
    ["small windows, no carry", 7, false, none],
    ["windows of 50, carrying the last group", 50, true, none],
    ["windows of 1,000, carrying, with --resume exclusions", 1000, true, everyFifth],
    ["windows of 23, with --resume exclusions", 23, false, everyFifth],
  ])("%s", (_name, windowSize, carry, exclude) => {
    for (const seed of [1, 2, 3]) {
      const rels = runsOfObjects(seed, 3000);
      const planner = createWindowPlanner({ action: "add_relationships", groupBy: "object", windowSize, exclude });
      planner.configure("object", windowSize, carry);
      const duplicates: number[][] = [];
      const batches = [];
      for (const [call, r] of rels.entries()) {
        for (const e of planner.add(r)) {
          if (e.type === "duplicate") duplicates.push([call, e.relationship.line, e.supersededBy]);
          else if (e.type === "batch") batches.push(e.batch);
        }
      }
      batches.push(...batchesOf(planner.finish()));
      const expected = plainDedupe(rels, windowSize, carry, exclude);
      expect(duplicates.length).toBeGreaterThan(100);
      expect(duplicates).toEqual(expected.duplicates);
      expect(sentLines(batches)).toEqual(expected.sent);
    }
  });

  it("one window of everything (the in-memory whole grouping), grown from a small one", () => {
    const rels = runsOfObjects(4, 5000);
    const planner = createWindowPlanner({ action: "add_relationships", groupBy: "object", windowSize: 10 });
    planner.configure("object", Number.MAX_SAFE_INTEGER);
    const events = run(planner, rels);
    const expected = plainDedupe(rels, Number.MAX_SAFE_INTEGER, false, () => false);
    expect(events.flatMap((e) => (e.type === "duplicate" ? [[e.relationship.line, e.supersededBy]] : []))).toEqual(
      expected.duplicates.map(([, line, by]) => [line, by]),
    );
    expect(sentLines(batchesOf(events))).toEqual(expected.sent);
  });
});

describe("planner: exclude (--resume)", () => {
  it("drops excluded relationships instead of packing them", () => {
    const planner = add({ exclude: (line) => line % 2 === 0 });
    const events = run(planner, memberships);
    expect(sentLines(batchesOf(events))).toEqual([3, 5, 7, 9]);
    expect(planner.stats().relationships).toBe(4);
  });

  it("an excluded later row still supersedes an earlier one, and nothing is sent", () => {
    const events = run(add({ exclude: (line) => line === 3 }), [rel(2, "1", "a"), rel(3, "1", "a")]);
    expect(events).toEqual([{ type: "duplicate", relationship: rel(2, "1", "a"), supersededBy: 3 }]);
  });

  it("an excluded earlier row gives no event; the later row is sent", () => {
    const events = run(add({ exclude: (line) => line === 2 }), [rel(2, "1", "a"), rel(3, "1", "a")]);
    expect(events.filter((e) => e.type !== "batch")).toEqual([]);
    expect(sentLines(batchesOf(events))).toEqual([3]);
  });
});

describe("planner: grouping", () => {
  function shape(groupBy: GroupBy, rels = memberships, windowSize?: number) {
    const events = run(add({ groupBy, ...(windowSize ? { windowSize } : {}) }), rels);
    const ops = batchesOf(events).flatMap((b) => b.operations);
    return ops.map((op) => [op.type === "object" ? op.object : op.person, op.relationships.map((r) => r.line)]);
  }

  it("object: one operation per object, first-seen order, input order within", () => {
    expect(shape("object")).toEqual([
      [{ typeId: "1", id: "acme" }, [2, 3, 4]],
      [{ typeId: "1", id: "globex" }, [5, 6, 7]],
      [{ typeId: "1", id: "initech" }, [8, 9, 10]],
    ]);
  });

  it("person: one operation per person", () => {
    expect(shape("person")).toEqual([
      [{ key: "id", value: "1001" }, [2, 7]],
      [{ key: "id", value: "1002" }, [3]],
      [{ key: "id", value: "1003" }, [4]],
      [{ key: "id", value: "1004" }, [5]],
      [{ key: "id", value: "1005" }, [6]],
      [{ key: "id", value: "1006" }, [8]],
      [{ key: "id", value: "1007" }, [9]],
      [{ key: "id", value: "1008" }, [10]],
    ]);
  });

  it("auto: fewer groups wins, per window; a tie goes to object", () => {
    expect(shape("auto")).toEqual(shape("object"));
    const onePerson = [rel(2, "p", "a"), rel(3, "p", "b"), rel(4, "q", "c")];
    expect(shape("auto", onePerson)).toEqual(shape("person", onePerson));
    const tie = [rel(2, "p", "a"), rel(3, "q", "b")];
    expect(shape("auto", tie)).toEqual(shape("object", tie));
    // Window 1 (two rows of one person) goes by person, window 2 (one object) by object.
    const mixed = [rel(2, "p", "a"), rel(3, "p", "b"), rel(4, "q", "c"), rel(5, "r", "c")];
    expect(shape("auto", mixed, 2).map(([ref]) => ref)).toEqual([
      { key: "id", value: "p" },
      { typeId: "1", id: "c" },
    ]);
  });

  it("the open batch carries over window flushes", () => {
    const events = run(add({ windowSize: 2 }), memberships);
    const batches = batchesOf(events);
    expect(batches).toHaveLength(1);
    // Windows [2,3] [4,5] [6,7] [8,9] [10]: acme; acme, globex; globex; initech; initech.
    expect(batches[0]?.operations.map((op) => op.relationships.length)).toEqual([2, 1, 1, 2, 2, 1]);
  });

  it("person ops carry object identifiers; delete sends no attributes", () => {
    const planner = createPlanner({ action: "delete_relationships", groupBy: "person" });
    const [batch] = batchesOf(run(planner, [relOf(2, { key: "email", value: "a@b.co" }, { cioObjectId: "c1" }, { r: 1 }), rel(3, "1", "x")]));
    expect(JSON.parse(batch?.body.toString() ?? "")).toEqual({
      batch: [
        {
          type: "person",
          identifiers: { email: "a@b.co" },
          action: "delete_relationships",
          cio_relationships: [{ identifiers: { cio_object_id: "c1" } }],
        },
        {
          type: "person",
          identifiers: { id: "1" },
          action: "delete_relationships",
          cio_relationships: [{ identifiers: { object_type_id: "1", object_id: "x" } }],
        },
      ],
    });
  });
});

describe("planner: stats and misc", () => {
  it("stats add up to what was emitted", () => {
    const planner = add();
    const batches = batchesOf(run(planner, memberships));
    checkBatches(batches, 500_000, 32_000);
    expect(planner.stats()).toEqual({
      relationships: 9,
      operations: 3,
      batches: 1,
      bytes: Buffer.byteLength(batches[0]?.body ?? ""),
    });
  });

  it("no input, no batches", () => {
    const planner = add();
    expect(run(planner, [])).toEqual([]);
    expect(planner.stats()).toEqual({ relationships: 0, operations: 0, batches: 0, bytes: 0 });
  });

  it("rejects limits that cannot work", () => {
    expect(() => add({ windowSize: 0 })).toThrow(RangeError);
    expect(() => add({ maxBatchBytes: 1000, maxOperationBytes: 995 })).toThrow(RangeError);
  });
});

describe("planner: memory stays bounded by bytes as well as rows", () => {
  it("a window of heavy relationships flushes before it reaches windowSize", () => {
    const planner = add({ windowSize: 1_000_000 });
    const heavy = "x".repeat(20_000);
    let emittedDuringAdd = 0;
    let firstBatchAt = -1;
    for (let i = 0; i < 1000; i++) {
      const events = planner.add(rel(i + 2, `p${i}`, `acct-${i}`, { note: heavy }));
      const batches = events.filter((e) => e.type === "batch").length;
      if (batches > 0 && firstBatchAt < 0) firstBatchAt = i;
      emittedDuringAdd += batches;
    }
    // 16 MB of window at ≈ 20 KB per relationship: the first flush comes after ≈ 800 rows, not 1,000,000.
    expect(firstBatchAt).toBeGreaterThan(700);
    expect(firstBatchAt).toBeLessThan(900);
    expect(emittedDuringAdd).toBeGreaterThan(0);
    planner.finish();
    expect(planner.stats().relationships).toBe(1000);
  });
});
