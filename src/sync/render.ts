// How a plan reads (issue 13): text for people, NDJSON for --plan-out (and for resuming), and the
// estimate of the reads it takes. Pure: returns strings, parses strings.
import { formatCount, formatDuration } from "../report/format.js";
import { objectLabel, personLabel, type AttributeValue, type ObjectRef, type PersonKey, type PersonRef } from "../model/types.js";
import { PLAN_OPS, type Plan, type PlanEntry, type PlanOp } from "./types.js";

/** The App API's documented rate, 10 requests/s (API.md "App API"): it bounds how fast a scope is read. */
export const APP_API_REQUESTS_PER_SECOND = 10;

/** Requests and time a read of the scope takes: one page per `pageLimit` relationships, at least one per member. */
export function estimateReads(expectedPerMember: Iterable<number>, pageLimit: number): { members: number; requests: number; seconds: number } {
  let members = 0;
  let requests = 0;
  for (const n of expectedPerMember) {
    members++;
    requests += Math.max(1, Math.ceil(n / pageLimit));
  }
  return { members, requests, seconds: requests / APP_API_REQUESTS_PER_SECOND };
}

/** "≈ 1,000 requests, about 1m 40s at the App API's 10 requests/s". */
export function formatEstimate(e: { requests: number; seconds: number }): string {
  return `${formatCount(e.requests)} requests, about ${formatDuration(e.seconds * 1000)} at the App API's ${APP_API_REQUESTS_PER_SECOND} requests/s`;
}

/** Options of formatPlan. */
export interface FormatPlanOptions {
  /** Lines listed per kind (add, delete, keep); the rest are counted. */
  first?: number;
  /** Scope members listed with their counts; members with changes first. */
  groups?: number;
}

/** "1 object", "3 objects". */
const plural = (n: number, one: string, many: string): string => `${formatCount(n)} ${n === 1 ? one : many}`;

const VERB: Record<PlanOp, string> = { add: "add", delete: "delete", unchanged: "unchanged", keep: "keep" };

/** One entry as a line of the plan: "add  id:42 → 1:acme {role: admin}". */
export function entryText(e: PlanEntry): string {
  const person = personLabel(e.person);
  const others = e.known !== undefined ? Object.entries(e.known).filter(([k]) => k !== e.person.key) : [];
  const aka = others.length > 0 ? ` (${others.map(([k, v]) => `${k}:${v}`).join(", ")})` : "";
  const attrs = e.attributes !== undefined ? ` ${JSON.stringify(e.attributes)}` : "";
  const why = e.resend === true ? " (already there: sent again for its attributes)" : e.reason !== undefined ? ` — ${e.reason}` : "";
  return `${person}${aka} → ${objectLabel(e.object)}${attrs}${why}`;
}

/**
 * The plan for people: totals, per-member counts (those with changes first), the first lines of each
 * kind, and what cannot be matched with the flag that would decide it.
 */
export function formatPlan(plan: Plan, o: FormatPlanOptions = {}): string {
  const first = o.first ?? 5;
  const maxGroups = o.groups ?? 20;
  const c = plan.counts;
  const members = plan.scope === "object" ? "objects" : "people";
  const lines: string[] = [];
  lines.push(
    `Plan: add ${formatCount(c.add)}, delete ${formatCount(c.delete)}, unchanged ${formatCount(c.unchanged)}` +
      (c.keep > 0 ? `, keep ${formatCount(c.keep)} unmatchable` : "") +
      ` — ${plural(plan.groups.length, plan.scope, members)} in scope, ${formatCount(c.current)} relationships there now, ` +
      `${formatCount(c.desired)} in the file, people matched on ${plan.personKey}`,
  );
  if (plan.attributes === "resent" && c.resend > 0) {
    lines.push(
      `  ${c.resend === 1 ? "1 of the adds is a pair" : `${formatCount(c.resend)} of the adds are pairs`} already there, sent again with their attributes: object listings carry no relationship attributes, so they cannot be compared (--scope person compares them)`,
    );
  }
  const changed = plan.groups.filter((g) => g.add + g.delete + g.keep > 0);
  const still = plan.groups.length - changed.length;
  const shown = changed.slice(0, maxGroups);
  if (shown.length > 0) {
    lines.push(`Per ${plan.scope === "object" ? "object" : "person"} (add / delete / unchanged${c.keep > 0 ? " / keep" : ""}):`);
    const width = Math.max(...shown.map((g) => g.label.length));
    for (const g of shown) {
      lines.push(`  ${g.label.padEnd(width)}  +${g.add} −${g.delete} =${g.unchanged}${c.keep > 0 ? ` ?${g.keep}` : ""}`);
    }
    if (changed.length > shown.length) lines.push(`  … and ${formatCount(changed.length - shown.length)} more ${members} with changes`);
  }
  if (still > 0) lines.push(`  ${plural(still, plan.scope, members)} already ${still === 1 ? "matches" : "match"} the file`);
  for (const op of ["add", "delete", "keep"] as const) {
    const n = op === "add" ? c.add : op === "delete" ? c.delete : c.keep;
    if (n === 0 || first === 0) continue;
    lines.push(`First ${VERB[op]}s:`);
    let listed = 0;
    for (const e of plan.entries) {
      if (e.op !== op) continue;
      lines.push(`  ${VERB[op]}  ${entryText(e)}`);
      if (++listed >= first) break;
    }
    if (n > listed) lines.push(`  … and ${formatCount(n - listed)} more`);
  }
  if (c.keep > 0) {
    lines.push(
      `${plural(c.keep, "related person has", "related people have")} no ${plan.personKey}, so the file cannot name them: they are kept, never deleted silently. ` +
        `To mirror them too, name people by cio_id (cio-rel list writes it; --person-key cio_id), or pass --delete-unmatchable to delete them.`,
    );
  }
  return lines.join("\n");
}

/** One identifier map in the Track API's shape: {"id": "42"} or {"object_type_id": "1", "object_id": "acme"}. */
const personJson = (p: PersonRef): Record<string, string> => ({ [p.key]: p.value });
const objectJson = (o: ObjectRef): Record<string, string> =>
  "cioObjectId" in o ? { cio_object_id: o.cioObjectId } : { object_type_id: o.typeId, object_id: o.id };

/** An entry as a line of --plan-out (no newline): identifiers in the Track API's shape. */
export function entryJson(e: PlanEntry): string {
  return JSON.stringify(entryDoc(e));
}

/** The document entryJson writes, as an object (sync reads its planned rows from these, with no JSON round trip). */
export function entryDoc(e: PlanEntry): Record<string, unknown> {
  const doc: Record<string, unknown> = { op: e.op, person: personJson(e.person), object: objectJson(e.object) };
  if (e.attributes !== undefined) doc["attributes"] = e.attributes;
  if (e.resend === true) doc["resend"] = true;
  if (e.known !== undefined) doc["known"] = e.known;
  if (e.reason !== undefined) doc["reason"] = e.reason;
  if (e.line !== undefined) doc["line"] = e.line;
  return doc;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is AttributeValue => v === null || ["string", "number", "boolean"].includes(typeof v);

/** Reads back one line entryJson wrote; returns a problem text for anything else (the caller adds file:line). */
export function parseEntry(text: string): PlanEntry | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { problem: "not a JSON line of a cio-rel plan" };
  }
  if (!isRecord(doc)) return { problem: "not a plan entry (an object was expected)" };
  const op = doc["op"];
  if (typeof op !== "string" || !(PLAN_OPS as readonly string[]).includes(op)) return { problem: `op must be one of ${PLAN_OPS.join(", ")}` };
  const person = doc["person"];
  const keys = isRecord(person) ? Object.keys(person) : [];
  const key = keys[0];
  if (!isRecord(person) || keys.length !== 1 || (key !== "id" && key !== "email" && key !== "cio_id") || typeof person[key] !== "string") {
    return { problem: "person must be exactly one of id, email or cio_id" };
  }
  const object = doc["object"];
  let ref: ObjectRef;
  if (isRecord(object) && typeof object["cio_object_id"] === "string") ref = { cioObjectId: object["cio_object_id"] };
  else if (isRecord(object) && typeof object["object_type_id"] === "string" && typeof object["object_id"] === "string") {
    ref = { typeId: object["object_type_id"], id: object["object_id"] };
  } else return { problem: "object must be {object_type_id, object_id} or {cio_object_id}" };
  const entry: PlanEntry = { op: op as PlanOp, person: { key, value: person[key] }, object: ref };
  const attrs = doc["attributes"];
  if (attrs !== undefined) {
    if (!isRecord(attrs) || !Object.values(attrs).every(isScalar)) return { problem: "attributes must be a flat map of scalars" };
    entry.attributes = attrs as Record<string, AttributeValue>;
  }
  if (doc["resend"] === true) entry.resend = true;
  if (isRecord(doc["known"])) {
    const k: Partial<Record<PersonKey, string>> = {};
    for (const name of ["id", "email", "cio_id"] as const) {
      const v = doc["known"][name];
      if (typeof v === "string") k[name] = v;
    }
    entry.known = k;
  }
  if (typeof doc["reason"] === "string") entry.reason = doc["reason"];
  if (typeof doc["line"] === "number") entry.line = doc["line"];
  return entry;
}
