import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createAppClient, type AppClient, type AppClientOptions } from "../../src/workspace/client.js";
import { readAppApiKey, resolveAppUrl } from "../../src/workspace/config.js";
import { startFakeTrackApi, type FakeOptions, type FakeTrackApi } from "../fake-track-api/index.js";

const KEY = "APPKEY-9d2f41-never-print";
let fake: FakeTrackApi | undefined;
let client: AppClient | undefined;
afterEach(async () => {
  await client?.close();
  await fake?.close();
  fake = client = undefined;
});

/**
 * One virtual clock for the fake and the client: the client's sleeps move it instead of waiting, so a
 * run paced at 10 requests/s takes no wall time and the fake's request times are exact.
 */
function virtualClock(): { now: () => number; sleep: (ms: number) => Promise<void> } {
  let t = 1_000_000;
  return {
    now: () => t,
    // Time moves after a turn of the event loop, so a start released just before the sleep reads the time it was released at.
    sleep: async (ms) => {
      await new Promise((r) => setImmediate(r));
      t += Math.max(0, ms);
    },
  };
}

async function setup(fakeOptions: FakeOptions = {}, clientOptions: Partial<AppClientOptions> = {}) {
  const clock = virtualClock();
  fake = await startFakeTrackApi({ now: clock.now, ...fakeOptions, app: { apiKey: KEY, ...fakeOptions.app } });
  client = createAppClient({ baseUrl: fake.url, apiKey: KEY, now: clock.now, sleep: clock.sleep, random: () => 0.5, ...clientOptions });
  return { fake, client, clock };
}

/** The most requests the fake saw start within any window of `ms`. */
function maxInWindow(times: number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] as number) - (sorted[lo] as number) >= ms) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

const person = (i: number) => (i % 3 === 0 ? { key: "email" as const, value: `p${i}@x.io` } : { key: "id" as const, value: `p${i}` });

describe("App API client: listings equal the state", () => {
  it.each([
    ["pages of 7, repeats, 429s with Retry-After", { pageSize: 7, repeat: true }, 250],
    ["pages of 1 and no next on the last", { pageSize: 1, lastNext: "absent" as const }, 40],
    ["one page", { pageSize: 100 }, 60],
  ])("the people of an object: %s", async (_what, app, n) => {
    const { fake, client } = await setup({
      app,
      appScript: [{}, { status: 429, retryAfter: 1 }, {}, { status: 503 }, { status: 429, retryAfter: 2 }],
    });
    for (let i = 0; i < n; i++) fake.state.add({ objectTypeId: "1", objectId: "acme" }, person(i));
    fake.state.add({ objectTypeId: "1", objectId: "other" }, person(1));
    const r = await client.peopleOf({ typeId: "1", id: "acme" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const expected = Array.from({ length: n }, (_, i) => {
      const p = fake.state.person(person(i).key, person(i).value);
      return { id: p?.id ?? null, email: p?.email ?? null, cio_id: p?.cio_id };
    });
    expect([...r.items].sort((a, b) => a.cio_id.localeCompare(b.cio_id))).toEqual(
      expected.sort((a, b) => (a.cio_id as string).localeCompare(b.cio_id as string)),
    );
    expect(r.pages).toBe(fake.requests.filter((q) => q.status === 200).length);
    expect(client.stats.retries).toBe(fake.requests.filter((q) => q.status !== 200).length);
    expect(client.stats.requests).toBe(fake.requests.length);
  });

  it("the objects of a person with their relationship attributes, by id, email or cio_id", async () => {
    const { fake, client } = await setup({ app: { pageSize: 2, repeat: true } });
    fake.state.addPerson({ id: "42", email: "a@b.c" });
    for (let i = 0; i < 9; i++)
      fake.state.add(
        { objectTypeId: i % 2 === 0 ? "1" : "2", objectId: `o${i}` },
        { key: "id", value: "42" },
        { role: i === 0 ? "owner" : "member", seat: i },
      );
    const expected = fake.state.objectsOf({ key: "id", value: "42" }).map((o) => ({
      object_type_id: o.object.objectTypeId,
      object_id: o.object.objectId,
      cio_object_id: expect.any(String),
      attributes: o.attributes,
    }));
    const cio = fake.state.person("id", "42")?.cio_id as string;
    for (const who of [
      { key: "id" as const, value: "42" },
      { key: "email" as const, value: "a@b.c" },
      { key: "cio_id" as const, value: cio },
    ]) {
      const r = await client.objectsOf(who);
      expect(r.ok && r.items).toEqual(expected);
    }
  });

  it("lists the object types", async () => {
    const { client } = await setup();
    const r = await client.objectTypes();
    expect(r.ok && r.types.map((t) => [t.id, t.name, t.slug])).toEqual([
      ["1", "Companies", "companies"],
      ["2", "Accounts", "accounts"],
    ]);
  });
});

describe("App API client: failures", () => {
  it("stops on a repeating next instead of looping", async () => {
    const { fake, client } = await setup({ app: { pageSize: 2, stuckNext: true } });
    for (let i = 0; i < 10; i++) fake.state.add({ objectTypeId: "1", objectId: "acme" }, person(i));
    const r = await client.peopleOf({ typeId: "1", id: "acme" });
    expect(r).toMatchObject({ ok: false, kind: "failed", pages: 2 });
    expect(!r.ok && r.reason).toMatch(/repeated the page token .* stopped instead of looping/);
    expect(fake.requests.length).toBe(2);
  });

  it("reports a missing object or person as not-found, and a bad key as auth, never quoting the key", async () => {
    const { fake, client } = await setup();
    expect(await client.peopleOf({ typeId: "1", id: "ghost" })).toMatchObject({
      ok: false,
      kind: "not-found",
      status: 404,
      reason: "object ghost (type 1) not found",
    });
    expect(await client.objectsOf({ key: "email", value: "nobody@x.io" })).toMatchObject({ ok: false, kind: "not-found" });
    const wrong = createAppClient({ baseUrl: fake.url, apiKey: "WRONG-KEY-123" });
    try {
      const r = await wrong.objectTypes();
      expect(r).toMatchObject({ ok: false, kind: "auth", status: 401 });
      expect(JSON.stringify(r)).not.toContain("WRONG-KEY-123");
    } finally {
      await wrong.close();
    }
    expect(JSON.stringify(fake.requests.map((q) => [q.path, q.response]))).not.toContain(KEY);
  });

  it("retries a request that hangs past the timeout, then gives up after --max-retries", async () => {
    const { fake, client } = await setup({ appScript: [{ hang: true }, {}] }, { timeoutMs: 200, maxRetries: 1 });
    fake.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "1" });
    expect(await client.peopleOf({ typeId: "1", id: "acme" })).toMatchObject({ ok: true, items: [{ id: "1" }] });
    fake.app.faults.script([{ status: 502 }, { status: 502 }]);
    const r = await client.peopleOf({ typeId: "1", id: "acme" });
    expect(r).toMatchObject({ ok: false, kind: "failed", status: 502 });
    expect(!r.ok && r.reason).toContain("502 Bad Gateway after 1 retries");
  });
});

describe("App API client: pacing", () => {
  it("starts at most 10 requests in any second across listings in flight (virtual clock); the fake's 10/s limit never answers 429", async () => {
    const starts: number[] = [];
    const { fake, client } = await setup({ app: { pageSize: 3, rateLimit: { perSecond: 10 } } }, { onRequest: (i) => starts.push(i.at) });
    for (const o of ["a", "b", "c", "d"])
      for (let i = 0; i < 30; i++) fake.state.add({ objectTypeId: "1", objectId: o }, { key: "id", value: `${o}${i}` });
    const results = await Promise.all(["a", "b", "c", "d"].map((o) => client.peopleOf({ typeId: "1", id: o })));
    expect(results.map((r) => r.ok && r.items.length)).toEqual([30, 30, 30, 30]);
    expect(fake.requests.length).toBe(40);
    expect(starts.length).toBe(40);
    expect(maxInWindow(starts, 1000)).toBe(10);
    expect(fake.counters.byStatus[429]).toBeUndefined();
    // 40 requests at 10/s: the first at once, then one every 100 ms of virtual time.
    expect(Math.max(...starts) - Math.min(...starts)).toBe(3_900);
  });

  it("a Retry-After holds every listing in flight, not only the one that got it", async () => {
    const { fake, client } = await setup({ app: { pageSize: 5 }, appScript: [{ status: 429, retryAfter: 3 }] });
    for (const o of ["a", "b"]) for (let i = 0; i < 10; i++) fake.state.add({ objectTypeId: "1", objectId: o }, { key: "id", value: `${o}${i}` });
    await Promise.all(["a", "b"].map((o) => client.peopleOf({ typeId: "1", id: o })));
    const [first, ...rest] = fake.requests;
    expect(first?.status).toBe(429);
    // The second listing's first request had already started 100 ms later; everything after waits 3 s.
    expect(rest.slice(1).every((q) => q.time >= (first?.time as number) + 3_000)).toBe(true);
  });
});

describe("App API client: configuration", () => {
  it.each([
    [{}, "https://api.customer.io"],
    [{ region: "eu" }, "https://api-eu.customer.io"],
    [{ region: "EU" }, "https://api-eu.customer.io"],
    [{ region: "eu", appUrl: "http://127.0.0.1:4010/" }, "http://127.0.0.1:4010"],
    [{ appUrl: "http://localhost:1/base" }, "http://localhost:1/base"],
    [{ appUrl: "https://proxy.example.com" }, "https://proxy.example.com"],
  ])("resolves %j to %s", (o, url) => expect(resolveAppUrl(o)).toBe(url));

  it.each([
    [{ region: "ap" }, /unknown region "ap"/],
    [{ appUrl: "http://api.example.com" }, /plain http is allowed only to loopback/],
    [{ appUrl: "ftp://127.0.0.1" }, /must be an https URL/],
    [{ appUrl: "https://u:p@api.customer.io" }, /must not carry credentials/],
    [{ appUrl: "nope" }, /is not a URL/],
  ])("refuses %j", (o, message) => expect(() => resolveAppUrl(o)).toThrow(message));

  it("reads the key from the file before the environment, and refuses an empty or unreadable file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cio-rel-key-"));
    const file = join(dir, "key");
    writeFileSync(file, "from-file-key\n");
    expect(await readAppApiKey(file, { CIO_APP_API_KEY: "from-env" }, tmpdir())).toBe("from-file-key");
    expect(await readAppApiKey("key", { CIO_APP_API_KEY: "from-env" }, dir)).toBe("from-file-key");
    expect(await readAppApiKey(undefined, { CIO_APP_API_KEY: "from-env" }, dir)).toBe("from-env");
    expect(await readAppApiKey(undefined, {}, dir)).toBeUndefined();
    writeFileSync(file, "\n");
    await expect(readAppApiKey(file, {}, dir)).rejects.toThrow(/is empty/);
    await expect(readAppApiKey("missing", {}, dir)).rejects.toThrow(/--app-api-key-file missing: cannot read it \(no such file\)/);
  });
});
