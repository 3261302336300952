// Pure reading of Track API answers (API.md "Responses", issue 4 "What each answer means").
import { STATUS_CODES } from "node:http";
import { RETRYABLE_STATUSES } from "./retry.js";

/** One entry of an `errors` array: `batch_index` on 207s, absent on 400s. */
export interface ApiErrorEntry {
  batch_index?: number;
  reason?: string;
  field?: string;
  message?: string;
}

/** What an answer asks the sender to do with the batch it answered. */
export type Answer =
  | { kind: "applied" }
  /** Ops at these indexes failed (several entries may name one op); every other op is applied. */
  | { kind: "partial"; status: number; failed: Map<number, ApiErrorEntry[]> }
  /** The batch as a whole was refused for its content: split it to find the bad rows. */
  | { kind: "invalid"; status: number; reason: string; field?: string }
  | { kind: "too-large"; status: number }
  | { kind: "retry"; status: number }
  | { kind: "redirect"; status: number }
  | { kind: "auth"; status: number }
  | { kind: "failed"; status: number; reason: string };

/** Longest piece of a response body quoted in a reason. */
export const BODY_SNIPPET_CHARS = 200;

/** "503 Service Unavailable". */
export function statusText(status: number): string {
  const text = STATUS_CODES[status];
  return text === undefined ? String(status) : `${status} ${text}`;
}

/** A body shortened to one line for a reason. */
export function bodySnippet(body: string): string {
  const flat = body.replace(/\s+/g, " ").trim();
  return flat.length > BODY_SNIPPET_CHARS ? `${flat.slice(0, BODY_SNIPPET_CHARS)}…` : flat;
}

/** The `errors` array of a JSON body, or undefined when there is none (or the body is not JSON). */
export function parseErrors(body: string): ApiErrorEntry[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof json !== "object" || json === null || !("errors" in json) || !Array.isArray(json.errors)) return undefined;
  return json.errors.map((e: unknown): ApiErrorEntry => {
    const out: ApiErrorEntry = {};
    if (typeof e !== "object" || e === null) return out;
    const r = e as Record<string, unknown>;
    if (typeof r.batch_index === "number") out.batch_index = r.batch_index;
    if (typeof r.reason === "string") out.reason = r.reason;
    if (typeof r.field === "string") out.field = r.field;
    if (typeof r.message === "string") out.message = r.message;
    return out;
  });
}

/** Readable text of one API error: `invalid_value: person id too long (field: identifiers.id)`. */
export function formatApiError(e: ApiErrorEntry): string {
  let s = [e.reason, e.message].filter((x) => x !== undefined && x !== "").join(": ");
  if (s === "") s = "rejected";
  return e.field !== undefined && e.field !== "" ? `${s} (field: ${e.field})` : s;
}

/** The text of several errors that concern the same rows. */
export function formatApiErrors(errors: ApiErrorEntry[]): string {
  return errors.map(formatApiError).join("; ");
}

/** What `status` with `body` means for a batch of `opCount` operations. */
export function readAnswer(status: number, body: string, opCount: number): Answer {
  if (status === 307 || status === 308) return { kind: "redirect", status };
  if (status === 401 || status === 403) return { kind: "auth", status };
  if (RETRYABLE_STATUSES.has(status)) return { kind: "retry", status };
  if (status === 413) return { kind: "too-large", status };
  if (status >= 200 && status < 300) {
    const errors = parseErrors(body);
    // A 200 carrying errors is read like a 207 (API.md: Segment's destination does the same).
    if (status !== 207 && (errors === undefined || errors.length === 0)) return { kind: "applied" };
    return perOperation(status, body, errors ?? [], opCount);
  }
  if (status === 400) {
    const errors = parseErrors(body);
    return errors !== undefined && errors.length > 0 ? invalid(status, errors) : { kind: "invalid", status, reason: withBody(status, body) };
  }
  return { kind: "failed", status, reason: withBody(status, body) };
}

/** 207 (or 200 with errors): sort the errors onto the ops they name. */
function perOperation(status: number, body: string, errors: ApiErrorEntry[], opCount: number): Answer {
  const failed = new Map<number, ApiErrorEntry[]>();
  for (const e of errors) {
    const i = e.batch_index;
    if (i === undefined || !Number.isInteger(i) || i < 0 || i >= opCount) continue;
    failed.set(i, [...(failed.get(i) ?? []), e]);
  }
  if (failed.size > 0) return { kind: "partial", status, failed };
  // Errors naming no op of ours (or a 207 with none): which rows are bad is unknown, so find them by splitting.
  return errors.length > 0 ? invalid(status, errors) : { kind: "invalid", status, reason: withBody(status, body) };
}

function invalid(status: number, errors: ApiErrorEntry[]): Answer {
  const field = errors.find((e) => e.field !== undefined)?.field;
  const reason = formatApiErrors(errors);
  return field === undefined ? { kind: "invalid", status, reason } : { kind: "invalid", status, reason, field };
}

function withBody(status: number, body: string): string {
  const snippet = bodySnippet(body);
  return snippet === "" ? statusText(status) : `${statusText(status)}: ${snippet}`;
}
