import { describe, expect, it } from "vitest";
import type { ObjectRef, PersonKey, PersonRef } from "../../src/model/types.js";
import { assertPlanBalanced, attributeChange, objectKey, personKeyOf, planObjectScope, planPersonScope } from "../../src/sync/plan.js";
import type { CurrentObject, CurrentPerson, DesiredPair, Plan } from "../../src/sync/types.js";

const obj = (id: string, typeId = "1"): ObjectRef => ({ typeId, id });
const who = (value: string, key: PersonKey = "id"): PersonRef => ({ key, value });
const pair = (line: number, person: PersonRef, object: ObjectRef, attributes?: Record<string, string>): DesiredPair =>
  attributes === undefined ? { line, person, object } : { line, person, object, attributes };
const cur = (cio: string, id: string | null, email: string | null = null): CurrentPerson => ({ cio_id: cio, id, email });

/** The plan as "op person → object" strings, in plan order. */
const ops = (plan: Plan): string[] =>
  plan.entries.map(
    (e) => `${e.op} ${e.person.key}:${e.person.value} → ${"typeId" in e.object ? `${e.object.typeId}:${e.object.id}` : e.object.cioObjectId}`,
  );

function objectPlan(
  desired: DesiredPair[],
  current: Record<string, CurrentPerson[]>,
  extra: { scope?: ObjectRef[]; personKey?: PersonKey; resendAttributes?: boolean; deleteUnmatchable?: boolean } = {},
): Plan {
  const plan = planObjectScope({
    personKey: extra.personKey ?? "id",
    desired,
    scope: extra.scope ?? [],
    current: new Map(Object.entries(current).map(([k, v]) => [objectKey(obj(k)), v])),
    resendAttributes: extra.resendAttributes ?? false,
    deleteUnmatchable: extra.deleteUnmatchable ?? false,
  });
  assertPlanBalanced(plan);
  return plan;
}

describe("planObjectScope: add, delete, unchanged per object", () => {
  const table: Array<{
    name: string;
    desired: DesiredPair[];
    current: Record<string, CurrentPerson[]>;
    scope?: ObjectRef[];
    personKey?: PersonKey;
    expect: string[];
    counts: Partial<Plan["counts"]>;
  }> = [
    {
      name: "people in the file and not there are added, people there and not in the file deleted (by cio_id), the rest unchanged",
      desired: [pair(2, who("1"), obj("acme")), pair(3, who("2"), obj("acme"))],
      current: { acme: [cur("c2", "2"), cur("c3", "3")] },
      expect: ["add id:1 → 1:acme", "delete cio_id:c3 → 1:acme", "unchanged id:2 → 1:acme"],
      counts: { add: 1, delete: 1, unchanged: 1, desired: 2, current: 2, matched: 1 },
    },
    {
      name: "an object in the scope file but absent from the file is emptied; objects not in scope are never listed",
      desired: [pair(2, who("1"), obj("acme"))],
      current: { acme: [cur("c1", "1")], gone: [cur("c8", "8"), cur("c9", "9")] },
      scope: [obj("gone")],
      expect: ["delete cio_id:c8 → 1:gone", "delete cio_id:c9 → 1:gone", "unchanged id:1 → 1:acme"],
      counts: { add: 0, delete: 2, unchanged: 1, current: 3 },
    },
    {
      name: "matched by email, case-insensitively",
      desired: [pair(2, who("Ann@Example.com", "email"), obj("acme")), pair(3, who("bob@example.com", "email"), obj("acme"))],
      current: { acme: [cur("c1", null, "ann@example.com"), cur("c2", "2", "carl@example.com")] },
      personKey: "email",
      expect: ["add email:bob@example.com → 1:acme", "delete cio_id:c2 → 1:acme", "unchanged email:Ann@Example.com → 1:acme"],
      counts: { add: 1, delete: 1, unchanged: 1 },
    },
    {
      name: "matched by id: an id is compared exactly",
      desired: [pair(2, who("A1"), obj("acme"))],
      current: { acme: [cur("c1", "a1")] },
      expect: ["add id:A1 → 1:acme", "delete cio_id:c1 → 1:acme"],
      counts: { add: 1, delete: 1, unchanged: 0 },
    },
    {
      name: "matched by cio_id: nobody is unmatchable",
      desired: [pair(2, who("c1", "cio_id"), obj("acme"))],
      current: { acme: [cur("c1", null, null), cur("c2", null, null)] },
      personKey: "cio_id",
      expect: ["delete cio_id:c2 → 1:acme", "unchanged cio_id:c1 → 1:acme"],
      counts: { delete: 1, unchanged: 1, keep: 0 },
    },
    {
      name: "people without the file's identifier are kept, never deleted",
      desired: [pair(2, who("1"), obj("acme"))],
      current: { acme: [cur("c1", "1"), cur("c5", null, "e@x.io"), cur("c6", "6")] },
      expect: ["delete cio_id:c6 → 1:acme", "unchanged id:1 → 1:acme", "keep cio_id:c5 → 1:acme"],
      counts: { delete: 1, unchanged: 1, keep: 1, current: 3, matched: 1 },
    },
    {
      name: "one email naming two people: both match, neither is deleted",
      desired: [pair(2, who("shared@x.io", "email"), obj("acme"))],
      current: { acme: [cur("c1", "1", "shared@x.io"), cur("c2", "2", "Shared@x.io")] },
      personKey: "email",
      expect: ["unchanged email:shared@x.io → 1:acme"],
      counts: { unchanged: 1, delete: 0, current: 2, matched: 2 },
    },
    {
      name: "a pair twice in the file is one desired pair",
      desired: [pair(2, who("1"), obj("acme")), pair(3, who("1"), obj("acme"))],
      current: { acme: [] },
      expect: ["add id:1 → 1:acme"],
      counts: { add: 1, desired: 1, duplicates: 1 },
    },
    {
      name: "an empty file with a scope file: every scope object is emptied",
      desired: [],
      current: { a: [cur("c1", "1")], b: [] },
      scope: [obj("a"), obj("b")],
      expect: ["delete cio_id:c1 → 1:a"],
      counts: { delete: 1, current: 1, desired: 0 },
    },
    {
      name: "the same id under two object types are two scope objects",
      desired: [pair(2, who("1"), obj("acme", "2"))],
      current: { acme: [cur("c9", "9")] },
      scope: [obj("acme")],
      expect: [],
      counts: {},
    },
  ];
  for (const t of table) {
    it(t.name, () => {
      const current = { ...t.current };
      if (t.name.startsWith("the same id under two object types")) {
        // acme of type 2 is listed under its own key
        const plan = planObjectScope({
          personKey: "id",
          desired: t.desired,
          scope: t.scope ?? [],
          current: new Map([
            [objectKey(obj("acme")), [cur("c9", "9")]],
            [objectKey(obj("acme", "2")), []],
          ]),
          resendAttributes: false,
          deleteUnmatchable: false,
        });
        assertPlanBalanced(plan);
        expect(ops(plan)).toEqual(["add id:1 → 2:acme", "delete cio_id:c9 → 1:acme"]);
        expect(plan.groups.map((g) => g.label)).toEqual(["1:acme", "2:acme"]);
        return;
      }
      const plan = objectPlan(t.desired, current, { ...(t.scope ? { scope: t.scope } : {}), ...(t.personKey ? { personKey: t.personKey } : {}) });
      expect(ops(plan)).toEqual(t.expect);
      expect(plan.counts).toMatchObject(t.counts);
    });
  }

  it("--delete-unmatchable deletes the people the file cannot name, by cio_id", () => {
    const plan = objectPlan([pair(2, who("1"), obj("acme"))], { acme: [cur("c1", "1"), cur("c5", null, "e@x.io")] }, { deleteUnmatchable: true });
    expect(ops(plan)).toEqual(["delete cio_id:c5 → 1:acme", "unchanged id:1 → 1:acme"]);
    expect(plan.entries[0]?.known).toEqual({ cio_id: "c5", email: "e@x.io" });
  });

  it("with --attributes every pair already there is re-sent as an add, and the plan says so", () => {
    const plan = objectPlan(
      [pair(2, who("1"), obj("acme"), { role: "admin" }), pair(3, who("2"), obj("acme"), { role: "member" }), pair(4, who("3"), obj("acme"))],
      { acme: [cur("c1", "1"), cur("c3", "3")] },
      { resendAttributes: true },
    );
    expect(plan.attributes).toBe("resent");
    expect(ops(plan)).toEqual(["add id:1 → 1:acme", "add id:2 → 1:acme", "unchanged id:3 → 1:acme"]);
    expect(plan.entries.map((e) => e.resend ?? false)).toEqual([true, false, false]);
    expect(plan.entries[0]?.attributes).toEqual({ role: "admin" });
    expect(plan.counts).toMatchObject({ add: 2, resend: 1, unchanged: 1, desired: 3 });
  });

  it("per-object counts add up to the totals", () => {
    const plan = objectPlan([pair(2, who("1"), obj("a")), pair(3, who("2"), obj("b")), pair(4, who("3"), obj("b"))], {
      a: [cur("c1", "1"), cur("c7", "7")],
      b: [cur("c3", "3")],
    });
    expect(plan.groups).toEqual([
      { label: "1:a", add: 0, delete: 1, unchanged: 1, keep: 0, current: 2 },
      { label: "1:b", add: 1, delete: 0, unchanged: 1, keep: 0, current: 1 },
    ]);
  });

  it("a scope object without a listing is a bug, not an empty object", () => {
    expect(() => objectPlan([pair(2, who("1"), obj("acme"))], {})).toThrow(/no listing for object 1:acme/);
  });
});

const lo = (id: string, attributes: Record<string, unknown> = {}, typeId = "1", cio: string | null = null): CurrentObject => ({
  object_type_id: typeId,
  object_id: id,
  cio_object_id: cio,
  attributes,
});

function personPlan(
  desired: DesiredPair[],
  current: Record<string, CurrentObject[]>,
  o: { people?: PersonRef[]; types?: string[]; exact?: boolean; key?: PersonKey } = {},
): Plan {
  const key = o.key ?? "id";
  const plan = planPersonScope({
    personKey: key,
    desired,
    people: o.people ?? [],
    types: new Set(o.types ?? []),
    current: new Map(Object.entries(current).map(([k, v]) => [personKeyOf(who(k, key)), v])),
    attributes: o.exact === true ? "exact" : "desired",
  });
  assertPlanBalanced(plan);
  return plan;
}

describe("planPersonScope: a person's objects of the scope's types", () => {
  it("adds, deletes and leaves alone; objects of other types are out of scope", () => {
    const plan = personPlan([pair(2, who("42"), obj("acme")), pair(3, who("42"), obj("new"))], {
      "42": [lo("acme"), lo("old"), lo("other-type", {}, "2")],
    });
    expect(ops(plan)).toEqual(["add id:42 → 1:new", "delete id:42 → 1:old", "unchanged id:42 → 1:acme"]);
    expect(plan.counts).toMatchObject({ current: 2, matched: 1 });
  });

  it("only differing attributes are sent; numbers and their text agree", () => {
    const plan = personPlan(
      [
        pair(2, who("42"), obj("a"), { role: "admin" }),
        pair(3, who("42"), obj("b"), { role: "admin" }),
        pair(4, who("42"), obj("c"), { seats: "3" }),
      ],
      { "42": [lo("a", { role: "admin", since: "2020" }), lo("b", { role: "member" }), lo("c", { seats: 3 })] },
    );
    expect(ops(plan)).toEqual(["add id:42 → 1:b", "unchanged id:42 → 1:a", "unchanged id:42 → 1:c"]);
    expect(plan.entries[0]).toMatchObject({ resend: true, attributes: { role: "admin" } });
    expect(plan.attributes).toBe("compared");
  });

  it("an object named by cio_object_id matches the listing's cio_object_id", () => {
    const plan = personPlan([pair(2, who("42"), { cioObjectId: "x1" })], { "42": [lo("acme", {}, "1", "x1")] }, { types: ["1"] });
    expect(ops(plan)).toEqual(["unchanged id:42 → x1"]);
    // Without its type in scope the listing is out of scope, and the pair is an add.
    expect(ops(personPlan([pair(2, who("42"), { cioObjectId: "x1" })], { "42": [lo("acme", {}, "1", "x1")] }))).toEqual(["add id:42 → x1"]);
  });

  it("a scope person absent from the file loses every object of the scope's types", () => {
    const plan = personPlan([], { "7": [lo("a"), lo("b", {}, "3")] }, { people: [who("7")], types: ["1"] });
    expect(ops(plan)).toEqual(["delete id:7 → 1:a"]);
  });

  it("people by email match whatever the case", () => {
    const plan = personPlan([pair(2, who("Ann@X.io", "email"), obj("a"))], { "ann@x.io": [lo("a")] }, { key: "email" });
    expect(ops(plan)).toEqual(["unchanged email:Ann@X.io → 1:a"]);
  });
});

describe("attributeChange", () => {
  const table: Array<
    [string, Record<string, string | null> | undefined, Record<string, unknown>, "desired" | "exact", Record<string, unknown> | undefined]
  > = [
    ["same", { role: "a" }, { role: "a" }, "desired", undefined],
    ["differs", { role: "a" }, { role: "b" }, "desired", { role: "a" }],
    ["extra listed key ignored (sync)", { role: "a" }, { role: "a", seat: "1" }, "desired", undefined],
    ["extra listed key removed (undo)", { role: "a" }, { role: "a", seat: "1" }, "exact", { role: "a", seat: null }],
    ["desired null agrees with absent", { role: null }, {}, "desired", undefined],
    ["desired empty removes a present one", { role: "" }, { role: "x" }, "desired", { role: "" }],
    ["nothing desired, exact, listed has some", undefined, { a: "1" }, "exact", { a: null }],
    ["nothing on either side", undefined, {}, "exact", undefined],
  ];
  for (const [name, desired, current, mode, want] of table) {
    it(name, () => expect(attributeChange(desired, current, mode)).toEqual(want));
  }
});
