import { afterEach, describe, expect, it } from "vitest";
import { isPacked, packBatch } from "../../src/plan/packed-batch.js";
import { batchRows, readBody } from "../../src/plan/serialize.js";
import { MAX_RETRY_AFTER_MS, createTrackTransport } from "../../src/transport/track.js";
import type { BatchSettlement, BatchTransport, RequestInfo, TrackTransportOptions } from "../../src/transport/types.js";
import { batchOf, objectOp, postedOps, reply, shape, startServer, type Handler, type Received, type TestServer } from "./server.js";

const SITE = "site-9f8e7d6c";
const KEY = "sk-live-abcdef123456";
const BASIC = `Basic ${Buffer.from(`${SITE}:${KEY}`).toString("base64")}`;

let server: TestServer | undefined;
let transport: BatchTransport | undefined;
afterEach(async () => {
  await transport?.close();
  await server?.close();
  transport = server = undefined;
});

/** A server answering with `handler` and a transport pointed at it; `infos` collects onRequest. */
async function setup(handler: Handler, options: Partial<TrackTransportOptions> = {}) {
  server = await startServer(handler);
  const infos: RequestInfo[] = [];
  transport = createTrackTransport({
    baseUrl: server.url,
    siteId: SITE,
    apiKey: KEY,
    backoffBaseMs: 10,
    backoffCapMs: 50,
    ratePerSecond: 1000,
    onRequest: (i) => infos.push(i),
    ...options,
  });
  return { server, transport, infos };
}

/** Outcome kind (and reason when not applied) per line. */
function outcomes(s: BatchSettlement): Record<number, string> {
  return Object.fromEntries(s.rows.map((r) => [r.line, r.outcome.kind === "applied" ? "applied" : `${r.outcome.kind}: ${r.outcome.reason}`]));
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

/** People ids of a posted body, in order. */
const people = (r: Received): string[] => postedOps(r).flatMap((op) => op.cio_relationships.map((c) => c.identifiers.id ?? ""));

/** Answers like the Track API: `status` with an error per op that carries a person id starting with "poison". */
const poisonAware =
  (status = 207): Handler =>
  (r, res) => {
    const errors = postedOps(r).flatMap((op, i) =>
      op.cio_relationships.some((c) => c.identifiers.id?.startsWith("poison"))
        ? [{ batch_index: i, reason: "invalid_value", field: "identifiers.id", message: "person id too long" }]
        : [],
    );
    if (errors.length === 0) reply(res, 200, {});
    else reply(res, status, { errors });
  };

const TEN = ["p0", "p1", "p2", "p3", "p4", "p5", "poison6", "p7", "p8", "p9"];
const POISON_REASON = "failed: invalid_value: person id too long (field: identifiers.id)";

describe("createTrackTransport: answers", () => {
  it("posts the batch body as is, with Basic auth, and applies every row on 200 {}", async () => {
    const { server, transport, infos } = await setup((_r, res) => reply(res, 200, {}));
    const batch = batchOf(objectOp("acme", ["1", "2"], 2), objectOp("globex", ["3"], 4));
    const s = await transport.send(batch);
    expect(s.batch).toBe(batch);
    expect(s.rows).toEqual([2, 3, 4].map((line) => ({ index: line, line, outcome: { kind: "applied" } })));
    expect(server.received).toHaveLength(1);
    const [r] = server.received;
    expect(r).toMatchObject({ method: "POST", path: "/api/v2/batch", body: batch.body.toString() });
    expect(r?.headers.authorization).toBe(BASIC);
    expect(r?.headers["content-type"]).toBe("application/json");
    expect(transport.stats).toEqual({ requests: 1, retries: 0, bytesSent: batch.bytes });
    expect(infos).toEqual([
      { method: "POST", url: `${server.url}/api/v2/batch`, status: 200, bytes: batch.bytes, ms: expect.any(Number), attempt: 1, seq: 0 },
    ]);
  });

  it("settles a packed batch applied whole from its row ids, without reading its rows back (issue 16)", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 200, {}));
    const batch = packBatch(batchOf(objectOp("acme", ["1", "2"], 2), objectOp("globex", ["3"], 4)), readBody);
    const s = await transport.send(batch);
    expect(s.rows).toEqual([2, 3, 4].map((line) => ({ index: line, line, outcome: { kind: "applied" } })));
    expect(server.received[0]?.body).toBe(batch.body.toString());
    expect(isPacked(batch)).toBe(true);
  });

  it("207 on a packed batch: reads its rows back from the body and isolates the bad one as for any batch", async () => {
    const { server, transport } = await setup(poisonAware());
    const plain = batchOf(objectOp("acme", TEN, 1), objectOp("globex", ["q1", "q2", "q3"], 11));
    const s = await transport.send(packBatch(plain, readBody));
    const expected: Record<number, string> = {};
    for (const line of batchRows(plain)) expected[line] = line === 7 ? POISON_REASON : "applied";
    expect(outcomes(s)).toEqual(expected);
    expect(server.received.map(shape)).toEqual([
      [10, 3],
      [5, 5],
      [2, 3],
      [1, 1],
    ]);
  });

  it("sends nothing for a batch without rows", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 200, {}));
    const s = await transport.send(batchOf());
    expect(s.rows).toEqual([]);
    expect(server.received).toHaveLength(0);
  });

  it("207: isolates exactly the bad relationship of a 10-relationship op by halving it", async () => {
    const { server, transport } = await setup(poisonAware());
    const batch = batchOf(objectOp("acme", TEN, 1), objectOp("globex", ["q1", "q2", "q3"], 11));
    const s = await transport.send(batch);

    expect(s.rows.map((r) => r.index)).toEqual(batchRows(batch));
    const expected: Record<number, string> = {};
    for (const line of batchRows(batch)) expected[line] = line === 7 ? POISON_REASON : "applied";
    expect(outcomes(s)).toEqual(expected);
    expect(s.rows.find((r) => r.line === 7)?.outcome).toEqual({
      kind: "failed",
      reason: "invalid_value: person id too long (field: identifiers.id)",
      status: 207,
      field: "identifiers.id",
    });
    // [10,3] → op 0 fails → its halves [5,5] → second fails → [2,3] → first fails → [1,1] → poison alone.
    expect(server.received.map(shape)).toEqual([
      [10, 3],
      [5, 5],
      [2, 3],
      [1, 1],
    ]);
    expect(server.received.map(people).slice(1)).toEqual([
      ["p0", "p1", "p2", "p3", "p4", "p5", "poison6", "p7", "p8", "p9"],
      ["p5", "poison6", "p7", "p8", "p9"],
      ["p5", "poison6"],
    ]);
    // Halves keep the op's identity.
    for (const r of server.received.slice(1)) {
      for (const op of postedOps(r)) expect(op).toMatchObject({ type: "object", identifiers: { object_id: "acme" }, action: "add_relationships" });
    }
  });

  it("207 with isolate: false fails the whole op without resending", async () => {
    const { server, transport } = await setup(poisonAware(), { isolate: false });
    const s = await transport.send(batchOf(objectOp("acme", TEN, 1), objectOp("globex", ["q1"], 11)));
    expect(server.received).toHaveLength(1);
    const o = outcomes(s);
    for (let line = 1; line <= 10; line++) expect(o[line]).toBe(POISON_REASON);
    expect(o[11]).toBe("applied");
  });

  it("reads a 200 carrying errors like a 207", async () => {
    const { server, transport } = await setup(poisonAware(200));
    const s = await transport.send(batchOf(objectOp("a", ["ok1"], 1), objectOp("b", ["poison"], 2), objectOp("c", ["ok3", "ok4"], 3)));
    expect(outcomes(s)).toEqual({ 1: "applied", 2: POISON_REASON, 3: "applied", 4: "applied" });
    expect(s.rows[1]?.outcome).toMatchObject({ status: 200 });
    expect(server.received).toHaveLength(1);
  });

  it("400: splits the batch by ops, then the op by relationships, down to the bad row", async () => {
    const { server, transport } = await setup((r, res) => {
      if (people(r).some((p) => p.startsWith("poison"))) {
        reply(res, 400, { errors: [{ reason: "invalid", field: "identifiers", message: "bad person" }] });
      } else reply(res, 200, {});
    });
    const batch = batchOf(
      objectOp("a", ["a1", "a2"], 1),
      objectOp("b", ["b1", "b2"], 3),
      objectOp("c", ["c1", "poison"], 5),
      objectOp("d", ["d1", "d2"], 7),
    );
    const s = await transport.send(batch);
    expect(outcomes(s)).toEqual({
      1: "applied",
      2: "applied",
      3: "applied",
      4: "applied",
      5: "applied",
      6: "failed: invalid: bad person (field: identifiers)",
      7: "applied",
      8: "applied",
    });
    expect(s.rows[5]?.outcome).toMatchObject({ status: 400, field: "identifiers" });
    expect(server.received.map(people)).toEqual([
      ["a1", "a2", "b1", "b2", "c1", "poison", "d1", "d2"],
      ["a1", "a2", "b1", "b2"],
      ["c1", "poison", "d1", "d2"],
      ["c1", "poison"],
      ["c1"],
      ["poison"],
      ["d1", "d2"],
    ]);
  });

  it("400 with isolate: false fails the batch's rows at once", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 400, { errors: [{ reason: "malformed" }] }), { isolate: false });
    const s = await transport.send(batchOf(objectOp("a", ["1", "2"], 1), objectOp("b", ["3"], 3)));
    expect(outcomes(s)).toEqual({ 1: "failed: malformed", 2: "failed: malformed", 3: "failed: malformed" });
    expect(server.received).toHaveLength(1);
  });

  it("413: splits until the pieces fit; a row too large on its own fails", async () => {
    const LIMIT = 260;
    const { server, transport } = await setup((r, res) => (Buffer.byteLength(r.body) > LIMIT ? reply(res, 413, "") : reply(res, 200, {})));
    const names = ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "big".padEnd(300, "g")];
    const batch = batchOf(objectOp("acme", names, 1));
    const s = await transport.send(batch);
    const expected: Record<number, string> = {};
    names.forEach((_n, i) => (expected[i + 1] = i === 7 ? "failed: 413 Payload Too Large" : "applied"));
    expect(outcomes(s)).toEqual(expected);
    const accepted = server.received.filter((r) => Buffer.byteLength(r.body) <= LIMIT);
    expect(accepted.flatMap(people).sort()).toEqual(names.slice(0, 7).sort());
    expect(server.received.length).toBeGreaterThan(2);
  });

  it("fails the rows of an unknown 4xx with its status and a body snippet", async () => {
    const { transport } = await setup((_r, res) => reply(res, 404, "no such route"));
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(s.rows[0]?.outcome).toEqual({ kind: "failed", reason: "404 Not Found: no such route", status: 404, retry: true });
    expect(transport.stats.retries).toBe(0);
  });
});

describe("createTrackTransport: retries", () => {
  it("retries a 503 and then applies", async () => {
    const { server, transport, infos } = await setup((_r, res, n) => reply(res, n === 0 ? 503 : 200, {}));
    const batch = batchOf(objectOp("a", ["1", "2"], 1));
    const s = await transport.send(batch);
    expect(outcomes(s)).toEqual({ 1: "applied", 2: "applied" });
    expect(server.received.map((r) => r.body)).toEqual([batch.body.toString(), batch.body.toString()]);
    expect(infos.map((i) => [i.attempt, i.status])).toEqual([
      [1, 503],
      [2, 200],
    ]);
    expect(transport.stats).toEqual({ requests: 2, retries: 1, bytesSent: 2 * batch.bytes });
  });

  it("fails the rows with the last error once retries run out", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 503, "busy"), { maxRetries: 2 });
    const s = await transport.send(batchOf(objectOp("a", ["1", "2"], 1)));
    expect(s.rows.map((r) => r.outcome)).toEqual([
      { kind: "failed", reason: "503 Service Unavailable after 2 retries", status: 503, retry: true },
      { kind: "failed", reason: "503 Service Unavailable after 2 retries", status: 503, retry: true },
    ]);
    expect(server.received).toHaveLength(3);
    expect(transport.stats.retries).toBe(2);
  });

  it("retries after the connection is reset", async () => {
    const { server, transport, infos } = await setup((r, res, n) => (n === 0 ? res.socket?.destroy() : reply(res, 200, {})));
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(outcomes(s)).toEqual({ 1: "applied" });
    expect(server.received).toHaveLength(2);
    expect(infos[0]).toMatchObject({ status: undefined, error: expect.stringMatching(/^network error: /) });
  });

  it("abandons a request that hangs past the timeout and retries it", async () => {
    const { server, transport, infos } = await setup((_r, res, n) => (n === 0 ? undefined : reply(res, 200, {})), { timeoutMs: 300 });
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(outcomes(s)).toEqual({ 1: "applied" });
    expect(server.received).toHaveLength(2);
    expect(infos[0]).toMatchObject({ status: undefined, error: "no answer within 300 ms" });
    expect(infos[0]?.ms).toBeGreaterThanOrEqual(250);
  });

  it("fails with the timeout as last error when every try hangs", async () => {
    const { transport } = await setup(() => undefined, { timeoutMs: 100, maxRetries: 1 });
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(s.rows[0]?.outcome).toEqual({ kind: "failed", reason: "no answer within 100 ms after 1 retries", retry: true });
  });

  it("honours Retry-After for every worker: nothing arrives before it has passed", async () => {
    let got429: (() => void) | undefined;
    const seen429 = new Promise<void>((resolve) => (got429 = resolve));
    const { server, transport } = await setup((_r, res, n) => (n === 0 ? reply(res, 429, {}, { "retry-after": "1" }) : reply(res, 200, {})), {
      // Real clock and sleep: the assertion is about wall time.
      backoffBaseMs: 1,
      onRequest: (i) => (i.status === 429 ? got429?.() : undefined),
    });
    const first = transport.send(batchOf(objectOp("a", ["1"], 1)));
    await seen429;
    await new Promise((r) => setTimeout(r, 100));
    // A second worker starting after the 429 must wait for the same Retry-After.
    const second = transport.send(batchOf(objectOp("b", ["2"], 2)));
    const [s1, s2] = await Promise.all([first, second]);
    expect(outcomes(s1)).toEqual({ 1: "applied" });
    expect(outcomes(s2)).toEqual({ 2: "applied" });
    expect(server.received).toHaveLength(3);
    const t429 = server.received[0]?.at ?? 0;
    for (const r of server.received.slice(1)) expect(r.at - t429).toBeGreaterThanOrEqual(1000);
    expect(transport.stats.retries).toBe(1);
  });
});

describe("createTrackTransport: redirects", () => {
  it("follows a 307 to another path of the same host with the same method and body", async () => {
    const { server, transport, infos } = await setup((r, res) =>
      r.path === "/api/v2/batch" ? reply(res, 307, "", { location: "/moved/api/v2/batch" }) : reply(res, 200, {}),
    );
    const batch = batchOf(objectOp("a", ["1", "2"], 1));
    const s = await transport.send(batch);
    expect(outcomes(s)).toEqual({ 1: "applied", 2: "applied" });
    expect(server.received.map((r) => [r.method, r.path, r.body, r.headers.authorization])).toEqual([
      ["POST", "/api/v2/batch", batch.body.toString(), BASIC],
      ["POST", "/moved/api/v2/batch", batch.body.toString(), BASIC],
    ]);
    expect(infos.map((i) => i.url)).toEqual([`${server.url}/api/v2/batch`, `${server.url}/moved/api/v2/batch`]);
    expect(transport.stats.retries).toBe(0);
  });

  it("refuses a redirect to a foreign host and names it", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 308, "", { location: "https://evil.example/api/v2/batch" }));
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(s.rows[0]?.outcome).toMatchObject({ kind: "failed", status: 308, reason: expect.stringContaining("redirect to evil.example refused") });
    expect(server.received).toHaveLength(1);
  });

  it("refuses a look-alike host and plain http under customer.io", async () => {
    for (const location of ["https://customer.io.evil.example/x", "https://evilcustomer.io/x", "http://track.customer.io/x"]) {
      const { transport } = await setup((_r, res) => reply(res, 307, "", { location }));
      const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
      expect(s.rows[0]?.outcome).toMatchObject({ kind: "failed", reason: expect.stringMatching(/^redirect to .* refused/) });
      await transport.close();
      await server?.close();
    }
    transport = server = undefined;
  });

  it("gives up after 5 hops", async () => {
    const { server, transport } = await setup((r, res) => reply(res, 307, "", { location: `/hop${server.received.length}` }));
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(s.rows[0]?.outcome).toMatchObject({ kind: "failed", reason: "more than 5 redirects" });
    expect(server.received).toHaveLength(6);
  });
});

describe("createTrackTransport: stopping", () => {
  it("401 stops the transport: rows skipped, later sends send nothing, requests in flight finish", async () => {
    const { server, transport } = await setup((r, res) =>
      people(r).includes("slow") ? setTimeout(() => reply(res, 200, {}), 300) : reply(res, 401, ""),
    );
    const slow = transport.send(batchOf(objectOp("a", ["slow"], 1)));
    await until(() => server.received.length === 1);
    const refused = await transport.send(batchOf(objectOp("b", ["x", "y"], 2)));
    const reason = "authentication refused (401): check CIO_SITE_ID and CIO_API_KEY";
    expect(refused.rows.map((r) => r.outcome)).toEqual([
      { kind: "skipped", reason },
      { kind: "skipped", reason },
    ]);
    // The halt arrives in the settlement (issue 11): the pipeline reads it there.
    expect(refused.halt).toEqual({ kind: "auth", status: 401, reason });
    const later = await transport.send(batchOf(objectOp("c", ["z"], 4)));
    expect(later.rows).toEqual([{ index: 4, line: 4, outcome: { kind: "skipped", reason } }]);
    expect(later.halt).toEqual({ kind: "auth", status: 401, reason });
    expect(outcomes(await slow)).toEqual({ 1: "applied" });
    expect(server.received).toHaveLength(2);
  });

  it("403 mid-isolation skips the rows not yet settled and keeps those that were", async () => {
    const { server, transport } = await setup((_r, res, n) =>
      n === 0 ? reply(res, 207, { errors: [{ batch_index: 0, reason: "bad" }] }) : reply(res, 403, ""),
    );
    const s = await transport.send(batchOf(objectOp("a", ["1", "2"], 1), objectOp("b", ["3"], 3)));
    const reason = "permission refused (403): check CIO_SITE_ID and CIO_API_KEY";
    expect(outcomes(s)).toEqual({ 1: `skipped: ${reason}`, 2: `skipped: ${reason}`, 3: "applied" });
    expect(s.halt).toEqual({ kind: "auth", status: 403, reason });
    expect(server.received).toHaveLength(2);
  });

  it("abort() cuts requests in flight and backoff waits short; later sends skip", async () => {
    const { server, transport } = await setup((r, res) => (people(r).includes("busy") ? reply(res, 503, "") : undefined), {
      backoffBaseMs: 60_000,
      backoffCapMs: 60_000,
      random: () => 1,
    });
    const sends = [
      transport.send(batchOf(objectOp("a", ["1"], 1))),
      transport.send(batchOf(objectOp("b", ["2", "3"], 2))),
      transport.send(batchOf(objectOp("c", ["busy"], 4))),
    ];
    await until(() => server.received.length === 3);
    await new Promise((r) => setTimeout(r, 50)); // let the 503 reach its backoff
    const started = Date.now();
    transport.abort();
    const settled = await Promise.all(sends);
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const s of settled) for (const r of s.rows) expect(r.outcome).toEqual({ kind: "skipped", reason: "interrupted" });
    const later = await transport.send(batchOf(objectOp("d", ["5"], 5)));
    expect(later.rows).toEqual([{ index: 5, line: 5, outcome: { kind: "skipped", reason: "interrupted" } }]);
    expect(server.received).toHaveLength(3);
  });
});

describe("createTrackTransport: rate limit", () => {
  it("keeps any 2-second window within 1.1 × 2 × rate across concurrent sends", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 200, {}), { ratePerSecond: 20, concurrency: 8 });
    const sends = Array.from({ length: 60 }, (_v, i) => transport.send(batchOf(objectOp(`o${i}`, ["1"], i + 1))));
    const settled = await Promise.all(sends);
    expect(settled.every((s) => s.rows[0]?.outcome.kind === "applied")).toBe(true);
    const times = server.received.map((r) => r.at).sort((a, b) => a - b);
    expect(times).toHaveLength(60);
    let worst = 0;
    for (let i = 0; i < times.length; i++) {
      const t = times[i] ?? 0;
      worst = Math.max(worst, times.filter((u) => u >= t && u < t + 2000).length);
    }
    expect(worst).toBeLessThanOrEqual(44);
    // 59 gaps of 50 ms: the run cannot have been faster than that (a "not earlier" bound).
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(2800);
  });

  it("puts retries and split resends through the limiter too", async () => {
    let t = 0;
    const starts: number[] = [];
    const { transport } = await setup(poisonAware(), {
      ratePerSecond: 10,
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
      onRequest: () => starts.push(t),
    });
    await transport.send(batchOf(objectOp("acme", TEN, 1)));
    expect(starts).toHaveLength(4);
    for (let i = 1; i < starts.length; i++) expect((starts[i] ?? 0) - (starts[i - 1] ?? 0)).toBeGreaterThanOrEqual(100);
  });
});

describe("createTrackTransport: secrets", () => {
  it("never lets the site id or API key into settlements or onRequest info", async () => {
    const echo: Handler = (r, res, n) => {
      const leak = `${r.headers.authorization} ${SITE}:${KEY}`;
      switch (n % 6) {
        case 0:
          return reply(res, 404, leak);
        case 1:
          return reply(res, 400, { errors: [{ reason: leak, message: KEY, field: SITE }] });
        case 2:
          return reply(res, 207, { errors: [{ batch_index: 0, reason: leak, message: KEY }] });
        case 3:
          return reply(res, 307, "", { location: `https://evil.example/${KEY}` });
        case 4:
          return res.socket?.destroy();
        default:
          return reply(res, 401, leak);
      }
    };
    const { transport, infos } = await setup(echo, { isolate: false, maxRetries: 0 });
    const settlements: BatchSettlement[] = [];
    for (let i = 0; i < 6; i++) settlements.push(await transport.send(batchOf(objectOp("a", ["1"], i + 1))));
    const text = JSON.stringify({ settlements: settlements.map((s) => s.rows), infos, halts: settlements.map((s) => s.halt) });
    expect(settlements.map((s) => s.rows[0]?.outcome.kind)).toEqual(["failed", "failed", "failed", "failed", "failed", "skipped"]);
    for (const secret of [KEY, SITE, BASIC.slice(6)]) expect(text).not.toContain(secret);
  });
});

describe("createTrackTransport: outages and waits (issue 9 §4)", () => {
  /** A clock that moves only when the transport sleeps, so no assertion depends on the machine's speed. */
  function fakeClock(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; slept: number[] } {
    let t = 1_000_000;
    const slept: number[] = [];
    return {
      now: () => t,
      sleep: async (ms, signal) => {
        if (signal?.aborted === true) throw new Error("aborted");
        slept.push(ms);
        t += ms;
      },
      slept,
    };
  }

  it.each([
    ["3600 seconds", "3600"],
    ["an HTTP date a day away", new Date(1_000_000 + 86_400_000).toUTCString()],
  ])("caps a Retry-After of %s at 120 s, then retries", async (_name, retryAfter) => {
    const clock = fakeClock();
    const { server, transport } = await setup((_r, res, n) => (n === 0 ? reply(res, 429, {}, { "retry-after": retryAfter }) : reply(res, 200, {})), {
      now: clock.now,
      sleep: clock.sleep,
    });
    const s = await transport.send(batchOf(objectOp("a", ["1"], 1)));
    expect(outcomes(s)).toEqual({ 1: "applied" });
    expect(server.received).toHaveLength(2);
    const waited = clock.slept.reduce((a, b) => a + b, 0);
    expect(Math.max(...clock.slept)).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS);
    expect(waited).toBeGreaterThanOrEqual(MAX_RETRY_AFTER_MS - 1);
    expect(waited).toBeLessThan(MAX_RETRY_AFTER_MS + 1000);
  });

  it("gives up once nothing has succeeded for giveUpAfterMs: the rows are skipped, and so is every later send", async () => {
    const clock = fakeClock();
    const { transport } = await setup((_r, res) => reply(res, 503, "down"), {
      now: clock.now,
      sleep: clock.sleep,
      maxRetries: 1000,
      backoffBaseMs: 1000,
      backoffCapMs: 5000,
      random: () => 1,
      giveUpAfterMs: 60_000,
    });
    const s = await transport.send(batchOf(objectOp("a", ["1", "2"], 1)));
    expect(s.rows.map((r) => r.outcome.kind)).toEqual(["skipped", "skipped"]);
    expect(s.halt).toEqual({ kind: "gave-up", reason: expect.stringMatching(/gave up after 60 s without a successful request/) as string });
    const waited = clock.slept.reduce((a, b) => a + b, 0);
    expect(waited).toBeGreaterThanOrEqual(60_000);
    expect(waited).toBeLessThan(60_000 + 5_000 + 1);
    const later = await transport.send(batchOf(objectOp("b", ["3"], 3)));
    expect(later.rows.map((r) => r.outcome)).toEqual([{ kind: "skipped", reason: s.halt?.reason }]);
    expect(later.halt).toEqual(s.halt);
  });

  it("a success resets the outage clock", async () => {
    const clock = fakeClock();
    // Every other request fails: progress is being made, so it never gives up.
    const { transport } = await setup((_r, res, n) => (n % 2 === 0 ? reply(res, 503, "busy") : reply(res, 200, {})), {
      now: clock.now,
      sleep: clock.sleep,
      maxRetries: 3,
      backoffBaseMs: 40_000,
      backoffCapMs: 40_000,
      random: () => 1,
      giveUpAfterMs: 60_000,
    });
    for (let i = 0; i < 4; i++) {
      const s = await transport.send(batchOf(objectOp(`o${i}`, [String(i)], i + 1)));
      expect(s.rows[0]?.outcome.kind).toBe("applied");
      expect(s.halt).toBeUndefined();
    }
  });

  it("stopWaiting() ends a 3,600 s Retry-After at once: the rows are skipped as interrupted", async () => {
    let got429: (() => void) | undefined;
    const seen429 = new Promise<void>((resolve) => (got429 = resolve));
    // Real clock and sleep: without stopWaiting this send would wait 120 s, past the test's timeout.
    const { server, transport } = await setup((_r, res) => reply(res, 429, {}, { "retry-after": "3600" }), {
      onRequest: (i) => (i.status === 429 ? got429?.() : undefined),
    });
    const sending = transport.send(batchOf(objectOp("a", ["1"], 1)));
    await seen429;
    transport.stopWaiting();
    const s = await sending;
    expect(s.rows.map((r) => r.outcome)).toEqual([{ kind: "skipped", reason: "interrupted" }]);
    expect(server.received).toHaveLength(1);
  }, 30_000);
});
