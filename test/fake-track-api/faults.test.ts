import { afterEach, describe, expect, it } from "vitest";
import { obj, objectOp, personOp, post } from "./http.js";
import { startFakeTrackApi } from "./index.js";
import type { FakeOptions, FakeTrackApi } from "./index.js";

const running: FakeTrackApi[] = [];
async function start(options: FakeOptions = {}): Promise<FakeTrackApi> {
  const api = await startFakeTrackApi(options);
  running.push(api);
  return api;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.close()));
});

const batchOf = (...ids: string[]): unknown => ({ batch: ids.map((id) => objectOp(obj(id), [{ identifiers: { id: "p" } }])) });

async function statuses(api: FakeTrackApi, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await post(api, batchOf(`o${i}`))).status);
  return out;
}

describe("faults: script", () => {
  it("consumes one scripted fault per request, in order, then behaves normally", async () => {
    const api = await start();
    api.faults.script([{ status: 429, retryAfter: 2 }, { status: 500 }, { status: 502 }, { status: 503 }, { status: 504 }]);
    expect(api.faults.pending).toBe(5);
    const first = await post(api, batchOf("a"));
    expect(first.status).toBe(429);
    expect(first.headers["retry-after"]).toBe("2");
    expect(api.faults.pending).toBe(4);
    expect(await statuses(api, 5)).toEqual([500, 502, 503, 504, 200]);
    expect(api.faults.pending).toBe(0);
    expect(api.state.all().map((r) => r.objectId)).toEqual(["o4"]);
    expect(api.requests.map((r) => r.fault?.kind)).toEqual(["status 429", "status 500", "status 502", "status 503", "status 504", undefined]);
    expect(api.requests[0]?.fault?.source).toBe("script");
  });

  it("sends Retry-After as an HTTP date when given a Date, and a scripted body", async () => {
    const api = await start({ script: [{ status: 503, retryAfter: new Date(Date.UTC(2030, 0, 1)), body: "<html>down</html>" }] });
    const res = await post(api, batchOf("a"));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("Tue, 01 Jan 2030 00:00:00 GMT");
    expect(res.text).toBe("<html>down</html>");
  });

  it("takes a scripted 401 with an empty body", async () => {
    const api = await start({ script: [{ status: 401 }] });
    const res = await post(api, batchOf("a"));
    expect([res.status, res.text]).toEqual([401, ""]);
  });

  it("forgets the script and settings on clear()", async () => {
    const api = await start({ script: [{ status: 503 }], faults: { rate500: 1 } });
    api.faults.clear();
    expect(api.faults.pending).toBe(0);
    expect(api.faults.settings).toEqual({});
    expect(await statuses(api, 2)).toEqual([200, 200]);
  });
});

describe("faults: latency", () => {
  it("delays a request by a scripted latency, then answers normally", async () => {
    const api = await start({ script: [{ latencyMs: 200 }] });
    const t0 = performance.now();
    const res = await post(api, batchOf("a"));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    expect(res.status).toBe(200);
    expect(api.requests[0]?.latencyMs).toBe(200);
    expect(api.state.size).toBe(1);
  });

  it("draws random latency in [min, max] reproducibly from the seed", async () => {
    const draw = async (seed: number): Promise<number[]> => {
      const api = await start({ seed, faults: { latencyMs: [1, 30] } });
      await statuses(api, 6);
      return api.requests.map((r) => r.latencyMs);
    };
    const a = await draw(7);
    expect(a.every((ms) => ms >= 1 && ms <= 30)).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(1);
    expect(await draw(7)).toEqual(a);
    expect(await draw(8)).not.toEqual(a);
  });
});

describe("faults: rates", () => {
  it("answers 503 to every request at rate 1 and never at rate 0", async () => {
    const api = await start({ faults: { rate503: 1 } });
    expect(await statuses(api, 3)).toEqual([503, 503, 503]);
    expect(api.state.size).toBe(0);
    api.faults.set({ rate503: 0 });
    expect(await statuses(api, 2)).toEqual([200, 200]);
  });

  it("draws the same faults for the same seed", async () => {
    const run = async (): Promise<number[]> => statuses(await start({ seed: 42, faults: { rate503: 0.3, rate429: 0.2 } }), 30);
    const a = await run();
    expect(await run()).toEqual(a);
    expect(new Set(a)).toEqual(new Set([200, 429, 503]));
  });

  it("sends Retry-After: 1 with a drawn 429 unless told otherwise", async () => {
    const api = await start({ faults: { rate429: 1 } });
    expect((await post(api, batchOf("a"))).headers["retry-after"]).toBe("1");
    api.faults.set({ retryAfter: 5 });
    expect((await post(api, batchOf("a"))).headers["retry-after"]).toBe("5");
    expect(api.requests[0]?.fault).toEqual({ source: "rate", kind: "status 429" });
  });

  it("refuses rates outside 0..1 or adding up to more than 1", async () => {
    const api = await start();
    expect(() => api.faults.set({ rate503: 1.5 })).toThrow(/between 0 and 1/);
    expect(() => api.faults.set({ rate503: 0.6, resetRate: 0.6 })).toThrow(/more than 1/);
    expect(api.faults.settings).toEqual({});
  });
});

describe("faults: broken connections", () => {
  it("resets the connection mid-request without answering or applying", async () => {
    const api = await start({ script: [{ reset: true }] });
    await expect(post(api, batchOf("a"))).rejects.toThrow();
    expect(api.requests[0]).toMatchObject({ outcome: "reset", status: undefined });
    expect(api.counters.resets).toBe(1);
    expect(api.state.size).toBe(0);
    expect((await post(api, batchOf("b"))).status).toBe(200);
  });

  it("resets after reading only part of a large body", async () => {
    const api = await start({ script: [{ reset: true }] });
    const big = JSON.stringify(batchOf("a")).replace(/}$/, " ".repeat(400_000) + "}");
    await expect(post(api, big)).rejects.toThrow();
    expect(api.requests[0]?.bytes).toBeGreaterThan(0);
    expect(api.requests[0]?.bytes).toBeLessThan(400_000);
  });

  it("resets at resetRate 1", async () => {
    const api = await start({ faults: { resetRate: 1 } });
    await expect(post(api, batchOf("a"))).rejects.toThrow();
    expect(api.requests[0]?.fault).toEqual({ source: "rate", kind: "reset" });
  });

  it("never answers a hanging request; the client gives up; the next request is served", async () => {
    const api = await start({ script: [{ hang: true }] });
    await expect(post(api, batchOf("a"), { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect(api.requests[0]).toMatchObject({ outcome: "hang", status: undefined });
    expect(api.counters.hangs).toBe(1);
    expect((await post(api, batchOf("b"))).status).toBe(200);
    expect(api.state.all().map((r) => r.objectId)).toEqual(["b"]);
  });

  it("closes promptly while requests hang or wait out latency, failing them", async () => {
    const api = await startFakeTrackApi({ script: [{ hang: true }, { latencyMs: 60_000 }] });
    const hanging = post(api, batchOf("a"));
    const slow = post(api, batchOf("b"));
    const settled = Promise.allSettled([hanging, slow]);
    while (api.requests.length < 2) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    await api.close();
    const results = await settled;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(api.state.size).toBe(0);
  });
});

describe("faults: errors in a 200, and poison", () => {
  it("answers 200 with an errors array naming scripted ops, which are not applied", async () => {
    const api = await start({ script: [{ errorsBody: [1] }, { status: 200, errorsBody: true }] });
    const res = await post(api, batchOf("a", "b", "c"));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ errors: [expect.objectContaining({ batch_index: 1, reason: "internal" })] });
    expect(api.state.all().map((r) => r.objectId)).toEqual(["a", "c"]);

    const all = await post(api, batchOf("d", "e"));
    expect(all.status).toBe(200);
    expect((all.json as { errors: Array<{ batch_index: number }> }).errors.map((e) => e.batch_index)).toEqual([0, 1]);
    expect(api.state.size).toBe(2);
  });

  it("reports invalid ops with 200 instead of 207 under errorsAs200", async () => {
    const api = await start({ faults: { errorsAs200: true } });
    const res = await post(api, { batch: [objectOp(obj("a"), [])] });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ errors: [expect.objectContaining({ batch_index: 0, reason: "required" })] });
  });

  it("fails whole every op carrying a poison person or object, and applies the rest", async () => {
    const api = await start({ faults: { poison: { people: ["bad@x.io"], objects: ["evil", "ob-evil"] } } });
    const res = await post(api, {
      batch: [
        objectOp(obj("acme"), [{ identifiers: { id: "ok1" } }, { identifiers: { email: "bad@x.io" } }]),
        objectOp(obj("evil"), [{ identifiers: { id: "ok2" } }]),
        personOp({ email: "bad@x.io" }, [{ identifiers: obj("fine") }]),
        personOp({ id: "ok3" }, [{ identifiers: obj("fine") }, { identifiers: { cio_object_id: "ob-evil" } }]),
        objectOp(obj("fine"), [{ identifiers: { id: "ok4" } }]),
      ],
    });
    expect(res.status).toBe(207);
    const errors = (res.json as { errors: Array<Record<string, unknown>> }).errors;
    expect(errors.map((e) => e["batch_index"])).toEqual([0, 1, 2, 3]);
    // Which relationship was bad is not said: the field is the whole list.
    expect(errors.every((e) => e["field"] === "cio_relationships" && e["reason"] === "rejected")).toBe(true);
    expect(JSON.stringify(errors)).not.toContain("bad@x.io");
    expect(api.state.all()).toEqual([{ objectTypeId: "1", objectId: "fine", personKey: "id", personValue: "ok4", attributes: {} }]);
    expect(api.counters.poisonedOps).toBe(4);
  });

  it("answers /entity with 400 for a poison op and 200 with errors for a scripted errors body", async () => {
    const api = await start({ faults: { poison: { objects: ["evil"] } }, script: [{}, { errorsBody: true }] });
    const entity = { path: "/api/v2/entity" };
    const poisoned = await post(api, objectOp(obj("evil"), [{ identifiers: { id: "1" } }]), entity);
    expect(poisoned.status).toBe(400);
    expect(poisoned.json).toEqual({ errors: [{ reason: "rejected", field: "cio_relationships", message: expect.any(String) }] });
    const failed = await post(api, objectOp(obj("fine"), [{ identifiers: { id: "1" } }]), entity);
    expect(failed.status).toBe(200);
    expect(failed.json).toEqual({ errors: [{ reason: "internal", field: "", message: expect.any(String) }] });
    expect(api.state.size).toBe(0);
  });

  it("applies the healthy half once the client splits a poisoned op", async () => {
    const api = await start({ faults: { poison: { people: ["bad"] } } });
    expect((await post(api, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "good" } }, { identifiers: { id: "bad" } }])] })).status).toBe(207);
    expect((await post(api, { batch: [objectOp(obj("acme"), [{ identifiers: { id: "good" } }])] })).status).toBe(200);
    expect(api.state.size).toBe(1);
  });
});

describe("faults: rate limit, revoked key, redirect", () => {
  it("limits with a token bucket: burst, then 429 with Retry-After: 1, refilled by the clock", async () => {
    let t = 1_000_000;
    const api = await start({ now: () => t, faults: { rateLimit: { perSecond: 2, burst: 3 } } });
    const limited = await statuses(api, 4);
    expect(limited).toEqual([200, 200, 200, 429]);
    expect(api.requests[3]?.responseHeaders["retry-after"]).toBe("1");
    expect(api.requests[3]?.fault).toEqual({ source: "setting", kind: "rate limit" });
    t += 500; // one token back
    expect(await statuses(api, 2)).toEqual([200, 429]);
    t += 60_000; // refills only up to the burst
    expect(await statuses(api, 4)).toEqual([200, 200, 200, 429]);
  });

  it("limits a real burst of concurrent requests to about the bucket's size", async () => {
    const api = await start({ faults: { rateLimit: { perSecond: 5 } } });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(api, batchOf(`o${i}`))));
    const ok = answers.filter((a) => a.status === 200).length;
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThan(15);
    expect(answers.filter((a) => a.status === 429).length).toBe(20 - ok);
  });

  it("answers 401 once revokeAfter requests have been made", async () => {
    const api = await start();
    expect(await statuses(api, 1)).toEqual([200]);
    api.faults.set({ revokeAfter: 2 });
    const after = await statuses(api, 4);
    expect(after).toEqual([200, 200, 401, 401]);
    expect(api.requests[3]?.response).toBeUndefined();
    expect(api.requests[3]?.fault).toEqual({ source: "setting", kind: "revoked key" });
    expect(api.state.all().map((r) => r.objectId)).toEqual(["o0", "o1"]);
  });

  it("redirects one request with 307 to another base path, which it serves", async () => {
    const api = await start({ script: [{ redirectTo: "/eu" }] });
    const body = batchOf("a");
    const res = await post(api, body);
    expect(res.status).toBe(307);
    expect(res.headers["location"]).toBe(`${api.url}/eu/api/v2/batch`);
    expect(api.state.size).toBe(0);
    const followed = await post(api, body, { path: "/eu/api/v2/batch" });
    expect(followed.status).toBe(200);
    expect(api.state.size).toBe(1);
  });

  it("is followed by fetch with the same body", async () => {
    const api = await start({ faults: { redirect: { to: "/eu" } } });
    const body = JSON.stringify(batchOf("a"));
    const res = await fetch(`${api.url}/api/v2/batch`, {
      method: "POST",
      body,
      headers: { authorization: `Basic ${Buffer.from("site:key").toString("base64")}`, "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(api.requests.map((r) => [r.path, r.status, r.rawBody === body])).toEqual([
      ["/api/v2/batch", 307, true],
      ["/eu/api/v2/batch", 200, true],
    ]);
    expect(api.state.size).toBe(1);
  });

  it("redirects every request off the target under the redirect setting, /entity included, with its status", async () => {
    const api = await start({ faults: { redirect: { to: "/eu/west", status: 308 } } });
    const res = await post(api, objectOp(obj("a"), [{ identifiers: { id: "1" } }]), { path: "/api/v2/entity" });
    expect(res.status).toBe(308);
    expect(res.headers["location"]).toBe(`${api.url}/eu/west/api/v2/entity`);
    expect(() => api.faults.set({ redirect: { to: "eu/" } })).toThrow(/base path/);
  });
});
