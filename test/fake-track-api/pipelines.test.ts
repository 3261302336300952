import { request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { basic, deleteCall, groupCall, groupCallOfSize, objectOp, obj, pipelinesBasic, post } from "./http.js";
import type { Answer } from "./http.js";
import { startFakeTrackApi } from "./index.js";
import type { FakeTrackApi } from "./index.js";

// The fake's Data Pipelines endpoint (issue 15): same server and state as the Track and App APIs,
// Basic auth with the source key, strict (X-Strict-Mode: 1) and permissive answers, limits, faults.

let api: FakeTrackApi;
beforeEach(async () => {
  api = await startFakeTrackApi({ siteId: "s1", apiKey: "k1", pipelinesApiKey: "pk1" });
});
afterEach(async () => {
  await api.close();
});

const auth = pipelinesBasic("pk1");
const STRICT = { "x-strict-mode": "1" };

/** POSTs to a Data Pipelines endpoint (default /v1/batch), strict unless told otherwise. */
function send(body: unknown, opts: { endpoint?: string; strict?: boolean; auth?: string | null; signal?: AbortSignal } = {}): Promise<Answer> {
  return post(api, body, {
    path: `/v1/${opts.endpoint ?? "batch"}`,
    auth: opts.auth === undefined ? auth : opts.auth,
    headers: opts.strict === false ? {} : STRICT,
    ...(opts.signal && { signal: opts.signal }),
  });
}

/** `{"batch":[…]}` padded with JSON whitespace to exactly `bytes` bytes. */
function paddedBatch(calls: unknown[], bytes: number): string {
  const head = `{"batch":${JSON.stringify(calls)}`;
  return head + " ".repeat(bytes - Buffer.byteLength(head) - 1) + "}";
}

const acme = { objectTypeId: "1", objectId: "acme" };

describe("fake Data Pipelines: routes, auth and the shared state", () => {
  it("serves under <url>/v1 and writes the state the Track and App APIs share", async () => {
    expect(api.pipelines.url).toBe(`${api.url}/v1`);
    const res = await send({ batch: [groupCall("42", "acme", { role: "admin" }), groupCall("43", "globex", undefined, "2")] });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({});
    expect(api.state.all()).toEqual([
      { objectTypeId: "1", objectId: "acme", personKey: "id", personValue: "42", attributes: { role: "admin" } },
      { objectTypeId: "2", objectId: "globex", personKey: "id", personValue: "43", attributes: {} },
    ]);
    // What `list` and --verify read: the App API sees the Pipelines write.
    const read = await request(`${api.url}/v1/customers/42/relationships?id_type=id`, { headers: { authorization: "Bearer app-key" } });
    const listed = (await read.body.json()) as { cio_relationships: Array<{ identifiers: { object_id: string }; attributes: unknown }> };
    expect(listed.cio_relationships).toEqual([
      expect.objectContaining({ identifiers: expect.objectContaining({ object_id: "acme" }), attributes: { role: "admin" } }),
    ]);
  });

  it("a Track write and a Pipelines write reach the same person and relationship", async () => {
    await post(
      api,
      { batch: [objectOp(obj("acme"), [{ identifiers: { id: "42" }, relationship_attributes: { role: "admin", seat: 1 } }])] },
      { auth: basic("s1", "k1") },
    );
    await send({ batch: [groupCall("42", "acme", { role: "owner" })] });
    expect(api.state.relationshipsOf(acme)).toEqual([{ person: { id: "42" }, attributes: { role: "owner", seat: 1 } }]);
    await send({ batch: [deleteCall("42", "acme")] });
    expect(api.state.size).toBe(0);
  });

  it("records each request with its headers and body, in its own log and in api.requests", async () => {
    const body = { batch: [groupCall("42", "acme")] };
    await send(body);
    expect(api.pipelines.requests).toHaveLength(1);
    const [rec] = api.pipelines.requests;
    expect(rec).toBe(api.requests[0]);
    expect(rec).toMatchObject({ method: "POST", path: "/v1/batch", body, rawBody: JSON.stringify(body), status: 200, response: {} });
    expect(rec?.headers.authorization).toBe(auth);
    expect(rec?.headers["x-strict-mode"]).toBe("1");
    expect(api.pipelines.counters).toMatchObject({ received: 1, strict: 1, permissive: 0, acceptedCalls: 1 });
    expect(api.counters.appliedOps).toBe(0); // Track's figures stay Track's
  });

  it.each([
    ["no header", null],
    ["a wrong key", pipelinesBasic("nope")],
    ["the key with a password", `Basic ${Buffer.from("pk1:pw").toString("base64")}`],
    ["the key without the colon", `Basic ${Buffer.from("pk1").toString("base64")}`],
    ["Track's site:key", basic("s1", "k1")],
    ["a bearer token", "Bearer pk1"],
  ])("strict: 401 with an empty body for %s; permissive: a silent 200; nothing applied either way", async (_name, header) => {
    const body = { batch: [groupCall("42", "acme")] };
    const strict = await send(body, { auth: header });
    expect(strict.status).toBe(401);
    expect(strict.text).toBe("");
    const permissive = await send(body, { auth: header, strict: false });
    expect(permissive.status).toBe(200);
    expect(permissive.json).toEqual({});
    expect(api.state.size).toBe(0);
    expect(api.pipelines.calls).toEqual([]);
    expect(api.pipelines.counters).toMatchObject({ unauthorized: 2, droppedRequests: 1 });
  });

  it("answers 404 off its paths and 405 to a GET", async () => {
    expect((await post(api, {}, { auth, path: "/v2/batch" })).status).toBe(404);
    expect((await post(api, {}, { auth, path: "/batch" })).status).toBe(404);
    const get = await post(api, undefined, { auth, path: "/v1/batch", method: "GET" });
    expect(get.status).toBe(405);
    expect(get.headers["allow"]).toBe("POST");
  });

  it("serves /v1/group and /v1/track as single calls, the type implied by the path", async () => {
    expect((await send({ userId: "42", groupId: "acme", context: { relationshipTraits: { role: "a" } } }, { endpoint: "group" })).status).toBe(200);
    expect(api.state.relationshipsOf(acme)).toEqual([{ person: { id: "42" }, attributes: { role: "a" } }]);
    const wrongType = await send(deleteCall("42", "acme"), { endpoint: "group" });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json).toEqual({ meta: { errors: ['type "track" sent to /group'] } });
    expect((await send({ userId: "42", event: "Relationship Deleted", properties: { objectId: "acme" } }, { endpoint: "track" })).status).toBe(200);
    expect(api.state.size).toBe(0);
  });
});

describe("fake Data Pipelines: group and track calls", () => {
  it("records the form of each call: the doc's, the spec's, a batch-level context", async () => {
    const spec = { type: "group", userId: "43", groupId: "acme", traits: { object_type_id: "2", relationshipAttributes: { role: "b" } } };
    const curl = { type: "group", userId: "44", groupId: "acme", traits: { objectTypeId: 2 } };
    await send({
      batch: [groupCall("42", "acme", { role: "a" }), spec, curl, deleteCall("45", "acme", "1"), { type: "group", userId: "46", groupId: "x" }],
    });
    expect(api.pipelines.calls.map((c) => c.form)).toEqual([
      { objectTypeIn: "objectTypeId", attributesIn: "context.relationshipTraits" },
      { objectTypeIn: "traits.object_type_id", attributesIn: "traits.relationshipAttributes" },
      { objectTypeIn: "traits.objectTypeId", attributesIn: "none" },
      { objectTypeIn: "properties.objectTypeId", attributesIn: "none" },
      { objectTypeIn: "default", attributesIn: "none" },
    ]);
    expect(api.state.relationshipsOf({ objectTypeId: "2", objectId: "acme" })).toEqual([
      { person: { id: "43" }, attributes: { role: "b" } },
      { person: { id: "44" }, attributes: {} },
    ]);
    // The spec: "the context … objects apply to all calls in the request".
    await send({ batch: [{ type: "group", userId: "47", groupId: "acme" }], context: { relationshipTraits: { role: "shared" } } });
    expect(api.pipelines.calls.at(-1)?.form).toEqual({ objectTypeIn: "default", attributesIn: "batch context.relationshipTraits" });
    expect(api.state.relationshipsOf(acme)).toContainEqual({ person: { id: "47" }, attributes: { role: "shared" } });
  });

  it("merges attributes like the Track route: null and empty string remove one", async () => {
    await send({ batch: [groupCall("42", "acme", { role: "admin", seats: 5, admin: true })] });
    await send({ batch: [groupCall("42", "acme", { role: null, seats: "", note: "x" })] });
    expect(api.state.relationshipsOf(acme)).toEqual([{ person: { id: "42" }, attributes: { admin: true, note: "x" } }]);
  });

  it("removes a relationship with a Relationship Deleted track call, objectTypeId as a number, a string or left out", async () => {
    await send({ batch: [groupCall("1", "a"), groupCall("2", "b", undefined, "2"), groupCall("3", "c", undefined, "3")] });
    const res = await send({
      batch: [
        deleteCall("1", "a", 1),
        deleteCall("2", "b", "2"),
        { type: "track", userId: "3", event: "Relationship Deleted", properties: { objectId: "c" } },
      ],
    });
    expect(res.status).toBe(200);
    expect(api.state.all()).toEqual([{ objectTypeId: "3", objectId: "c", personKey: "id", personValue: "3", attributes: {} }]);
    // Deleting what is not there is not an error, as on the Track route.
    expect((await send({ batch: [deleteCall("9", "nowhere")] })).status).toBe(200);
  });

  const good = groupCall("42", "acme");
  it.each<[string, unknown, string]>([
    ["no userId", { type: "group", groupId: "acme" }, "userId is required"],
    [
      "an anonymousId only",
      { type: "group", anonymousId: "anon", groupId: "acme" },
      "userId is required: a relationship needs a known person, not an anonymousId",
    ],
    ["an empty userId", { type: "group", userId: "", groupId: "acme" }, "userId must be a non-empty string"],
    ["a numeric userId", { type: "group", userId: 42, groupId: "acme" }, "userId must be a non-empty string"],
    ["no groupId", { type: "group", userId: "42" }, "groupId is required"],
    ["no type", { userId: "42", groupId: "acme" }, "type is required"],
    ["an unknown type", { type: "relate", userId: "42", groupId: "acme" }, 'unknown type "relate"'],
    ["an identify call", { type: "identify", userId: "42" }, "the fake models only group and track calls, not identify"],
    ["object type 0", { ...good, objectTypeId: "0" }, 'objectTypeId must be a positive integer (or a string holding one), got "0"'],
    [
      "object type not a number",
      { type: "group", userId: "42", groupId: "acme", traits: { object_type_id: "companies" } },
      'traits.object_type_id must be a positive integer (or a string holding one), got "companies"',
    ],
    [
      "two object types",
      { ...good, objectTypeId: "1", traits: { object_type_id: "2" } },
      "the object type given differently in objectTypeId and traits.object_type_id",
    ],
    [
      "attributes in both forms, different",
      { ...groupCall("42", "acme", { role: "a" }), traits: { relationshipAttributes: { role: "b" } } },
      "the relationship attributes given differently in context.relationshipTraits and traits.relationshipAttributes",
    ],
    [
      "a nested attribute",
      groupCall("42", "acme", { role: { name: "a" } }),
      "context.relationshipTraits.role must be a string, number, boolean or null",
    ],
    ["attributes not an object", { ...good, context: { relationshipTraits: ["a"] } }, "context.relationshipTraits must be an object"],
    ["another event", { type: "track", userId: "42", event: "Signed Up" }, 'the fake models only the "Relationship Deleted" event, not "Signed Up"'],
    ["a delete without properties", { type: "track", userId: "42", event: "Relationship Deleted" }, "properties is required and must be an object"],
    [
      "a delete without objectId",
      { type: "track", userId: "42", event: "Relationship Deleted", properties: { objectTypeId: 1 } },
      "properties.objectId is required",
    ],
    ["a delete of type -1", deleteCall("42", "acme", -1), "properties.objectTypeId must be a positive integer (or a string holding one), got -1"],
    ["a call that is not an object", "group", "a call must be a JSON object"],
  ])("a bad call (%s): strict 400 naming it, nothing applied; permissive 200, the others applied", async (_name, bad, message) => {
    const strict = await send({ batch: [groupCall("1", "a"), bad, groupCall("2", "b")] });
    expect(strict.status).toBe(400);
    expect(strict.json).toEqual({ meta: { errors: [`batch[1]: ${message}`] } });
    expect(api.state.size).toBe(0);
    expect(api.pipelines.calls.map((c) => c.accepted)).toEqual([false, false, false]);

    const permissive = await send({ batch: [groupCall("1", "a"), bad, groupCall("2", "b")] }, { strict: false });
    expect(permissive.status).toBe(200);
    expect(permissive.json).toEqual({});
    expect(api.state.all().map((r) => r.personValue)).toEqual(["1", "2"]);
    expect(api.pipelines.counters).toMatchObject({ droppedCalls: 1, acceptedCalls: 2 });
    expect(api.pipelines.calls[4]?.verdict).toMatchObject({ ok: false, message });
  });

  it("accepts both attribute forms when they agree (the client chose to send both)", async () => {
    const both = { ...groupCall("42", "acme", { role: "a" }), traits: { object_type_id: "1", relationshipAttributes: { role: "a" } } };
    expect((await send({ batch: [both] })).status).toBe(200);
    expect(api.pipelines.calls[0]?.form).toEqual({ objectTypeIn: "objectTypeId", attributesIn: "context.relationshipTraits" });
  });

  it.each([
    ["people", { people: ["13"] }, groupCall("13", "acme")],
    ["people, on a delete", { people: ["13"] }, deleteCall("13", "acme")],
    ["objects", { objects: ["bad-co"] }, groupCall("7", "bad-co")],
  ])("poison %s: the call is bad (strict 400, permissive dropped), the others are not", async (_name, poison, bad) => {
    api.pipelines.faults.set({ poison });
    const strict = await send({ batch: [groupCall("1", "a"), bad] });
    expect(strict.status).toBe(400);
    expect(strict.json).toEqual({ meta: { errors: ["batch[1]: the call could not be processed"] } });
    expect(api.state.size).toBe(0);
    // Split and resend: the good half goes through alone.
    expect((await send({ batch: [groupCall("1", "a")] })).status).toBe(200);
    expect((await send({ batch: [bad] })).status).toBe(400);
    expect(api.state.all().map((r) => r.personValue)).toEqual(["1"]);
    expect(api.pipelines.counters.poisonedCalls).toBe(2);
    // A poison call is well formed: its write and form are recorded like a good call's.
    expect(api.pipelines.calls[1]).toMatchObject({
      accepted: false,
      write: expect.objectContaining({ person: { key: "id", value: bad["userId"] } }),
    });
    expect(api.pipelines.calls[1]?.form?.objectTypeIn).toBeDefined();
    expect(api.pipelines.calls.filter((c) => c.verdict.ok === false).every((c) => c.verdict.ok === false && c.verdict.problem === "poison")).toBe(
      true,
    );
  });

  it("lists every bad call of a strict batch in the 400 body", async () => {
    const res = await send({ batch: [{ type: "group", userId: "1" }, groupCall("2", "b"), { type: "group", groupId: "c" }] });
    expect(res.json).toEqual({ meta: { errors: ["batch[0]: groupId is required", "batch[2]: userId is required"] } });
  });

  it("dropWritesFor: accepted (200) but never stored", async () => {
    api.pipelines.faults.set({ dropWritesFor: ["42"] });
    expect((await send({ batch: [groupCall("42", "acme"), groupCall("43", "acme")] })).status).toBe(200);
    expect(api.state.all().map((r) => r.personValue)).toEqual(["43"]);
    expect(api.pipelines.counters).toMatchObject({ acceptedCalls: 2, droppedRelationships: 1 });
  });
});

describe("fake Data Pipelines: limits and malformed bodies", () => {
  it("a batch of exactly 500,000 bytes passes; 500,001 gets a strict 400 and a permissive 200, applying nothing", async () => {
    expect((await send(paddedBatch([groupCall("1", "a")], 500_000))).status).toBe(200);
    expect(api.pipelines.requests[0]?.bytes).toBe(500_000);
    api.state.clear();
    const strict = await send(paddedBatch([groupCall("1", "a")], 500_001));
    expect(strict.status).toBe(400);
    expect(strict.json).toEqual({ meta: { errors: ["the request is 500001 bytes; the limit is 500000"] } });
    const permissive = await send(paddedBatch([groupCall("1", "a")], 500_001), { strict: false });
    expect(permissive.status).toBe(200);
    expect(permissive.json).toEqual({});
    expect(api.state.size).toBe(0);
    expect(api.pipelines.counters).toMatchObject({ oversizeBodies: 2, droppedRequests: 1 });
  });

  it("a call of exactly 32,000 bytes passes; 32,001 is a bad call", async () => {
    const atLimit = groupCallOfSize(32_000, "1");
    const over = groupCallOfSize(32_001, "2");
    expect(Buffer.byteLength(JSON.stringify(over))).toBe(32_001);
    const strict = await send({ batch: [atLimit, over] });
    expect(strict.status).toBe(400);
    expect(strict.json).toEqual({ meta: { errors: ["batch[1]: the call is 32001 bytes; the limit is 32000"] } });
    expect((await send({ batch: [atLimit, over] }, { strict: false })).status).toBe(200);
    expect(api.state.all().map((r) => r.personValue)).toEqual(["1"]);
    expect(api.pipelines.counters).toMatchObject({ oversizeCalls: 2, invalidCalls: 2 });
  });

  it("a /group body over 32,000 bytes is refused whole", async () => {
    const call = { userId: "1", groupId: "acme", context: { relationshipTraits: { pad: "x".repeat(32_000) } } };
    const res = await send(call, { endpoint: "group" });
    expect(res.status).toBe(400);
    expect((res.json as { meta: { errors: string[] } }).meta.errors[0]).toMatch(/^the request is \d+ bytes; the limit is 32000$/);
  });

  it.each([
    ["not JSON", "{batch:", "the body is not JSON"],
    ["a JSON array", "[]", "the body must be a JSON object"],
    ["no batch", "{}", "batch is required"],
    ["batch not an array", '{"batch":{}}', "batch must be a non-empty array of calls"],
    ["an empty batch", '{"batch":[]}', "batch must be a non-empty array of calls"],
  ])("%s: strict 400 with the spec's meta.errors body, permissive 200", async (_name, body, message) => {
    const strict = await send(body);
    expect(strict.status).toBe(400);
    expect(strict.headers["content-type"]).toBe("application/json");
    expect(strict.json).toEqual({ meta: { errors: [message] } });
    expect((await send(body, { strict: false })).status).toBe(200);
  });

  it("only X-Strict-Mode: 1 is strict (spec: any other value is permissive)", async () => {
    const res = await post(api, { batch: [{ type: "group" }] }, { auth, path: "/v1/batch", headers: { "x-strict-mode": "true" } });
    expect(res.status).toBe(200);
    expect(api.pipelines.counters).toMatchObject({ strict: 0, permissive: 1, droppedCalls: 1 });
  });
});

describe("fake Data Pipelines: faults", () => {
  const body = { batch: [groupCall("42", "acme")] };

  it.each([500, 502, 503, 504])("a scripted %i is answered and applies nothing; the next request goes through", async (status) => {
    api.pipelines.faults.script([{ status }]);
    const res = await send(body);
    expect(res.status).toBe(status);
    expect(api.state.size).toBe(0);
    expect(api.pipelines.requests[0]?.fault).toEqual({ source: "script", kind: `status ${status}` });
    expect((await send(body)).status).toBe(200);
    expect(api.state.size).toBe(1);
  });

  it("429 with Retry-After, as seconds or an HTTP date", async () => {
    const when = new Date("2026-12-02T10:00:00Z");
    api.pipelines.faults.script([
      { status: 429, retryAfter: 3 },
      { status: 429, retryAfter: when },
    ]);
    expect((await send(body)).headers["retry-after"]).toBe("3");
    expect((await send(body)).headers["retry-after"]).toBe(when.toUTCString());
  });

  it("a token bucket answers 429 with Retry-After: 1 once empty", async () => {
    let t = 0;
    await api.close();
    api = await startFakeTrackApi({ pipelinesApiKey: "pk1", now: () => t, pipelinesFaults: { rateLimit: { perSecond: 2 } } });
    expect((await send(body)).status).toBe(200);
    expect((await send(body)).status).toBe(200);
    const limited = await send(body);
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("1");
    t += 1_000;
    expect((await send(body)).status).toBe(200);
  });

  it("a dropped connection: the client sees a socket error, nothing is applied", async () => {
    api.pipelines.faults.script([{ reset: true }]);
    await expect(send(body)).rejects.toThrow();
    expect(api.pipelines.requests[0]?.outcome).toBe("reset");
    expect(api.pipelines.counters.resets).toBe(1);
    expect(api.state.size).toBe(0);
  });

  it("a hang lasts until the client gives up; latency delays, then handles", async () => {
    api.pipelines.faults.script([{ hang: true }, { latencyMs: 30 }]);
    const abort = new AbortController();
    const hung = send(body, { signal: abort.signal });
    while (api.pipelines.requests[0]?.outcome !== "hang") await new Promise((r) => setTimeout(r, 5));
    abort.abort();
    await expect(hung).rejects.toThrow();
    expect(api.pipelines.requests[0]?.outcome).toBe("hang");
    expect((await send(body)).status).toBe(200);
    expect(api.pipelines.requests[1]?.latencyMs).toBe(30);
  });

  it("a revoked key: 401 when strict, a silent 200 when not", async () => {
    api.pipelines.faults.set({ revokeAfter: 1 });
    expect((await send(body)).status).toBe(200);
    expect((await send(body)).status).toBe(401);
    expect((await send(body, { strict: false })).status).toBe(200);
    expect(api.pipelines.counters).toMatchObject({ unauthorized: 2, acceptedCalls: 1, droppedRequests: 1 });
  });

  it("Track faults and Pipelines faults are separate", async () => {
    api.faults.script([{ status: 503 }]);
    expect((await send(body)).status).toBe(200);
    expect(api.faults.pending).toBe(1);
    api.pipelines.faults.script([{ status: 500 }]);
    expect((await post(api, { batch: [objectOp(obj("a"), [{ identifiers: { id: "1" } }])] }, { auth: basic("s1", "k1") })).status).toBe(503);
    expect(api.pipelines.faults.pending).toBe(1);
  });
});
