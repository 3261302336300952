// `--object-type accounts`: a type given by name or slug, resolved once per run through the App API (issue 12).
import { UsageError } from "../errors.js";
import type { ObjectTypeInfo } from "./client.js";

/** Whether an --object-type value is a type id (a positive integer) rather than a name. */
export const isTypeId = (value: string): boolean => /^[1-9][0-9]*$/.test(value);

/** Whether a value is meant as a name: it holds a letter ("0", "-1" or "1.5" are bad numbers, not names). */
export const isTypeName = (value: string): boolean => /\p{L}/u.test(value);

/** The id of the type whose id, name, slug, singular name or singular slug is `value` (names case-insensitive). */
export function matchObjectType(value: string, types: readonly ObjectTypeInfo[]): string {
  if (isTypeId(value)) return value;
  const want = value.trim().toLowerCase();
  const hits = types.filter((t) => [t.name, t.slug, t.singular_name, t.singular_slug].some((n) => n !== undefined && n.toLowerCase() === want));
  const ids = [...new Set(hits.map((t) => t.id))];
  const known = types.map((t) => `${t.id} (${t.name}${t.slug !== "" ? `, ${t.slug}` : ""})`).join(", ");
  if (ids.length === 0) throw new UsageError(`--object-type "${value}" names no object type of this workspace; its types: ${known || "none"}`);
  if (ids.length > 1) throw new UsageError(`--object-type "${value}" names several object types (${ids.join(", ")}): pass the type id`);
  return ids[0] as string;
}

/** The usage error for a type name given without an App API key to look it up. */
export function typeNameNeedsKey(value: string): UsageError {
  return new UsageError(
    `--object-type "${value}" is a name, and names are looked up in the App API: set CIO_APP_API_KEY or pass --app-api-key-file, ` +
      `or give the type id (a positive integer; \`cio-rel types\` lists them)`,
  );
}
