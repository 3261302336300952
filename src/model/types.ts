/** The three identifiers a person can be addressed by inside a relationship (API.md: exactly one). */
export const PERSON_KEYS = ["id", "email", "cio_id"] as const;
/** One of PERSON_KEYS. */
export type PersonKey = (typeof PERSON_KEYS)[number];

/** A person as Customer.io identifies them. */
export interface PersonRef {
  key: PersonKey;
  value: string;
}

/** An object as Customer.io identifies it: by type and id, or by its cio_object_id. */
export type ObjectRef = { typeId: string; id: string } | { cioObjectId: string };

/** Relationship attribute values as sent: JSON scalars; null removes the attribute. */
export type AttributeValue = string | number | boolean | null;

/** One person–object link taken from one input row. */
export interface Relationship {
  /** Row.index of the input row it came from: its identity. */
  index: number;
  /** 1-based line of the input row it came from (messages only). */
  line: number;
  person: PersonRef;
  object: ObjectRef;
  /** Present only when the user asked for attributes and the row has some. */
  attributes?: Record<string, AttributeValue>;
}

/** Whether relationships are being added or removed. */
export type Action = "add_relationships" | "delete_relationships";

/** Outcome of one input row; every row ends in exactly one (issue 4). */
export type Outcome =
  | { kind: "applied" }
  /** retry: the failure was not the row's (network, timeout, 5xx, 429 after retries): not journalled, so --resume sends it again. */
  | { kind: "failed"; reason: string; status?: number; field?: string; retry?: boolean }
  | { kind: "invalid"; reason: string; column?: number }
  /** supersededBy: the Row.index of the later row that carries the pair. */
  | { kind: "duplicate"; supersededBy: number }
  | { kind: "skipped"; reason: string }
  /** Sent and accepted (applied), but --verify could not read it back from Customer.io (issue 14). */
  | { kind: "unconfirmed"; reason: string };

/** The outcome names, in the order summaries list them. */
export const OUTCOME_KINDS = ["applied", "failed", "invalid", "duplicate", "skipped", "unconfirmed"] as const;
export type OutcomeKind = (typeof OUTCOME_KINDS)[number];

/** Stable text for an object reference, as reports show it: "1:acme" or "cio_object_id:abc". */
export function objectLabel(o: ObjectRef): string {
  return "cioObjectId" in o ? `cio_object_id:${o.cioObjectId}` : `${o.typeId}:${o.id}`;
}

/** Stable text for a person reference, as reports show it: "id:42" or "email:a@b.c". */
export function personLabel(p: PersonRef): string {
  return `${p.key}:${p.value}`;
}
