import { describe, expect, it } from "vitest";
import type { Action, Relationship } from "../../src/model/types.js";
import { encodeBatch, encodeOperation, trackEncoder } from "../../src/plan/encoder.js";
import { Packer } from "../../src/plan/packer.js";
import { createPlanner } from "../../src/plan/planner.js";
import { groupCall, pipelinesEncoder, pipelinesReject, relationshipDeletedCall } from "../../src/plan/pipelines-encoder.js";
import { makeBatch, operationJson, relationshipJson } from "../../src/plan/serialize.js";
import type { Batch, Operation, PlanEvent } from "../../src/plan/types.js";
import { batchesOf, prng, rel, relOf, run, sentLines } from "./helpers.js";

const ADD: Action = "add_relationships";
const DELETE: Action = "delete_relationships";

/** Every call of a Data Pipelines body, parsed. */
function calls(b: Batch): Record<string, unknown>[] {
  return (JSON.parse(b.body.toString()) as { batch: Record<string, unknown>[] }).batch;
}

describe("trackEncoder", () => {
  // The packer's fast path (issue 16) writes a relationship's bytes without its JSON string: the same bytes, or -1.
  it.each([
    ["plain id", { key: "id", value: "u42" }, { role: "admin" }],
    ["no attributes", { key: "id", value: "u42" }, undefined],
    ["empty attributes", { key: "email", value: "a@b.co" }, {}],
    ["cio_id, several attributes", { key: "cio_id", value: "c-1" }, { role: "x", n: 1.5, ok: true, gone: null }],
    ["DEL and tilde", { key: "id", value: "a\u007f~" }, { r: "ü" }],
    ["a quote", { key: "id", value: 'say "hi"' }, undefined],
    ["a backslash", { key: "id", value: "a\\b" }, undefined],
    ["a control character", { key: "id", value: "a\u0001b" }, undefined],
    ["a tab", { key: "id", value: "a\tb" }, undefined],
    ["non-ASCII", { key: "id", value: "ü-例え" }, undefined],
    ["a lone surrogate", { key: "id", value: "a\ud800" }, undefined],
    ["empty", { key: "id", value: "" }, { role: "m" }],
  ] as const)("writeRelationship: %s", (_name, person, attributes) => {
    const r = relOf(1, person, { typeId: "1", id: "acme" }, attributes);
    for (const action of [ADD, DELETE]) {
      for (const type of ["object", "person"] as const) {
        const json = relationshipJson(type, action, r);
        const buf = Buffer.alloc(1_000, 0xee);
        const n = (trackEncoder.writeRelationship as NonNullable<typeof trackEncoder.writeRelationship>)(type, action, r, buf, 7, 1_000);
        if (n >= 0) expect(buf.subarray(7, 7 + n).toString()).toBe(json);
        // The fast path takes the usual rows: object operations of printable ASCII ids.
        const plain = type === "object" && /^[\x20-\x7f]*$/.test(person.value) && !/["\\]/.test(person.value);
        expect(n >= 0).toBe(plain);
        // Past the limit it writes nothing that counts.
        expect(
          (trackEncoder.writeRelationship as NonNullable<typeof trackEncoder.writeRelationship>)(
            type,
            action,
            r,
            buf,
            7,
            Buffer.byteLength(json) - 1,
          ),
        ).toBe(-1);
      }
    }
  });

  it("writes exactly serialize.ts's Track JSON, for both groupings and both actions", () => {
    const ops: Operation[] = [
      {
        type: "object",
        action: ADD,
        object: { typeId: "2", id: "acme" },
        relationships: [rel(1, "42", "acme", { role: "admin" }), rel(2, "43", "acme")],
      },
      {
        type: "person",
        action: ADD,
        person: { key: "email", value: "a@b.co" },
        relationships: [relOf(3, { key: "email", value: "a@b.co" }, { cioObjectId: "c1" }, { seat: 3, gone: null })],
      },
    ];
    for (const op of ops) expect(encodeOperation(trackEncoder, op)).toBe(operationJson(op));
    expect(encodeBatch(trackEncoder, 7, ops)).toEqual(makeBatch(7, ops));
    const deletes = ops.map((op) => ({ ...op, action: DELETE }));
    expect(encodeBatch(trackEncoder, 0, deletes).body.toString()).toBe(makeBatch(0, deletes).body.toString());
  });

  it("refuses no row: Track takes every identifier", () => {
    for (const p of [
      { key: "id", value: "1" },
      { key: "email", value: "a@b.co" },
      { key: "cio_id", value: "c" },
    ] as const) {
      expect(trackEncoder.reject(relOf(1, p, { cioObjectId: "x" }), ADD)).toBeUndefined();
      expect(trackEncoder.reject(relOf(1, p, { typeId: "1", id: "x" }), DELETE)).toBeUndefined();
    }
  });
});

describe("pipelinesEncoder: calls", () => {
  it("adds with one group call in the relationships doc's form: userId, groupId, top-level objectTypeId, context.relationshipTraits", () => {
    const r = { ...rel(1, "42", "acme", { role: "admin", seat: 3, trial: false, gone: null }), object: { typeId: "2", id: "acme" } };
    expect(JSON.parse(groupCall(r))).toEqual({
      type: "group",
      userId: "42",
      groupId: "acme",
      objectTypeId: "2",
      context: { relationshipTraits: { role: "admin", seat: 3, trial: false, gone: null } },
    });
    expect(pipelinesEncoder.relationshipJson("object", ADD, r)).toBe(groupCall(r));
  });

  it.each([
    ["no attributes", undefined],
    ["an empty attributes map", {}],
  ])("sends no context for %s", (_what, attributes) => {
    const r = rel(1, "42", "acme", attributes);
    expect(JSON.parse(pipelinesEncoder.relationshipJson("person", ADD, r))).toEqual({
      type: "group",
      userId: "42",
      groupId: "acme",
      objectTypeId: "1",
    });
  });

  it("removes with a track call: event Relationship Deleted, userId, properties {objectId, objectTypeId as an integer}; attributes are not sent", () => {
    const r = { ...rel(1, "42", "acme", { role: "admin" }), object: { typeId: "17", id: "acme" } };
    expect(JSON.parse(relationshipDeletedCall(r))).toEqual({
      type: "track",
      event: "Relationship Deleted",
      userId: "42",
      properties: { objectId: "acme", objectTypeId: 17 },
    });
    expect(pipelinesEncoder.relationshipJson("object", DELETE, r)).toBe(relationshipDeletedCall(r));
  });

  it("writes ids exactly: quotes, backslashes, unicode and lone surrogates survive JSON", () => {
    for (const id of ['a"b', "c\\d", "ünï 🚀", "line\nbreak", "\u2028"]) {
      const r = relOf(1, { key: "id", value: id }, { typeId: "1", id: `o-${id}` });
      expect(JSON.parse(groupCall(r as Relationship & { object: { typeId: string; id: string } }))).toMatchObject({ userId: id, groupId: `o-${id}` });
      expect(JSON.parse(pipelinesEncoder.relationshipJson("object", DELETE, r))).toMatchObject({ userId: id, properties: { objectId: `o-${id}` } });
    }
  });
});

describe("pipelinesEncoder: rows the route cannot carry", () => {
  it.each([
    ["email", ADD, { key: "email", value: "a@b.co" }, { typeId: "1", id: "acme" }, /person given by email .* --via track/],
    ["email", DELETE, { key: "email", value: "a@b.co" }, { typeId: "1", id: "acme" }, /person given by email .* --via track/],
    ["cio_id", ADD, { key: "cio_id", value: "c0ffee" }, { typeId: "1", id: "acme" }, /person given by cio_id .* --via track/],
    ["cio_object_id", ADD, { key: "id", value: "42" }, { cioObjectId: "o1" }, /object given by cio_object_id .* --via track/],
    ["cio_object_id", DELETE, { key: "id", value: "42" }, { cioObjectId: "o1" }, /object given by cio_object_id .* --via track/],
    ["a type id past 2^53 (delete)", DELETE, { key: "id", value: "42" }, { typeId: "90071992547409930", id: "a" }, /too large .* --via track/],
  ] as const)("%s (%s) is refused with a reason naming the route that takes it", (_what, action, person, object, reason) => {
    expect(pipelinesReject(relOf(1, person, object), action)).toMatch(reason);
  });

  it("accepts a person id with an object id and type; a large type id is fine for a group call (a string there)", () => {
    expect(pipelinesReject(rel(1, "42", "acme"), ADD)).toBeUndefined();
    expect(pipelinesReject(rel(1, "42", "acme"), DELETE)).toBeUndefined();
    expect(pipelinesReject(relOf(1, { key: "id", value: "4" }, { typeId: "90071992547409930", id: "a" }), ADD)).toBeUndefined();
  });

  it("the planner settles refused rows as invalid at once and never sends them; the others are planned as usual", () => {
    const planner = createPlanner({ action: ADD, groupBy: "auto", encoder: pipelinesEncoder });
    const rels = [
      rel(1, "1", "acme"),
      relOf(2, { key: "email", value: "x@y.co" }, { typeId: "1", id: "acme" }),
      rel(3, "3", "acme"),
      relOf(4, { key: "id", value: "4" }, { cioObjectId: "c" }),
    ];
    const events = run(planner, rels);
    const invalid = events.filter((e) => e.type === "invalid").map((e) => (e.type === "invalid" ? [e.relationship.line, e.reason] : []));
    expect(invalid.map(([line]) => line)).toEqual([2, 4]);
    expect(sentLines(batchesOf(events))).toEqual([1, 3]);
  });

  it("a row a resumed journal settled is neither refused again nor sent", () => {
    const planner = createPlanner({ action: ADD, groupBy: "auto", encoder: pipelinesEncoder, exclude: (i) => i === 2 || i === 3 });
    const events = run(planner, [rel(1, "1", "a"), relOf(2, { key: "email", value: "x@y.co" }, { typeId: "1", id: "a" }), rel(3, "3", "a")]);
    expect(events.filter((e) => e.type === "invalid")).toEqual([]);
    expect(sentLines(batchesOf(events))).toEqual([1]);
  });
});

describe("pipelinesEncoder: packing", () => {
  /** Random relationships: ids of 1-60 chars, some attributes, a few objects shared by many people. */
  function randomRels(seed: number, n: number): Relationship[] {
    const random = prng(seed);
    const word = (max: number): string => "x".repeat(1 + Math.floor(random() * max)) + String(Math.floor(random() * 1e6));
    return Array.from({ length: n }, (_v, i) => {
      const attributes = random() < 0.5 ? { role: word(40), note: random() < 0.1 ? word(3000) : "" } : undefined;
      return rel(i + 1, `${word(60)}-${i}`, `acct-${Math.floor(random() * 30)}`, attributes);
    });
  }

  it.each([
    [1, ADD, 500_000],
    [2, DELETE, 200_000],
    [3, ADD, 33_000],
    [4, DELETE, 40_000],
  ] as const)(
    "seed %i %s ≤ %i bytes: one relationship per call, every body exact and within limits, each batch full to within one call",
    (seed, action, maxBatch) => {
      const rels = randomRels(seed, 4_000);
      const planner = createPlanner({ action, groupBy: "auto", encoder: pipelinesEncoder, maxBatchBytes: maxBatch, windowSize: 1_000 });
      const events = run(planner, rels);
      const batches = batchesOf(events);
      expect(events.filter((e) => e.type !== "batch")).toEqual([]);
      expect(sentLines(batches).sort((a, b) => a - b)).toEqual(rels.map((r) => r.line));
      batches.forEach((b, i) => {
        expect(b.seq).toBe(i);
        expect(b.body.toString()).toBe(encodeBatch(pipelinesEncoder, b.seq, b.operations).body.toString());
        expect(b.bytes).toBe(b.body.length);
        expect(b.bytes).toBeLessThanOrEqual(maxBatch);
        for (const op of b.operations) {
          expect(op.relationships).toHaveLength(1);
          expect(Buffer.byteLength(encodeOperation(pipelinesEncoder, op))).toBeLessThanOrEqual(32_000);
        }
        expect(calls(b)).toHaveLength(b.operations.length);
        expect(calls(b).every((c) => c.type === (action === ADD ? "group" : "track"))).toBe(true);
        const next = batches[i + 1];
        // Near the optimum: the next batch's first call would not have fitted in this one.
        if (next !== undefined) {
          const firstNext = next.operations[0] as Operation;
          expect(b.bytes + 1 + Buffer.byteLength(encodeOperation(pipelinesEncoder, firstNext))).toBeGreaterThan(maxBatch);
        }
      });
    },
  );

  it("a call over 32,000 bytes on its own is an invalid row naming the call", () => {
    const packer = new Packer({ action: ADD, encoder: pipelinesEncoder, maxBatchBytes: 500_000, maxOperationBytes: 32_000 });
    const out: PlanEvent[] = [];
    const big = rel(2, "42", "acme", { note: "n".repeat(32_000) });
    packer.addGroup("object", { typeId: "1", id: "acme" }, [rel(1, "41", "acme"), big, rel(3, "43", "acme")], out);
    packer.finish(out);
    const invalid = out.filter((e) => e.type === "invalid");
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({
      relationship: { line: 2 },
      reason: expect.stringMatching(/^too large to send: its call alone is \d+ bytes; Customer.io allows at most 32000$/),
    });
    expect(sentLines(batchesOf(out))).toEqual([1, 3]);
  });

  it("a fixed seq numbers every batch of a re-pack with its parent's", () => {
    const packer = new Packer({ action: ADD, encoder: pipelinesEncoder, maxBatchBytes: 33_000, maxOperationBytes: 32_000, seq: 9 });
    const out: PlanEvent[] = [];
    packer.addGroup("object", { typeId: "1", id: "acme" }, randomRels(5, 500), out);
    packer.finish(out);
    const batches = batchesOf(out);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.every((b) => b.seq === 9)).toBe(true);
  });
});
