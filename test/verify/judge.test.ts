import { describe, expect, it } from "vitest";
import type { AttributeValue } from "../../src/model/types.js";
import { attributeMismatch, judge, sameAttribute, type ListingRead, type SeenObject } from "../../src/verify/judge.js";
import { pairsOf, type Pair } from "../../src/verify/pairs.js";
import { row } from "./helpers.js";

const pair = (...args: Parameters<typeof row>): Pair => pairsOf([row(...args)])[0] as Pair;
const DEL = "delete_relationships" as const;

const people = (...ps: Array<{ id?: string; email?: string; cio_id: string }>): ListingRead => ({
  kind: "people",
  people: ps.map((p) => ({ id: p.id ?? null, email: p.email ?? null, cio_id: p.cio_id })),
});
const objects = (...os: Array<Partial<SeenObject> & { object_id: string }>): ListingRead => ({
  kind: "objects",
  objects: os.map((o) => ({
    object_type_id: o.object_type_id ?? "1",
    object_id: o.object_id,
    cio_object_id: o.cio_object_id ?? null,
    attributes: o.attributes ?? {},
  })),
});

describe("judge", () => {
  it.each<{ name: string; pair: Pair; read: ListingRead; confirmed: boolean; reason?: RegExp; why?: string }>([
    // object side: people of an object
    { name: "added, listed by id", pair: pair(1, "id:42", "1:acme"), read: people({ id: "42", cio_id: "c1" }), confirmed: true },
    {
      name: "added, not listed",
      pair: pair(1, "id:42", "1:acme"),
      read: people({ id: "4", cio_id: "c1" }),
      confirmed: false,
      reason: /^not visible: object 1:acme does not list person id:42$/,
    },
    {
      name: "added by email, listed in another case",
      pair: pair(1, "email:Ana@X.com", "1:acme"),
      read: people({ email: "ana@x.com", cio_id: "c1" }),
      confirmed: true,
    },
    {
      name: "added by email, listed person has no email",
      pair: pair(1, "email:a@x.com", "1:acme"),
      read: people({ id: "a@x.com", cio_id: "c1" }),
      confirmed: false,
    },
    { name: "added by cio_id", pair: pair(1, "cio_id:c9", "1:acme"), read: people({ id: "1", cio_id: "c9" }), confirmed: true },
    {
      name: "added, object does not exist",
      pair: pair(1, "id:42", "1:acme"),
      read: { kind: "not-found", of: "object" },
      confirmed: false,
      reason: /object 1:acme does not exist/,
    },
    { name: "deleted, gone", pair: pair(1, "id:42", "1:acme", undefined, DEL), read: people({ id: "7", cio_id: "c" }), confirmed: true },
    {
      name: "deleted, still listed",
      pair: pair(1, "id:42", "1:acme", undefined, DEL),
      read: people({ id: "42", cio_id: "c" }),
      confirmed: false,
      reason: /^still visible: object 1:acme lists person id:42$/,
    },
    { name: "deleted, object gone", pair: pair(1, "id:42", "1:acme", undefined, DEL), read: { kind: "not-found", of: "object" }, confirmed: true },
    // people side: objects of a person
    { name: "added, listed", pair: pair(1, "id:42", "1:acme"), read: objects({ object_id: "acme" }), confirmed: true },
    {
      name: "added, listed under another type",
      pair: pair(1, "id:42", "2:acme"),
      read: objects({ object_id: "acme" }),
      confirmed: false,
      reason: /person id:42 does not list object 2:acme/,
    },
    { name: "added by cio_object_id", pair: pair(1, "id:42", "cio:x1"), read: objects({ object_id: "acme", cio_object_id: "x1" }), confirmed: true },
    { name: "added by cio_object_id, not listed", pair: pair(1, "id:42", "cio:x1"), read: objects({ object_id: "x1" }), confirmed: false },
    {
      name: "added, person does not exist",
      pair: pair(1, "id:42", "1:acme"),
      read: { kind: "not-found", of: "person" },
      confirmed: false,
      reason: /person id:42 does not exist/,
    },
    {
      name: "attributes match (text compare)",
      pair: pair(1, "id:42", "1:acme", { role: "admin", seats: 3, paid: true }),
      read: objects({ object_id: "acme", attributes: { role: "admin", seats: "3", paid: "true", other: "x" } }),
      confirmed: true,
    },
    {
      name: "attribute differs",
      pair: pair(1, "id:42", "1:acme", { role: "admin" }),
      read: objects({ object_id: "acme", attributes: { role: "user" } }),
      confirmed: false,
      reason: /^attribute "role" is "user" in Customer.io \(sent "admin"\) for id:42 – 1:acme$/,
    },
    {
      name: "attribute missing",
      pair: pair(1, "id:42", "1:acme", { role: "admin" }),
      read: objects({ object_id: "acme" }),
      confirmed: false,
      reason: /attribute "role" is missing/,
    },
    {
      name: "attribute removed (null) and gone",
      pair: pair(1, "id:42", "1:acme", { role: null }),
      read: objects({ object_id: "acme", attributes: { seat: 1 } }),
      confirmed: true,
    },
    {
      name: 'attribute removed ("") but still there',
      pair: pair(1, "id:42", "1:acme", { role: "" }),
      read: objects({ object_id: "acme", attributes: { role: "admin" } }),
      confirmed: false,
      reason: /"role" is still "admin" .*sent to remove it/,
    },
    {
      name: "deleted, object no longer listed",
      pair: pair(1, "id:42", "1:acme", undefined, DEL),
      read: objects({ object_id: "globex" }),
      confirmed: true,
    },
    {
      name: "deleted, still listed",
      pair: pair(1, "id:42", "1:acme", undefined, DEL),
      read: objects({ object_id: "acme" }),
      confirmed: false,
      reason: /still visible: person id:42 lists object 1:acme/,
    },
    { name: "deleted, person gone", pair: pair(1, "id:42", "1:acme", undefined, DEL), read: { kind: "not-found", of: "person" }, confirmed: true },
    // reads that failed decide nothing
    {
      name: "a failed read, added",
      pair: pair(1, "id:42", "1:acme"),
      read: { kind: "failed", reason: "HTTP 500" },
      confirmed: false,
      reason: /could not read back: HTTP 500/,
    },
    {
      name: "a failed read, deleted",
      pair: pair(1, "id:42", "1:acme", undefined, DEL),
      read: { kind: "failed", reason: "HTTP 500" },
      confirmed: false,
      reason: /could not read back/,
    },
  ])("$name", ({ pair: p, read, confirmed, reason }) => {
    const v = judge(p, read);
    expect(v.confirmed).toBe(confirmed);
    if (reason !== undefined && !v.confirmed) expect(v.reason).toMatch(reason);
    // The kind of an unconfirmed verdict follows from the reason's first words.
    if (!v.confirmed) {
      const expected = /^not visible/.test(v.reason)
        ? "missing"
        : /^still visible/.test(v.reason)
          ? "present"
          : /^attribute/.test(v.reason)
            ? "mismatch"
            : "unread";
      expect(v.why).toBe(expected);
    }
  });
});

describe("sameAttribute", () => {
  it.each<[AttributeValue, unknown, boolean]>([
    ["a", "a", true],
    ["a", "b", false],
    [3, 3, true],
    [3, "3", true],
    [3.5, "3.5", true],
    ["3", 3, true],
    [true, true, true],
    [true, "true", true],
    [false, "true", false],
    ["a", undefined, false],
    ["a", null, false],
    [null, undefined, true],
    [null, null, true],
    [null, "", true],
    ["", undefined, true],
    [null, "x", false],
    ["{}", {}, true],
  ])("sent %j, listed %j → %s", (sent, listed, same) => {
    expect(sameAttribute(sent, listed)).toBe(same);
  });

  it("attributeMismatch names the first differing attribute and ignores attributes not sent", () => {
    expect(attributeMismatch({ a: 1, b: "x" }, { a: "1", b: "x", c: "extra" })).toBeUndefined();
    expect(attributeMismatch({ a: 1, b: "x" }, { a: "2", b: "y" })).toBe('attribute "a" is "2" in Customer.io (sent 1)');
  });
});
