import { describe, expect, it } from "vitest";
import type { Action } from "../../src/model/types.js";
import { chooseSide, pairsOf, targetsOf } from "../../src/verify/pairs.js";
import { row } from "./helpers.js";

const DEL: Action = "delete_relationships";

describe("pairsOf", () => {
  it("groups rows of one pair, merges attributes with later rows winning per name, keeps actions apart", () => {
    const pairs = pairsOf([
      row(1, "id:42", "1:acme", { role: "a", seat: 1 }),
      row(2, "id:7", "1:acme"),
      row(5, "id:42", "1:acme", { role: "b" }),
      row(6, "email:Ana@X.com", "1:acme"),
      row(8, "email:ana@x.com", "1:acme", { seat: null }),
      row(9, "id:42", "2:acme"),
      row(10, "id:42", "1:acme", { role: "ignored" }, DEL),
    ]);
    expect(pairs.map((p) => ({ rows: p.rows, expect: p.expect, attributes: p.attributes }))).toEqual([
      { rows: [1, 5], expect: "present", attributes: { role: "b", seat: 1 } },
      { rows: [2], expect: "present", attributes: {} },
      // Emails match without regard to case.
      { rows: [6, 8], expect: "present", attributes: { seat: null } },
      { rows: [9], expect: "present", attributes: {} },
      // A delete's attributes mean nothing (API.md).
      { rows: [10], expect: "absent", attributes: {} },
    ]);
  });
});

describe("chooseSide", () => {
  it.each([
    {
      name: "one object, many people: objects",
      rows: [row(1, "id:1", "1:acme"), row(2, "id:2", "1:acme"), row(3, "id:3", "1:acme")],
      side: "objects",
      reason: /fewer objects/,
    },
    {
      name: "one person, many objects: people",
      rows: [row(1, "id:1", "1:a"), row(2, "id:1", "1:b"), row(3, "id:1", "2:a")],
      side: "people",
      reason: /fewer people/,
    },
    { name: "a tie: objects", rows: [row(1, "id:1", "1:a"), row(2, "id:2", "1:b")], side: "objects", reason: /as many/ },
    {
      name: "deletes count like adds",
      rows: [row(1, "id:1", "1:a", undefined, DEL), row(2, "id:1", "1:b", undefined, DEL)],
      side: "people",
      reason: /fewer people/,
    },
    {
      name: "attributes force people though objects are fewer",
      rows: [row(1, "id:1", "1:acme", { role: "x" }), row(2, "id:2", "1:acme"), row(3, "id:3", "1:acme")],
      side: "people",
      reason: /attributes are listed only per person/,
    },
    {
      name: "attributes on a delete do not",
      rows: [row(1, "id:1", "1:acme", { role: "x" }, DEL), row(2, "id:2", "1:acme", undefined, DEL)],
      side: "objects",
      reason: /fewer objects/,
    },
    {
      name: "an empty attribute set does not",
      rows: [row(1, "id:1", "1:acme", {}), row(2, "id:2", "1:acme")],
      side: "objects",
      reason: /fewer objects/,
    },
    { name: "a bare cio_object_id forces people", rows: [row(1, "id:1", "cio:x"), row(2, "id:2", "cio:x")], side: "people", reason: /cio_object_id/ },
  ])("$name", ({ rows, side, reason }) => {
    const choice = chooseSide(pairsOf(rows));
    expect(choice.side).toBe(side);
    expect(choice.reason).toMatch(reason);
  });

  it("counts the distinct listings of each side", () => {
    const c = chooseSide(
      pairsOf([row(1, "id:1", "1:a"), row(2, "id:2", "1:a"), row(3, "id:2", "1:b"), row(4, "email:A@b.c", "1:b"), row(5, "email:a@B.c", "1:a")]),
    );
    expect({ objects: c.objects, people: c.people }).toEqual({ objects: 2, people: 3 });
  });
});

describe("targetsOf", () => {
  const rows = [row(1, "id:1", "1:a"), row(2, "id:2", "1:a"), row(3, "id:1", "2:a"), row(4, "email:x@y.z", "1:a")];

  it("objects: one listing per object (type and id), in first-seen order", () => {
    const t = targetsOf(pairsOf(rows), "objects");
    expect(t.map((x) => [x.label, x.read, x.pairs.flatMap((p) => p.rows)])).toEqual([
      ["object 1:a", { side: "objects", object: { typeId: "1", id: "a" } }, [1, 2, 4]],
      ["object 2:a", { side: "objects", object: { typeId: "2", id: "a" } }, [3]],
    ]);
  });

  it("people: one listing per person, by the identifier the rows used", () => {
    const t = targetsOf(pairsOf(rows), "people");
    expect(t.map((x) => [x.label, x.pairs.flatMap((p) => p.rows)])).toEqual([
      ["person id:1", [1, 3]],
      ["person id:2", [2]],
      ["person email:x@y.z", [4]],
    ]);
  });

  it("refuses an object side for an object that has no type", () => {
    expect(() => targetsOf(pairsOf([row(1, "id:1", "cio:abc")]), "objects")).toThrow(/cio_object_id:abc has no object type/);
  });
});
