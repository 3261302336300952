import { describe, expect, it } from "vitest";
import type { AttributeValue, Relationship } from "../../src/model/types.js";
import { createPlanner, type PlannerOptions } from "../../src/plan/planner.js";
import { BATCH_HEAD, BATCH_TAIL, makeBatch, operationJson } from "../../src/plan/serialize.js";
import { MAX_BATCH_BYTES, MAX_OPERATION_BYTES, type Batch, type GroupBy, type Operation } from "../../src/plan/types.js";
import { batchesOf, checkBatches, prng, rel, relOf, run, sentLines } from "./helpers.js";

function plan(rels: readonly Relationship[], options: Partial<PlannerOptions> = {}) {
  const planner = createPlanner({ action: "add_relationships", groupBy: "object", ...options });
  const events = run(planner, rels);
  return { events, batches: batchesOf(events), stats: planner.stats() };
}

/** Total bytes of the operations as emitted. */
function operationBytes(batches: readonly Batch[]): number {
  return batches.reduce((sum, b) => sum + b.operations.reduce((s, op) => s + Buffer.byteLength(operationJson(op)), 0), 0);
}

/** issue 2's packing target for input sorted by the grouping key. */
function packingBound(batches: readonly Batch[]): number {
  return 1.02 * Math.ceil(operationBytes(batches) / MAX_BATCH_BYTES) + 1;
}

describe("packer: limits hold for random inputs (seeded)", () => {
  const alphabet = ["a", "b", "Z", "9", "é", "€", "😀", '"', "\\", "\u0001", " "];
  function text(rand: () => number, max: number): string {
    let s = "";
    const n = 1 + Math.floor(rand() * max);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    return s;
  }

  function randomRels(seed: number, count: number): Relationship[] {
    const rand = prng(seed);
    const objects = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => text(rand, 30));
    const people = Array.from({ length: 1 + Math.floor(rand() * 200) }, () => text(rand, 40));
    const rels: Relationship[] = [];
    for (let i = 0; i < count; i++) {
      const person = {
        key: (["id", "email", "cio_id"] as const)[Math.floor(rand() * 3)] ?? "id",
        value: people[Math.floor(rand() * people.length)] ?? "p",
      };
      const o = objects[Math.floor(rand() * objects.length)] ?? "o";
      const object = rand() < 0.2 ? { cioObjectId: o } : { typeId: String(1 + Math.floor(rand() * 3)), id: o };
      let attributes: Record<string, AttributeValue> | undefined;
      if (rand() < 0.6) {
        attributes = {};
        const n = Math.floor(rand() * 6);
        for (let k = 0; k < n; k++)
          attributes[text(rand, 10)] = rand() < 0.7 ? text(rand, rand() < 0.05 ? 900 : 40) : rand() < 0.5 ? rand() * 1000 : null;
      }
      rels.push(relOf(i + 2, person, object, attributes));
    }
    return rels;
  }

  const cases: [number, GroupBy, number, number, number][] = [];
  for (let seed = 1; seed <= 24; seed++) {
    const groupBy = (["object", "person", "auto"] as const)[seed % 3] ?? "object";
    // Small limits force many splits; every fourth case uses the real ones.
    const [maxOp, maxBatch] = seed % 4 === 0 ? [MAX_OPERATION_BYTES, MAX_BATCH_BYTES] : [600 + seed * 97, 2_000 + seed * 531];
    cases.push([seed, groupBy, maxOp, maxBatch, seed % 5 === 0 ? 7 : 500]);
  }

  it.each(cases)("seed %i, group by %s, op ≤ %i, batch ≤ %i, window %i", (seed, groupBy, maxOp, maxBatch, windowSize) => {
    const rels = randomRels(seed, seed % 4 === 0 ? 3000 : 800);
    const { events, batches, stats } = plan(rels, { groupBy, maxOperationBytes: maxOp, maxBatchBytes: maxBatch, windowSize });
    checkBatches(batches, maxBatch, maxOp);

    // Every relationship ends exactly once: sent, duplicate or invalid.
    const sent = sentLines(batches);
    const duplicates = events.flatMap((e) => (e.type === "duplicate" ? [e.relationship.line] : []));
    const invalid = events.flatMap((e) => (e.type === "invalid" ? [e.relationship.line] : []));
    const all = [...sent, ...duplicates, ...invalid].sort((a, b) => a - b);
    expect(all).toEqual(rels.map((r) => r.line));

    // Invalid only when the relationship cannot fit an operation on its own.
    for (const e of events) {
      if (e.type !== "invalid") continue;
      const op = e.relationship.object;
      const alone: Operation =
        groupBy === "person"
          ? { type: "person", action: "add_relationships", person: e.relationship.person, relationships: [e.relationship] }
          : { type: "object", action: "add_relationships", object: op, relationships: [e.relationship] };
      if (groupBy !== "auto") expect(Buffer.byteLength(operationJson(alone))).toBeGreaterThan(maxOp);
    }
    expect(stats).toEqual({
      relationships: sent.length,
      operations: batches.reduce((n, b) => n + b.operations.length, 0),
      batches: batches.length,
      bytes: batches.reduce((n, b) => n + b.bytes, 0),
    });
  });
});

describe("packer: exact edges", () => {
  const people = Array.from({ length: 10 }, (_, i) => rel(i + 2, `person-${i}`, "acme", { role: "member" }));
  const oneOp = makeBatch(0, [{ type: "object", action: "add_relationships", object: { typeId: "1", id: "acme" }, relationships: people }]);
  const opBytes = oneOp.bytes - BATCH_HEAD.length - BATCH_TAIL.length;

  it("an operation of exactly maxOperationBytes stays one operation", () => {
    const { batches } = plan(people, { maxOperationBytes: opBytes });
    expect(batches).toHaveLength(1);
    expect(batches[0]?.body.toString()).toBe(oneOp.body.toString());
  });

  it("one byte less splits it in two, both under the limit", () => {
    const { batches } = plan(people, { maxOperationBytes: opBytes - 1 });
    checkBatches(batches, MAX_BATCH_BYTES, opBytes - 1);
    expect(batches[0]?.operations.map((op) => op.relationships.length)).toEqual([9, 1]);
  });

  it("a body of exactly maxBatchBytes stays one batch; one byte less cuts the operation where the batch is full", () => {
    const globex = [rel(20, "a", "globex"), rel(21, "b", "globex"), rel(22, "c", "globex")];
    const both = makeBatch(0, [
      { type: "object", action: "add_relationships", object: { typeId: "1", id: "globex" }, relationships: globex },
      { type: "object", action: "add_relationships", object: { typeId: "1", id: "acme" }, relationships: people },
    ]);
    const limits = { maxOperationBytes: opBytes, maxBatchBytes: both.bytes };
    expect(plan([...globex, ...people], limits).batches.map((b) => b.body.toString())).toEqual([both.body.toString()]);
    const { batches } = plan([...globex, ...people], { ...limits, maxBatchBytes: both.bytes - 1 });
    checkBatches(batches, both.bytes - 1, opBytes);
    // acme's operation is closed at the room left and continues in the next batch.
    expect(batches.map((b) => b.operations.map((op) => op.relationships.length))).toEqual([[3, 9], [1]]);
  });

  it("a relationship too large for an operation on its own is invalid; the others are sent", () => {
    const big: Record<string, AttributeValue> = {};
    for (let i = 0; i < 40; i++) big[`attribute_${i}`] = "x".repeat(999);
    const { events, batches } = plan([rel(2, "1", "acme"), rel(3, "2", "acme", big), rel(4, "3", "acme")]);
    const invalid = events.filter((e) => e.type === "invalid");
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({
      relationship: { line: 3 },
      reason: expect.stringMatching(/^too large to send: its operation alone is 4\d{4} bytes; Customer.io allows at most 32000$/),
    });
    expect(sentLines(batches)).toEqual([2, 4]);
  });

  it("a relationship that exactly fits an operation alone is sent", () => {
    const head = makeBatch(0, [
      { type: "object", action: "add_relationships", object: { typeId: "1", id: "acme" }, relationships: [rel(2, "1", "acme", { v: "" })] },
    ]);
    const base = head.bytes - BATCH_HEAD.length - BATCH_TAIL.length;
    const fits = rel(2, "1", "acme", { v: "x".repeat(500) });
    expect(plan([fits], { maxOperationBytes: base + 500 }).batches).toHaveLength(1);
    expect(plan([fits], { maxOperationBytes: base + 499 }).events[0]?.type).toBe("invalid");
  });
});

describe("packer: near-optimal on sorted input", () => {
  /** user_id/account_id/role memberships, `perAccount` people per account, sorted by account. */
  function memberships(count: number, perAccount: number): Relationship[] {
    return Array.from({ length: count }, (_, i) =>
      rel(i + 2, String(100_000 + i), `account-${Math.floor(i / perAccount)}`, { role: i % perAccount === 0 ? "owner" : "member" }),
    );
  }

  it.each([
    ["10 people per account", 60_000, 10, "object" as const],
    ["5,000 people per account (ops cut at 32 KB)", 60_000, 5_000, "object" as const],
    ["one account (--object)", 40_000, 40_000, "auto" as const],
  ])("%s: batches ≤ 1.02 × ⌈op bytes / 500,000⌉ + 1, each full to within one relationship", (_name, count, perAccount, groupBy) => {
    const { batches } = plan(memberships(count, perAccount), { groupBy, windowSize: 7_000 });
    checkBatches(batches, MAX_BATCH_BYTES, MAX_OPERATION_BYTES);
    expect(batches.length).toBeLessThanOrEqual(packingBound(batches));
    expect(batches.length).toBeGreaterThan(2);
    // Every batch but the last is filled to within one relationship plus one operation head.
    for (const b of batches.slice(0, -1)) expect(b.bytes).toBeGreaterThan(MAX_BATCH_BYTES - 250);
  });

  it("person grouping of input sorted by person", () => {
    const rels = Array.from({ length: 40_000 }, (_, i) => rel(i + 2, `user-${Math.floor(i / 8)}`, `account-${i % 997}`));
    const { batches } = plan(rels, { groupBy: "person" });
    checkBatches(batches, MAX_BATCH_BYTES, MAX_OPERATION_BYTES);
    expect(batches[0]?.operations[0]?.type).toBe("person");
    expect(batches.length).toBeLessThanOrEqual(packingBound(batches));
    expect(sentLines(batches)).toHaveLength(40_000);
  });
});
