import { describe, expect, it } from "vitest";
import { allowedDeletes, guardDeletes, parseDeleteLimit } from "../../src/sync/guard.js";
import { assertPlanBalanced, objectKey, personKeyOf, planObjectScope, planPersonScope } from "../../src/sync/plan.js";
import { entryJson, estimateReads, formatEstimate, formatPlan, parseEntry } from "../../src/sync/render.js";
import {
  createSnapshotParser,
  desiredOfSnapshot,
  snapshotHeaderLine,
  snapshotObjectLine,
  snapshotPersonLine,
  type Snapshot,
} from "../../src/sync/snapshot.js";
import type { CurrentObject, CurrentPerson, PlanEntry } from "../../src/sync/types.js";

describe("--max-deletes", () => {
  const table: Array<[string, ReturnType<typeof parseDeleteLimit>]> = [
    ["10%", { percent: 10 }],
    ["0", { count: 0 }],
    ["250", { count: 250 }],
    ["2.5%", { percent: 2.5 }],
    ["100%", { percent: 100 }],
  ];
  for (const [text, want] of table) it(`parses ${text}`, () => expect(parseDeleteLimit(text)).toEqual(want));
  for (const bad of ["", "-1", "ten", "10 %x", "101%", "1e3"]) {
    it(`refuses ${JSON.stringify(bad)} with a message naming the flag`, () => {
      const r = parseDeleteLimit(bad);
      expect("problem" in r && r.problem).toMatch(/--max-deletes/);
    });
  }

  const guard: Array<[string, { delete: number; current: number }, ReturnType<typeof parseDeleteLimit>, boolean]> = [
    ["10% of 1000 allows 100", { delete: 100, current: 1000 }, { percent: 10 }, true],
    ["10% of 1000 refuses 101", { delete: 101, current: 1000 }, { percent: 10 }, false],
    ["10% of 5 refuses even 1", { delete: 1, current: 5 }, { percent: 10 }, false],
    ["nothing to delete always passes", { delete: 0, current: 0 }, { percent: 10 }, true],
    ["a count is absolute", { delete: 50, current: 50 }, { count: 50 }, true],
    ["0 refuses any delete", { delete: 1, current: 1000 }, { count: 0 }, false],
    ["100% allows emptying", { delete: 7, current: 7 }, { percent: 100 }, true],
  ];
  for (const [name, counts, limit, ok] of guard) {
    it(name, () => {
      const refusal = guardDeletes(counts, limit as never);
      expect(refusal === undefined).toBe(ok);
      if (!ok) {
        expect(refusal).toContain(`deletes ${counts.delete} of the ${counts.current.toLocaleString("en-US")} relationships`);
        expect(refusal).toContain("Nothing was sent");
        expect(refusal).toContain(`--max-deletes ${counts.delete}`);
      }
    });
  }
  it("allowedDeletes rounds down", () => expect(allowedDeletes({ percent: 10 }, 19)).toBe(1));
});

const cur = (cio: string, id: string | null, email: string | null = null): CurrentPerson => ({ cio_id: cio, id, email });

describe("the plan as text and as NDJSON", () => {
  const plan = planObjectScope({
    personKey: "id",
    desired: [
      { line: 2, person: { key: "id", value: "1" }, object: { typeId: "1", id: "acme" } },
      { line: 3, person: { key: "id", value: "2" }, object: { typeId: "1", id: "acme" }, attributes: { role: "admin" } },
      { line: 4, person: { key: "id", value: "4" }, object: { typeId: "1", id: "same" } },
    ],
    scope: [],
    current: new Map([
      [objectKey({ typeId: "1", id: "acme" }), [cur("c2", "2"), cur("c3", "3", "c@x.io"), cur("c9", null, "nine@x.io")]],
      [objectKey({ typeId: "1", id: "same" }), [cur("c4", "4")]],
    ]),
    resendAttributes: true,
    deleteUnmatchable: false,
  });

  it("text: totals, counts per object with changes, first lines of each kind, the unmatchable and the flag", () => {
    expect(formatPlan(plan).split("\n")).toEqual([
      "Plan: add 2, delete 1, unchanged 1, keep 1 unmatchable — 2 objects in scope, 4 relationships there now, 3 in the file, people matched on id",
      "  1 of the adds is a pair already there, sent again with their attributes: object listings carry no relationship attributes, so they cannot be compared (--scope person compares them)",
      "Per object (add / delete / unchanged / keep):",
      "  1:acme  +2 −1 =0 ?1",
      "  1 object already matches the file",
      "First adds:",
      "  add  id:1 → 1:acme",
      '  add  id:2 (cio_id:c2) → 1:acme {"role":"admin"} (already there: sent again for its attributes)',
      "First deletes:",
      "  delete  cio_id:c3 (id:3, email:c@x.io) → 1:acme",
      "First keeps:",
      "  keep  cio_id:c9 (email:nine@x.io) → 1:acme — has no id: the file cannot name this person",
      "1 related person has no id, so the file cannot name them: they are kept, never deleted silently. To mirror them too, name people by cio_id (cio-rel list writes it; --person-key cio_id), or pass --delete-unmatchable to delete them.",
    ]);
  });

  it("text: only the first lines of each kind, then a count", () => {
    const text = formatPlan(plan, { first: 1 });
    expect(text).toContain("  add  id:1 → 1:acme\n  … and 1 more");
  });

  it("every entry survives entryJson → parseEntry", () => {
    for (const e of plan.entries) expect(parseEntry(entryJson(e))).toEqual(e);
    const cio: PlanEntry = {
      op: "add",
      person: { key: "email", value: "a@b.c" },
      object: { cioObjectId: "x" },
      attributes: { n: 3, ok: true, gone: null },
    };
    expect(parseEntry(entryJson(cio))).toEqual(cio);
  });

  it("NDJSON uses the Track API's identifier shapes", () => {
    expect(JSON.parse(entryJson(plan.entries[0] as PlanEntry))).toEqual({
      op: "add",
      person: { id: "1" },
      object: { object_type_id: "1", object_id: "acme" },
      line: 2,
    });
  });

  for (const [bad, problem] of [
    ["{", /not a JSON line/],
    ['{"op":"upsert","person":{"id":"1"},"object":{"object_type_id":"1","object_id":"a"}}', /op must be/],
    ['{"op":"add","person":{"id":"1","email":"a"},"object":{"object_type_id":"1","object_id":"a"}}', /exactly one/],
    ['{"op":"add","person":{"id":"1"},"object":{"object_id":"a"}}', /object must be/],
    ['{"op":"add","person":{"id":"1"},"object":{"cio_object_id":"a"},"attributes":{"x":{"y":1}}}', /flat map/],
  ] as const) {
    it(`parseEntry refuses ${bad.slice(0, 30)}…`, () => {
      const r = parseEntry(bad);
      expect("problem" in r && r.problem).toMatch(problem);
    });
  }
});

describe("estimate of the reads", () => {
  it("one request per object at least, one per page beyond, at 10 requests/s", () => {
    expect(estimateReads([0, 1, 100, 101, 250], 100)).toEqual({ members: 5, requests: 1 + 1 + 1 + 2 + 3, seconds: 0.8 });
    expect(formatEstimate(estimateReads(new Array<number>(10_000).fill(5), 100))).toBe(
      "10,000 requests, about 16m 40s at the App API's 10 requests/s",
    );
  });
});

describe("snapshot → undo's desired state", () => {
  const people = [cur("c1", "1", "a@x.io"), cur("c2", null, "b@x.io")];

  function parse(lines: string[]): Snapshot {
    const p = createSnapshotParser();
    lines.forEach((l, i) => expect(p.line(l, i + 1)).toBeUndefined());
    const r = p.result();
    if ("problem" in r) throw new Error(r.problem);
    return r;
  }

  it("object scope: every object, also an empty one; undo matches and addresses people by cio_id", () => {
    const lines = [
      snapshotHeaderLine({ scope: "object", personKey: "id", objectTypes: ["1"], takenAt: "2026-12-02T07:00:00.000Z" }),
      snapshotObjectLine({ typeId: "1", id: "acme" }, people),
      snapshotObjectLine({ typeId: "1", id: "empty" }, []),
    ];
    const snap = parse(lines);
    expect(snap.scope === "object" && snap.objects.map((o) => o.people.length)).toEqual([2, 0]);
    const { desired, personKey } = desiredOfSnapshot(snap);
    expect(personKey).toBe("cio_id");
    // The snapshot as the desired state against what is there now: c3 joined acme, c2 left, empty got c4.
    const plan = planObjectScope({
      personKey,
      desired,
      scope: snap.scope === "object" ? snap.objects.map((o) => o.object) : [],
      current: new Map([
        [objectKey({ typeId: "1", id: "acme" }), [cur("c1", "1"), cur("c3", "3")]],
        [objectKey({ typeId: "1", id: "empty" }), [cur("c4", null, "d@x.io")]],
      ]),
      resendAttributes: false,
      deleteUnmatchable: false,
    });
    assertPlanBalanced(plan);
    expect(plan.entries.map((e) => `${e.op} ${e.person.key}:${e.person.value} ${"id" in e.object ? e.object.id : ""}`)).toEqual([
      "add cio_id:c2 acme",
      "delete cio_id:c3 acme",
      "delete cio_id:c4 empty",
      "unchanged cio_id:c1 acme",
    ]);
  });

  it("person scope: attributes restored exactly (extra ones removed)", () => {
    const objects: CurrentObject[] = [{ object_type_id: "1", object_id: "acme", cio_object_id: null, attributes: { role: "admin" } }];
    const snap = parse([
      snapshotHeaderLine({ scope: "person", personKey: "id", objectTypes: ["1"], takenAt: "t" }),
      snapshotPersonLine({ key: "id", value: "42" }, objects),
    ]);
    const { desired, personKey } = desiredOfSnapshot(snap);
    const plan = planPersonScope({
      personKey,
      desired,
      people: snap.scope === "person" ? snap.people.map((p) => p.person) : [],
      types: new Set(snap.objectTypes),
      current: new Map([
        [
          personKeyOf({ key: "id", value: "42" }),
          [
            { object_type_id: "1", object_id: "acme", cio_object_id: null, attributes: { role: "member", seat: "3" } },
            { object_type_id: "1", object_id: "new", cio_object_id: null, attributes: {} },
          ],
        ],
      ]),
      attributes: "exact",
    });
    expect(plan.entries.map((e) => [e.op, "id" in e.object ? e.object.id : "", e.attributes])).toEqual([
      ["add", "acme", { role: "admin", seat: null }],
      ["delete", "new", undefined],
    ]);
  });

  for (const [name, lines, problem] of [
    ["no header", ['{"object":{"object_type_id":"1","object_id":"a"},"people":[]}'], /not a cio-rel snapshot/],
    [
      "a person without cio_id",
      [
        snapshotHeaderLine({ scope: "object", personKey: "id", objectTypes: [], takenAt: "" }),
        '{"object":{"object_type_id":"1","object_id":"a"},"people":[{"id":"1"}]}',
      ],
      /cio_id/,
    ],
    ["not JSON", ["{"], /not JSON/],
  ] as const) {
    it(`refuses a snapshot with ${name}`, () => {
      const p = createSnapshotParser();
      const problems = lines.map((l, i) => p.line(l, i + 1)).filter((x) => x !== undefined);
      expect(problems[0]).toMatch(problem);
    });
  }
  it("refuses an empty file", () => {
    const r = createSnapshotParser().result();
    expect("problem" in r && r.problem).toMatch(/empty/);
  });
});
