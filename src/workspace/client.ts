// The App API client (issue 12): who is related to an object, what a person is related to, and the
// workspace's object types — read page by page through the shared exchange, under 10 requests/s.
import { createExchange, type Exchange, type ExchangeInfo, type ExchangeResult } from "../http/exchange.js";
import type { Sleep } from "../transport/rate-limiter.js";
import { bodySnippet, statusText } from "../transport/response.js";
import type { PersonKey } from "../model/types.js";

/** An object to list: the App API path always names a type, also for a cio_object_id. */
export type ListedObjectRef = { typeId: string; id: string } | { typeId: string; cioObjectId: string };

/** App API hosts by workspace region (API.md "App API"). */
export const APP_URLS = { us: "https://api.customer.io", eu: "https://api-eu.customer.io" } as const;
/** The App API's documented limit: 10 requests per second. */
export const APP_RATE = 10;
/** Entries asked per page (`limit`): the spec documents no maximum for these listings, 1000 only for POST /v1/customers. */
export const PAGE_LIMIT = 100;

/** A person related to an object, as the App API names them. */
export interface ListedPerson {
  id: string | null;
  email: string | null;
  cio_id: string;
}

/** An object related to a person, with the relationship's attributes. */
export interface ListedObject {
  object_type_id: string;
  object_id: string;
  cio_object_id: string | null;
  attributes: Record<string, unknown>;
}

/** An object type of the workspace. */
export interface ObjectTypeInfo {
  id: string;
  name: string;
  slug: string;
  singular_name?: string;
  singular_slug?: string;
}

/** Why a read ended without its answer. */
export type ReadFailure =
  | { kind: "not-found"; status: 404; reason: string }
  | { kind: "auth"; status: number; reason: string }
  | { kind: "failed"; status: number | undefined; reason: string }
  | { kind: "aborted"; reason: string };

/** A listing: every entry (de-duplicated) and the pages it took, or why it failed. */
export type Listing<T> = { ok: true; items: T[]; pages: number } | ({ ok: false; pages: number } & ReadFailure);

/** Settings of the client. */
export interface AppClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Requests per second across everything in flight (default 10). */
  ratePerSecond?: number;
  timeoutMs?: number;
  maxRetries?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** `limit` sent with each page (default PAGE_LIMIT). */
  pageLimit?: number;
  userAgent?: string;
  now?: () => number;
  sleep?: Sleep;
  random?: () => number;
  onRequest?: (info: ExchangeInfo) => void;
}

/** The App API client. */
export interface AppClient {
  objectTypes(): Promise<{ ok: true; types: ObjectTypeInfo[] } | ({ ok: false } & ReadFailure)>;
  /** The people related to an object, by type and id or by type and cio_object_id. */
  peopleOf(object: ListedObjectRef): Promise<Listing<ListedPerson>>;
  /** The objects related to a person, addressed by id, email or cio_id. */
  objectsOf(person: { key: PersonKey; value: string }): Promise<Listing<ListedObject>>;
  /** Requests made (retries included), pages read, retries. */
  readonly stats: { requests: number; pages: number; retries: number };
  readonly exchange: Exchange;
  abort(): void;
  close(): Promise<void>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : null);

/** The `detail` texts of a documented error body, or a snippet of whatever came. */
function errorDetail(status: number, body: string): string {
  try {
    const json: unknown = JSON.parse(body);
    if (isRecord(json) && Array.isArray(json["errors"])) {
      const details = json["errors"].map((e) => (isRecord(e) ? text(e["detail"]) : null)).filter((d): d is string => d !== null && d !== "");
      if (details.length > 0) return `${statusText(status)}: ${details.join("; ")}`;
    }
  } catch {
    // not JSON: quote it
  }
  const snippet = bodySnippet(body);
  return snippet === "" ? statusText(status) : `${statusText(status)}: ${snippet}`;
}

/** A non-2xx answer or an exchange failure as a ReadFailure. */
function failureOf(r: ExchangeResult, what: string): ReadFailure {
  if (r.kind === "aborted") return { kind: "aborted", reason: "interrupted" };
  if (r.kind === "failed") return { kind: "failed", status: r.status, reason: r.reason };
  // The client never calls stop() nor sets giveUpAfterMs, so this is only for completeness.
  if (r.kind === "stopped") return { kind: "failed", status: undefined, reason: r.reason };
  if (r.status === 401 || r.status === 403) {
    return {
      kind: "auth",
      status: r.status,
      reason: `App API ${r.status === 401 ? "authentication" : "permission"} refused (${r.status}): check CIO_APP_API_KEY`,
    };
  }
  if (r.status === 404) return { kind: "not-found", status: 404, reason: `${what} not found` };
  return { kind: "failed", status: r.status, reason: errorDetail(r.status, r.body) };
}

/** Creates the client over its own exchange. */
export function createAppClient(o: AppClientOptions): AppClient {
  const exchange = createExchange({
    baseUrl: o.baseUrl,
    headers: { authorization: `Bearer ${o.apiKey}`, accept: "application/json", "user-agent": o.userAgent ?? "cio-rel" },
    secrets: [o.apiKey],
    ratePerSecond: o.ratePerSecond ?? APP_RATE,
    ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }),
    ...(o.maxRetries !== undefined && { maxRetries: o.maxRetries }),
    ...(o.backoffBaseMs !== undefined && { backoffBaseMs: o.backoffBaseMs }),
    ...(o.backoffCapMs !== undefined && { backoffCapMs: o.backoffCapMs }),
    ...(o.now !== undefined && { now: o.now }),
    ...(o.sleep !== undefined && { sleep: o.sleep }),
    ...(o.random !== undefined && { random: o.random }),
    ...(o.onRequest !== undefined && { onRequest: o.onRequest }),
  });
  const pageLimit = o.pageLimit ?? PAGE_LIMIT;
  const stats = {
    get requests() {
      return exchange.stats.requests;
    },
    get retries() {
      return exchange.stats.retries;
    },
    pages: 0,
  };

  /**
   * Follows `next` until it is empty or absent, de-duplicating entries by `keyOf`. A `next` seen before
   * would loop forever: it ends the listing as failed instead.
   */
  async function list<T>(path: string, what: string, read: (entry: unknown) => T | undefined, keyOf: (t: T) => string): Promise<Listing<T>> {
    const items: T[] = [];
    const seen = new Set<string>();
    const tokens = new Set<string>();
    let pages = 0;
    let start: string | undefined;
    for (;;) {
      const query = new URLSearchParams(path.includes("?") ? path.slice(path.indexOf("?") + 1) : "");
      if (start !== undefined) query.set("start", start);
      query.set("limit", String(pageLimit));
      const r = await exchange.send("GET", `${path.split("?")[0]}?${query.toString()}`);
      if (r.kind !== "answer" || r.status < 200 || r.status >= 300) return { ok: false, pages, ...failureOf(r, what) };
      pages++;
      stats.pages++;
      let json: unknown;
      try {
        json = JSON.parse(r.body);
      } catch {
        return {
          ok: false,
          pages,
          kind: "failed",
          status: r.status,
          reason: `the App API answered ${what} with a body that is not JSON: ${bodySnippet(r.body)}`,
        };
      }
      const entries = isRecord(json) ? json["cio_relationships"] : undefined;
      if (!Array.isArray(entries)) {
        return { ok: false, pages, kind: "failed", status: r.status, reason: `the App API answered ${what} without a cio_relationships array` };
      }
      for (const e of entries) {
        const item = read(e);
        if (item === undefined) continue;
        const key = keyOf(item);
        if (seen.has(key)) continue; // pages may repeat an entry of the page before (API.md)
        seen.add(key);
        items.push(item);
      }
      const next = (json as Record<string, unknown>)["next"];
      if (next === undefined || next === null || next === "") return { ok: true, items, pages };
      if (typeof next !== "string")
        return { ok: false, pages, kind: "failed", status: r.status, reason: `the App API gave ${what} a next that is not a string` };
      if (tokens.has(next)) {
        return {
          ok: false,
          pages,
          kind: "failed",
          status: r.status,
          reason: `the App API repeated the page token ${JSON.stringify(next.slice(0, 40))} for ${what}: stopped instead of looping`,
        };
      }
      tokens.add(next);
      start = next;
    }
  }

  const readPerson = (e: unknown): ListedPerson | undefined => {
    const ids = isRecord(e) ? e["identifiers"] : undefined;
    if (!isRecord(ids)) return undefined;
    const cio = text(ids["cio_id"]);
    if (cio === null || cio === "") return undefined;
    return { id: text(ids["id"]), email: text(ids["email"]), cio_id: cio };
  };

  const readObject = (e: unknown): ListedObject | undefined => {
    if (!isRecord(e) || !isRecord(e["identifiers"])) return undefined;
    const ids = e["identifiers"];
    const objectId = text(ids["object_id"]);
    const typeId = text(e["object_type_id"]);
    if (objectId === null || typeId === null) return undefined;
    return {
      object_type_id: typeId,
      object_id: objectId,
      cio_object_id: text(ids["cio_object_id"]),
      attributes: isRecord(e["attributes"]) ? { ...e["attributes"] } : {},
    };
  };

  return {
    async objectTypes() {
      const r = await exchange.send("GET", "/v1/object_types");
      if (r.kind !== "answer" || r.status < 200 || r.status >= 300) return { ok: false, ...failureOf(r, "object types") };
      stats.pages++;
      let json: unknown;
      try {
        json = JSON.parse(r.body);
      } catch {
        json = undefined;
      }
      const types = isRecord(json) ? json["types"] : undefined;
      if (!Array.isArray(types))
        return { ok: false, kind: "failed", status: r.status, reason: "the App API answered object types without a types array" };
      const out: ObjectTypeInfo[] = [];
      for (const t of types) {
        if (!isRecord(t)) continue;
        const id = text(t["id"]);
        if (id === null) continue;
        const info: ObjectTypeInfo = { id, name: text(t["name"]) ?? "", slug: text(t["slug"]) ?? "" };
        const sn = text(t["singular_name"]);
        const ss = text(t["singular_slug"]);
        if (sn !== null) info.singular_name = sn;
        if (ss !== null) info.singular_slug = ss;
        out.push(info);
      }
      return { ok: true, types: out };
    },
    peopleOf(object) {
      const path =
        "cioObjectId" in object
          ? `/v1/objects/${encodeURIComponent(object.typeId)}/${encodeURIComponent(object.cioObjectId)}/relationships?id_type=cio_object_id`
          : `/v1/objects/${encodeURIComponent(object.typeId)}/${encodeURIComponent(object.id)}/relationships`;
      const what = "cioObjectId" in object ? `object cio_object_id ${object.cioObjectId}` : `object ${object.id} (type ${object.typeId})`;
      return list(path, what, readPerson, (p) => p.cio_id);
    },
    objectsOf(person) {
      const path = `/v1/customers/${encodeURIComponent(person.value)}/relationships?id_type=${person.key}`;
      return list(path, `person ${person.key} ${person.value}`, readObject, (x) => `${x.object_type_id}\u0000${x.object_id}`);
    },
    stats,
    exchange,
    abort: () => exchange.abort(),
    close: () => exchange.close(),
  };
}
