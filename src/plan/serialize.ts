import type { Action, ObjectRef, PersonRef, Relationship } from "../model/types.js";
import type { Batch, Operation } from "./types.js";

// The exact JSON cio-rel sends. Built from pieces so the packer can count bytes as it goes
// (op = head + rel,rel,... + OP_TAIL; body = BATCH_HEAD + op,op,... + BATCH_TAIL), and so that
// a dry run's --out file is byte for byte what the sender POSTs (issue 2).

/** Opens a `/api/v2/batch` body. */
export const BATCH_HEAD = '{"batch":[';
/** Closes a `/api/v2/batch` body. */
export const BATCH_TAIL = "]}";
/** Closes an operation. */
export const OP_TAIL = "]}";

/** `{"object_type_id":..,"object_id":..}` or `{"cio_object_id":..}`. */
export function objectIdentifiersJson(o: ObjectRef): string {
  return "cioObjectId" in o
    ? `{"cio_object_id":${JSON.stringify(o.cioObjectId)}}`
    : `{"object_type_id":${JSON.stringify(o.typeId)},"object_id":${JSON.stringify(o.id)}}`;
}

/** `{"id":..}`, `{"email":..}` or `{"cio_id":..}`: exactly one person identifier (API.md). */
export function personIdentifiersJson(p: PersonRef): string {
  return `{${JSON.stringify(p.key)}:${JSON.stringify(p.value)}}`;
}

/** Everything of an operation before its first relationship. */
export function operationHead(op: Pick<Operation, "type" | "action"> & { object?: ObjectRef; person?: PersonRef }): string {
  const ids =
    op.type === "object" ? objectIdentifiersJson(op.object as ObjectRef) : personIdentifiersJson(op.person as PersonRef);
  return `{"type":"${op.type}","identifiers":${ids},"action":"${op.action}","cio_relationships":[`;
}

/** One entry of `cio_relationships`: the other side's identifiers, plus attributes when adding. */
export function relationshipJson(opType: "object" | "person", action: Action, rel: Relationship): string {
  const ids = opType === "object" ? personIdentifiersJson(rel.person) : objectIdentifiersJson(rel.object);
  // relationship_attributes mean nothing to delete_relationships (API.md), so they are not sent there.
  if (action === "add_relationships" && rel.attributes !== undefined && Object.keys(rel.attributes).length > 0) {
    return `{"identifiers":${ids},"relationship_attributes":${JSON.stringify(rel.attributes)}}`;
  }
  return `{"identifiers":${ids}}`;
}

/** The full JSON of one operation. */
export function operationJson(op: Operation): string {
  const parts = op.relationships.map((r) => relationshipJson(op.type, op.action, r));
  return operationHead(op) + parts.join(",") + OP_TAIL;
}

/** A batch of the given operations, with its exact body and byte count. */
export function makeBatch(seq: number, operations: Operation[]): Batch {
  const body = BATCH_HEAD + operations.map(operationJson).join(",") + BATCH_TAIL;
  return { seq, operations, body, bytes: Buffer.byteLength(body) };
}

/** The input lines a batch carries, in operation order. */
export function batchLines(batch: Pick<Batch, "operations">): number[] {
  const lines: number[] = [];
  for (const op of batch.operations) for (const r of op.relationships) lines.push(r.line);
  return lines;
}
