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

describe("fake Track API: dropWritesFor (issue 14)", () => {
  it("accepts writes for the listed people but never stores them; clearing the setting lets later writes through", async () => {
    api = await startFakeTrackApi({ siteId: "s", apiKey: "k", faults: { dropWritesFor: ["2", "3"] } });
    const res = await post(api, batch, { auth });
    expect(res.status).toBe(200);
    expect(api.counters).toMatchObject({ appliedOps: 2, appliedRelationships: 3, droppedRelationships: 2 });
    expect(api.state.all().map((r) => `${r.objectId}:${r.personValue}`)).toEqual(["acme:1"]);
    // Deletes of a dropped person are dropped too: the relationship stays.
    api.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "3" });
    const del = { batch: [{ ...objectOp(obj("globex"), [{ identifiers: { id: "3" } }]), action: "delete_relationships" }] };
    expect((await post(api, del, { auth })).status).toBe(200);
    expect(api.state.has({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "3" })).toBe(true);
    api.faults.set({ dropWritesFor: undefined });
    expect((await post(api, batch, { auth })).status).toBe(200);
    expect(api.state.all().map((r) => `${r.objectId}:${r.personValue}`)).toEqual(["acme:1", "acme:2", "globex:3"]);
    expect(api.counters.droppedRelationships).toBe(3);
  });
});
