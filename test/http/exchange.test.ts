import { afterEach, describe, expect, it } from "vitest";
import { createExchange, MAX_REDIRECTS, type Exchange, type ExchangeOptions } from "../../src/http/exchange.js";
import { reply, startServer, type TestServer } from "../transport/server.js";

const SECRET = "SECRET-TOKEN-55aa";
let server: TestServer | undefined;
let exchange: Exchange | undefined;
afterEach(async () => {
  await exchange?.close();
  await server?.close();
  server = exchange = undefined;
});

function open(url: string, o: Partial<ExchangeOptions> = {}): Exchange {
  exchange = createExchange({
    baseUrl: url,
    headers: { authorization: `Bearer ${SECRET}` },
    secrets: [SECRET],
    ratePerSecond: 1000,
    backoffBaseMs: 1,
    backoffCapMs: 5,
    ...o,
  });
  return exchange;
}

describe("src/http exchange", () => {
  it("returns a 2xx or 4xx answer as is, with the secret masked in the body", async () => {
    server = await startServer((req, res, n) =>
      n === 0 ? reply(res, 200, { ok: true }) : reply(res, 404, { errors: [{ detail: `no such key ${SECRET}` }] }),
    );
    const x = open(server.url);
    expect(await x.send("GET", "/v1/a?b=1")).toEqual({ kind: "answer", status: 200, body: '{"ok":true}' });
    const r = await x.send("GET", "/v1/b");
    expect(r).toEqual({ kind: "answer", status: 404, body: '{"errors":[{"detail":"no such key ***"}]}' });
    expect(server.received.map((q) => [q.method, q.path, q.headers.authorization])).toEqual([
      ["GET", "/v1/a?b=1", `Bearer ${SECRET}`],
      ["GET", "/v1/b", `Bearer ${SECRET}`],
    ]);
  });

  it.each([408, 429, 500, 502, 503, 504])("retries %i, then gives up after maxRetries naming the status", async (status) => {
    server = await startServer((_req, res) => reply(res, status, "busy"));
    const r = await open(server.url, { maxRetries: 2 }).send("GET", "/v1/x");
    expect(r).toMatchObject({ kind: "failed", status });
    expect(server.received).toHaveLength(3);
    expect(exchange?.stats).toEqual({ requests: 3, retries: 2, bytesSent: 0 });
  });

  it("caps a Retry-After at maxRetryAfterMs and holds the limiter for it (injected clock)", async () => {
    let t = 0;
    server = await startServer((_req, res, n) => (n === 0 ? reply(res, 429, {}, { "retry-after": "3600" }) : reply(res, 200)));
    const x = open(server.url, { now: () => t, sleep: async (ms) => void (t += ms), maxRetryAfterMs: 120_000 });
    expect(await x.send("GET", "/v1/x")).toMatchObject({ kind: "answer", status: 200 });
    expect(x.limiter.notBefore).toBe(120_000);
    expect(t).toBeGreaterThanOrEqual(120_000);
    expect(t).toBeLessThan(3_600_000);
  });

  it("follows a redirect to its own origin, refuses one to another host, and stops after MAX_REDIRECTS hops", async () => {
    server = await startServer((req, res) => {
      if (req.path === "/v1/moved") return reply(res, 307, "", { location: "/v1/here" });
      if (req.path === "/v1/away") return reply(res, 302, "", { location: "http://example.com/v1/x" });
      if (req.path.startsWith("/v1/loop")) return reply(res, 308, "", { location: `/v1/loop${req.path.length}` });
      return reply(res, 200, { at: req.path });
    });
    const x = open(server.url);
    expect(await x.send("GET", "/v1/moved")).toEqual({ kind: "answer", status: 200, body: '{"at":"/v1/here"}' });
    expect(await x.send("GET", "/v1/away")).toMatchObject({
      kind: "failed",
      status: 302,
      reason: expect.stringContaining("redirect to example.com refused"),
    });
    expect(await x.send("GET", "/v1/loop")).toMatchObject({ kind: "failed", reason: `more than ${MAX_REDIRECTS} redirects` });
    expect(server.received.filter((q) => q.path.startsWith("/v1/loop"))).toHaveLength(MAX_REDIRECTS + 1);
  });

  it("times out an attempt that gets no answer, then retries it", async () => {
    server = await startServer((_req, res, n) => (n === 0 ? undefined : reply(res, 200)));
    // Generous: the answered retry must not time out too on a loaded machine.
    const r = await open(server.url, { timeoutMs: 1_000, maxRetries: 3 }).send("GET", "/v1/slow");
    expect(r).toMatchObject({ kind: "answer", status: 200 });
    expect(exchange?.stats.retries).toBeGreaterThanOrEqual(1);
    expect(server.received.length).toBe((exchange?.stats.retries ?? 0) + 1);
  });

  it("abort() ends a request in flight as aborted", async () => {
    server = await startServer(() => undefined);
    const x = open(server.url, { timeoutMs: 10_000 });
    const pending = x.send("GET", "/v1/hang");
    setTimeout(() => x.abort(), 50);
    expect(await pending).toEqual({ kind: "aborted" });
  });
  it("stop(): every later send ends stopped with the first reason, sending nothing", async () => {
    server = await startServer((_req, res) => reply(res, 200));
    const x = open(server.url);
    x.stop("authentication refused (401)");
    x.stop("a later reason");
    expect(await x.send("POST", "/v1/batch", "{}")).toEqual({ kind: "stopped", reason: "authentication refused (401)" });
    expect(server.received).toHaveLength(0);
  });

  it("a POST sender follows only the redirects that keep method and body; a 302 is its answer", async () => {
    server = await startServer((req, res) => (req.path === "/v1/moved" ? reply(res, 302, "", { location: "/v1/here" }) : reply(res, 200)));
    const x = open(server.url, { redirectStatuses: [307, 308] });
    expect(await x.send("POST", "/v1/moved", "{}")).toMatchObject({ kind: "answer", status: 302 });
    expect(server.received).toHaveLength(1);
  });

  it("counts body bytes and tells each attempt to the send's onAttempt as well as onRequest", async () => {
    server = await startServer((_req, res, n) => reply(res, n === 0 ? 503 : 200, "busy"));
    const all: number[] = [];
    const mine: number[] = [];
    const x = open(server.url, { onRequest: (i) => all.push(i.attempt) });
    const r = await x.send("POST", "/v1/batch", '{"batch":["é"]}', { onAttempt: (i) => mine.push(i.status ?? 0) });
    expect(r).toMatchObject({ kind: "answer", status: 200 });
    expect(all).toEqual([1, 2]);
    expect(mine).toEqual([503, 200]);
    expect(x.stats).toEqual({ requests: 2, retries: 1, bytesSent: 2 * Buffer.byteLength('{"batch":["é"]}') });
  });

  it("without quoteBodyOnRetryFailure the reason names the status only", async () => {
    server = await startServer((_req, res) => reply(res, 503, "busy"));
    const r = await open(server.url, { maxRetries: 0, quoteBodyOnRetryFailure: false }).send("GET", "/v1/x");
    expect(r).toEqual({ kind: "failed", status: 503, reason: "503 Service Unavailable after 0 retries" });
  });
});
