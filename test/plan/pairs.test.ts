import { describe, expect, it } from "vitest";
import { PairsInFlight, batchPairs, pairHash } from "../../src/plan/pairs.js";
import { makeBatch } from "../../src/plan/serialize.js";
import type { Relationship } from "../../src/model/types.js";

const rel = (line: number, person: string, object: string, key: "id" | "email" = "id"): Relationship => ({
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

  it("overlaps only while a batch holding the pair is in flight, counting repeats", () => {
    const inFlight = new PairsInFlight();
    const first = batch([rel(2, "u1", "acme"), rel(3, "u2", "acme")]);
    const second = batch([rel(9, "u2", "acme")]);
    const other = batch([rel(4, "u3", "acme")]);
    expect(inFlight.overlaps(second)).toBe(false);
    inFlight.add(first);
    inFlight.add(first);
    expect(inFlight.overlaps(second)).toBe(true);
    expect(inFlight.overlaps(other)).toBe(false);
    inFlight.remove(first);
    expect(inFlight.overlaps(second)).toBe(true);
    inFlight.remove(first);
    expect(inFlight.overlaps(second)).toBe(false);
  });
});
