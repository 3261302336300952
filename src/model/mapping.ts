import { ERROR_COLUMN, IDENTIFIER_COLUMN, JsonNumber, type Row } from "../input/types.js";
import { PERSON_KEYS, type AttributeValue, type ObjectRef, type PersonKey, type PersonRef, type Relationship } from "./types.js";
import { attributesProblem, objectTypeIdProblem, objectValueProblem, personValueProblem } from "./validate.js";

// Rows → relationships (issue 2, "Commands and input shapes"). Which column holds what is decided
// once — from the CSV header, or from the first JSON row's keys — so the per-row work is lookups.

/** The object id column unless --object-column names another. */
export const OBJECT_ID_COLUMN = "object_id";
/** A column of Customer.io's own object ids, used when there is no object_id column. */
export const CIO_OBJECT_ID_COLUMN = "cio_object_id";
/** A column holding each row's object type; else the --object-type flag applies. */
export const OBJECT_TYPE_COLUMN = "object_type_id";
/** Customer.io's default object type (API.md: "when a user gives none, it is 1"). */
export const DEFAULT_OBJECT_TYPE = "1";

/** How rows become relationships: the flags of issue 2. */
export interface MappingOptions {
  /** --object (with --object-type): every row relates to this object; rows hold only people. */
  fixedObject?: ObjectRef;
  /** --person (with --person-key): every row relates this person; rows hold only objects. */
  fixedPerson?: PersonRef;
  /** --person-column: the column holding the person; else the one column named id, email or cio_id. */
  personColumn?: string;
  /** --person-key: which identifier the person column holds; default its name when id/email/cio_id, else "id". */
  personKey?: PersonKey;
  /** --object-column: the column holding object ids; default object_id, else cio_object_id. */
  objectColumn?: string;
  /** --object-type: the type of objects in rows without an object_type_id column (default "1"). */
  objectType: string;
  /** --attributes: the columns sent as relationship_attributes, or "*" for every non-identifier column. */
  attributes?: readonly string[] | "*";
  /** --empty-removes: an empty CSV cell sends null (removing the attribute) instead of leaving it out. */
  emptyRemoves: boolean;
}

/** What the mapper knows of the source: headerless (one identifier per row) and the CSV header, if any. */
export interface SourceColumns {
  headerless: boolean;
  /** The CSV header; undefined for JSON/NDJSON, whose columns are taken from the first row. */
  names?: readonly string[] | undefined;
}

/** A row's relationship, or why the row is invalid (a one-line reason naming the column). */
export type MapResult = { ok: true; relationship: Relationship } | { ok: false; reason: string; column?: string | undefined };

/** Why a row is invalid, as the pipeline's mapping returns it (issue 16: no result object for a valid row). */
export class MapFailure {
  readonly ok = false;
  constructor(
    readonly reason: string,
    readonly column?: string,
  ) {}
}

/** Turns rows into validated relationships. */
export interface Mapper {
  /** Maps one row. May throw ColumnError on the first JSON row, when the columns are resolved. */
  map(row: Row): MapResult;
  /** map() without the result object of a valid row (the pipeline's hot path): the relationship, or why not. */
  relationshipOf(row: Row): Relationship | MapFailure;
}

/** The columns of a source cannot provide what the flags ask for; the command reports it on line 1. */
export class ColumnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ColumnError";
  }
}

/** `fallback`: the column a row's person is taken from when `column` is empty in that row (id → cio_id). */
type PersonSide =
  { fixed: PersonRef } | { column: string; key: PersonKey; label: string; fallback?: { column: string; key: PersonKey; label: string } };
type ObjectSide = { fixed: ObjectRef } | { column: string; cio: boolean; label: string; typeColumn: string | undefined };

interface Resolved {
  person: PersonSide;
  object: ObjectSide;
  /** Attribute columns; "*" means every key of each row not in `identifierColumns` (JSON rows vary). */
  attributes: readonly string[] | "*";
  identifierColumns: ReadonlySet<string>;
  /**
   * Values shared between rows, so that a million rows do not each keep their own copy until they are
   * sent (fewer live objects, less GC): the previous row's object (sorted input repeats it), and the
   * attributes of a single attribute column by value (a role column holds few values).
   */
  shared: {
    object: ObjectRef | undefined;
    attributes: Map<string, Record<string, AttributeValue>>;
    /** The previous row's single attribute value and its object (a column of one value repeats it row after row). */
    lastValue: string | undefined;
    lastAttributes: Record<string, AttributeValue> | undefined;
  };
}

/** Distinct attribute values shared per mapper; past this, rows get their own objects. */
const MAX_SHARED_ATTRIBUTES = 1_000;

/** Builds a mapper; throws ColumnError when the header cannot satisfy the options. */
export function createMapper(options: MappingOptions, columns: SourceColumns): Mapper {
  const { fixedObject, fixedPerson } = options;
  if (fixedObject !== undefined && fixedPerson !== undefined) {
    throw new ColumnError("--object and --person cannot be combined: rows would have nothing to name");
  }
  // CSV values are always strings, where "" means an empty cell; JSON "" is a value the user wrote.
  const csv = columns.names !== undefined;
  let resolved = columns.headerless ? resolveHeaderless(options) : columns.names ? resolve(options, columns.names, true) : undefined;

  const relationshipOf = (row: Row): Relationship | MapFailure => {
    // A one-column CSV saved as .txt (or read with --no-header) starts with its header: never send "email" as a person.
    if (columns.headerless && row.line === 1) {
      const first = row.fields[IDENTIFIER_COLUMN];
      if (typeof first === "string" && HEADER_NAMES.has(first.trim().toLowerCase())) {
        return new MapFailure(
          `the first line (${JSON.stringify(first.trim())}) looks like a header, not an identifier: delete it, or read the file as a CSV with its header (--format csv, without --no-header)`,
        );
      }
    }
    resolved ??= resolve(options, Object.keys(row.fields), false);
    return mapRow(resolved, options, csv, row);
  };
  return mapperOf(relationshipOf);
}

/** The Mapper of a relationshipOf function. */
export function mapperOf(relationshipOf: (row: Row) => Relationship | MapFailure): Mapper {
  return {
    relationshipOf,
    map(row: Row): MapResult {
      const r = relationshipOf(row);
      return r instanceof MapFailure ? r : { ok: true, relationship: r };
    },
  };
}

/** Column names that, as the first line of a headerless list, are its header rather than an identifier. */
const HEADER_NAMES = new Set(["id", "email", "cio_id", "object_id", "cio_object_id", "person_id", "user_id", "customer_id"]);

function resolveHeaderless(options: MappingOptions): Resolved {
  const wantsAttributes = options.attributes === "*" || (options.attributes?.length ?? 0) > 0;
  if (wantsAttributes) {
    throw new ColumnError("--attributes needs a header row; this input holds one identifier per row");
  }
  const label = "the identifier";
  const person: PersonSide = options.fixedPerson
    ? { fixed: options.fixedPerson }
    : { column: IDENTIFIER_COLUMN, key: options.personKey ?? "id", label };
  let object: ObjectSide;
  if (options.fixedObject) object = { fixed: options.fixedObject };
  else if (options.fixedPerson) object = { column: IDENTIFIER_COLUMN, cio: false, label, typeColumn: undefined };
  else {
    throw new ColumnError("this input holds one identifier per row and no header: pass --object or --person for the other side");
  }
  return { person, object, attributes: [], identifierColumns: new Set([IDENTIFIER_COLUMN]), shared: newShared() };
}

/** `header`: names are a CSV header, which every row has; else the first JSON row's keys. */
function resolve(options: MappingOptions, names: readonly string[], header: boolean): Resolved {
  try {
    return resolveColumns(options, names, header);
  } catch (e) {
    const hint = header && e instanceof ColumnError ? headerHint(names) : undefined;
    if (hint === undefined) throw e;
    // The usual advice (--person-column 5001) would make the first identifier a column name and drop it.
    throw new ColumnError(`${(e as ColumnError).message.replace(/:.*$/s, "").replace(/ \(columns: .*$/s, "")}: ${hint}`);
  }
}

/** Identifier-like text: digits, an email address, or a UUID. */
const DATA_LIKE = /^(?:[0-9]+|[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/**
 * What a header that cannot be mapped probably means (issue 10): a first line of identifiers is a file without a
 * header; a single column holding ";", TAB or "|" is a file with another delimiter. Undefined when neither fits.
 */
export function headerHint(names: readonly string[]): string | undefined {
  if (names.length > 0 && names.every((n) => DATA_LIKE.test(n))) {
    const shown = names.length === 1 ? JSON.stringify(names[0]) : `${JSON.stringify(names[0])}, ...`;
    return `the first line (${shown}) looks like data, not a header: if the file has no header row, pass --no-header`;
  }
  const only = names.length === 1 ? (names[0] as string) : undefined;
  const delimiter = only === undefined ? undefined : [";", "\t", "|"].find((d) => only.includes(d));
  if (delimiter !== undefined) {
    const flag = delimiter === "\t" ? "--delimiter '\\t'" : `--delimiter '${delimiter}'`;
    return `the header is one column, ${JSON.stringify(only)}: if the file is separated by ${delimiter === "\t" ? "tabs" : JSON.stringify(delimiter)}, pass ${flag}`;
  }
  return undefined;
}

function resolveColumns(options: MappingOptions, names: readonly string[], header: boolean): Resolved {
  const has = new Set(names);
  const listed = `(columns: ${names.join(", ")})`;

  let person: PersonSide;
  if (options.fixedPerson) person = { fixed: options.fixedPerson };
  else if (options.personColumn !== undefined) {
    const column = options.personColumn;
    if (!has.has(column)) throw new ColumnError(`person column ${JSON.stringify(column)} not found ${listed}`);
    person = { column, key: options.personKey ?? asPersonKey(column) ?? "id", label: columnLabel(column) };
  } else {
    const candidates = PERSON_KEYS.filter((k) => has.has(k));
    // --person-key is a choice too: with columns id and email, --person-key email picks email.
    // What `cio-rel list` writes (id, email, cio_id) reads back with no flags: a person is their id, or their
    // cio_id in a row whose id is empty, so a person without an id is still addressed exactly (issue 12).
    // The email column is then only information: one email may name several people.
    const idThenCio = options.personKey === undefined && candidates.includes("id") && candidates.includes("cio_id");
    const column =
      options.personKey !== undefined && candidates.includes(options.personKey)
        ? options.personKey
        : candidates.length === 1 || idThenCio
          ? candidates[0]
          : undefined;
    if (column === undefined) {
      throw new ColumnError(
        candidates.length === 0
          ? `no person column: expected one of ${PERSON_KEYS.join(", ")}, or pass --person-column ${caseHint(names, PERSON_KEYS)}${listed}`
          : `several person columns (${candidates.join(", ")}): pass --person-column or --person-key to choose one`,
      );
    }
    person = { column, key: options.personKey ?? column, label: columnLabel(column) };
    if (idThenCio) person.fallback = { column: "cio_id", key: "cio_id", label: columnLabel("cio_id") };
  }

  let object: ObjectSide;
  if (options.fixedObject) object = { fixed: options.fixedObject };
  else {
    let column = options.objectColumn;
    if (column !== undefined && !has.has(column)) {
      throw new ColumnError(`object column ${JSON.stringify(column)} not found ${listed}`);
    }
    column ??= has.has(OBJECT_ID_COLUMN) ? OBJECT_ID_COLUMN : has.has(CIO_OBJECT_ID_COLUMN) ? CIO_OBJECT_ID_COLUMN : undefined;
    if (column === undefined) {
      throw new ColumnError(
        `no object column: expected ${OBJECT_ID_COLUMN} or ${CIO_OBJECT_ID_COLUMN}, or pass --object-column ${caseHint(names, [OBJECT_ID_COLUMN, CIO_OBJECT_ID_COLUMN])}${listed}`,
      );
    }
    const cio = column === CIO_OBJECT_ID_COLUMN;
    const typeColumn = !cio && has.has(OBJECT_TYPE_COLUMN) ? OBJECT_TYPE_COLUMN : undefined;
    object = { column, cio, label: columnLabel(column), typeColumn };
  }

  // Identifier-named columns are never attributes under "*", even when another column was chosen
  // for the person or object: an email column is a person's data, not the relationship's.
  const identifierColumns = new Set<string>([...PERSON_KEYS, OBJECT_ID_COLUMN, CIO_OBJECT_ID_COLUMN, OBJECT_TYPE_COLUMN, ERROR_COLUMN]);
  if ("column" in person) identifierColumns.add(person.column);
  if ("column" in object) identifierColumns.add(object.column);

  let attributes: readonly string[] | "*" = [];
  if (options.attributes === "*") {
    // A CSV row holds every header column, so the list can be fixed now; JSON rows may vary.
    attributes = header ? names.filter((n) => !identifierColumns.has(n)) : "*";
  } else if (options.attributes !== undefined) {
    const missing = options.attributes.filter((a) => !has.has(a));
    if (missing.length > 0) {
      const what = missing.length === 1 ? "attribute column" : "attribute columns";
      throw new ColumnError(`${what} ${missing.map((m) => JSON.stringify(m)).join(", ")} not found ${listed}`);
    }
    attributes = options.attributes;
  }
  return { person, object, attributes, identifierColumns, shared: newShared() };
}

function newShared(): Resolved["shared"] {
  return { object: undefined, attributes: new Map(), lastValue: undefined, lastAttributes: undefined };
}

/**
 * The exact flags for a column that is an expected name but for case or spaces (`Email`, `ID`, `Object_ID`), with
 * a trailing space, else "". `--person-column Email` alone would send the emails as ids, so the key is named too.
 */
function caseHint(names: readonly string[], expected: readonly string[]): string {
  const name = names.find((n) => expected.includes(n.trim().toLowerCase()));
  if (name === undefined) return "";
  const key = name.trim().toLowerCase();
  const quoted = /^[A-Za-z0-9_.-]+$/.test(name) ? name : `'${name.replace(/'/g, "'\\''")}'`;
  if (expected !== PERSON_KEYS) return `${quoted} `;
  return key === "id" ? `${quoted} ` : `${quoted} --person-key ${key} `;
}

function asPersonKey(name: string): PersonKey | undefined {
  return (PERSON_KEYS as readonly string[]).includes(name) ? (name as PersonKey) : undefined;
}

function columnLabel(column: string): string {
  return `column ${JSON.stringify(column)}`;
}

function invalid(reason: string, column: string): MapFailure {
  return new MapFailure(reason, column);
}

/**
 * An identifier cell as text: strings trimmed (stray spaces around ids are never meant); JSON numbers only when
 * they are whole, safe integers written as JavaScript writes them (issue 10: never a rounded or re-written id).
 */
function idText(raw: unknown): string | undefined {
  if (typeof raw === "string") return raw.trim();
  if (typeof raw === "number" && Number.isSafeInteger(raw)) return String(raw);
  return undefined;
}

/** Why a cell that idText refused cannot be an identifier. */
function idTypeProblem(raw: unknown): string {
  if (raw === undefined) return "is missing";
  if (raw === null) return "is empty";
  if (raw instanceof JsonNumber || typeof raw === "number") {
    const text = raw instanceof JsonNumber ? raw.text : String(raw);
    const value = raw instanceof JsonNumber ? raw.value : raw;
    const why = !Number.isFinite(value)
      ? "is out of range"
      : Number.isInteger(value) && Math.abs(value) < 1e21
        ? String(value) === text
          ? // Written exactly but past 2^53: 9007199254740993 reads as this same number, so it cannot be trusted.
            `is beyond ${Number.MAX_SAFE_INTEGER}, past which a JSON number cannot be told from its neighbours`
          : `would be sent as ${String(value)}`
        : "is not a whole number";
    return `is the JSON number ${text}, which ${why}: quote it in the file ("${text}") to send it as written`;
  }
  return `must be a string or a number, not ${kindOf(raw)}`;
}

/**
 * A JSON number as an attribute value: the number when it is the one the file wrote (1.10 and 1e3 are, as
 * numbers), else the reason it cannot be sent (12345678901234567890 would arrive as 12345678901234567000).
 */
function attributeNumber(name: string, raw: JsonNumber): AttributeValue | { problem: string } {
  if (Number.isFinite(raw.value) && sameDecimal(raw.text, String(raw.value))) return raw.value;
  const sent = Number.isFinite(raw.value) ? `would be sent as ${String(raw.value)}` : "is out of range";
  return { problem: `attribute ${JSON.stringify(name)} is the JSON number ${raw.text}, which ${sent}: quote it in the file to send it exactly` };
}

/** Whether two JSON/JavaScript number texts denote the same decimal value ("1.10" and "1.1", "1e3" and "1000"). */
export function sameDecimal(a: string, b: string): boolean {
  const x = decimalParts(a);
  const y = decimalParts(b);
  return x !== undefined && y !== undefined && x.digits === y.digits && x.exponent === y.exponent && (x.digits === "" || x.negative === y.negative);
}

function decimalParts(text: string): { negative: boolean; digits: string; exponent: number } | undefined {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  if (m === null) return undefined;
  const fraction = m[3] ?? "";
  let digits = ((m[2] as string) + fraction).replace(/^0+/, "");
  let exponent = Number(m[4] ?? "0") - fraction.length;
  const trimmed = digits.replace(/0+$/, "");
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  return { negative: m[1] === "-", digits, exponent: digits === "" ? 0 : exponent };
}

function kindOf(raw: unknown): string {
  if (Array.isArray(raw)) return "an array";
  const t = typeof raw;
  return t === "object" ? "an object" : t === "boolean" ? "a boolean" : `a ${t}`;
}

function mapRow(r: Resolved, options: MappingOptions, csv: boolean, row: Row): Relationship | MapFailure {
  const fields = row.fields;

  let person: PersonRef;
  const ps = r.person;
  if ("fixed" in ps) person = ps.fixed;
  else {
    let side: { column: string; key: PersonKey; label: string } = ps;
    let raw = fields[ps.column];
    let value = idText(raw);
    if (ps.fallback !== undefined && (value === "" || raw === undefined || raw === null)) {
      const fb = ps.fallback;
      const fbValue = idText(fields[fb.column]);
      if (fbValue === undefined || fbValue === "") return invalid(`${ps.label} and ${fb.label} are both empty: the row names no person`, ps.column);
      side = fb;
      raw = fields[fb.column];
      value = fbValue;
    }
    if (value === undefined) return invalid(`${side.label} ${idTypeProblem(raw)}`, side.column);
    const problem = personValueProblem(side.key, value);
    if (problem !== undefined) return invalid(`${side.label} ${problem}`, side.column);
    person = { key: side.key, value };
  }

  let object: ObjectRef;
  const os = r.object;
  if ("fixed" in os) object = os.fixed;
  else {
    const raw = fields[os.column];
    const value = idText(raw);
    if (value === undefined) return invalid(`${os.label} ${idTypeProblem(raw)}`, os.column);
    const last = r.shared.object;
    // The previous row's object id passed this check already (sorted input repeats it row after row).
    const checked = last !== undefined && (os.cio ? "cioObjectId" in last && last.cioObjectId === value : "id" in last && last.id === value);
    const problem = checked ? undefined : objectValueProblem(value);
    if (problem !== undefined) return invalid(`${os.label} ${problem}`, os.column);
    if (os.cio) object = last !== undefined && "cioObjectId" in last && last.cioObjectId === value ? last : { cioObjectId: value };
    else {
      let typeId = options.objectType;
      if (os.typeColumn !== undefined) {
        // An empty type cell falls back to --object-type, as a missing column does.
        const rawType = fields[os.typeColumn];
        if (rawType !== undefined && rawType !== null && rawType !== "") {
          // A type id is a positive integer whatever the JSON: 1.5 or 1e3 get that reason, not "quote it".
          const text = idText(rawType) ?? (typeof rawType === "number" ? String(rawType) : rawType instanceof JsonNumber ? rawType.text : undefined);
          const typeProblem = text === undefined ? idTypeProblem(rawType) : objectTypeIdProblem(text);
          if (typeProblem !== undefined) return invalid(`${columnLabel(os.typeColumn)} ${typeProblem}`, os.typeColumn);
          typeId = text as string;
        }
      }
      object = last !== undefined && "typeId" in last && last.id === value && last.typeId === typeId ? last : { typeId, id: value };
    }
    r.shared.object = object;
  }

  // One CSV attribute column (--attributes role): share one attributes object per distinct value.
  const one = csv && r.attributes !== "*" && r.attributes.length === 1 ? r.attributes[0] : undefined;
  if (one !== undefined && one !== "__proto__") {
    const raw = fields[one];
    if (typeof raw === "string" && raw !== "") {
      const shared = r.shared;
      // The previous row's value is compared first: the same string (the parser hands it over again) costs no lookup.
      let attributes = raw === shared.lastValue ? shared.lastAttributes : shared.attributes.get(raw);
      if (attributes === undefined) {
        attributes = { [one]: raw };
        const problem = attributesProblem(attributes);
        if (problem !== undefined) return new MapFailure(problem);
        if (shared.attributes.size < MAX_SHARED_ATTRIBUTES) shared.attributes.set(raw, attributes);
      }
      shared.lastValue = raw;
      shared.lastAttributes = attributes;
      return mapped(row, person, object, attributes);
    }
  }

  let attributes: Record<string, AttributeValue> | undefined;
  let count = 0;
  const names = r.attributes === "*" ? Object.keys(fields) : r.attributes;
  for (const name of names) {
    if (r.attributes === "*" && r.identifierColumns.has(name)) continue;
    const raw = fields[name];
    let value: AttributeValue;
    if (typeof raw === "string") {
      if (csv && raw === "") {
        if (!options.emptyRemoves) continue;
        value = null;
      } else value = raw;
    } else if (raw === null || typeof raw === "boolean" || (typeof raw === "number" && Number.isFinite(raw))) {
      value = raw;
    } else if (raw === undefined) continue;
    else if (raw instanceof JsonNumber) {
      const number = attributeNumber(name, raw);
      if (typeof number === "object" && number !== null) return invalid(number.problem, name);
      value = number;
    } else {
      return invalid(`attribute ${JSON.stringify(name)} is ${kindOf(raw)}; values must be strings, numbers or booleans`, name);
    }
    attributes ??= {};
    // A JSON key "__proto__" must stay an attribute, not replace the prototype. (Not a null-prototype
    // object throughout: those are dictionary-mode and make JSON.stringify twice as slow.)
    if (name === "__proto__") Object.defineProperty(attributes, name, { value, enumerable: true, writable: true, configurable: true });
    else attributes[name] = value;
    count++;
  }

  if (attributes !== undefined && count > 0) {
    const problem = attributesProblem(attributes);
    if (problem !== undefined) return new MapFailure(problem);
    return mapped(row, person, object, attributes);
  }
  return mapped(row, person, object, undefined);
}

/**
 * A mapped row. The relationship is made whole by one literal: a property added after it is made (attributes) costs
 * a second object per row, an out-of-object property store, which a million rows keep alive until they are packed.
 */
function mapped(row: Row, person: PersonRef, object: ObjectRef, attributes: Record<string, AttributeValue> | undefined): Relationship {
  return attributes === undefined
    ? { index: row.index, line: row.line, person, object }
    : { index: row.index, line: row.line, person, object, attributes };
}
