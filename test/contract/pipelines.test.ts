import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deleteCall, groupCall, groupCallOfSize, pipelinesBasic, post } from "../fake-track-api/http.js";
import { startFakeTrackApi } from "../fake-track-api/index.js";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { compilePipelinesSchemas, loadPipelinesSpec, patchPipelinesSpec, pipelinesContract } from "./pipelines.js";

// The contract helper e2e tests run on what the fake received (issue 15): it must accept what the spec
// means, reject what it forbids, and say where.

type Json = Record<string, unknown>;
const contract = pipelinesContract();

/** The JSON body of the spec's curl example for a path (`--data-raw '…'`). */
function curlExample(spec: Json, path: string): unknown {
  const samples = (spec["paths"] as Record<string, { post: { "x-codeSamples": Array<{ label: string; source: string }> } }>)[path]?.post[
    "x-codeSamples"
  ];
  const source = samples?.find((s) => s.label === "Curl")?.source ?? "";
  const m = /--data-raw '\n([\s\S]*)'\n$/.exec(source);
  if (m?.[1] === undefined) throw new Error(`no curl example for ${path}`);
  return JSON.parse(m[1]);
}

describe("Pipelines contract: the spec and its patches", () => {
  it("the unpatched spec rejects its own /batch curl example (a known user's track call); the patched one accepts it", () => {
    const example = curlExample(loadPipelinesSpec(), "/batch");
    expect(compilePipelinesSchemas(loadPipelinesSpec()).batch(example)).toBe(false);
    expect(contract.schemas.batch(example)).toBe(true);
  });

  it("the unpatched spec rejects any group call with a context (mobile and non-mobile both match); the patched one accepts it", () => {
    const call = groupCall("42", "acme", { role: "admin" });
    expect(compilePipelinesSchemas(loadPipelinesSpec()).group(call)).toBe(false);
    expect(contract.schemas.group(call)).toBe(true);
  });

  it("the patches change only those two places", () => {
    const raw = JSON.stringify(loadPipelinesSpec());
    const patched = JSON.stringify(patchPipelinesSpec(loadPipelinesSpec()));
    expect(patched.length - raw.length).toBeLessThan(200);
    expect((patched.match(/"anyOf":\[\{"\$ref":"#\/components\/schemas\/context_non_mobile"/g) ?? []).length).toBeGreaterThan(0);
    expect(patched).not.toMatch(/"oneOf":\[\{"\$ref":"#\/components\/schemas\/context_non_mobile"/);
  });
});

describe("Pipelines contract: calls and batches", () => {
  it.each<[string, unknown]>([
    ["a group call in the doc's form", groupCall("42", "acme", { role: "admin", seats: 3, owner: true, gone: null }, "2")],
    [
      "a group call in the spec's form",
      { type: "group", userId: "42", groupId: "acme", traits: { object_type_id: "2", relationshipAttributes: { role: "a" } } },
    ],
    ["a group call without attributes", { type: "group", userId: "42", groupId: "acme" }],
    ["a Relationship Deleted call", deleteCall("42", "acme", 2)],
    [
      "a Relationship Deleted call without objectTypeId",
      { type: "track", userId: "42", event: "Relationship Deleted", properties: { objectId: "acme" } },
    ],
  ])("accepts %s, alone and in a batch", (_name, call) => {
    expect(contract.call(call)).toEqual([]);
    expect(contract.batch({ batch: [call, groupCall("1", "a")] })).toEqual([]);
  });

  it.each<[string, unknown, RegExp]>([
    ["a group call without groupId", { type: "group", userId: "42" }, /call must have required property 'groupId'|call .*oneOf/],
    ["a numeric userId", { type: "group", userId: 42, groupId: "acme" }, /call\/userId must be string/],
    [
      "a numeric traits.object_type_id",
      { type: "group", userId: "42", groupId: "a", traits: { object_type_id: 2 } },
      /call\/traits\/object_type_id must be string/,
    ],
    ["a numeric top-level objectTypeId", { ...groupCall("42", "a"), objectTypeId: 2 }, /call\/objectTypeId must be string/],
    ["a delete with a string objectTypeId", deleteCall("42", "acme", "2"), /call\/properties\/objectTypeId must be integer/],
    [
      "a delete without objectId",
      { type: "track", userId: "42", event: "Relationship Deleted", properties: {} },
      /call\/properties must have required property 'objectId'/,
    ],
    [
      "a delete without userId",
      { type: "track", event: "Relationship Deleted", properties: { objectId: "a" } },
      /call must have required property 'userId'/,
    ],
    ["another event", { type: "track", userId: "42", event: "Signed Up" }, /neither a group call nor a "Relationship Deleted" track call/],
    ["an identify call", { type: "identify", userId: "42" }, /neither a group call/],
    ["a call over 32,000 bytes", groupCallOfSize(32_001), /call is 32001 bytes, over the 32000 per call/],
  ])("rejects %s, naming the place", (_name, call, message) => {
    const problems = contract.call(call);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join("\n")).toMatch(message);
    expect(contract.batch({ batch: [groupCall("1", "a"), call] }).join("\n")).toMatch(/body\/batch\/1/);
  });

  it.each<[string, unknown]>([
    ["no batch", {}],
    ["an empty batch", { batch: [] }],
    ["batch not an array", { batch: { type: "group" } }],
    ["a call of an unknown type", { batch: [{ type: "thing", userId: "1" }] }],
  ])("rejects a body with %s", (_name, body) => {
    expect(contract.batch(body)).not.toEqual([]);
  });
});

describe("Pipelines contract: what the fake received", () => {
  let api: FakeTrackApi;
  beforeEach(async () => {
    api = await startFakeTrackApi({ pipelinesApiKey: "pk" });
  });
  afterEach(async () => {
    await api.close();
  });
  const strict = { "x-strict-mode": "1" };
  const auth = pipelinesBasic("pk");

  it("finds nothing wrong with good requests, and ignores Track and App API requests", async () => {
    await post(api, { batch: [groupCall("1", "a", { role: "x" }), deleteCall("2", "a")] }, { path: "/v1/batch", auth, headers: strict });
    await post(api, { userId: "1", groupId: "b" }, { path: "/v1/group", auth, headers: strict });
    await post(
      api,
      { userId: "1", event: "Relationship Deleted", properties: { objectId: "b", objectTypeId: 1 } },
      { path: "/v1/track", auth, headers: strict },
    );
    await post(api, { nonsense: true }, { path: "/api/v2/batch" });
    await post(api, { object_type_id: "1" }, { path: "/v1/objects", auth: "Bearer app-key" });
    expect(api.pipelines.requests).toHaveLength(3);
    expect(contract.received(api.requests)).toEqual([]);
  });

  it("reports a missing or wrong X-Strict-Mode, missing Basic auth, a bad body, and an oversize request, by request", async () => {
    await post(api, { batch: [groupCall("1", "a")] }, { path: "/v1/batch", auth });
    await post(api, { batch: [groupCall("1", "a")] }, { path: "/v1/batch", auth, headers: { "x-strict-mode": "true" } });
    await post(api, { batch: [groupCall("1", "a")] }, { path: "/v1/batch", auth: null, headers: strict });
    await post(api, { batch: [deleteCall("1", "a", "1")] }, { path: "/v1/batch", auth, headers: strict });
    await post(api, `{"batch":[${JSON.stringify(groupCall("1", "a"))}]${" ".repeat(500_001)}}`, { path: "/v1/batch", auth, headers: strict });
    const problems = contract.received(api.pipelines.requests);
    expect(problems).toEqual([
      'request 1 (POST /v1/batch): X-Strict-Mode is undefined, not "1"',
      'request 2 (POST /v1/batch): X-Strict-Mode is "true", not "1"',
      "request 3 (POST /v1/batch): no Basic authorization",
      expect.stringMatching(/^request 4 \(POST \/v1\/batch\)\/batch\/0\/properties\/objectTypeId must be integer/),
      expect.stringMatching(/^request 5 \(POST \/v1\/batch\): \d+ bytes, over the 500000 limit$/),
    ]);
  });

  it("skips the body of a reset request (only its first chunk arrived) but still checks its headers", async () => {
    api.pipelines.faults.script([{ reset: true }]);
    await expect(post(api, { batch: [groupCall("1", "a")] }, { path: "/v1/batch", auth })).rejects.toThrow();
    expect(contract.received(api.requests)).toEqual(['request 1 (POST /v1/batch): X-Strict-Mode is undefined, not "1"']);
  });
});
