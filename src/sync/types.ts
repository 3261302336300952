// The values `cio-rel sync` and `undo` work with (issue 13). Pure data: no I/O anywhere under src/sync.
import type { AttributeValue, ObjectRef, PersonKey, PersonRef } from "../model/types.js";

/** A person as the App API lists them beside an object: always a cio_id, id and email when they have one. */
export interface CurrentPerson {
  cio_id: string;
  id: string | null;
  email: string | null;
}

/** An object as the App API lists it beside a person, with the relationship's attributes. */
export interface CurrentObject {
  object_type_id: string;
  object_id: string;
  cio_object_id: string | null;
  attributes: Record<string, unknown>;
}

/** One pair the file asks for: who, what, the attributes to send, and where in the file it was written. */
export interface DesiredPair {
  person: PersonRef;
  object: ObjectRef;
  attributes?: Record<string, AttributeValue>;
  /** 1-based line of the input row (messages only). */
  line: number;
}

/** What a plan entry does: send an add, send a delete, nothing (already so), or nothing (cannot be matched). */
export type PlanOp = "add" | "delete" | "unchanged" | "keep";

/** The plan entries in the order they are applied and listed: adds first, so a run cut short never leaves fewer relationships than both states. */
export const PLAN_OPS: readonly PlanOp[] = ["add", "delete", "unchanged", "keep"];

/** One relationship of the plan. */
export interface PlanEntry {
  op: PlanOp;
  /** How the person is addressed when the entry is sent (deletes in object scope: by cio_id, which is exact). */
  person: PersonRef;
  object: ObjectRef;
  /** add: the attributes sent. */
  attributes?: Record<string, AttributeValue>;
  /** add: the pair is already there and is re-sent for its attributes (object scope with --attributes, or attributes differ). */
  resend?: boolean;
  /** The person's other identifiers as Customer.io listed them, for the plan's reader. */
  known?: Partial<Record<PersonKey, string>>;
  /** keep: why the entry cannot be decided. */
  reason?: string;
  /** Lines of the input the entry comes from (add, unchanged). */
  line?: number;
}

/** One member of the scope (an object, or a person with --scope person) and its counts. */
export interface ScopeGroup {
  /** "1:acme", or "id:42". */
  label: string;
  add: number;
  delete: number;
  unchanged: number;
  keep: number;
  /** Relationships Customer.io listed for it (in scope). */
  current: number;
}

/** Totals of a plan. `add` includes `resend`. */
export interface PlanCounts {
  add: number;
  delete: number;
  unchanged: number;
  /** People (or objects) in Customer.io the file's identifier cannot match: never deleted unless asked. */
  keep: number;
  /** Adds of pairs already there, sent again for their attributes. */
  resend: number;
  /** Distinct pairs the file asks for (duplicates collapsed). */
  desired: number;
  /** Rows of the file naming a pair another row names too. */
  duplicates: number;
  /** Relationships in Customer.io within the scope. */
  current: number;
  /** Of those, the ones some desired pair matched (more than unchanged + resend only when one email names several people). */
  matched: number;
}

/** The scope's kind: the objects' members are mirrored, or the people's objects. */
export type ScopeKind = "object" | "person";

/** A sync plan: every entry, per scope member, and totals. */
export interface Plan {
  scope: ScopeKind;
  /** The identifier people are matched on. */
  personKey: PersonKey;
  /** Object scope with --attributes: every desired pair is re-sent (object listings carry no attributes). */
  attributes: "none" | "resent" | "compared";
  entries: PlanEntry[];
  groups: ScopeGroup[];
  counts: PlanCounts;
}
