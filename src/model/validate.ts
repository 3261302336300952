import {
  MAX_ATTRIBUTE_NAME_BYTES,
  MAX_ATTRIBUTE_VALUE_BYTES,
  MAX_ATTRIBUTES,
  MAX_ATTRIBUTES_BYTES,
  MAX_OBJECT_ID_BYTES,
  MAX_PERSON_ID_BYTES,
  utf8Length,
} from "./limits.js";
import type { AttributeValue, ObjectRef, PersonKey, PersonRef } from "./types.js";

// Checks against Customer.io's limits (issue 2, "Validation"). Each returns a problem phrase such as
// `is empty` — or undefined when the value is fine — so that the mapper can say `column "email" is empty`
// and a flag check can say `--person is empty` with one source of wording.

/** Positive integer without sign or leading zeros: "1", "2", "10" — never "0", "01", "-1", "1.5". */
const OBJECT_TYPE_ID = /^[1-9][0-9]*$/;

// Deliberately permissive: Customer.io decides what a valid address is, cio-rel only stops the
// obvious mistakes (a name or an id in the email column). One "@", something before it, a domain
// with a dot that neither starts nor ends it, and no whitespace anywhere.
const EMAIL = /^[^\s@]+@[^\s@.][^\s@]*\.[^\s@]*[^\s@.]$/;

/** Whether a value looks like an email address (the check `--person-key email` applies). */
export function looksLikeEmail(value: string): boolean {
  return EMAIL.test(value);
}

/** Why an object_type_id is unacceptable, or undefined: it must be a positive integer string (API.md). */
export function objectTypeIdProblem(typeId: string): string | undefined {
  return OBJECT_TYPE_ID.test(typeId) ? undefined : `must be a positive integer, not ${quote(typeId)}`;
}

/** C0 control characters and DEL: never part of an identifier someone meant (issue 10: `10\u000001` was sent). */
// eslint-disable-next-line no-control-regex -- matching control characters is this regex's whole purpose
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why an identifier holds a control character, naming it and where, or undefined. */
export function controlProblem(value: string): string | undefined {
  // Twice per row: a loop over a short value costs a fraction of a RegExp exec; the RegExp then finds and names it.
  if (value.length <= 64) {
    let found = false;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c === 0x7f) {
        found = true;
        break;
      }
    }
    if (!found) return undefined;
  }
  const m = CONTROL.exec(value);
  if (m === null) return undefined;
  const code = m[0].charCodeAt(0);
  const name = CONTROL_NAMES[code] ?? `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return `holds a control character (${name} at character ${m.index + 1}): ${quote(value)}`;
}

const CONTROL_NAMES: Readonly<Record<number, string>> = { 0: "NUL", 9: "TAB", 10: "LF", 13: "CR", 27: "ESC", 127: "DEL" };

/** Why a person identifier value is unacceptable for its key, or undefined. */
export function personValueProblem(key: PersonKey, value: string): string | undefined {
  if (value === "") return "is empty";
  const control = controlProblem(value);
  if (control !== undefined) return control;
  if (key === "email") {
    // No byte limit is documented for email identifiers; the 150-byte limit is the person ID's.
    return EMAIL.test(value) ? undefined : `is not an email address: ${quote(value)}`;
  }
  return idBytesProblem(value, MAX_PERSON_ID_BYTES);
}

/** Why an object id (or cio_object_id) value is unacceptable, or undefined. */
export function objectValueProblem(value: string): string | undefined {
  if (value === "") return "is empty";
  const control = controlProblem(value);
  if (control !== undefined) return control;
  return idBytesProblem(value, MAX_OBJECT_ID_BYTES);
}

function idBytesProblem(value: string, max: number): string | undefined {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short values need no count (this runs twice per row).
  if (value.length * 3 <= max) return undefined;
  const bytes = utf8Length(value);
  return bytes > max ? `is ${bytes} bytes; Customer.io allows at most ${max}` : undefined;
}

/** Checks a person given by flag (--person); returns a one-line reason, or undefined when valid. */
export function validatePerson(person: PersonRef): string | undefined {
  const problem = personValueProblem(person.key, person.value);
  return problem === undefined ? undefined : `person ${person.key} ${problem}`;
}

/** Checks an object given by flags (--object, --object-type); returns a one-line reason, or undefined. */
export function validateObject(object: ObjectRef): string | undefined {
  if ("cioObjectId" in object) {
    const problem = objectValueProblem(object.cioObjectId);
    return problem === undefined ? undefined : `cio_object_id ${problem}`;
  }
  const typeProblem = objectTypeIdProblem(object.typeId);
  if (typeProblem !== undefined) return `object type ${typeProblem}`;
  const problem = objectValueProblem(object.id);
  return problem === undefined ? undefined : `object id ${problem}`;
}

/**
 * Why a relationship's attributes break Customer.io's limits, or undefined. Names ≤ 150 bytes,
 * values ≤ 1,000 bytes (strings measured as themselves, numbers and booleans as their JSON text),
 * ≤ 300 attributes, and the whole map ≤ 100,000 bytes of JSON.
 */
export function attributesProblem(attributes: Record<string, AttributeValue>): string | undefined {
  let count = 0;
  let raw = 0;
  for (const name in attributes) {
    count++;
    const nameBytes = utf8Length(name);
    if (nameBytes > MAX_ATTRIBUTE_NAME_BYTES) {
      return `attribute name ${quote(name)} is ${nameBytes} bytes; Customer.io allows at most ${MAX_ATTRIBUTE_NAME_BYTES}`;
    }
    const value = attributes[name];
    const valueBytes = typeof value === "string" ? utf8Length(value) : value === null ? 0 : String(value).length;
    if (valueBytes > MAX_ATTRIBUTE_VALUE_BYTES) {
      return `attribute ${quote(name)} is ${valueBytes} bytes; Customer.io allows at most ${MAX_ATTRIBUTE_VALUE_BYTES}`;
    }
    raw += nameBytes + valueBytes;
  }
  if (count > MAX_ATTRIBUTES) return `${count} attributes; Customer.io allows at most ${MAX_ATTRIBUTES}`;
  // JSON escaping turns one byte into at most 6 ("\u0001"), and each entry adds at most 8 more
  // (`"":,` plus a string's quotes or `null`): below this bound the exact stringify is not needed.
  if (6 * raw + 8 * count + 2 <= MAX_ATTRIBUTES_BYTES) return undefined;
  const total = utf8Length(JSON.stringify(attributes));
  return total > MAX_ATTRIBUTES_BYTES ? `attributes are ${total} bytes in all; Customer.io allows at most ${MAX_ATTRIBUTES_BYTES}` : undefined;
}

/** A value for a message: JSON-quoted, shortened when long so that a reason stays one line. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
}
