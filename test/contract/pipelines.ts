// The Data Pipelines contract (issue 15): what cio-rel sends on `--via pipelines` must validate against
// Customer.io's own spec, test/specs/pipelines-openapi.json (a verbatim copy), as test/contract.test.ts
// does for the Track API. e2e tests call `pipelinesContract().received(api.pipelines.requests)` on
// everything the fake received; the unit test beside this file shows the checks are not vacuous.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv2020Module from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { PIPELINES_ROUTE } from "../fake-track-api/index.js";
import type { ReceivedRequest } from "../fake-track-api/index.js";

const SPEC_PATH = fileURLToPath(new URL("../specs/pipelines-openapi.json", import.meta.url));
const SPEC_ID = "pipelines-openapi.json";
/** The spec's limits (paths./batch: "500KB total per request and 32KB per call"), KB taken as 1,000 bytes. */
const REQUEST_LIMIT_BYTES = 500_000;
const CALL_LIMIT_BYTES = 32_000;
const RELATIONSHIP_DELETED = "Relationship Deleted";

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The spec as published. */
export function loadPipelinesSpec(): Json {
  return JSON.parse(readFileSync(SPEC_PATH, "utf8")) as Json;
}

/** Calls `visit` on every schema object in the document, depth first. */
function walk(node: unknown, visit: (n: Json) => void): void {
  if (Array.isArray(node)) for (const n of node) walk(n, visit);
  else if (isRecord(node)) {
    visit(node);
    for (const v of Object.values(node)) walk(v, visit);
  }
}

/**
 * Two known defects of the spec, each making it reject Customer.io's own examples (the unit test proves it):
 * 1. The batch item "Track" is a oneOf of "Known User" (userId required) and "Anonymous User" whose
 *    `required` lacks anonymousId, so a known user's track call matches both and oneOf fails — the /batch
 *    curl example included. The /track endpoint's own "Anonymous User" requires anonymousId; we add the same.
 * 2. `context` is a oneOf of context_non_mobile and context_mobile, which share every required field (none),
 *    so any context matches both and oneOf fails. We make it an anyOf.
 */
export function patchPipelinesSpec(spec: Json): Json {
  const contextRefs = ["#/components/schemas/context_non_mobile", "#/components/schemas/context_mobile"];
  walk(spec, (n) => {
    if (n["title"] === "Anonymous User" && Array.isArray(n["allOf"])) {
      for (const part of n["allOf"] as unknown[]) {
        if (!isRecord(part) || !isRecord(part["properties"]) || !("anonymousId" in part["properties"])) continue;
        const required = Array.isArray(part["required"]) ? (part["required"] as string[]) : [];
        if (!required.includes("anonymousId")) part["required"] = [...required, "anonymousId"];
      }
    }
    const oneOf = n["oneOf"];
    if (Array.isArray(oneOf) && oneOf.length === 2 && oneOf.every((b, i) => isRecord(b) && b["$ref"] === contextRefs[i])) {
      n["anyOf"] = oneOf;
      delete n["oneOf"];
    }
  });
  return spec;
}

/** Compiled validators of the parts of the spec cio-rel's Pipelines route uses. */
export interface PipelinesSchemas {
  /** `POST /batch` request body. */
  batch: ValidateFunction;
  /** `POST /group` request body (components.schemas.group): a relate call. */
  group: ValidateFunction;
  /** The batch's "Group" item: it, not /group's schema, requires userId and groupId. */
  batchGroup: ValidateFunction;
  /** The batch's "Track" item (userId, event and type required). */
  batchTrack: ValidateFunction;
  /** components.schemas.relationship_deleted: an unrelate call. */
  relationshipDeleted: ValidateFunction;
  /** components.schemas.objectTypeId: "stringified integers". */
  objectTypeId: ValidateFunction;
}

/** Compiles the validators from a spec document (patched or not: the unit test compiles both). */
export function compilePipelinesSchemas(spec: Json): PipelinesSchemas {
  // OpenAPI 3.1 schemas are JSON Schema 2020-12; strict: false lets OpenAPI's own keywords (example, x-…) through.
  const Ajv2020 = Ajv2020Module.default;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(spec, SPEC_ID);
  const ref = (pointer: string): ValidateFunction => {
    const validate = ajv.getSchema(`${SPEC_ID}#${pointer}`);
    if (validate === undefined) throw new Error(`no schema at ${pointer}`);
    return validate;
  };
  // The batch's items are an anyOf of titled schemas; find the two cio-rel sends by title, not by position.
  const items = ((spec["components"] as Json)["schemas"] as { batch: { properties: { batch: { items: { anyOf: Json[] } } } } }).batch.properties.batch
    .items.anyOf;
  const item = (title: string): ValidateFunction => {
    const i = items.findIndex((x) => x["title"] === title);
    if (i < 0) throw new Error(`the batch schema has no ${title} item`);
    return ref(`/components/schemas/batch/properties/batch/items/anyOf/${i}`);
  };
  return {
    batch: ref("/paths/~1batch/post/requestBody/content/application~1json/schema"),
    group: ref("/components/schemas/group"),
    batchGroup: item("Group"),
    batchTrack: item("Track"),
    relationshipDeleted: ref("/components/schemas/relationship_deleted"),
    objectTypeId: ref("/components/schemas/objectTypeId"),
  };
}

const errorsOf = (v: ValidateFunction, where: string): string[] =>
  (v.errors ?? []).map((e) => `${where}${e.instancePath} ${e.message ?? e.keyword} (${e.schemaPath})`);

/** Checks against the spec, each returning its problems as readable lines (none: it validates). */
export interface PipelinesContract {
  schemas: PipelinesSchemas;
  /** One relate or unrelate call, against its own schema (group, relationship_deleted), its size, and the top-level objectTypeId. */
  call(call: unknown, where?: string): string[];
  /** A `/batch` body: the batch schema, then every call in it. */
  batch(body: unknown, where?: string): string[];
  /** Everything the fake received on Data Pipelines paths: headers (X-Strict-Mode, Basic auth), sizes, bodies. */
  received(requests: readonly ReceivedRequest[]): string[];
}

/** The one call of a relationship the route may send: a group call, or a "Relationship Deleted" track call. */
function checkCall(s: PipelinesSchemas, call: unknown, where: string): string[] {
  const problems: string[] = [];
  const size = Buffer.byteLength(JSON.stringify(call) ?? "");
  if (size > CALL_LIMIT_BYTES) problems.push(`${where} is ${size} bytes, over the ${CALL_LIMIT_BYTES} per call`);
  if (!isRecord(call)) return [...problems, `${where} is not an object`];
  if (call["type"] === "group") {
    if (!s.group(call)) problems.push(...errorsOf(s.group, where));
    if (!s.batchGroup(call)) problems.push(...errorsOf(s.batchGroup, where));
    // The doc's form puts objectTypeId at the top, where /group's schema is silent; group_bad types it as objectTypeId.
    if ("objectTypeId" in call && !s.objectTypeId(call["objectTypeId"])) problems.push(...errorsOf(s.objectTypeId, `${where}/objectTypeId`));
  } else if (call["type"] === "track" && call["event"] === RELATIONSHIP_DELETED) {
    if (!s.relationshipDeleted(call)) problems.push(...errorsOf(s.relationshipDeleted, where));
    if (!s.batchTrack(call)) problems.push(...errorsOf(s.batchTrack, where));
  } else {
    problems.push(`${where} is neither a group call nor a "${RELATIONSHIP_DELETED}" track call: ${JSON.stringify(call).slice(0, 200)}`);
  }
  return [...new Set(problems)];
}

function checkBatch(s: PipelinesSchemas, body: unknown, where: string): string[] {
  const problems = s.batch(body) ? [] : errorsOf(s.batch, where);
  const calls = isRecord(body) && Array.isArray(body["batch"]) ? (body["batch"] as unknown[]) : [];
  if (calls.length === 0) problems.push(`${where} carries no calls`);
  calls.forEach((c, i) => problems.push(...checkCall(s, c, `${where}/batch/${i}`)));
  return problems;
}

/** The Data Pipelines endpoint a request went to, if it went to one (App API paths share `/v1/`). */
const endpointOf = (r: ReceivedRequest): string | undefined => PIPELINES_ROUTE.exec(new URL(r.path, "http://fake").pathname)?.[2];

function checkRequest(s: PipelinesSchemas, r: ReceivedRequest): string[] {
  const where = `request ${r.seq} (${r.method} ${r.path})`;
  const problems: string[] = [];
  const strict = r.headers["x-strict-mode"];
  // The spec's header parameter: enum ["1"]; cio-rel always sends it (issue 15).
  if (strict !== "1") problems.push(`${where}: X-Strict-Mode is ${JSON.stringify(strict)}, not "1"`);
  if (!/^basic\s+\S+$/i.test(r.headers.authorization ?? "")) problems.push(`${where}: no Basic authorization`);
  if (!/^application\/json\b/i.test(r.headers["content-type"] ?? "")) problems.push(`${where}: content-type is not application/json`);
  const endpoint = endpointOf(r);
  const limit = endpoint === "batch" ? REQUEST_LIMIT_BYTES : CALL_LIMIT_BYTES;
  if (r.bytes > limit) problems.push(`${where}: ${r.bytes} bytes, over the ${limit} limit`);
  // A reset connection kept only the first chunk of the body: nothing to validate.
  if (r.outcome === "reset") return problems;
  if (r.body === undefined) return [...problems, `${where}: the body is not JSON`];
  if (endpoint === "batch") problems.push(...checkBatch(s, r.body, where));
  else if (endpoint === "group" || endpoint === "track") problems.push(...checkCall(s, { type: endpoint, ...(r.body as Json) }, where));
  else problems.push(`${where}: cio-rel has no business with /${endpoint ?? r.path}`);
  return problems;
}

let cached: PipelinesContract | undefined;

/** The contract, compiled once from the patched spec. */
export function pipelinesContract(): PipelinesContract {
  if (cached !== undefined) return cached;
  const s = compilePipelinesSchemas(patchPipelinesSpec(loadPipelinesSpec()));
  cached = {
    schemas: s,
    call: (call, where = "call") => checkCall(s, call, where),
    batch: (body, where = "body") => checkBatch(s, body, where),
    received: (requests) => requests.filter((r) => endpointOf(r) !== undefined).flatMap((r) => checkRequest(s, r)),
  };
  return cached;
}
