import { afterEach, describe, expect, it } from "vitest";
import { basic, obj, objectOp, post } from "./http.js";
import { startFakeTrackApi } from "./index.js";
import type { FakeTrackApi } from "./index.js";

let api: FakeTrackApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

const auth = basic("s", "k");
const batch = {
  batch: [
    objectOp(obj("acme"), [{ identifiers: { id: "1" } }, { identifiers: { id: "2" }, relationship_attributes: { role: "admin" } }]),
    objectOp(obj("globex"), [{ identifiers: { id: "3" } }]),
  ],
};

describe("fake Track API: applyState and countOnly", () => {
  it("applies valid ops to the state by default, and counts their relationships", async () => {
    api = await startFakeTrackApi({ siteId: "s", apiKey: "k" });
    expect((await post(api, batch, { auth })).status).toBe(200);
    expect(api.state.size).toBe(3);
    expect(api.counters).toMatchObject({ appliedOps: 2, appliedRelationships: 3 });
  });

  it("with applyState: false, validates and counts but keeps no relationships", async () => {
    api = await startFakeTrackApi({ siteId: "s", apiKey: "k", applyState: false });
    expect((await post(api, batch, { auth })).status).toBe(200);
    expect(api.state.size).toBe(0);
    expect(api.counters).toMatchObject({ appliedOps: 2, appliedRelationships: 3 });
    // Validation still runs: an invalid op is refused as before.
    const bad = { batch: [objectOp(obj("acme"), [])] };
    expect((await post(api, bad, { auth })).status).toBe(207);
    expect(api.counters).toMatchObject({ appliedOps: 2, invalidOps: 1 });
  });

  it("with countOnly, answers 200 to any authorized body within the limit and only counts it", async () => {
    api = await startFakeTrackApi({ siteId: "s", apiKey: "k", countOnly: true });
    const res = await post(api, batch, { auth });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({});
    // Not parsed, so not validated either: an empty op passes too. Auth is still checked.
    expect((await post(api, { batch: [objectOp(obj("acme"), [])] }, { auth })).status).toBe(200);
    expect((await post(api, batch, { auth: basic("s", "wrong") })).status).toBe(401);
    expect(api.state.size).toBe(0);
    expect(api.counters).toMatchObject({ received: 3, appliedOps: 0, invalidOps: 0 });
    const sent = 2 * Buffer.byteLength(JSON.stringify(batch)) + Buffer.byteLength(JSON.stringify({ batch: [objectOp(obj("acme"), [])] }));
    expect(api.counters.receivedBytes).toBe(sent);
  });
});
