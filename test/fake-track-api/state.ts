// The fake workspace's in-memory store: people, objects and the relationships between them.
// The Track API writes it; the App API reads it (issue 12). A person is created by the first write
// that names them, keeps the identifier they were created with, and gets a `cio_id` the fake assigns;
// later writes by any identifier the person has (the assigned cio_id included) reach the same person.
// The fake never merges people: `id:42` and `email:a@b.c` stay two people unless a test preloads
// one person with both (`state.addPerson`), because the fake cannot know they are one.
//
// Two copies are kept: what was accepted (the Track side; tests read it at once) and what reads see.
// A write reaches the second one `visibilityDelayMs` after it was accepted, as Customer.io processes
// Track writes asynchronously; with no delay both copies move together.

/** How the fake keys an object addressed by `cio_object_id` it does not know (a real type id is a positive integer, so no clash). */
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

/** A person of the workspace: the cio_id the fake assigned and the identifiers they carry. */
export interface Person {
  cio_id: string;
  id?: string;
  email?: string;
  phone?: string;
  /** The identifier the person was created with (how `all()` and `relationshipsOf()` name them). */
  primary: PersonIdKey;
}

/** An object of the workspace. */
export interface WorkspaceObject {
  objectTypeId: string;
  objectId: string;
  cio_object_id: string;
  /** Object attributes (only for `POST /v1/objects` filters; Track relationship ops never set them). */
  attributes: Record<string, string | number | boolean>;
}

/** A relationship as the App API reads it: whole records, attributes, and when each attribute was set (unix s). */
export interface LinkView {
  person: Person;
  object: WorkspaceObject;
  attributes: Attributes;
  timestamps: Record<string, number>;
}

/** An object type as `GET /v1/object_types` lists it. */
export interface ObjectType {
  id: string;
  name: string;
  singular_name: string;
  slug: string;
  singular_slug: string;
  icon: string;
  enabled: boolean;
}

/** The object types a fresh fake workspace has. */
export const DEFAULT_OBJECT_TYPES: readonly ObjectType[] = [
  { id: "1", name: "Companies", singular_name: "Company", slug: "companies", singular_slug: "company", icon: "building", enabled: true },
  { id: "2", name: "Accounts", singular_name: "Account", slug: "accounts", singular_slug: "account", icon: "briefcase", enabled: true },
];

/** Options of a RelationshipState. */
export interface StateOptions {
  /** Clock in ms (default Date.now): when writes were accepted and when reads look. */
  now?: () => number;
  /** Ms before an accepted write shows in reads (default 0). */
  visibilityDelayMs?: number;
}

type Link = { objectKey: string; cioId: string; attributes: Attributes; timestamps: Record<string, number> };

// Plain code-unit comparison, so the order never depends on the machine's locale.
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const objKeyOf = (o: ObjectKey): string => JSON.stringify([o.objectTypeId, o.objectId]);
const idxKey = (key: PersonIdKey, value: string): string => `${key}\u0000${value}`;
const PERSON_KEYS: readonly PersonIdKey[] = ["id", "email", "phone", "cio_id"];

/** Hex counter ids that look like Customer.io's. */
function idMaker(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}${(++n).toString(16).padStart(8, "0")}`;
}

/** One copy of the workspace (people, objects, relationships) and the queries on it. */
export class WorkspaceStore {
  readonly people = new Map<string, Person>();
  readonly #personIndex = new Map<string, string>();
  readonly objects = new Map<string, WorkspaceObject>();
  readonly #cioObjectIndex = new Map<string, string>();
  readonly links = new Map<string, Link>();

  /** The person an identifier names, if known. */
  findPerson(key: PersonIdKey, value: string): Person | undefined {
    const cioId = this.#personIndex.get(idxKey(key, value));
    return cioId === undefined ? undefined : this.people.get(cioId);
  }

  /** The object a key names (by type and id, or by a cio_object_id held under CIO_OBJECT_TYPE), if known. */
  findObject(o: ObjectKey): WorkspaceObject | undefined {
    if (o.objectTypeId === CIO_OBJECT_TYPE) {
      const key = this.#cioObjectIndex.get(o.objectId);
      if (key !== undefined) return this.objects.get(key);
    }
    return this.objects.get(objKeyOf(o));
  }

  /** The object with this cio_object_id, if known. */
  findObjectByCioId(cioObjectId: string): WorkspaceObject | undefined {
    const key = this.#cioObjectIndex.get(cioObjectId);
    return key === undefined ? undefined : this.objects.get(key);
  }

  /** Stores a person record as is (ids already assigned). */
  putPerson(p: Person): void {
    this.people.set(p.cio_id, { ...p });
    for (const k of PERSON_KEYS) {
      const v = k === "cio_id" ? p.cio_id : p[k];
      if (v !== undefined) this.#personIndex.set(idxKey(k, v), p.cio_id);
    }
  }

  /** Stores an object record as is. */
  putObject(o: WorkspaceObject): void {
    const key = objKeyOf(o);
    this.objects.set(key, { ...o, attributes: { ...o.attributes } });
    this.#cioObjectIndex.set(o.cio_object_id, key);
  }

  /** Adds or updates a link; `null` or `""` values remove that attribute (spec: relationship_attributes). */
  link(object: WorkspaceObject, person: Person, changes: Record<string, unknown>, atMs: number): void {
    const objectKey = objKeyOf(object);
    const key = `${objectKey}\u0000${person.cio_id}`;
    const old = this.links.get(key);
    const attributes: Attributes = { ...old?.attributes };
    const timestamps: Record<string, number> = { ...old?.timestamps };
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === "") {
        delete attributes[name];
        delete timestamps[name];
      } else {
        attributes[name] = value as string | number | boolean;
        timestamps[name] = Math.floor(atMs / 1000);
      }
    }
    this.links.set(key, { objectKey, cioId: person.cio_id, attributes, timestamps });
  }

  /** Removes a link; removing one that does not exist is not an error (as with the real API). */
  unlink(object: WorkspaceObject, person: Person): void {
    this.links.delete(`${objKeyOf(object)}\u0000${person.cio_id}`);
  }

  /** Every link with its records, sorted by object type, object id, person cio_id. */
  views(filter?: (l: Link) => boolean): LinkView[] {
    const out: LinkView[] = [];
    for (const l of this.links.values()) {
      if (filter !== undefined && !filter(l)) continue;
      const person = this.people.get(l.cioId) as Person;
      const object = this.objects.get(l.objectKey) as WorkspaceObject;
      out.push({ person, object, attributes: { ...l.attributes }, timestamps: { ...l.timestamps } });
    }
    return out.sort(
      (a, b) =>
        cmp(a.object.objectTypeId, b.object.objectTypeId) || cmp(a.object.objectId, b.object.objectId) || cmp(a.person.cio_id, b.person.cio_id),
    );
  }

  /** The people related to an object (sorted by cio_id). */
  peopleOf(object: WorkspaceObject): LinkView[] {
    const key = objKeyOf(object);
    return this.views((l) => l.objectKey === key);
  }

  /** The objects related to a person (sorted by type, then id). */
  objectsOfPerson(person: Person): LinkView[] {
    return this.views((l) => l.cioId === person.cio_id);
  }

  /** The people carrying this email (Customer.io may hold several). */
  peopleByEmail(email: string): Person[] {
    return [...this.people.values()].filter((p) => p.email === email).sort((a, b) => cmp(a.cio_id, b.cio_id));
  }

  /** The objects of one type, sorted by id. */
  objectsOfType(typeId: string): WorkspaceObject[] {
    return [...this.objects.values()].filter((o) => o.objectTypeId === typeId).sort((a, b) => cmp(a.objectId, b.objectId));
  }

  clear(): void {
    this.people.clear();
    this.#personIndex.clear();
    this.objects.clear();
    this.#cioObjectIndex.clear();
    this.links.clear();
  }
}

/** The primary identifier of a person as `{ key: value }`. */
function primaryOf(p: Person): Partial<Record<PersonIdKey, string>> {
  const value = p.primary === "cio_id" ? p.cio_id : p[p.primary];
  return { [p.primary]: value as string };
}

/** The relationship store the fake applies valid ops to; tests read it, the App API reads `visible()`. */
export class RelationshipState {
  readonly #accepted = new WorkspaceStore();
  readonly #visible = new WorkspaceStore();
  /** Writes accepted but not yet visible, in order. */
  #pending: Array<{ at: number; apply: (s: WorkspaceStore) => void }> = [];
  readonly #newCioId = idMaker("c10");
  readonly #newCioObjectId = idMaker("ob0");
  #now: () => number;
  #delayMs: number;
  /** The object types `GET /v1/object_types` lists (mutable: tests may replace it). */
  objectTypes: ObjectType[] = DEFAULT_OBJECT_TYPES.map((t) => ({ ...t }));

  constructor(options: StateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#delayMs = options.visibilityDelayMs ?? 0;
  }

  /** Ms before an accepted write shows in reads. */
  get visibilityDelayMs(): number {
    return this.#delayMs;
  }

  set visibilityDelayMs(ms: number) {
    if (!(ms >= 0)) throw new Error(`visibilityDelayMs must be ≥ 0, got ${ms}`);
    this.#delayMs = ms;
  }

  /** Applies a write to the accepted copy now and to the visible copy after the delay. */
  #write(apply: (s: WorkspaceStore) => void): void {
    apply(this.#accepted);
    if (this.#delayMs === 0 && this.#pending.length === 0) apply(this.#visible);
    else this.#pending.push({ at: this.#now() + this.#delayMs, apply });
  }

  /** The person a write names, created (with a new cio_id) if unknown. */
  #personFor(p: PersonKeyValue): Person {
    const known = this.#accepted.findPerson(p.key, p.value);
    if (known !== undefined) return known;
    const person: Person =
      p.key === "cio_id" ? { cio_id: p.value, primary: "cio_id" } : { cio_id: this.#newCioId(), [p.key]: p.value, primary: p.key };
    this.#write((s) => s.putPerson(person));
    return person;
  }

  /** The object a write names, created (with a new cio_object_id) if unknown. */
  #objectFor(o: ObjectKey): WorkspaceObject {
    const known = this.#accepted.findObject(o);
    if (known !== undefined) return known;
    const cio = o.objectTypeId === CIO_OBJECT_TYPE;
    const object: WorkspaceObject = { ...o, cio_object_id: cio ? o.objectId : this.#newCioObjectId(), attributes: {} };
    this.#write((s) => s.putObject(object));
    return object;
  }

  /** Adds or updates a relationship; `null` or `""` values remove that attribute (spec: relationship_attributes). */
  add(object: ObjectKey, person: PersonKeyValue, changes: Record<string, unknown> = {}): void {
    const o = this.#objectFor(object);
    const p = this.#personFor(person);
    const at = this.#now();
    this.#write((s) => s.link(o, p, changes, at));
  }

  /** Removes a relationship; removing one that does not exist is not an error (as with the real API). */
  delete(object: ObjectKey, person: PersonKeyValue): void {
    const o = this.#accepted.findObject(object);
    const p = this.#accepted.findPerson(person.key, person.value);
    if (o === undefined || p === undefined) return;
    this.#write((s) => s.unlink(o, p));
  }

  /**
   * Preloads a person carrying several identifiers (e.g. `{ id: "42", email: "a@b.c" }`), so that writes by
   * any of them reach one person; returns the record with its cio_id. Throws if an identifier is taken.
   */
  addPerson(ids: { id?: string; email?: string; phone?: string; cio_id?: string }): Person {
    for (const k of PERSON_KEYS) {
      const v = ids[k];
      if (v !== undefined && this.#accepted.findPerson(k, v) !== undefined) throw new Error(`a person with ${k} ${v} exists already`);
    }
    const primary = PERSON_KEYS.find((k) => ids[k] !== undefined);
    if (primary === undefined) throw new Error("addPerson needs at least one identifier");
    const person: Person = { ...ids, cio_id: ids.cio_id ?? this.#newCioId(), primary };
    this.#write((s) => s.putPerson(person));
    return person;
  }

  /** Preloads an object (with attributes, for `POST /v1/objects` filters); returns its record. */
  addObject(object: ObjectKey, attributes: Record<string, string | number | boolean> = {}): WorkspaceObject {
    const o: WorkspaceObject = { ...this.#objectFor(object), attributes: { ...attributes } };
    this.#write((s) => s.putObject(o));
    return o;
  }

  /** The person an identifier names, as accepted (the cio_id the fake gave them, for tests). */
  person(key: PersonIdKey, value: string): Person | undefined {
    const p = this.#accepted.findPerson(key, value);
    return p === undefined ? undefined : { ...p };
  }

  /** The copy reads see at `atMs` (default now): every write accepted at least visibilityDelayMs before. */
  visible(atMs: number = this.#now()): WorkspaceStore {
    let i = 0;
    while (i < this.#pending.length && (this.#pending[i] as { at: number }).at <= atMs)
      (this.#pending[i++] as { apply: (s: WorkspaceStore) => void }).apply(this.#visible);
    if (i > 0) this.#pending = this.#pending.slice(i);
    return this.#visible;
  }

  /** Makes every accepted write visible now (a test that does not care about the delay). */
  settle(): void {
    this.visible(Infinity);
  }

  /** How many accepted writes are not yet visible. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  /** Whether the relationship is held. */
  has(object: ObjectKey, person: PersonKeyValue): boolean {
    const o = this.#accepted.findObject(object);
    const p = this.#accepted.findPerson(person.key, person.value);
    return o !== undefined && p !== undefined && this.#accepted.objectsOfPerson(p).some((v) => v.object === o);
  }

  /** The people related to an object, each by the identifier they were created with, sorted by identifier key then value. */
  relationshipsOf(object: ObjectKey): PersonRelationship[] {
    const o = this.#accepted.findObject(object);
    if (o === undefined) return [];
    return this.#accepted
      .peopleOf(o)
      .map((v) => ({ person: primaryOf(v.person), attributes: v.attributes }))
      .sort((a, b) => {
        const [ka, va] = Object.entries(a.person)[0] as [string, string];
        const [kb, vb] = Object.entries(b.person)[0] as [string, string];
        return cmp(ka, kb) || cmp(va, vb);
      });
  }

  /** The objects related to a person (by any identifier they carry), sorted by type then id. */
  objectsOf(person: PersonKeyValue): ObjectRelationship[] {
    const p = this.#accepted.findPerson(person.key, person.value);
    if (p === undefined) return [];
    return this.#accepted
      .objectsOfPerson(p)
      .map((v) => ({ object: { objectTypeId: v.object.objectTypeId, objectId: v.object.objectId }, attributes: v.attributes }));
  }

  /** Every relationship, flat and sorted (object type, object id, person key, person value): ready for `toEqual`. */
  all(): StoredRelationship[] {
    return this.#accepted
      .views()
      .map((v) => {
        const [personKey, personValue] = Object.entries(primaryOf(v.person))[0] as [PersonIdKey, string];
        return { objectTypeId: v.object.objectTypeId, objectId: v.object.objectId, personKey, personValue, attributes: v.attributes };
      })
      .sort(
        (a, b) =>
          cmp(a.objectTypeId, b.objectTypeId) || cmp(a.objectId, b.objectId) || cmp(a.personKey, b.personKey) || cmp(a.personValue, b.personValue),
      );
  }

  /** How many relationships are held. */
  get size(): number {
    return this.#accepted.links.size;
  }

  /** How many distinct objects have at least one relationship. */
  get objectCount(): number {
    return new Set([...this.#accepted.links.values()].map((l) => l.objectKey)).size;
  }

  /** Forgets everything (people, objects, relationships, pending writes); object types stay. */
  clear(): void {
    this.#accepted.clear();
    this.#visible.clear();
    this.#pending = [];
  }
}
