import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { basic, obj, objectOp, opOfSize, personOp, post } from "./http.js";
import { startFakeTrackApi } from "./index.js";
import type { FakeTrackApi } from "./index.js";

let api: FakeTrackApi;
beforeEach(async () => {
  api = await startFakeTrackApi({ siteId: "s1", apiKey: "k1" });
});
afterEach(async () => {
  await api.close();
});
const auth = basic("s1", "k1");
const acme = { objectTypeId: "1", objectId: "acme" };

/** `{"batch":[op]}` padded with JSON whitespace to exactly `bytes` bytes (whitespace keeps it valid). */
function paddedBatch(op: unknown, bytes: number): string {
  const head = `{"batch":[${JSON.stringify(op)}]`;
  return head + " ".repeat(bytes - Buffer.byteLength(head) - 1) + "}";
}

describe("fake Track API: routes and auth", () => {
  it("serves http://127.0.0.1:<port> without a trailing slash", () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each([
    ["no header", null],
    ["a wrong key", basic("s1", "nope")],
    ["a wrong site", basic("s2", "k1")],
    ["a bearer token", "Bearer k1"],
    ["garbage", "Basic !!!"],
  ])("answers 401 with an empty body to %s, and applies nothing", async (_name, header) => {
    const res = await post(api, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "1" } }])] }, { auth: header });
    expect(res.status).toBe(401);
    expect(res.text).toBe("");
    expect(api.state.size).toBe(0);
  });

  it("accepts the right credentials, and records the request with its authorization header", async () => {
    const body = { batch: [objectOp(obj("acme"), [{ identifiers: { id: "1" } }])] };
    const res = await post(api, body, { auth });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({});
    expect(api.requests).toHaveLength(1);
    const [rec] = api.requests;
    expect(rec).toMatchObject({
      seq: 1,
      method: "POST",
      path: "/api/v2/batch",
      bytes: Buffer.byteLength(JSON.stringify(body)),
      rawBody: JSON.stringify(body),
      body,
      outcome: "answered",
      status: 200,
      response: {},
    });
    expect(rec?.headers.authorization).toBe(auth);
    expect(Math.abs((rec?.time ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it("answers 404 off the API paths and 405 to a GET", async () => {
    expect((await post(api, {}, { auth, path: "/api/v2/batches" })).status).toBe(404);
    expect((await post(api, {}, { auth, path: "/eu/api/v2/batch" })).status).toBe(404);
    const get = await post(api, undefined, { auth, method: "GET" });
    expect(get.status).toBe(405);
    expect(get.headers["allow"]).toBe("POST");
  });
});

describe("fake Track API: body limits", () => {
  const op = objectOp(obj("acme"), [{ identifiers: { id: "1" } }]);

  it("accepts a batch of exactly 500,000 bytes and refuses 500,001 with 413, counting it", async () => {
    const atLimit = await post(api, paddedBatch(op, 500_000), { auth });
    expect(atLimit.status).toBe(200);
    expect(api.requests[0]?.bytes).toBe(500_000);
    expect(api.counters.oversizeRefused).toBe(0);

    api.state.clear();
    const over = await post(api, paddedBatch(op, 500_001), { auth });
    expect(over.status).toBe(413);
    expect(api.requests[1]?.bytes).toBe(500_001);
    expect(api.state.size).toBe(0);
    expect(api.counters).toMatchObject({ oversizeRefused: 1, oversizeBodies: 1 });
  });

  it("refuses an oversize body with 413 even without credentials", async () => {
    expect((await post(api, paddedBatch(op, 500_001), { auth: null })).status).toBe(413);
    expect(api.counters.oversizeRefused).toBe(1);
  });

  it("accepts an /entity body of exactly 32,000 bytes and refuses 32,001 with 413", async () => {
    const entity = (bytes: number): string => JSON.stringify(op).replace(/}$/, " ".repeat(bytes - JSON.stringify(op).length) + "}");
    expect((await post(api, entity(32_000), { auth, path: "/api/v2/entity" })).status).toBe(200);
    expect(api.state.size).toBe(1);
    expect((await post(api, entity(32_001), { auth, path: "/api/v2/entity" })).status).toBe(413);
    expect(api.counters.oversizeRefused).toBe(1);
  });

  it("fails an op over 32,000 bytes inside a batch (207) and applies an op of exactly 32,000", async () => {
    const res = await post(api, { batch: [opOfSize(32_000), opOfSize(32_001)] }, { auth });
    expect(res.status).toBe(207);
    expect(res.json).toEqual({ errors: [expect.objectContaining({ batch_index: 1, reason: "too_large" })] });
    expect(api.counters).toMatchObject({ oversizeOps: 1, invalidOps: 1, appliedOps: 1 });
  });
});

describe("fake Track API: malformed requests and invalid ops", () => {
  it.each([
    ["not JSON", "{batch:"],
    ["a JSON array", "[]"],
    ["no batch", "{}"],
    ["batch not an array", '{"batch":{}}'],
    ["an empty batch", '{"batch":[]}'],
  ])("answers 400 without batch_index to %s", async (_name, body) => {
    const res = await post(api, body, { auth });
    expect(res.status).toBe(400);
    const errors = (res.json as { errors: Array<Record<string, unknown>> }).errors;
    expect(errors).toHaveLength(1);
    expect(Object.keys(errors[0] ?? {}).sort()).toEqual(["field", "message", "reason"]);
  });

  it("answers 207 naming each invalid op by batch_index and applies the valid ones", async () => {
    const good = (id: string): unknown => objectOp(obj(id), [{ identifiers: { id: "1" } }]);
    const res = await post(
      api,
      {
        batch: [
          good("a"),
          objectOp(obj("b"), [{ identifiers: { id: "1", email: "x@y.z" } }]),
          good("c"),
          { type: "person", identifiers: { id: "1" }, action: "identify", attributes: {} },
          objectOp(obj("e", "0"), [{ identifiers: { id: "1" } }]),
        ],
      },
      { auth },
    );
    expect(res.status).toBe(207);
    const errors = (res.json as { errors: Array<Record<string, unknown>> }).errors;
    expect(errors.map((e) => e["batch_index"])).toEqual([1, 3, 4]);
    expect(errors[0]).toMatchObject({ reason: "invalid", field: "cio_relationships" });
    expect(errors[1]).toMatchObject({ reason: "unsupported", field: "action" });
    expect(errors[2]).toMatchObject({ reason: "invalid", field: "identifiers" });
    expect(api.state.all().map((r) => r.objectId)).toEqual(["a", "c"]);
  });

  it("answers 400 with the error to an invalid /entity op", async () => {
    const res = await post(api, objectOp(obj("a"), []), { auth, path: "/api/v2/entity" });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: [expect.objectContaining({ reason: "required", field: "cio_relationships" })] });
    expect(api.state.size).toBe(0);
  });
});

describe("fake Track API: state", () => {
  it("applies object-side add with attributes, then reads them by object, by person and all()", async () => {
    await post(
      api,
      {
        batch: [
          objectOp(obj("acme"), [
            { identifiers: { id: "42" }, relationship_attributes: { role: "admin", seats: 3 } },
            { identifiers: { email: "b@x.io" } },
          ]),
          objectOp({ cio_object_id: "ob9" }, [{ identifiers: { cio_id: "c7" } }]),
        ],
      },
      { auth },
    );
    expect(api.state.relationshipsOf(acme)).toEqual([
      { person: { email: "b@x.io" }, attributes: {} },
      { person: { id: "42" }, attributes: { role: "admin", seats: 3 } },
    ]);
    expect(api.state.objectsOf({ key: "cio_id", value: "c7" })).toEqual([
      { object: { objectTypeId: "cio_object_id", objectId: "ob9" }, attributes: {} },
    ]);
    expect(api.state.all()).toEqual([
      { objectTypeId: "1", objectId: "acme", personKey: "email", personValue: "b@x.io", attributes: {} },
      { objectTypeId: "1", objectId: "acme", personKey: "id", personValue: "42", attributes: { role: "admin", seats: 3 } },
      { objectTypeId: "cio_object_id", objectId: "ob9", personKey: "cio_id", personValue: "c7", attributes: {} },
    ]);
  });

  it("applies person-side add and delete, and object-side delete", async () => {
    await post(api, { batch: [personOp({ id: "42" }, [{ identifiers: obj("acme") }, { identifiers: obj("globex", "2") }])] }, { auth });
    await post(api, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "7" } }])] }, { auth });
    expect(api.state.size).toBe(3);

    await post(api, { batch: [personOp({ id: "42" }, [{ identifiers: obj("globex", "2") }], "delete_relationships")] }, { auth });
    expect(api.state.objectsOf({ key: "id", value: "42" }).map((r) => r.object)).toEqual([acme]);

    await post(
      api,
      { batch: [objectOp(obj("acme"), [{ identifiers: { id: "42" } }, { identifiers: { id: "nobody" } }], "delete_relationships")] },
      { auth },
    );
    expect(api.state.all()).toEqual([{ objectTypeId: "1", objectId: "acme", personKey: "id", personValue: "7", attributes: {} }]);
    expect(api.counters.appliedOps).toBe(4);
  });

  it("merges attributes on a repeated add, removing those sent as null or empty string", async () => {
    const add = (attrs: Record<string, unknown>) =>
      post(api, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "42" }, relationship_attributes: attrs }])] }, { auth });
    await add({ role: "admin", seats: 3, vip: true, note: "x" });
    await add({ role: "owner", seats: null, note: "" });
    expect(api.state.relationshipsOf(acme)).toEqual([{ person: { id: "42" }, attributes: { role: "owner", vip: true } }]);
    await add({ fresh: null });
    expect(api.state.relationshipsOf(acme)[0]?.attributes).toEqual({ role: "owner", vip: true });
  });

  it("keeps a person addressed by id and by email as two keys (no alias merging)", async () => {
    await post(api, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "42" } }, { identifiers: { email: "42@x.io" } }])] }, { auth });
    expect(api.state.size).toBe(2);
  });

  it("applies a valid /entity op", async () => {
    const res = await post(api, personOp({ email: "a@b.c" }, [{ identifiers: obj("acme") }]), { auth, path: "/api/v2/entity" });
    expect(res.status).toBe(200);
    expect(api.state.relationshipsOf(acme)).toEqual([{ person: { email: "a@b.c" }, attributes: {} }]);
  });
});

describe("fake Track API: options", () => {
  it("serves extra base paths, and keeps only the latest requests when told to", async () => {
    const other = await startFakeTrackApi({ basePaths: ["/eu"], maxRecordedRequests: 2 });
    try {
      for (const id of ["a", "b", "c"]) {
        const res = await post(other, { batch: [objectOp(obj(id), [{ identifiers: { id: "1" } }])] }, { path: "/eu/api/v2/batch" });
        expect(res.status).toBe(200);
      }
      expect(other.requests.map((r) => r.seq)).toEqual([2, 3]);
      expect(other.counters.received).toBe(3);
      expect(other.state.size).toBe(3);
    } finally {
      await other.close();
    }
  });
});

describe("fake Track API: close", () => {
  it("closes idempotently and refuses connections afterwards", async () => {
    const other = await startFakeTrackApi();
    await post(other, { batch: [objectOp(obj("a"), [{ identifiers: { id: "1" } }])] });
    await Promise.all([other.close(), other.close()]);
    await expect(post(other, {})).rejects.toThrow();
  });
});
