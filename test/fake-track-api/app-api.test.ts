import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { basic, obj, objectOp, personOp, post } from "./http.js";
import { startFakeTrackApi } from "./index.js";
import type { FakeOptions, FakeTrackApi } from "./index.js";

let api: FakeTrackApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const auth = basic("s", "k");
const bearer = "Bearer app-secret";

async function start(options: FakeOptions = {}): Promise<FakeTrackApi> {
  api = await startFakeTrackApi({ siteId: "s", apiKey: "k", ...options, app: { apiKey: "app-secret", rateLimit: undefined, ...options.app } });
  return api;
}

/** A GET (or POST with body) to the App API, never throwing on a status. */
async function app(a: FakeTrackApi, path: string, opts: { auth?: string | null; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  const authz = opts.auth === undefined ? bearer : opts.auth;
  if (authz !== null) headers["authorization"] = authz;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await request(`${a.url}${path}`, {
    method: opts.body === undefined ? "GET" : "POST",
    headers,
    ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json: json as Record<string, unknown> };
}

/** Every page of a listing, following `next` until it is empty or absent. */
async function allPages(a: FakeTrackApi, path: string): Promise<{ pages: Array<Record<string, unknown>>; entries: unknown[] }> {
  const pages: Array<Record<string, unknown>> = [];
  let start: string | undefined;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const r = await app(a, start === undefined ? path : `${path}${sep}start=${encodeURIComponent(start)}`);
    expect(r.status).toBe(200);
    pages.push(r.json);
    const next = r.json["next"];
    if (typeof next !== "string" || next === "") break;
    start = next;
  }
  return { pages, entries: pages.flatMap((p) => p["cio_relationships"] as unknown[]) };
}

describe("fake App API: auth and documented errors", () => {
  it("lists object types with the documented fields", async () => {
    const a = await start();
    const r = await app(a, "/v1/object_types");
    expect(r.status).toBe(200);
    expect(r.json["types"]).toEqual([
      { id: "1", name: "Companies", singular_name: "Company", slug: "companies", singular_slug: "company", icon: "building", enabled: true },
      { id: "2", name: "Accounts", singular_name: "Account", slug: "accounts", singular_slug: "account", icon: "briefcase", enabled: true },
    ]);
  });

  it.each([
    ["no header", null],
    ["a wrong key", "Bearer nope"],
    ["the Track Basic credentials", basic("s", "k")],
    ["the key without Bearer", "app-secret"],
  ])("answers 401 with an errors body to %s", async (_what, header) => {
    const a = await start();
    const r = await app(a, "/v1/object_types", { auth: header });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ errors: [{ detail: "unauthorized", status: "401" }] });
  });

  it("answers 404 with an errors body for an object or a person that does not exist", async () => {
    const a = await start();
    const o = await app(a, "/v1/objects/1/nobody/relationships");
    expect(o.status).toBe(404);
    expect(o.json).toEqual({ errors: [{ detail: "object nobody of type 1 not found", status: "404" }] });
    const p = await app(a, "/v1/customers/42/relationships");
    expect(p.status).toBe(404);
    expect(p.json).toEqual({ errors: [{ detail: "customer 42 not found", status: "404" }] });
  });

  it("answers 400 for an id_type the workspace has not enabled, and for a bad start or limit", async () => {
    const a = await start({ app: { enabledIdTypes: [] } });
    await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { email: "a@b.c" } }])] }, { auth });
    expect((await app(a, "/v1/customers/a%40b.c/relationships?id_type=email")).status).toBe(400);
    expect((await app(a, "/v1/objects/1/acme/relationships?start=bogus")).status).toBe(400);
    expect((await app(a, "/v1/objects/1/acme/relationships?limit=0")).status).toBe(400);
    expect((await app(a, "/v1/objects/1/acme/relationships?id_type=nope")).status).toBe(400);
  });
});

describe("fake App API: what the Track API wrote", () => {
  it("lists an object's people with cio_id and the identifier they were created with, and no attributes", async () => {
    const a = await start();
    await post(
      a,
      {
        batch: [
          objectOp(obj("acme"), [{ identifiers: { id: "42" }, relationship_attributes: { role: "admin" } }, { identifiers: { email: "b@x.io" } }]),
        ],
      },
      { auth },
    );
    const p42 = a.state.person("id", "42");
    const pb = a.state.person("email", "b@x.io");
    expect(p42?.cio_id).toMatch(/^[0-9a-z]+$/);
    expect(p42?.cio_id).not.toBe(pb?.cio_id);
    const r = await app(a, "/v1/objects/1/acme/relationships");
    expect(r.status).toBe(200);
    const entries = r.json["cio_relationships"] as unknown[];
    expect(entries).toHaveLength(2);
    expect(entries).toEqual(
      expect.arrayContaining([
        { identifiers: { cio_id: p42?.cio_id, id: "42", email: null }, object_type_disabled: false, object_type_id: "1" },
        { identifiers: { cio_id: pb?.cio_id, id: null, email: "b@x.io" }, object_type_disabled: false, object_type_id: "1" },
      ]),
    );
    expect(r.json["next"]).toBe("");
  });

  it("lists a person's objects with integer type id, relationship attributes and timestamps, by id, email or cio_id", async () => {
    let t = 1_700_000_000_000;
    const a = await start({ now: () => t });
    a.state.addPerson({ id: "42", email: "p@x.io" });
    await post(
      a,
      {
        batch: [
          personOp({ id: "42" }, [
            { identifiers: obj("acme"), relationship_attributes: { role: "owner", seats: 3 } },
            { identifiers: obj("globex", "2") },
          ]),
        ],
      },
      { auth },
    );
    t += 5_000;
    // The same person by email: one person, three relationships.
    await post(a, { batch: [personOp({ email: "p@x.io" }, [{ identifiers: obj("initech") }])] }, { auth });
    const cio = a.state.person("id", "42")?.cio_id as string;
    const acme = a.state.visible().findObject({ objectTypeId: "1", objectId: "acme" });
    const expected = [
      {
        identifiers: { object_id: "acme", cio_object_id: acme?.cio_object_id },
        object_type_id: 1,
        attributes: { role: "owner", seats: 3 },
        timestamps: { role: 1_700_000_000, seats: 1_700_000_000 },
      },
      { identifiers: { object_id: "initech", cio_object_id: expect.any(String) }, object_type_id: 1, attributes: {}, timestamps: {} },
      { identifiers: { object_id: "globex", cio_object_id: expect.any(String) }, object_type_id: 2, attributes: {}, timestamps: {} },
    ];
    for (const path of [
      "/v1/customers/42/relationships",
      "/v1/customers/p%40x.io/relationships?id_type=email",
      `/v1/customers/${cio}/relationships?id_type=cio_id`,
    ]) {
      const r = await app(a, path);
      expect(r.status, path).toBe(200);
      expect(r.json["cio_relationships"], path).toEqual(expected);
    }
    // A delete by the assigned cio_id reaches the same person.
    await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { cio_id: cio } }], "delete_relationships")] }, { auth });
    expect(a.state.objectsOf({ key: "email", value: "p@x.io" }).map((o) => o.object.objectId)).toEqual(["initech", "globex"]);
  });

  it("finds people by email, and an object emptied of people still exists (200, no entries)", async () => {
    const a = await start();
    await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { email: "a@b.c" } }])] }, { auth });
    const found = await app(a, "/v1/customers?email=a%40b.c");
    expect(found.json).toEqual({ results: [{ cio_id: a.state.person("email", "a@b.c")?.cio_id, email: "a@b.c", id: null }] });
    expect((await app(a, "/v1/customers?email=none%40b.c")).json).toEqual({ results: [] });
    await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { email: "a@b.c" } }], "delete_relationships")] }, { auth });
    const r = await app(a, "/v1/objects/1/acme/relationships");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ cio_relationships: [], next: "" });
  });

  it("lists objects of a type through a filter (POST /v1/objects)", async () => {
    const a = await start();
    a.state.addObject({ objectTypeId: "1", objectId: "acme" }, { name: "acme corp", plan: "pro" });
    a.state.addObject({ objectTypeId: "1", objectId: "globex" }, { name: "globex" });
    a.state.addObject({ objectTypeId: "1", objectId: "hooli" });
    a.state.addObject({ objectTypeId: "2", objectId: "other" }, { name: "x" });
    const body = (filter: unknown) => ({ object_type_id: "1", filter });
    const ids = async (filter: unknown) => (await app(a, "/v1/objects", { body: body(filter) })).json["ids"];
    expect(await ids({ object_attribute: { field: "name", operator: "exists", type_id: "1" } })).toEqual(["acme", "globex"]);
    expect(
      await ids({
        and: [
          { object_attribute: { field: "name", operator: "exists", type_id: "1" } },
          { not: { object_attribute: { field: "name", operator: "eq", type_id: "1", value: "acme corp" } } },
        ],
      }),
    ).toEqual(["globex"]);
    expect(
      await ids({
        or: [
          { object_attribute: { field: "plan", operator: "eq", type_id: "1", value: "pro" } },
          { not: { object_attribute: { field: "name", operator: "exists", type_id: "1" } } },
        ],
      }),
    ).toEqual(["acme", "hooli"]);
    const r = await app(a, "/v1/objects", { body: body({ object_attribute: { field: "plan", operator: "exists", type_id: "1" } }) });
    expect(r.json).toEqual({ identifiers: [{ cio_object_id: expect.any(String), object_id: "acme" }], ids: ["acme"], next: "" });
    expect((await app(a, "/v1/objects", { body: { object_type_id: "1" } })).status).toBe(400);
  });
});

describe("fake App API: pages", () => {
  const people = Array.from({ length: 10 }, (_, i) => ({ identifiers: { id: `p${i}` } }));

  it.each([
    ["empty next on the last page", { pageSize: 3 }, 4, ""],
    ["no next on the last page", { pageSize: 3, lastNext: "absent" as const }, 4, undefined],
    ["an exact multiple of the page size", { pageSize: 5 }, 2, ""],
  ])("pages by start/next: %s", async (_what, settings, pageCount, lastNext) => {
    const a = await start({ app: settings });
    await post(a, { batch: [objectOp(obj("acme"), people)] }, { auth });
    const { pages, entries } = await allPages(a, "/v1/objects/1/acme/relationships");
    expect(pages).toHaveLength(pageCount);
    expect(pages.at(-1)?.["next"]).toBe(lastNext);
    expect(entries.map((e) => (e as { identifiers: { id: string } }).identifiers.id).sort()).toEqual(people.map((p) => p.identifiers.id).sort());
  });

  it("honours a smaller limit, never a larger one", async () => {
    const a = await start({ app: { pageSize: 4 } });
    await post(a, { batch: [objectOp(obj("acme"), people)] }, { auth });
    expect(((await app(a, "/v1/objects/1/acme/relationships?limit=2")).json["cio_relationships"] as unknown[]).length).toBe(2);
    expect(((await app(a, "/v1/objects/1/acme/relationships?limit=1000")).json["cio_relationships"] as unknown[]).length).toBe(4);
  });

  it("on request, starts each page with the previous page's last entry", async () => {
    const a = await start({ app: { pageSize: 4, repeat: true } });
    await post(a, { batch: [objectOp(obj("acme"), people)] }, { auth });
    const { pages, entries } = await allPages(a, "/v1/objects/1/acme/relationships");
    const ids = (p: Record<string, unknown>) =>
      (p["cio_relationships"] as Array<{ identifiers: { cio_id: string } }>).map((e) => e.identifiers.cio_id);
    expect(pages.length).toBe(3); // entries 0-3, 3-6, 6-9: each later page repeats one
    for (let i = 1; i < pages.length; i++)
      expect(ids(pages[i] as Record<string, unknown>)[0]).toBe(ids(pages[i - 1] as Record<string, unknown>).at(-1));
    expect(new Set(entries.map((e) => (e as { identifiers: { cio_id: string } }).identifiers.cio_id)).size).toBe(10);
    expect(entries.length).toBe(10 + pages.length - 1);
  });

  it("on request, answers a repeating next (a broken server the client must not loop on)", async () => {
    const a = await start({ app: { pageSize: 3, stuckNext: true } });
    await post(a, { batch: [objectOp(obj("acme"), people)] }, { auth });
    const first = await app(a, "/v1/objects/1/acme/relationships");
    const next = first.json["next"] as string;
    const second = await app(a, `/v1/objects/1/acme/relationships?start=${next}`);
    expect(second.json["next"]).toBe(next);
  });
});

describe("fake App API: rate limit, faults, visibility delay", () => {
  it("answers the documented 429 with Retry-After past 10 requests in a second (injected clock)", async () => {
    let t = 1_000_000;
    const a = await start({ now: () => t, app: { rateLimit: { perSecond: 10 } } });
    for (let i = 0; i < 10; i++) expect((await app(a, "/v1/object_types")).status).toBe(200);
    const r = await app(a, "/v1/object_types");
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("1");
    expect(r.json).toEqual({
      errors: [{ detail: expect.stringMatching(/^rate limited to 10 requests per 1s \(reference [0-9a-f]+\)$/), status: "429" }],
    });
    t += 100; // one token back
    expect((await app(a, "/v1/object_types")).status).toBe(200);
    expect((await app(a, "/v1/object_types")).status).toBe(429);
    // The Track side is not limited by it.
    expect((await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "1" } }])] }, { auth })).status).toBe(200);
  });

  it("takes scripted faults of its own, apart from the Track side's", async () => {
    const a = await start({ appScript: [{ status: 503 }, { status: 429, retryAfter: 2 }] });
    expect((await app(a, "/v1/object_types")).status).toBe(503);
    const limited = await app(a, "/v1/object_types");
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("2");
    expect(limited.json["errors"]).toEqual([{ detail: expect.stringContaining("rate limited to"), status: "429" }]);
    expect((await app(a, "/v1/object_types")).status).toBe(200);
    expect(a.app.faults.pending).toBe(0);
    expect(a.requests.map((r) => r.fault?.kind)).toEqual(["status 503", "status 429", undefined]);
  });

  it("shows a Track write to reads only after the visibility delay (injected clock)", async () => {
    let t = 5_000;
    const a = await start({ now: () => t, visibilityDelayMs: 2_000 });
    await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "1" } }])] }, { auth });
    expect(a.state.size).toBe(1); // accepted at once
    expect((await app(a, "/v1/objects/1/acme/relationships")).status).toBe(404); // not yet visible
    t += 1_999;
    expect((await app(a, "/v1/objects/1/acme/relationships")).status).toBe(404);
    t += 1;
    const seen = await app(a, "/v1/objects/1/acme/relationships");
    expect((seen.json["cio_relationships"] as unknown[]).length).toBe(1);
    await post(a, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "1" } }], "delete_relationships")] }, { auth });
    expect((await app(a, "/v1/objects/1/acme/relationships")).json["cio_relationships"]).toHaveLength(1);
    t += 2_000;
    expect((await app(a, "/v1/objects/1/acme/relationships")).json["cio_relationships"]).toHaveLength(0);
    expect(a.state.pendingWrites).toBe(0);
  });
});
