// The fake's in-memory store of person–object relationships and their attributes.
// Keys are kept exactly as sent: a person addressed by id and the same person addressed by email
// are two different keys here, because the fake cannot know they are one person (and the tests
// want to see what the client sent, not what Customer.io would resolve it to).

/** How the fake keys an object addressed by `cio_object_id` (a real type id is a positive integer, so no clash). */
export const CIO_OBJECT_TYPE = "cio_object_id";

/** A person identifier key as it may appear in a relationship op. */
export type PersonIdKey = "id" | "email" | "cio_id" | "phone";

/** A person as sent: one identifier key and its value, e.g. `{ key: "email", value: "a@b.c" }`. */
export interface PersonKeyValue {
  key: PersonIdKey;
  value: string;
}

/** An object as stored: `{ objectTypeId: "1", objectId: "acme" }` or `{ objectTypeId: "cio_object_id", objectId: "<cio id>" }`. */
export interface ObjectKey {
  objectTypeId: string;
  objectId: string;
}

/** Stored relationship attributes (never holds null or ""; those remove an attribute). */
export type Attributes = Record<string, string | number | boolean>;

/** One relationship seen from an object: the person as identifiers (`{ id: "42" }`) and its attributes. */
export interface PersonRelationship {
  person: Partial<Record<PersonIdKey, string>>;
  attributes: Attributes;
}

/** One relationship seen from a person: the object and its attributes. */
export interface ObjectRelationship {
  object: ObjectKey;
  attributes: Attributes;
}

/** One stored relationship, flat, as `state.all()` lists it. */
export interface StoredRelationship {
  objectTypeId: string;
  objectId: string;
  personKey: PersonIdKey;
  personValue: string;
  attributes: Attributes;
}

type Stored = { object: ObjectKey; person: PersonKeyValue; attributes: Attributes };

const keyOf = (o: ObjectKey, p: PersonKeyValue): string => JSON.stringify([o.objectTypeId, o.objectId, p.key, p.value]);
// Plain code-unit comparison, so the order never depends on the machine's locale.
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The relationship store the fake applies valid ops to; tests read it. */
export class RelationshipState {
  readonly #rels = new Map<string, Stored>();

  /** Adds or updates a relationship; `null` or `""` values remove that attribute (spec: relationship_attributes). */
  add(object: ObjectKey, person: PersonKeyValue, changes: Record<string, unknown> = {}): void {
    const key = keyOf(object, person);
    const attributes: Attributes = { ...this.#rels.get(key)?.attributes };
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === "") delete attributes[name];
      else attributes[name] = value as string | number | boolean;
    }
    this.#rels.set(key, { object: { ...object }, person: { ...person }, attributes });
  }

  /** Removes a relationship; removing one that does not exist is not an error (as with the real API). */
  delete(object: ObjectKey, person: PersonKeyValue): void {
    this.#rels.delete(keyOf(object, person));
  }

  /** Whether the relationship is held. */
  has(object: ObjectKey, person: PersonKeyValue): boolean {
    return this.#rels.has(keyOf(object, person));
  }

  /** The people related to an object, sorted by identifier key then value. */
  relationshipsOf(object: ObjectKey): PersonRelationship[] {
    return this.#sorted()
      .filter((r) => r.object.objectTypeId === object.objectTypeId && r.object.objectId === object.objectId)
      .map((r) => ({ person: { [r.person.key]: r.person.value }, attributes: { ...r.attributes } }));
  }

  /** The objects related to a person (as addressed, e.g. `{ key: "id", value: "42" }`), sorted by type then id. */
  objectsOf(person: PersonKeyValue): ObjectRelationship[] {
    return this.#sorted()
      .filter((r) => r.person.key === person.key && r.person.value === person.value)
      .map((r) => ({ object: { ...r.object }, attributes: { ...r.attributes } }));
  }

  /** Every relationship, flat and sorted (object type, object id, person key, person value): ready for `toEqual`. */
  all(): StoredRelationship[] {
    return this.#sorted().map((r) => ({
      objectTypeId: r.object.objectTypeId,
      objectId: r.object.objectId,
      personKey: r.person.key,
      personValue: r.person.value,
      attributes: { ...r.attributes },
    }));
  }

  /** How many relationships are held. */
  get size(): number {
    return this.#rels.size;
  }

  /** How many distinct objects have at least one relationship. */
  get objectCount(): number {
    return new Set([...this.#rels.values()].map((r) => JSON.stringify([r.object.objectTypeId, r.object.objectId]))).size;
  }

  /** Forgets everything. */
  clear(): void {
    this.#rels.clear();
  }

  #sorted(): Stored[] {
    return [...this.#rels.values()].sort(
      (a, b) =>
        cmp(a.object.objectTypeId, b.object.objectTypeId) ||
        cmp(a.object.objectId, b.object.objectId) ||
        cmp(a.person.key, b.person.key) ||
        cmp(a.person.value, b.person.value),
    );
  }
}
