import { describe, expect, it } from "vitest";
import { PairsInFlight, batchPairs, pairHash } from "../../src/plan/pairs.js";
import { makeBatch } from "../../src/plan/serialize.js";
import type { Relationship } from "../../src/model/types.js";

const rel = (line: number, person: string, object: string, key: "id" | "email" = "id"): Relationship => ({
  index: line,
  line,
  person: { key, value: person },
  object: { typeId: "1", id: object },
});

describe("pair hashes", () => {
  it("the same person–object pair hashes alike whatever its line or attributes", () => {
    expect(pairHash(rel(2, "u1", "acme"))).toBe(pairHash({ ...rel(90, "u1", "acme"), attributes: { role: "x" } }));
  });

  it.each([
    [rel(2, "u1", "acme"), rel(2, "u1", "acmf")],
    [rel(2, "u1", "acme"), rel(2, "u2", "acme")],
    [rel(2, "u1", "acme"), rel(2, "u1", "acme", "email")],
    [rel(2, "ab", "c"), rel(2, "a", "bc")],
  ])("different pairs hash apart: %j / %j", (a, b) => {
    expect(pairHash(a)).not.toBe(pairHash(b));
  });

  it("a cio_object_id object and a typed object differ", () => {
    const typed = rel(2, "u1", "abc");
    expect(pairHash(typed)).not.toBe(pairHash({ ...typed, object: { cioObjectId: "abc" } }));
  });
});

describe("PairsInFlight", () => {
  const batch = (rels: Relationship[]) =>
    batchPairs(makeBatch(0, [{ type: "object", action: "add_relationships", object: { typeId: "1", id: "acme" }, relationships: rels }]));

  it("overlaps only while a batch holding the pair is in flight, each batch counted on its own", () => {
    const inFlight = new PairsInFlight();
    const first = batch([rel(2, "u1", "acme"), rel(3, "u2", "acme")]);
    const second = batch([rel(9, "u2", "acme")]);
    const other = batch([rel(4, "u3", "acme")]);
    expect(inFlight.overlaps(second)).toBe(false);
    const again = batch([rel(7, "u2", "acme")]);
    inFlight.add(first);
    inFlight.add(again);
    expect(inFlight.overlaps(second)).toBe(true);
    expect(inFlight.overlaps(other)).toBe(false);
    inFlight.remove(first);
    expect(inFlight.overlaps(second)).toBe(true);
    inFlight.remove(again);
    expect(inFlight.overlaps(second)).toBe(false);
  });

  it("finds an overlap anywhere in large sorted batches", () => {
    const inFlight = new PairsInFlight();
    inFlight.add(batch(Array.from({ length: 5000 }, (_, i) => rel(i, `p${i}`, "acme"))));
    expect(inFlight.overlaps(batch(Array.from({ length: 5000 }, (_, i) => rel(i, `q${i}`, "acme"))))).toBe(false);
    expect(inFlight.overlaps(batch([...Array.from({ length: 4999 }, (_, i) => rel(i, `q${i}`, "acme")), rel(1, "p4321", "acme")]))).toBe(true);
  });
});
