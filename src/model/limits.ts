// Customer.io's documented limits on identifiers and relationship attributes. Source: the Track API
// spec's "Object and relationship limits" and "Customer limits" tables (shared/customerio/API.md,
// "Limits"). Byte limits are UTF-8 bytes; "100 Kilobytes" is taken as 100,000 bytes to stay safe.
// The request-size limits (500 KB batch, 32 KB operation) live in src/plan/types.ts.

/** "ID | 150 bytes | Max length of a person's ID value" (also applied to cio_id). */
export const MAX_PERSON_ID_BYTES = 150;
/** "Object ID | 150 bytes | Max length of a object's ID" (also applied to cio_object_id). */
export const MAX_OBJECT_ID_BYTES = 150;
/** "Attribute Names | 150 bytes | Max length of each attribute name". */
export const MAX_ATTRIBUTE_NAME_BYTES = 150;
/** "Attribute Values | 1000 bytes | Max length of attribute values". */
export const MAX_ATTRIBUTE_VALUE_BYTES = 1_000;
/** "Unique attributes | 300 | Max number of attributes allowed per object or relationship". */
export const MAX_ATTRIBUTES = 300;
/** "Total attribute size | 100 Kilobytes | Max size of all attributes associated with ... a relationship". */
export const MAX_ATTRIBUTES_BYTES = 100_000;

/** UTF-8 byte length of a string. (Measured: Buffer.byteLength beats a JS ASCII scan or regex test.) */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
