// The App API side of the fake workspace (issue 12): reads of the state the Track side writes, shaped
// as shared/customerio/app-api-extract.json says. server.ts routes `/v1/...` requests here after the
// faults, the 10 requests/s limit and the Bearer check.
import type { WorkspaceObject, LinkView, Person, RelationshipState, WorkspaceStore } from "./state.js";
import { CIO_OBJECT_TYPE } from "./state.js";

/** How the App API pages and limits; `api.app.set()` merges a partial update. */
export interface AppSettings {
  /** Bearer token the App API accepts (default "app-key"). */
  apiKey: string;
  /** Most entries a page carries; a smaller `limit` query wins (default 100). */
  pageSize: number;
  /** The last page's `next`: `""` ("empty", default) or left out ("absent"). */
  lastNext: "empty" | "absent";
  /** Every page after the first starts with the previous page's last entry (pages of 2 or more). */
  repeat: boolean;
  /** A broken server: a page asked for with `start=X` answers `next: X` again. */
  stuckNext: boolean;
  /** Requests per second before 429 (default 10, burst the same); undefined turns the limit off. */
  rateLimit: { perSecond: number; burst?: number } | undefined;
  /** Identifier types `id_type` may name besides id and cio_id (default email and phone). */
  enabledIdTypes: ReadonlyArray<"email" | "phone">;
}

/** Defaults: the documented 10 requests/s, 100 entries a page. */
export const DEFAULT_APP_SETTINGS: AppSettings = {
  apiKey: "app-key",
  pageSize: 100,
  lastNext: "empty",
  repeat: false,
  stuckNext: false,
  rateLimit: { perSecond: 10 },
  enabledIdTypes: ["email", "phone"],
};

/** An App API answer: status and JSON body. */
export interface AppAnswer {
  status: number;
  body: object;
}

/** An error body in the documented shape: `{"errors":[{"detail","status"}]}` (extract: components.x-429.errorItem). */
export function appError(status: number, detail: string): AppAnswer {
  return { status, body: { errors: [{ detail, status: String(status) }] } };
}

/** The route of an App API path under a base, or undefined. */
export const APP_ROUTE = /^(.*)\/v1\/(object_types|objects|customers)(?:\/([^/]+)(?:\/([^/]+))?(?:\/(relationships))?)?$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads the offset a `start` token carries (tokens are opaque to clients: base64url of "o:<n>"). */
function offsetOf(start: string | null): number | undefined {
  if (start === null || start === "") return 0;
  const m = /^o:(\d+)$/.exec(Buffer.from(start, "base64url").toString("utf8"));
  return m === null ? undefined : Number(m[1]);
}

const tokenOf = (offset: number): string => Buffer.from(`o:${offset}`).toString("base64url");

/** One page of `items` for `?start=&limit=`, with `next` as the settings say; or a 400. */
function paginate<T>(items: readonly T[], query: URLSearchParams, s: AppSettings): { page: T[]; next: Record<string, string> } | AppAnswer {
  const start = query.get("start");
  const offset = offsetOf(start);
  if (offset === undefined) return appError(400, `start ${JSON.stringify(start)} is not a token this API gave`);
  const limitText = query.get("limit");
  let size = s.pageSize;
  if (limitText !== null) {
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1) return appError(400, `limit must be a positive integer, got ${JSON.stringify(limitText)}`);
    size = Math.min(size, limit);
  }
  const from = s.repeat && offset > 0 && size >= 2 ? offset - 1 : offset;
  const page = items.slice(from, from + size);
  const end = from + page.length;
  if (s.stuckNext && start !== null && start !== "") return { page, next: { next: start } };
  if (end >= items.length) return { page, next: s.lastNext === "empty" ? { next: "" } : {} };
  return { page, next: { next: tokenOf(end) } };
}

/** How an object listing names a person: `{cio_id, id|null, email|null}` (extract: getObjectRelationships). */
function personEntry(v: LinkView, types: RelationshipState["objectTypes"]): object {
  const type = types.find((t) => t.id === v.object.objectTypeId);
  return {
    identifiers: { cio_id: v.person.cio_id, email: v.person.email ?? null, id: v.person.id ?? null },
    object_type_disabled: type !== undefined && !type.enabled,
    object_type_id: v.object.objectTypeId,
  };
}

/** How a person listing names an object: identifiers, integer type id, relationship attributes, timestamps. */
function objectEntry(v: LinkView): object {
  return {
    identifiers: { object_id: v.object.objectId, cio_object_id: v.object.cio_object_id },
    object_type_id: v.object.objectTypeId === CIO_OBJECT_TYPE ? null : Number(v.object.objectTypeId),
    attributes: v.attributes,
    timestamps: v.timestamps,
  };
}

/** Evaluates a `POST /v1/objects` filter (and/or/not/object_attribute eq|exists) on one object. */
function matches(filter: unknown, o: WorkspaceObject): boolean | string {
  if (!isRecord(filter)) return "filter must be an object";
  const [key, ...rest] = Object.keys(filter);
  if (key === undefined || rest.length > 0) return "filter must have exactly one of and, or, not, object_attribute";
  const value = filter[key];
  if (key === "and" || key === "or") {
    if (!Array.isArray(value)) return `${key} must be an array`;
    const results = value.map((f) => matches(f, o));
    const error = results.find((r) => typeof r === "string");
    if (error !== undefined) return error;
    return key === "and" ? results.every((r) => r === true) : results.some((r) => r === true);
  }
  if (key === "not") {
    const r = matches(value, o);
    return typeof r === "string" ? r : !r;
  }
  if (key === "object_attribute") {
    if (!isRecord(value) || typeof value["field"] !== "string") return "object_attribute needs a field";
    const field = value["field"];
    const has = Object.hasOwn(o.attributes, field);
    if (value["operator"] === "exists") return has;
    if (value["operator"] === "eq") return has && String(o.attributes[field]) === String(value["value"]);
    return "operator must be eq or exists";
  }
  return `unknown filter ${JSON.stringify(key)}`;
}

/** Answers one authorized, in-limit App API request against what reads see now. */
export function handleApp(
  method: string,
  route: RegExpExecArray,
  query: URLSearchParams,
  body: unknown,
  state: RelationshipState,
  s: AppSettings,
): AppAnswer {
  const [, , resource, first, second, relationships] = route;
  const seen: WorkspaceStore = state.visible();
  const decode = (x: string): string => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  };

  if (resource === "object_types" && first === undefined) {
    if (method !== "GET") return appError(405, "method not allowed");
    return { status: 200, body: { types: state.objectTypes.map((t) => ({ ...t })) } };
  }

  if (resource === "objects" && first === undefined) {
    if (method !== "POST") return appError(405, "method not allowed");
    if (!isRecord(body)) return appError(400, "the body must be a JSON object");
    const typeId = body["object_type_id"];
    if (typeof typeId !== "string" || !/^[1-9]\d*$/.test(typeId)) return appError(400, "object_type_id must be a string holding a positive integer");
    if (body["filter"] === undefined) return appError(400, "filter is required");
    const found: WorkspaceObject[] = [];
    for (const o of seen.objectsOfType(typeId)) {
      const r = matches(body["filter"], o);
      if (typeof r === "string") return appError(400, r);
      if (r) found.push(o);
    }
    const p = paginate(found, query, s);
    if ("status" in p) return p;
    return {
      status: 200,
      body: {
        identifiers: p.page.map((o) => ({ cio_object_id: o.cio_object_id, object_id: o.objectId })),
        ids: p.page.map((o) => o.objectId),
        ...p.next,
      },
    };
  }

  if (resource === "objects" && first !== undefined && second !== undefined && relationships !== undefined) {
    if (method !== "GET") return appError(405, "method not allowed");
    const typeId = decode(first);
    const objectId = decode(second);
    if (!/^[1-9]\d*$/.test(typeId)) return appError(400, `object_type_id must be an integer, got ${JSON.stringify(typeId)}`);
    const idType = query.get("id_type") ?? "object_id";
    if (idType !== "object_id" && idType !== "cio_object_id")
      return appError(400, `id_type must be object_id or cio_object_id, got ${JSON.stringify(idType)}`);
    const object = idType === "cio_object_id" ? seen.findObjectByCioId(objectId) : seen.findObject({ objectTypeId: typeId, objectId });
    if (object === undefined || (idType === "cio_object_id" && object.objectTypeId !== typeId)) {
      return appError(404, `object ${objectId} of type ${typeId} not found`);
    }
    const p = paginate(seen.peopleOf(object), query, s);
    if ("status" in p) return p;
    return { status: 200, body: { cio_relationships: p.page.map((v) => personEntry(v, state.objectTypes)), ...p.next } };
  }

  if (resource === "customers" && first !== undefined && second === "relationships" && relationships === undefined) {
    if (method !== "GET") return appError(405, "method not allowed");
    const customerId = decode(first);
    const idType = query.get("id_type") ?? "id";
    if (idType !== "id" && idType !== "email" && idType !== "phone" && idType !== "cio_id") {
      return appError(400, `id_type must be one of id, email, phone, cio_id, got ${JSON.stringify(idType)}`);
    }
    if ((idType === "email" || idType === "phone") && !s.enabledIdTypes.includes(idType)) {
      return appError(400, `${idType} is not enabled as an identifier in this workspace`);
    }
    const person: Person | undefined = seen.findPerson(idType, customerId);
    if (person === undefined) return appError(404, `customer ${customerId} not found`);
    const p = paginate(seen.objectsOfPerson(person), query, s);
    if ("status" in p) return p;
    return { status: 200, body: { cio_relationships: p.page.map(objectEntry), ...p.next } };
  }

  if (resource === "customers" && first === undefined) {
    if (method !== "GET") return appError(405, "method not allowed");
    const email = query.get("email");
    if (email === null || email === "") return appError(400, "email is required");
    return {
      status: 200,
      body: { results: seen.peopleByEmail(email).map((p) => ({ cio_id: p.cio_id, email: p.email ?? null, id: p.id ?? null })) },
    };
  }
  return appError(404, "not found");
}
