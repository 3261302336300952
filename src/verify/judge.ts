// Deciding a pair from one listing (issue 14): confirmed, or not (yet), with the reason. Pure: no I/O.
import { objectLabel, personLabel, type AttributeValue } from "../model/types.js";
import { objectMatchKey, personMatchKey, type Pair } from "./pairs.js";

/** A person as an object's listing shows them (the App API client's ListedPerson has this shape). */
export interface SeenPerson {
  id: string | null;
  email: string | null;
  cio_id: string;
}

/** An object as a person's listing shows it, with the relationship's attributes (the client's ListedObject). */
export interface SeenObject {
  object_type_id: string;
  object_id: string;
  cio_object_id: string | null;
  attributes: Record<string, unknown>;
}

/** What reading one listing gave. */
export type ListingRead =
  | { kind: "people"; people: readonly SeenPerson[] }
  | { kind: "objects"; objects: readonly SeenObject[] }
  /** The person or object read does not exist (404): it has no relationships. */
  | { kind: "not-found"; of: "person" | "object" }
  /** The read failed; `fatal` (refused credentials) ends the verification, anything else is retried next round. */
  | { kind: "failed"; reason: string; fatal?: boolean };

/**
 * Why a pair is not confirmed: an added pair not listed (`missing`), a deleted one still listed
 * (`present`), listed with other attributes (`mismatch`), or its listing could not be read (`unread`).
 */
export type Unconfirmed = "missing" | "present" | "mismatch" | "unread";

/** The verdict on one pair. */
export type Verdict = { confirmed: true } | { confirmed: false; why: Unconfirmed; reason: string };

const CONFIRMED: Verdict = { confirmed: true };

/** Whether an attribute value listed by Customer.io is the one sent. Compared as text: the App API may list 3 or true as "3" or "true". */
export function sameAttribute(sent: AttributeValue, listed: unknown): boolean {
  // null and "" remove an attribute (API.md): confirmed when it is gone.
  if (sent === null || sent === "") return listed === undefined || listed === null || listed === "";
  if (listed === undefined || listed === null) return false;
  if (listed === sent) return true;
  const text =
    typeof listed === "string" ? listed : typeof listed === "number" || typeof listed === "boolean" ? String(listed) : JSON.stringify(listed);
  return text === String(sent);
}

/** The first attribute whose listed value differs from what was sent, as a reason; undefined when all match. */
export function attributeMismatch(expected: Record<string, AttributeValue>, listed: Record<string, unknown>): string | undefined {
  for (const [name, sent] of Object.entries(expected)) {
    const has = Object.prototype.hasOwnProperty.call(listed, name);
    const value = has ? listed[name] : undefined;
    if (sameAttribute(sent, value)) continue;
    if (sent === null || sent === "") return `attribute ${JSON.stringify(name)} is still ${JSON.stringify(value)} in Customer.io (sent to remove it)`;
    if (!has || value === null) return `attribute ${JSON.stringify(name)} is missing in Customer.io (sent ${JSON.stringify(sent)})`;
    return `attribute ${JSON.stringify(name)} is ${JSON.stringify(value)} in Customer.io (sent ${JSON.stringify(sent)})`;
  }
  return undefined;
}

/** Whether a listed person is the pair's person, by the identifier the row used. */
function isPerson(pair: Pair, seen: SeenPerson): boolean {
  const v = seen[pair.person.key];
  return v !== null && personMatchKey({ key: pair.person.key, value: v }) === personMatchKey(pair.person);
}

/** Whether a listed object is the pair's object: by type and id, or by cio_object_id. */
function isObject(pair: Pair, seen: SeenObject): boolean {
  const o = pair.object;
  if ("cioObjectId" in o) return seen.cio_object_id === o.cioObjectId;
  return objectMatchKey({ typeId: String(seen.object_type_id), id: seen.object_id }) === objectMatchKey(o);
}

/**
 * The verdict on a pair from the listing that decides it: an added pair must be listed (with the attributes
 * sent, where the listing carries them: only a person's does), a deleted pair must not be.
 */
export function judge(pair: Pair, read: ListingRead): Verdict {
  const present = pair.expect === "present";
  const who = personLabel(pair.person);
  const what = objectLabel(pair.object);
  switch (read.kind) {
    case "failed":
      return { confirmed: false, why: "unread", reason: `could not read back: ${read.reason}` };
    case "not-found":
      // A person or object that does not exist has no relationships: a deleted pair is gone.
      if (!present) return CONFIRMED;
      return {
        confirmed: false,
        why: "missing",
        reason: `not visible: ${read.of === "person" ? `person ${who}` : `object ${what}`} does not exist in Customer.io`,
      };
    case "people": {
      const listed = read.people.some((p) => isPerson(pair, p));
      if (listed === present) return CONFIRMED;
      return present
        ? { confirmed: false, why: "missing", reason: `not visible: object ${what} does not list person ${who}` }
        : { confirmed: false, why: "present", reason: `still visible: object ${what} lists person ${who}` };
    }
    case "objects": {
      const seen = read.objects.find((o) => isObject(pair, o));
      if (!present)
        return seen === undefined ? CONFIRMED : { confirmed: false, why: "present", reason: `still visible: person ${who} lists object ${what}` };
      if (seen === undefined) return { confirmed: false, why: "missing", reason: `not visible: person ${who} does not list object ${what}` };
      const mismatch = attributeMismatch(pair.attributes, seen.attributes);
      return mismatch === undefined ? CONFIRMED : { confirmed: false, why: "mismatch", reason: `${mismatch} for ${who} – ${what}` };
    }
  }
}
