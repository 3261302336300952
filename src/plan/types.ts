import type { Action, ObjectRef, PersonRef, Relationship } from "../model/types.js";

/** Byte limits of the Track API v2 (API.md "Limits": KB taken as 1,000 bytes of UTF-8 JSON). */
export const MAX_BATCH_BYTES = 500_000;
/** Each op inside a batch, and an /entity body. */
export const MAX_OPERATION_BYTES = 32_000;

/** How relationships are grouped into operations (issue 2). */
/** --group-by: operations per object, per person, or whichever makes fewer. */
export const GROUP_BYS = ["object", "person", "auto"] as const;
export type GroupBy = (typeof GROUP_BYS)[number];

/** One Track API operation: one object with many people, or one person with many objects. */
export type Operation =
  | { type: "object"; action: Action; object: ObjectRef; relationships: Relationship[] }
  | { type: "person"; action: Action; person: PersonRef; relationships: Relationship[] };

/** One `/api/v2/batch` request body with the operations (and so the input rows) it carries. */
export interface Batch {
  /** 0-based order in which the planner emitted it. */
  seq: number;
  operations: Operation[];
  /** Exactly the bytes POSTed: `{"batch":[...]}` as UTF-8. */
  body: Buffer;
  /** Byte length of body. */
  bytes: number;
  /**
   * Gives the body's memory back for the next batch (issue 16): called once nothing reads the body any more
   * (written out, or applied whole). Calling it is optional: a body never released is simply collected.
   */
  release?: () => void;
}

/** What the planner tells the pipeline as rows flow through it. */
export type PlanEvent =
  | { type: "batch"; batch: Batch }
  /** An earlier row of the same person–object pair, superseded by a later one (its Row.index; later attributes win). */
  | { type: "duplicate"; relationship: Relationship; supersededBy: number }
  /** A relationship too large to fit an operation on its own. */
  | { type: "invalid"; relationship: Relationship; reason: string };

/** Running figures of a plan (dry-run output and summary). */
export interface PlanStats {
  relationships: number;
  operations: number;
  batches: number;
  bytes: number;
}
