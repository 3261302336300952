// Desired state (the file) against current state (the App API's listings) → a plan of adds, deletes and
// unchanged pairs (issue 13). Pure: the command reads both states and hands them over.
import { objectLabel, personLabel, type AttributeValue, type ObjectRef, type PersonKey, type PersonRef } from "../model/types.js";
import type { CurrentObject, CurrentPerson, DesiredPair, Plan, PlanCounts, PlanEntry, PlanOp, ScopeGroup } from "./types.js";

/**
 * How a person identifier is compared. Emails compare case-insensitively: Customer.io treats an email as
 * the same person whatever its case, and a case difference must not plan a delete and an add every night.
 */
export function normalizePerson(key: PersonKey, value: string): string {
  return key === "email" ? value.toLowerCase() : value;
}

/** The key a scope object's listing is stored under: "1\u0000acme", or "cio\u0000abc" for a cio_object_id. */
export function objectKey(o: ObjectRef): string {
  return "cioObjectId" in o ? `cio\u0000${o.cioObjectId}` : `${o.typeId}\u0000${o.id}`;
}

/** The key a scope person's listing is stored under: "id\u000042", "email\u0000a@b.c" (lower case). */
export function personKeyOf(p: PersonRef): string {
  return `${p.key}\u0000${normalizePerson(p.key, p.value)}`;
}

/** What planObjectScope needs: the file's pairs, every object in scope and what Customer.io lists for each. */
export interface ObjectScopeInput {
  /** The identifier the file names people by: people are matched on it. */
  personKey: PersonKey;
  desired: Iterable<DesiredPair>;
  /** Every object in scope, in the order the plan lists them (the file's objects join it if missing). */
  scope: readonly ObjectRef[];
  /** The people Customer.io lists for each scope object, by objectKey. */
  current: ReadonlyMap<string, readonly CurrentPerson[]>;
  /** --attributes: object listings carry no attributes, so every desired pair with some is re-sent as an add. */
  resendAttributes: boolean;
  /** Delete (by cio_id) the related people the file's identifier cannot match, instead of keeping them. */
  deleteUnmatchable: boolean;
}

/** What planPersonScope needs: the file's pairs, every person in scope and the objects Customer.io lists for each. */
export interface PersonScopeInput {
  personKey: PersonKey;
  desired: Iterable<DesiredPair>;
  /** Every person in scope (the file's people join it if missing). */
  people: readonly PersonRef[];
  /** Object types in scope: the person's objects of other types are left alone. The file's types join it. */
  types: ReadonlySet<string>;
  /** The objects Customer.io lists for each scope person, by personKeyOf. */
  current: ReadonlyMap<string, readonly CurrentObject[]>;
  /**
   * "desired": only the attributes the file gives are compared and sent (sync). "exact": attributes the
   * listing has and the desired pair lacks are removed too, by sending them as null (undo).
   */
  attributes: "desired" | "exact";
}

/** Collapses the file's rows to distinct pairs per scope member; a later row's attributes win, as in add. */
function collapse<K>(
  desired: Iterable<DesiredPair>,
  memberKey: (d: DesiredPair) => string,
  pairKey: (d: DesiredPair) => string,
  onNewMember: (d: DesiredPair) => K,
): { byMember: Map<string, Map<string, DesiredPair>>; members: Map<string, K>; duplicates: number } {
  const byMember = new Map<string, Map<string, DesiredPair>>();
  const members = new Map<string, K>();
  let duplicates = 0;
  for (const d of desired) {
    const m = memberKey(d);
    let pairs = byMember.get(m);
    if (pairs === undefined) {
      byMember.set(m, (pairs = new Map<string, DesiredPair>()));
      if (!members.has(m)) members.set(m, onNewMember(d));
    }
    const k = pairKey(d);
    if (pairs.has(k)) {
      duplicates++;
      pairs.delete(k); // re-inserted below: the later row's place and attributes
    }
    pairs.set(k, d);
  }
  return { byMember, members, duplicates };
}

const hasKeys = (a: Record<string, unknown> | undefined): a is Record<string, AttributeValue> => a !== undefined && Object.keys(a).length > 0;

/** Builds the entries' totals and the plan; the order of `entries` is PLAN_OPS order, scope order within. */
function assemble(
  base: Pick<Plan, "scope" | "personKey" | "attributes">,
  byOp: Record<PlanOp, PlanEntry[]>,
  groups: ScopeGroup[],
  desired: number,
  duplicates: number,
  matched: number,
): Plan {
  const counts: PlanCounts = {
    add: byOp.add.length,
    delete: byOp.delete.length,
    unchanged: byOp.unchanged.length,
    keep: byOp.keep.length,
    resend: byOp.add.filter((e) => e.resend === true).length,
    desired,
    duplicates,
    current: groups.reduce((n, g) => n + g.current, 0),
    matched,
  };
  return { ...base, entries: [...byOp.add, ...byOp.delete, ...byOp.unchanged, ...byOp.keep], groups, counts };
}

const known = (p: CurrentPerson): Partial<Record<PersonKey, string>> => {
  const k: Partial<Record<PersonKey, string>> = { cio_id: p.cio_id };
  if (p.id !== null) k.id = p.id;
  if (p.email !== null) k.email = p.email;
  return k;
};

/**
 * Object scope: each scope object's people become exactly the file's. People are matched on the file's
 * identifier; one Customer.io lists without it cannot be compared and is kept (an entry "keep" says so)
 * unless deleteUnmatchable. Deletes address people by cio_id, the one identifier every listed person has.
 */
export function planObjectScope(input: ObjectScopeInput): Plan {
  const { personKey } = input;
  const { byMember, duplicates } = collapse(
    input.desired,
    (d) => objectKey(d.object),
    (d) => `${d.person.key}\u0000${normalizePerson(d.person.key, d.person.value)}`,
    () => undefined,
  );
  const scope = new Map<string, ObjectRef>();
  for (const o of input.scope) if (!scope.has(objectKey(o))) scope.set(objectKey(o), o);
  for (const pairs of byMember.values()) {
    const first = pairs.values().next().value as DesiredPair;
    if (!scope.has(objectKey(first.object))) scope.set(objectKey(first.object), first.object);
  }

  const byOp: Record<PlanOp, PlanEntry[]> = { add: [], delete: [], unchanged: [], keep: [] };
  const groups: ScopeGroup[] = [];
  let desiredCount = 0;
  let matched = 0;
  for (const [key, object] of scope) {
    const current = input.current.get(key);
    if (current === undefined) throw new Error(`plan: no listing for object ${objectLabel(object)}`);
    const group: ScopeGroup = { label: objectLabel(object), add: 0, delete: 0, unchanged: 0, keep: 0, current: current.length };
    groups.push(group);
    // Listed people by each identifier they have, so that a desired pair finds them whatever key it uses.
    const index = new Map<string, CurrentPerson[]>();
    for (const p of current) {
      for (const k of ["id", "email", "cio_id"] as const) {
        const v = p[k];
        if (v === null) continue;
        const ik = `${k}\u0000${normalizePerson(k, v)}`;
        const list = index.get(ik);
        if (list === undefined) index.set(ik, [p]);
        else list.push(p);
      }
    }
    const matchedHere = new Set<string>();
    for (const [pk, d] of byMember.get(key) ?? []) {
      desiredCount++;
      const found = index.get(pk);
      const entry: PlanEntry = { op: "add", person: d.person, object, line: d.line };
      if (found === undefined) {
        if (hasKeys(d.attributes)) entry.attributes = d.attributes;
        byOp.add.push(entry);
        group.add++;
        continue;
      }
      for (const p of found) matchedHere.add(p.cio_id);
      entry.known = known(found[0] as CurrentPerson);
      if (input.resendAttributes && hasKeys(d.attributes)) {
        entry.attributes = d.attributes;
        entry.resend = true;
        byOp.add.push(entry);
        group.add++;
      } else {
        entry.op = "unchanged";
        byOp.unchanged.push(entry);
        group.unchanged++;
      }
    }
    matched += matchedHere.size;
    for (const p of current) {
      if (matchedHere.has(p.cio_id)) continue;
      const entry: PlanEntry = { op: "delete", person: { key: "cio_id", value: p.cio_id }, object, known: known(p) };
      if (p[personKey] === null && !input.deleteUnmatchable) {
        entry.op = "keep";
        entry.reason = `has no ${personKey}: the file cannot name this person`;
        byOp.keep.push(entry);
        group.keep++;
      } else {
        byOp.delete.push(entry);
        group.delete++;
      }
    }
  }
  return assemble(
    { scope: "object", personKey, attributes: input.resendAttributes ? "resent" : "none" },
    byOp,
    groups,
    desiredCount,
    duplicates,
    matched,
  );
}

/** A listed attribute value as text for comparison: CSV gives "3" where the listing may hold 3. */
const comparable = (v: unknown): string | undefined =>
  v === undefined || v === null || v === "" ? undefined : typeof v === "object" ? JSON.stringify(v) : `${v as string | number | boolean}`;

/**
 * The attributes to send so the listed relationship ends with the desired ones, or undefined when they
 * already agree. A desired null or "" removes (API.md), so it agrees with an absent attribute.
 */
export function attributeChange(
  desired: Record<string, AttributeValue> | undefined,
  current: Record<string, unknown>,
  mode: "desired" | "exact",
): Record<string, AttributeValue> | undefined {
  const want = desired ?? {};
  let differs = false;
  for (const [k, v] of Object.entries(want)) if (comparable(v) !== comparable(current[k])) differs = true;
  const send: Record<string, AttributeValue> = { ...want };
  if (mode === "exact") {
    for (const [k, v] of Object.entries(current)) {
      if (k in want || comparable(v) === undefined) continue;
      send[k] = null;
      differs = true;
    }
  }
  return differs ? send : undefined;
}

/**
 * Person scope: each scope person's objects of the scope's types become exactly the file's. Person
 * listings carry the relationship attributes, so a pair already there is sent again only when they differ.
 */
export function planPersonScope(input: PersonScopeInput): Plan {
  const { byMember, duplicates } = collapse(
    input.desired,
    (d) => personKeyOf(d.person),
    (d) => objectKey(d.object),
    () => undefined,
  );
  const scope = new Map<string, PersonRef>();
  for (const p of input.people) if (!scope.has(personKeyOf(p))) scope.set(personKeyOf(p), p);
  const types = new Set(input.types);
  for (const pairs of byMember.values()) {
    for (const d of pairs.values()) {
      if (!scope.has(personKeyOf(d.person))) scope.set(personKeyOf(d.person), d.person);
      if ("typeId" in d.object) types.add(d.object.typeId);
    }
  }

  const byOp: Record<PlanOp, PlanEntry[]> = { add: [], delete: [], unchanged: [], keep: [] };
  const groups: ScopeGroup[] = [];
  let desiredCount = 0;
  let matched = 0;
  for (const [key, person] of scope) {
    const listed = input.current.get(key);
    if (listed === undefined) throw new Error(`plan: no listing for person ${personLabel(person)}`);
    const current = listed.filter((o) => types.has(o.object_type_id));
    const group: ScopeGroup = { label: personLabel(person), add: 0, delete: 0, unchanged: 0, keep: 0, current: current.length };
    groups.push(group);
    const wanted = byMember.get(key) ?? new Map<string, DesiredPair>();
    desiredCount += wanted.size;
    const done = new Set<string>();
    for (const o of current) {
      const byId = `${o.object_type_id}\u0000${o.object_id}`;
      const byCio = o.cio_object_id !== null ? `cio\u0000${o.cio_object_id}` : undefined;
      const hit = wanted.has(byId) ? byId : byCio !== undefined && wanted.has(byCio) ? byCio : undefined;
      if (hit === undefined || done.has(hit)) {
        byOp.delete.push({ op: "delete", person, object: { typeId: o.object_type_id, id: o.object_id } });
        group.delete++;
        continue;
      }
      done.add(hit);
      matched++;
      const d = wanted.get(hit) as DesiredPair;
      const change = attributeChange(d.attributes, o.attributes, input.attributes);
      if (change !== undefined) {
        byOp.add.push({ op: "add", person, object: d.object, attributes: change, resend: true, line: d.line });
        group.add++;
      } else {
        byOp.unchanged.push({ op: "unchanged", person, object: d.object, line: d.line });
        group.unchanged++;
      }
    }
    for (const [k, d] of wanted) {
      if (done.has(k)) continue;
      const entry: PlanEntry = { op: "add", person, object: d.object, line: d.line };
      if (hasKeys(d.attributes)) entry.attributes = d.attributes;
      byOp.add.push(entry);
      group.add++;
    }
  }
  return assemble({ scope: "person", personKey: input.personKey, attributes: "compared" }, byOp, groups, desiredCount, duplicates, matched);
}

/**
 * The plan's accounting identities, checked before anything is sent (STYLE: Tally.assertBalanced):
 * every desired pair is an add or unchanged; every listed relationship is matched, deleted or kept;
 * every group's counts add up to the totals. Throws on a mismatch, which is a bug.
 */
export function assertPlanBalanced(plan: Plan): void {
  const c = plan.counts;
  const problems: string[] = [];
  if (c.add + c.unchanged !== c.desired) problems.push(`add ${c.add} + unchanged ${c.unchanged} ≠ desired ${c.desired}`);
  if (c.matched + c.delete + c.keep !== c.current) problems.push(`matched ${c.matched} + delete ${c.delete} + keep ${c.keep} ≠ current ${c.current}`);
  if (c.add + c.delete + c.unchanged + c.keep !== plan.entries.length) problems.push(`counts ≠ ${plan.entries.length} entries`);
  for (const op of ["add", "delete", "unchanged", "keep"] as const) {
    const sum = plan.groups.reduce((n, g) => n + g[op], 0);
    if (sum !== c[op]) problems.push(`${op}: groups ${sum} ≠ total ${c[op]}`);
  }
  if (problems.length > 0) throw new Error(`plan accounting mismatch: ${problems.join("; ")}`);
}
