import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { basic, groupCall, obj, objectOp, pipelinesBasic, post } from "./http.js";

const SERVE = fileURLToPath(new URL("./serve.ts", import.meta.url));
const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** Spawns serve.ts under tsx, collecting its output. */
function serve(args: string[]): { child: ChildProcessWithoutNullStreams; out: () => string; err: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", SERVE, ...args], { stdio: "pipe" });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  return { child, out: () => out, err: () => err };
}

/** Waits for the one line that announces the URL. */
async function urlOf(s: ReturnType<typeof serve>): Promise<string> {
  for (;;) {
    const m = /^fake Track API listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(s.out());
    if (m?.[1] !== undefined) return m[1];
    if (s.child.exitCode !== null) throw new Error(`serve.ts exited: ${s.err()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("serve.ts", () => {
  it("prints its URL, applies what it receives, and prints a summary on SIGINT", async () => {
    const s = serve(["--port", "0", "--site-id", "s", "--api-key", "k", "--latency", "1-5", "--rate-limit", "100", "--pipelines-api-key", "pk"]);
    const url = await urlOf(s);
    const res = await post(
      { url },
      { batch: [objectOp(obj("acme"), [{ identifiers: { id: "1" } }, { identifiers: { id: "2" } }])] },
      { auth: basic("s", "k") },
    );
    expect(res.status).toBe(200);
    expect((await post({ url }, { batch: [] }, { auth: basic("s", "wrong") })).status).toBe(401);
    const strict = { "x-strict-mode": "1" };
    const viaPipelines = await post({ url }, { batch: [groupCall("3", "acme")] }, { path: "/v1/batch", auth: pipelinesBasic("pk"), headers: strict });
    expect(viaPipelines.status).toBe(200);
    s.child.kill("SIGINT");
    const [code] = await once(s.child, "exit");
    expect(code).toBe(0);
    const lines = s.out().trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe(`fake Data Pipelines API listening on ${url}/v1`);
    expect(lines[2]).toMatch(
      /^fake Track API: 3 relationships held across 1 objects; 3 requests, 1 ops applied, .*; Data Pipelines: 1 calls accepted$/,
    );
    expect(s.err()).toContain("POST /api/v2/batch 200");
  });

  it("injects faults from its flags and stops on SIGTERM", async () => {
    const s = serve(["--port", "0", "--rate-503", "1", "--quiet"]);
    const url = await urlOf(s);
    expect((await post({ url }, { batch: [objectOp(obj("a"), [{ identifiers: { id: "1" } }])] })).status).toBe(503);
    s.child.kill("SIGTERM");
    const [code] = await once(s.child, "exit");
    expect(code).toBe(0);
    expect(s.out()).toContain("0 relationships held");
    expect(s.err()).toBe("");
  });

  it("serves the App API with the key, page size and visibility delay its flags give", async () => {
    const s = serve([
      "--port",
      "0",
      "--site-id",
      "s",
      "--api-key",
      "k",
      "--app-api-key",
      "a-key",
      "--page-size",
      "1",
      "--last-next",
      "absent",
      "--visibility-delay",
      "0",
      "--quiet",
    ]);
    const url = await urlOf(s);
    const people = [{ identifiers: { id: "1" } }, { identifiers: { id: "2" } }];
    expect((await post({ url }, { batch: [objectOp(obj("acme"), people)] }, { auth: basic("s", "k") })).status).toBe(200);
    const get = (path: string, key = "a-key") => post({ url }, undefined, { method: "GET", path, auth: `Bearer ${key}` });
    const first = await get("/v1/objects/1/acme/relationships");
    expect(first.status).toBe(200);
    const page1 = first.json as { cio_relationships: unknown[]; next: string };
    expect(page1.cio_relationships).toHaveLength(1);
    const page2 = (await get(`/v1/objects/1/acme/relationships?start=${page1.next}`)).json as Record<string, unknown>;
    expect(page2["cio_relationships"]).toHaveLength(1);
    expect("next" in page2).toBe(false);
    expect((await get("/v1/object_types", "wrong")).status).toBe(401);
    s.child.kill("SIGTERM");
    await once(s.child, "exit");
  });

  it("exits 2 with the usage on a bad flag", async () => {
    const s = serve(["--port", "0", "--latency", "soon"]);
    const [code] = await once(s.child, "exit");
    expect(code).toBe(2);
    expect(s.err()).toContain("--latency takes MS or MIN-MAX");
    expect(s.err()).toContain("usage: serve.ts");
  });
});
