import type { Action, ObjectRef, PersonKey, PersonRef, Relationship } from "../model/types.js";
import {
  BATCH_HEAD,
  BATCH_TAIL,
  OP_TAIL,
  operationHead as trackOperationHead,
  readBody as trackReadBody,
  relationshipJson as trackRelationshipJson,
  writeRelationship as trackWriteRelationship,
} from "./serialize.js";
import type { BodyReader } from "./packed-batch.js";
import { MAX_BATCH_BYTES, MAX_OPERATION_BYTES, type Batch, type Operation } from "./types.js";

// A destination's wire format and limits, in one place that the planner (Packer) and the sender (splitting
// and re-packing) both use (issue 11, "Destinations"). Bodies are built from pieces so the packer can count
// bytes as it goes:
//   operation = operationHead + rel,rel,... + operationTail
//   body      = batchHead + operation,operation,... + batchTail
// A route that cannot group relationships (Data Pipelines: one call per relationship) sets
// onePerOperation, with an empty head and tail, so that each relationship's JSON is a whole operation.

/** The routes relationships can take (--via): the Track API, or Data Pipelines (issue 15). */
export const ROUTES = ["track", "pipelines"] as const;
/** One of ROUTES. */
export type Route = (typeof ROUTES)[number];

/** How a destination writes relationships on the wire, and the limits its bodies must keep. */
export interface Encoder {
  /** The --via name of the route, for messages. */
  readonly route: Route;
  /** Largest request body in bytes (API.md: 500 KB as 500,000 bytes). */
  readonly maxBatchBytes: number;
  /** Largest operation (Track op, Pipelines call) in bytes. */
  readonly maxOperationBytes: number;
  /** What one operation is called in messages: "operation" (Track), "call" (Pipelines). */
  readonly operationNoun: string;
  /** Every relationship is its own operation: no grouping of several into one (Data Pipelines). */
  readonly onePerOperation: boolean;
  /** Opens and closes a request body. */
  readonly batchHead: string;
  readonly batchTail: string;
  /** Closes an operation ("" when onePerOperation). */
  readonly operationTail: string;
  /** The identifiers this route can address a person by, preferred first (sync picks one a listed person has). */
  readonly personKeys: readonly PersonKey[];
  /** Why this route cannot carry the relationship at all (e.g. a person given by email), or undefined. */
  reject(rel: Relationship, action: Action): string | undefined;
  /** Everything of an operation before its first relationship ("" when onePerOperation). */
  operationHead(type: Operation["type"], action: Action, ref: ObjectRef | PersonRef): string;
  /** One relationship inside an operation of `type` (the whole operation when onePerOperation). */
  relationshipJson(type: Operation["type"], action: Action, rel: Relationship): string;
  /**
   * relationshipJson's UTF-8 bytes written into buf at `at` when this route can do so directly and they take at most
   * `limit` bytes (issue 16: the packer's fast path); else -1, and buf from `at` on holds nothing useful.
   */
  readonly writeRelationship?: (type: Operation["type"], action: Action, rel: Relationship, buf: Buffer, at: number, limit: number) => number;
  /**
   * The relationships of a body this encoder wrote, as sent (issue 16: batches in flight keep their body and row ids
   * only, src/plan/packed-batch.ts); a route without it sends its batches with their rows as objects.
   */
  readonly readBody?: BodyReader;
}

/** Track API v2 `/api/v2/batch` (API.md "Track API v2"): many relationships per operation. */
export const trackEncoder: Encoder = {
  route: "track",
  maxBatchBytes: MAX_BATCH_BYTES,
  maxOperationBytes: MAX_OPERATION_BYTES,
  operationNoun: "operation",
  onePerOperation: false,
  personKeys: ["cio_id", "id", "email"],
  batchHead: BATCH_HEAD,
  batchTail: BATCH_TAIL,
  operationTail: OP_TAIL,
  // Track takes every identifier cio-rel reads: id, email, cio_id, object id and cio_object_id.
  reject: () => undefined,
  operationHead: (type, action, ref) =>
    type === "object"
      ? trackOperationHead({ type, action, object: ref as ObjectRef })
      : trackOperationHead({ type, action, person: ref as PersonRef }),
  relationshipJson: trackRelationshipJson,
  writeRelationship: trackWriteRelationship,
  readBody: trackReadBody,
};

/** The full JSON of one operation as `encoder` writes it. */
export function encodeOperation(encoder: Encoder, op: Operation): string {
  const ref = op.type === "object" ? op.object : op.person;
  const parts = op.relationships.map((r) => encoder.relationshipJson(op.type, op.action, r));
  return encoder.operationHead(op.type, op.action, ref) + parts.join(",") + encoder.operationTail;
}

/** A batch of the given operations with its exact body and byte count (splitting a batch keeps its seq). */
export function encodeBatch(encoder: Encoder, seq: number, operations: Operation[]): Batch {
  const body = Buffer.from(encoder.batchHead + operations.map((op) => encodeOperation(encoder, op)).join(",") + encoder.batchTail);
  return { seq, operations, body, bytes: body.length };
}
