import { afterEach, describe, expect, it } from "vitest";
import type { Action } from "../../src/model/types.js";
import { encodeBatch } from "../../src/plan/encoder.js";
import { pipelinesEncoder } from "../../src/plan/pipelines-encoder.js";
import type { Batch, Operation } from "../../src/plan/types.js";
import { createPipelinesTransport, pipelinesErrors, readPipelinesAnswer, type PipelinesTransportOptions } from "../../src/transport/pipelines.js";
import type { BatchSettlement, BatchTransport, RequestInfo } from "../../src/transport/types.js";
import { rel, reply, startServer, type Handler, type Received, type TestServer } from "./server.js";

const KEY = "cdp-key-4f3e2d1c0b";
const BASIC = `Basic ${Buffer.from(`${KEY}:`).toString("base64")}`;

let server: TestServer | undefined;
let transport: BatchTransport | undefined;
afterEach(async () => {
  await transport?.close();
  await server?.close();
  transport = server = undefined;
});

async function setup(handler: Handler, options: Partial<PipelinesTransportOptions> = {}) {
  server = await startServer(handler);
  const infos: RequestInfo[] = [];
  transport = createPipelinesTransport({
    baseUrl: `${server.url}/v1`,
    apiKey: KEY,
    backoffBaseMs: 5,
    backoffCapMs: 20,
    ratePerSecond: 1000,
    onRequest: (i) => infos.push(i),
    ...options,
  });
  return { server, transport, infos };
}

/** A Data Pipelines batch of one call per person, as the planner makes them. */
function callsOf(action: Action, people: string[], firstLine = 1): Batch {
  const ops: Operation[] = people.map((p, i) => ({
    type: "object",
    action,
    object: { typeId: "1", id: "acme" },
    relationships: [rel(firstLine + i, p)],
  }));
  return encodeBatch(pipelinesEncoder, 0, ops);
}

/** The userIds of a posted body, in order. */
const users = (r: Received): string[] => (JSON.parse(r.body) as { batch: { userId: string }[] }).batch.map((c) => c.userId);

function outcomes(s: BatchSettlement): Record<number, string> {
  return Object.fromEntries(s.rows.map((r) => [r.line, r.outcome.kind === "applied" ? "applied" : `${r.outcome.kind}: ${r.outcome.reason}`]));
}

describe("readPipelinesAnswer", () => {
  it.each([
    [200, "{}", "applied"],
    [200, "", "applied"],
    [200, '{"meta":{"errors":[]}}', "applied"],
    [200, '{"meta":{"errors":["userId is required"]}}', "invalid"],
    [200, '{"errors":[{"reason":"bad"}]}', "invalid"],
    [400, '{"meta":{"errors":["batch[3]: userId is required"]}}', "invalid"],
    [400, "not json", "invalid"],
    [401, "", "auth"],
    [403, "{}", "auth"],
    [408, "", "retry"],
    [429, "", "retry"],
    [503, "", "retry"],
    [413, "", "too-large"],
    [307, "", "redirect"],
    [404, "no route", "failed"],
    [302, "", "failed"],
  ])("%i %s → %s", (status, body, kind) => {
    expect(readPipelinesAnswer(status, body).kind).toBe(kind);
  });

  it("quotes the spec's meta.errors strings, and Track-style errors, in the reason", () => {
    expect(readPipelinesAnswer(400, '{"meta":{"errors":["a is bad","b is bad"]}}')).toEqual({
      kind: "invalid",
      status: 400,
      reason: "a is bad; b is bad",
    });
    expect(pipelinesErrors('{"errors":[{"reason":"invalid","field":"userId","message":"empty"}]}')).toEqual(["invalid: empty (field: userId)"]);
    expect(readPipelinesAnswer(400, "plain words")).toEqual({ kind: "invalid", status: 400, reason: "400 Bad Request: plain words" });
  });
});

describe("createPipelinesTransport", () => {
  it("POSTs /v1/batch with Basic key: and X-Strict-Mode: 1, the body exactly as planned", async () => {
    const { server, transport, infos } = await setup((_r, res) => reply(res, 200, {}));
    const batch = callsOf("add_relationships", ["1", "2"]);
    const s = await transport.send(batch);
    expect(outcomes(s)).toEqual({ 1: "applied", 2: "applied" });
    const [r] = server.received;
    expect(r).toMatchObject({ method: "POST", path: "/v1/batch", body: batch.body.toString() });
    expect(r?.headers.authorization).toBe(BASIC);
    expect(r?.headers["x-strict-mode"]).toBe("1");
    expect(r?.headers["content-type"]).toBe("application/json");
    expect(infos).toEqual([
      { method: "POST", url: `${server.url}/v1/batch`, status: 200, bytes: batch.bytes, ms: expect.any(Number), attempt: 1, seq: 0 },
    ]);
  });

  it("400 (strict mode): splits the batch down to the bad call and applies every other", async () => {
    const { server, transport } = await setup((r, res) =>
      users(r).some((u) => u.startsWith("poison")) ? reply(res, 400, { meta: { errors: ["userId poison is not allowed"] } }) : reply(res, 200, {}),
    );
    const people = ["p1", "p2", "p3", "poison4", "p5", "p6", "p7", "poison8"];
    const s = await transport.send(callsOf("delete_relationships", people));
    const expected: Record<number, string> = {};
    people.forEach((p, i) => (expected[i + 1] = p.startsWith("poison") ? "failed: userId poison is not allowed" : "applied"));
    expect(outcomes(s)).toEqual(expected);
    expect(s.rows.find((r) => r.line === 4)?.outcome).toEqual({ kind: "failed", reason: "userId poison is not allowed", status: 400 });
    // Every good call reached an accepted request exactly once.
    const accepted = server.received.filter((r) => !users(r).some((u) => u.startsWith("poison")));
    expect(accepted.flatMap(users).sort()).toEqual(people.filter((p) => !p.startsWith("poison")).sort());
  });

  it("401 halts with a reason naming CIO_PIPELINES_API_KEY; later sends send nothing", async () => {
    const { server, transport } = await setup((_r, res) => reply(res, 401, ""));
    const reason = "authentication refused (401): check CIO_PIPELINES_API_KEY";
    const s = await transport.send(callsOf("add_relationships", ["1"]));
    expect(s.rows.map((r) => r.outcome)).toEqual([{ kind: "skipped", reason }]);
    expect(s.halt).toEqual({ kind: "auth", status: 401, reason });
    const later = await transport.send(callsOf("add_relationships", ["2"], 2));
    expect(later.rows.map((r) => r.outcome)).toEqual([{ kind: "skipped", reason }]);
    expect(server.received).toHaveLength(1);
  });

  it("never lets the API key (or its Basic token) into settlements or request logs", async () => {
    const leak = `${BASIC} ${KEY}`;
    const { transport, infos } = await setup((_r, res, n) => (n === 0 ? reply(res, 400, { meta: { errors: [leak] } }) : reply(res, 404, leak)), {
      isolate: false,
      maxRetries: 0,
    });
    const a = await transport.send(callsOf("add_relationships", ["1"]));
    const b = await transport.send(callsOf("add_relationships", ["2"], 2));
    const text = JSON.stringify({ a: a.rows, b: b.rows, infos });
    expect(a.rows[0]?.outcome.kind).toBe("failed");
    for (const secret of [KEY, BASIC.slice(6)]) expect(text).not.toContain(secret);
  });
});
