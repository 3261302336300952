// What a verification reads and expects (issue 14): applied rows become pairs with the state Customer.io
// should end in, and the pairs are grouped under the listings that can show them. Pure: no I/O.
import { objectLabel, personLabel, type Action, type AttributeValue, type ObjectRef, type PersonRef } from "../model/types.js";

/** One applied row handed to verification; `key` is the caller's identity of the row (Row.index). */
export interface VerifyRow {
  key: number;
  action: Action;
  person: PersonRef;
  object: ObjectRef;
  attributes?: Record<string, AttributeValue>;
}

/** A person–object pair and what Customer.io should show for it once the writes are visible. */
export interface Pair {
  person: PersonRef;
  object: ObjectRef;
  /** add: the pair is listed; delete: it is not. */
  expect: "present" | "absent";
  /**
   * The attributes the pair should carry: every applied row's, later rows winning per name (the pipeline
   * sends a repeated pair in input order, so the last write wins in Customer.io too). Empty when none were sent.
   */
  attributes: Record<string, AttributeValue>;
  /** The rows that share this pair's verdict, in input order. */
  rows: number[];
}

/** Which listings are read: the people of each object, or the objects of each person. */
export type Side = "objects" | "people";

/** One listing to read and the pairs it decides. */
export interface Target {
  /** Stable text: "object 1:acme" or "person id:42". */
  label: string;
  read: { side: "objects"; object: { typeId: string; id: string } } | { side: "people"; person: PersonRef };
  pairs: Pair[];
}

/** The side chosen and why, as the summary says it. */
export interface SideChoice {
  side: Side;
  reason: string;
  /** Distinct objects and people among the pairs: the reads each side would take (at least one page each). */
  objects: number;
  people: number;
}

/** Emails are matched without regard to case (a workspace may list an address in another case than a file spells it); the other identifiers exactly. */
export function personMatchKey(p: PersonRef): string {
  return `${p.key}\u0000${p.key === "email" ? p.value.toLowerCase() : p.value}`;
}

/** The key of an object for grouping and matching. */
export function objectMatchKey(o: ObjectRef): string {
  return "cioObjectId" in o ? `cio\u0000${o.cioObjectId}` : `${o.typeId}\u0000${o.id}`;
}

/** Groups applied rows into pairs; a pair's rows share one verdict. Rows keep their order within a pair. */
export function pairsOf(rows: Iterable<VerifyRow>): Pair[] {
  const byKey = new Map<string, Pair>();
  for (const r of rows) {
    const key = `${r.action}\u0001${personMatchKey(r.person)}\u0001${objectMatchKey(r.object)}`;
    let pair = byKey.get(key);
    if (pair === undefined) {
      pair = { person: r.person, object: r.object, expect: r.action === "add_relationships" ? "present" : "absent", attributes: {}, rows: [] };
      byKey.set(key, pair);
    }
    pair.rows.push(r.key);
    // Relationship attributes are meaningless on a delete (API.md): nothing to expect of them.
    if (r.action === "add_relationships" && r.attributes !== undefined) Object.assign(pair.attributes, r.attributes);
  }
  return [...byKey.values()];
}

/**
 * The side to read (issue 14: "whichever side needs fewer reads"), with two cases where only the people side
 * can answer:
 * - an added pair carries attributes: object listings carry none, person listings do (API.md), so checking
 *   what was sent needs the people side, even when it takes more reads;
 * - an object named only by cio_object_id: the object listing's path needs an object type, which such a
 *   row does not have, while a person's listing names every object's cio_object_id.
 * Otherwise the side with fewer distinct listings; on a tie, objects (one object listing answers for many
 * people per page).
 */
export function chooseSide(pairs: readonly Pair[]): SideChoice {
  const objects = new Set<string>();
  const people = new Set<string>();
  let withAttributes = 0;
  let bareCio = 0;
  for (const p of pairs) {
    objects.add(objectMatchKey(p.object));
    people.add(personMatchKey(p.person));
    if (p.expect === "present" && Object.keys(p.attributes).length > 0) withAttributes++;
    if ("cioObjectId" in p.object) bareCio++;
  }
  const counts = { objects: objects.size, people: people.size };
  if (withAttributes > 0) {
    return { side: "people", reason: "relationship attributes are listed only per person", ...counts };
  }
  if (bareCio > 0) {
    return { side: "people", reason: "objects named by cio_object_id can be read only from their people", ...counts };
  }
  if (people.size < objects.size) return { side: "people", reason: "fewer people than objects to read", ...counts };
  return {
    side: "objects",
    reason: people.size === objects.size ? "as many objects as people to read" : "fewer objects than people to read",
    ...counts,
  };
}

/** The listings to read on the chosen side, each with the pairs it decides, in first-seen order. */
export function targetsOf(pairs: readonly Pair[], side: Side): Target[] {
  const byKey = new Map<string, Target>();
  for (const p of pairs) {
    let key: string;
    let make: () => Target;
    if (side === "objects") {
      const o = p.object;
      // chooseSide never picks objects when one has no type; a caller that forces it gets a clear error.
      if ("cioObjectId" in o) throw new Error(`object ${objectLabel(o)} has no object type: it can be verified only from the people side`);
      key = objectMatchKey(o);
      make = () => ({ label: `object ${objectLabel(o)}`, read: { side: "objects", object: { typeId: o.typeId, id: o.id } }, pairs: [] });
    } else {
      key = personMatchKey(p.person);
      const person = p.person;
      make = () => ({ label: `person ${personLabel(person)}`, read: { side: "people", person }, pairs: [] });
    }
    let t = byKey.get(key);
    if (t === undefined) {
      t = make();
      byKey.set(key, t);
    }
    t.pairs.push(p);
  }
  return [...byKey.values()];
}
