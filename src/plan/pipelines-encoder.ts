import type { Action, Relationship } from "../model/types.js";
import type { Encoder } from "./encoder.js";
import { attributesJson, BATCH_HEAD, BATCH_TAIL } from "./serialize.js";
import { MAX_BATCH_BYTES, MAX_OPERATION_BYTES } from "./types.js";

// Data Pipelines (issue 15; API.md "Data Pipelines API", pipelines-openapi.json): POST /v1/batch with
// `{"batch":[call,...]}`, ≤ 500 KB per request and ≤ 32 KB per call. A call carries one person and one
// object, so every relationship is its own call: adding is a `group` call, removing a `track` call with
// the semantic event "Relationship Deleted". Calls name the person by userId and the object by its id
// and type, so rows that give a person by email or cio_id, or an object by cio_object_id, cannot go
// this way (reject()).

/** The --via name of this route. */
export const PIPELINES_ROUTE = "pipelines";

/** What the semantic delete event is called (the spec's relationship_deleted schema). */
export const RELATIONSHIP_DELETED = "Relationship Deleted";

/**
 * The `group` call that relates a person to an object, with the relationship's attributes. The one place
 * that decides its form (issue 15): the relationships doc's form — objectTypeId at the top level, the
 * attributes in context.relationshipTraits — not the published spec's (traits.object_type_id and
 * traits.relationshipAttributes). README "Which route?" records the choice.
 */
export function groupCall(rel: Relationship & { object: { typeId: string; id: string } }): string {
  const a = rel.attributes;
  const traits = a !== undefined && hasKeys(a) ? `,"context":{"relationshipTraits":${attributesJson(a)}}` : "";
  return (
    `{"type":"group","userId":${JSON.stringify(rel.person.value)},"groupId":${JSON.stringify(rel.object.id)},` +
    `"objectTypeId":${JSON.stringify(rel.object.typeId)}${traits}}`
  );
}

/**
 * The `track` call that removes a relationship: the spec's relationship_deleted event. Its objectTypeId is an
 * integer there (the group call's is a string, as in the objectTypeId schema).
 */
export function relationshipDeletedCall(rel: Relationship & { object: { typeId: string; id: string } }): string {
  return (
    `{"type":"track","event":"${RELATIONSHIP_DELETED}","userId":${JSON.stringify(rel.person.value)},` +
    `"properties":{"objectId":${JSON.stringify(rel.object.id)},"objectTypeId":${rel.object.typeId}}}`
  );
}

/** Whether a map has any key (without Object.keys' array: this runs once per row). */
function hasKeys(map: object): boolean {
  for (const _ in map) return true;
  return false;
}

/** Why Data Pipelines cannot carry this relationship, naming the route that can; undefined when it can. */
export function pipelinesReject(rel: Relationship, action: Action): string | undefined {
  const key = rel.person.key;
  if (key !== "id") {
    return `a person given by ${key} cannot be sent via pipelines: Data Pipelines addresses people by id (userId); send these rows with --via track`;
  }
  const o = rel.object;
  if ("cioObjectId" in o) {
    return "an object given by cio_object_id cannot be sent via pipelines: Data Pipelines addresses objects by object id and type (groupId, objectTypeId); send these rows with --via track";
  }
  // The delete event's objectTypeId is a JSON integer: beyond 2^53 it would not arrive as written.
  if (action === "delete_relationships" && !Number.isSafeInteger(Number(o.typeId))) {
    return `object_type_id ${o.typeId} is too large for Data Pipelines' integer objectTypeId; send these rows with --via track`;
  }
  return undefined;
}

/** Data Pipelines `/v1/batch`: one call per relationship, under the same byte limits as Track's batches. */
export const pipelinesEncoder: Encoder = {
  route: PIPELINES_ROUTE,
  // API.md: "500 KB per request, 32 KB per call", taken as 1,000-byte KB like Track's.
  maxBatchBytes: MAX_BATCH_BYTES,
  maxOperationBytes: MAX_OPERATION_BYTES,
  operationNoun: "call",
  onePerOperation: true,
  personKeys: ["id"],
  batchHead: BATCH_HEAD,
  batchTail: BATCH_TAIL,
  operationTail: "",
  reject: pipelinesReject,
  operationHead: () => "",
  relationshipJson: (_type, action, rel) => {
    // The planner asks reject() first, so an object by cio_object_id never gets here; should one, it is a bug,
    // not a body with "undefined" in it.
    if (!("typeId" in rel.object)) throw new Error(`row ${rel.line}: a cio_object_id reached the Data Pipelines encoder`);
    const r = rel as Relationship & { object: { typeId: string; id: string } };
    return action === "add_relationships" ? groupCall(r) : relationshipDeletedCall(r);
  },
};
