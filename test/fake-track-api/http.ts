// Small helpers the fake's own tests share: op builders and a raw POST that never throws on a status.
import { request } from "undici";
import type { FakeTrackApi } from "./server.js";
import { opBytes } from "./validation.js";

type PersonIds = Record<string, string>;
type ObjectIds = { object_type_id: string; object_id: string } | { cio_object_id: string };
type Rel<I> = { identifiers: I; relationship_attributes?: Record<string, unknown> };

/** An object-side op: one object, many people. */
export function objectOp(
  identifiers: ObjectIds,
  people: Array<Rel<PersonIds>>,
  action: "add_relationships" | "delete_relationships" = "add_relationships",
): Record<string, unknown> {
  return { type: "object", identifiers, action, cio_relationships: people };
}

/** A person-side op: one person, many objects. */
export function personOp(
  identifiers: PersonIds,
  objects: Array<Rel<ObjectIds>>,
  action: "add_relationships" | "delete_relationships" = "add_relationships",
): Record<string, unknown> {
  return { type: "person", identifiers, action, cio_relationships: objects };
}

/** An object op whose compact JSON is exactly `target` bytes (relationships padded with an attribute). */
export function opOfSize(target: number): Record<string, unknown> {
  const rels: Array<{ identifiers: { id: string }; relationship_attributes: { pad: string } }> = [];
  const size = (): number => opBytes(objectOp(obj("acme"), rels));
  const rel = (i: number, pad: number): (typeof rels)[number] => ({
    identifiers: { id: `p${i}` },
    relationship_attributes: { pad: "x".repeat(pad) },
  });
  for (;;) {
    const last = rels.length;
    rels.push(rel(last, 0));
    const room = target - size();
    if (room < 0) throw new Error(`no op of ${target} bytes can be built`);
    // An attribute value may not exceed 1,000 bytes: pad 900 at a time (leaving room for the next
    // relationship) and finish with the remainder once it fits in one value.
    rels[last] = rel(last, room <= 1_000 ? room : 900);
    if (room <= 1_000) return objectOp(obj("acme"), rels);
  }
}

/** `{ object_type_id: "1", object_id: id }`. */
export const obj = (id: string, typeId = "1"): ObjectIds => ({ object_type_id: typeId, object_id: id });

/** The Basic auth header for site:key. */
export const basic = (site = "site", key = "key"): string => `Basic ${Buffer.from(`${site}:${key}`).toString("base64")}`;

/** The Data Pipelines Basic auth header: the source key as user, an empty password. */
export const pipelinesBasic = (key = "pipelines-key"): string => `Basic ${Buffer.from(`${key}:`).toString("base64")}`;

/** A Data Pipelines group call in the relationships doc's form (objectTypeId at the top, attributes in context.relationshipTraits). */
export function groupCall(userId: string, groupId: string, attributes?: Record<string, unknown>, objectTypeId = "1"): Record<string, unknown> {
  return { type: "group", userId, groupId, objectTypeId, ...(attributes !== undefined && { context: { relationshipTraits: attributes } }) };
}

/** A Data Pipelines "Relationship Deleted" track call. */
export function deleteCall(userId: string, objectId: string, objectTypeId: number | string = 1): Record<string, unknown> {
  return { type: "track", userId, event: "Relationship Deleted", properties: { objectId, objectTypeId } };
}

/** A group call whose compact JSON is exactly `target` bytes (padded in one attribute). */
export function groupCallOfSize(target: number, userId = "u1", groupId = "acme"): Record<string, unknown> {
  const bare = Buffer.byteLength(JSON.stringify(groupCall(userId, groupId, { pad: "" })));
  if (target < bare) throw new Error(`no group call of ${target} bytes can be built`);
  return groupCall(userId, groupId, { pad: "x".repeat(target - bare) });
}

/** What a POST got back. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** POSTs a body (an object is JSON-encoded, a string sent as is) to the fake; auth null sends no header. */
export async function post(
  api: Pick<FakeTrackApi, "url">,
  body: unknown,
  opts: { path?: string; auth?: string | null; signal?: AbortSignal; method?: "POST" | "GET"; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { "content-type": "application/json", ...opts.headers };
  const auth = opts.auth === undefined ? basic() : opts.auth;
  if (auth !== null) headers["authorization"] = auth;
  const res = await request(`${api.url}${opts.path ?? "/api/v2/batch"}`, {
    method: opts.method ?? "POST",
    headers,
    ...(opts.method !== "GET" && { body: typeof body === "string" ? body : JSON.stringify(body) }),
    ...(opts.signal && { signal: opts.signal }),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}
