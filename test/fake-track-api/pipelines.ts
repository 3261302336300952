// The Data Pipelines side of the fake workspace (issue 15): what a `POST /v1/batch`, `/v1/group` or
// `/v1/track` body means, after shared/customerio/pipelines-openapi.json and API.md ("Data Pipelines
// API"). Pure: server.ts does the faults, the auth and the applying; this file says which calls are
// good, which relationship each one writes, and what the request is answered in strict and
// permissive mode. The limits are restated here rather than imported from src/, so the fake never
// shares a wrong constant with the client it tests.
import type { ObjectKey, PersonKeyValue } from "./state.js";

/** `/batch` request limit, raw bytes (spec: "limited to 500KB total per request"; KB taken as 1,000 bytes). */
export const PIPELINES_REQUEST_LIMIT_BYTES = 500_000;
/** Each call of a batch, and a `/group` or `/track` body (spec: "32KB per call in the request"). */
export const PIPELINES_CALL_LIMIT_BYTES = 32_000;
/** The event of a `track` call that removes a relationship (spec: components.schemas.relationship_deleted). */
export const RELATIONSHIP_DELETED = "Relationship Deleted";
/** The strict-mode header and the one value that turns it on (spec: "When set to `1`"). */
export const STRICT_MODE_HEADER = "x-strict-mode";

/** Paths of the Data Pipelines API under a base: `<base>/v1/<endpoint>` (the real base URL is `https://cdp.customer.io/v1`). */
export const PIPELINES_ROUTE = /^(.*)\/v1\/(batch|group|track|identify|page|screen|alias)$/;

/** A Data Pipelines endpoint the route matches. */
export type PipelinesEndpoint = "batch" | "group" | "track" | "identify" | "page" | "screen" | "alias";

/** Where a call carried its object type and its relationship attributes: which form a client sent. */
export interface CallForm {
  /** `objectTypeId` is the relationships doc's form; `traits.object_type_id` the spec's; `default` means none was given ("1"). */
  objectTypeIn: "objectTypeId" | "traits.object_type_id" | "traits.objectTypeId" | "properties.objectTypeId" | "default";
  /** `context.relationshipTraits` is the doc's form, `traits.relationshipAttributes` the spec's; a batch-level context applies to every call. */
  attributesIn: "context.relationshipTraits" | "traits.relationshipAttributes" | "batch context.relationshipTraits" | "none";
}

/** The relationship write a good call makes: a group call adds, a "Relationship Deleted" track call removes. */
export interface PipelinesWrite {
  action: "add" | "delete";
  object: ObjectKey;
  /** Always `{ key: "id", value: userId }`: Data Pipelines addresses people by userId. */
  person: PersonKeyValue;
  /** Attribute changes (add only); `null` or `""` removes an attribute, as on the Track route. */
  attributes: Record<string, unknown>;
}

/** Why a call is bad: `invalid` (validation), `unsupported` (a call cio-rel never sends), `too_large`, `poison` (injected). */
export type CallProblem = "invalid" | "unsupported" | "too_large" | "poison";

/** One call as the fake judged it. */
export type CallVerdict =
  { ok: true; write: PipelinesWrite; form: CallForm } | { ok: false; problem: CallProblem; message: string; write?: PipelinesWrite; form?: CallForm };

/** Ids that make a call bad on purpose (the Track fake's poison rows, for Pipelines): a userId or an object id. */
export interface PipelinesPoison {
  people?: readonly string[];
  objects?: readonly string[];
}

/** What a request gets: its status and body, whether its good calls are applied, and each call's verdict. */
export interface PipelinesAnswer {
  status: 200 | 400;
  /** `{}` on 200; the spec's 400 body `{"meta":{"errors":["…"]}}` otherwise. */
  body: object;
  /** Why the whole request was refused (strict) or dropped (permissive), if it was: too big, not JSON, no batch. */
  requestError: string | undefined;
  /** Every call found in the body, in order (none when the body has no calls to judge). */
  verdicts: CallVerdict[];
  /** Whether the good calls are applied: always in permissive mode (bad ones are dropped), in strict mode only when all are good. */
  applyGood: boolean;
}

class Bad extends Error {
  constructor(
    readonly problem: CallProblem,
    message: string,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const UNMODELLED: readonly string[] = ["identify", "page", "screen", "alias"];

/** UTF-8 bytes of a call's compact JSON (how the fake measures the 32 KB per call). */
export function callBytes(call: unknown): number {
  return Buffer.byteLength(JSON.stringify(call) ?? "");
}

function nonEmptyString(v: unknown, name: string): string {
  if (v === undefined) throw new Bad("invalid", `${name} is required`);
  if (typeof v !== "string" || v === "") throw new Bad("invalid", `${name} must be a non-empty string`);
  return v;
}

/** An object type id: the spec says stringified integers from 1; its own curl example sends a number, so both pass. */
function typeIdOf(v: unknown, name: string): string {
  if (typeof v === "string" && /^[1-9][0-9]*$/.test(v)) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 1) return String(v);
  throw new Bad("invalid", `${name} must be a positive integer (or a string holding one), got ${JSON.stringify(v)}`);
}

function userIdOf(call: Record<string, unknown>): string {
  if (call["userId"] === undefined && call["anonymousId"] !== undefined) {
    throw new Bad("invalid", "userId is required: a relationship needs a known person, not an anonymousId");
  }
  return nonEmptyString(call["userId"], "userId");
}

/** The one value among the places a field may sit; two places with different values are refused. */
function onePlace<K extends string>(places: ReadonlyArray<readonly [K, unknown]>, what: string): [K, unknown] | undefined {
  const given = places.filter(([, v]) => v !== undefined);
  const [first] = given;
  if (first === undefined) return undefined;
  if (given.some(([, v]) => JSON.stringify(v) !== JSON.stringify(first[1]))) {
    throw new Bad("invalid", `${what} given differently in ${given.map(([k]) => k).join(" and ")}`);
  }
  return [first[0], first[1]];
}

function attributesOf(v: unknown, name: string): Record<string, unknown> {
  if (!isRecord(v)) throw new Bad("invalid", `${name} must be an object`);
  for (const [k, value] of Object.entries(v)) {
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
      throw new Bad("invalid", `${name}.${k} must be a string, number, boolean or null`);
    }
  }
  return v;
}

function judgeGroup(call: Record<string, unknown>, batchContext: unknown): { write: PipelinesWrite; form: CallForm } {
  const userId = userIdOf(call);
  const objectId = nonEmptyString(call["groupId"], "groupId");
  const traits = call["traits"];
  if (traits !== undefined && !isRecord(traits)) throw new Bad("invalid", "traits must be an object");
  const context = call["context"];
  if (context !== undefined && !isRecord(context)) throw new Bad("invalid", "context must be an object");
  const type = onePlace(
    [
      ["objectTypeId", call["objectTypeId"]],
      ["traits.object_type_id", traits?.["object_type_id"]],
      ["traits.objectTypeId", traits?.["objectTypeId"]],
    ] as const,
    "the object type",
  );
  const ownAttributes = onePlace(
    [
      ["context.relationshipTraits", context?.["relationshipTraits"]],
      ["traits.relationshipAttributes", traits?.["relationshipAttributes"]],
    ] as const,
    "the relationship attributes",
  );
  const shared = isRecord(batchContext) ? batchContext["relationshipTraits"] : undefined;
  const attributes = ownAttributes ?? (shared === undefined ? undefined : (["batch context.relationshipTraits", shared] as const));
  const objectTypeId = type === undefined ? "1" : typeIdOf(type[1], type[0]);
  return {
    write: {
      action: "add",
      object: { objectTypeId, objectId },
      person: { key: "id", value: userId },
      attributes: attributes === undefined ? {} : attributesOf(attributes[1], attributes[0]),
    },
    form: { objectTypeIn: type?.[0] ?? "default", attributesIn: attributes?.[0] ?? "none" },
  };
}

function judgeTrack(call: Record<string, unknown>): { write: PipelinesWrite; form: CallForm } {
  const event = nonEmptyString(call["event"], "event");
  if (event !== RELATIONSHIP_DELETED) {
    throw new Bad("unsupported", `the fake models only the "${RELATIONSHIP_DELETED}" event, not ${JSON.stringify(event)}`);
  }
  const userId = userIdOf(call);
  const properties = call["properties"];
  if (!isRecord(properties)) throw new Bad("invalid", "properties is required and must be an object");
  const objectId = nonEmptyString(properties["objectId"], "properties.objectId");
  const given = properties["objectTypeId"];
  const objectTypeId = given === undefined ? "1" : typeIdOf(given, "properties.objectTypeId");
  return {
    write: { action: "delete", object: { objectTypeId, objectId }, person: { key: "id", value: userId }, attributes: {} },
    form: { objectTypeIn: given === undefined ? "default" : "properties.objectTypeId", attributesIn: "none" },
  };
}

/** Judges one call: its size, type, identifiers, object type and attributes, then the injected poison. */
export function judgeCall(call: unknown, endpoint: PipelinesEndpoint, poison: PipelinesPoison = {}, batchContext?: unknown): CallVerdict {
  try {
    if (!isRecord(call)) throw new Bad("invalid", "a call must be a JSON object");
    const size = callBytes(call);
    if (size > PIPELINES_CALL_LIMIT_BYTES) throw new Bad("too_large", `the call is ${size} bytes; the limit is ${PIPELINES_CALL_LIMIT_BYTES}`);
    // On /group and /track the endpoint sets the type; inside a batch each call must say it.
    const type = call["type"] ?? (endpoint === "batch" ? undefined : endpoint);
    if (type === undefined) throw new Bad("invalid", "type is required");
    if (endpoint !== "batch" && type !== endpoint) throw new Bad("invalid", `type ${JSON.stringify(type)} sent to /${endpoint}`);
    if (typeof type === "string" && UNMODELLED.includes(type)) {
      throw new Bad("unsupported", `the fake models only group and track calls, not ${type}`);
    }
    if (type !== "group" && type !== "track") throw new Bad("invalid", `unknown type ${JSON.stringify(type)}`);
    const judged = type === "group" ? judgeGroup(call, batchContext) : judgeTrack(call);
    const w = judged.write;
    if ((poison.people ?? []).includes(w.person.value) || (poison.objects ?? []).includes(w.object.objectId)) {
      return { ok: false, problem: "poison", message: "the call could not be processed", write: w, form: judged.form };
    }
    return { ok: true, ...judged };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, problem: e.problem, message: e.message };
    throw e;
  }
}

/** The calls a body holds, or why it holds none: a batch needs a non-empty `batch` array; `/group` and `/track` are one call. */
function callsOf(endpoint: PipelinesEndpoint, body: unknown): { calls: unknown[]; context: unknown } | string {
  if (body === undefined) return "the body is not JSON";
  if (endpoint !== "batch") return { calls: [body], context: undefined };
  if (!isRecord(body)) return "the body must be a JSON object";
  const batch = body["batch"];
  if (batch === undefined) return "batch is required";
  if (!Array.isArray(batch) || batch.length === 0) return "batch must be a non-empty array of calls";
  return { calls: batch, context: body["context"] };
}

/**
 * What a request to an endpoint gets, after auth. Strict (`X-Strict-Mode: 1`): 400 with the spec's
 * `{"meta":{"errors":[…]}}` when the body is too big or not a batch, or when any call is bad — and
 * then nothing is applied, so a client must split and resend to isolate the bad call. Permissive: 200
 * `{}` always; a bad body is dropped whole and bad calls are dropped one by one, silently.
 */
export function answerPipelines(
  endpoint: PipelinesEndpoint,
  bytes: number,
  body: unknown,
  strict: boolean,
  poison?: PipelinesPoison,
): PipelinesAnswer {
  const limit = endpoint === "batch" ? PIPELINES_REQUEST_LIMIT_BYTES : PIPELINES_CALL_LIMIT_BYTES;
  const found: ReturnType<typeof callsOf> = bytes > limit ? `the request is ${bytes} bytes; the limit is ${limit}` : callsOf(endpoint, body);
  const requestError = typeof found === "string" ? found : undefined;
  const verdicts = typeof found === "string" ? [] : found.calls.map((c) => judgeCall(c, endpoint, poison, found.context));
  const errors: string[] = requestError === undefined ? [] : [requestError];
  verdicts.forEach((v, i) => {
    if (!v.ok) errors.push(endpoint === "batch" ? `batch[${i}]: ${v.message}` : v.message);
  });
  if (!strict) return { status: 200, body: {}, requestError, verdicts, applyGood: requestError === undefined };
  if (errors.length > 0) return { status: 400, body: { meta: { errors } }, requestError, verdicts, applyGood: false };
  return { status: 200, body: {}, requestError, verdicts, applyGood: true };
}
