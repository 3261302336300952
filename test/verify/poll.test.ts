import { describe, expect, it } from "vitest";
import { objectLabel, personLabel } from "../../src/model/types.js";
import type { ListingRead } from "../../src/verify/judge.js";
import { pairsOf, targetsOf, type Side, type Target, type VerifyRow } from "../../src/verify/pairs.js";
import { pollUntilConfirmed, type PollOptions } from "../../src/verify/poll.js";
import { verifyRows } from "../../src/verify/verify.js";
import { seededRandom } from "../../src/verify/sample.js";
import { row } from "./helpers.js";

/** A relationship in the simulated workspace, visible to reads from `from` until `until` (ms on the fake clock). */
interface Rel {
  person: string;
  object: string;
  attributes?: Record<string, unknown>;
  from?: number;
  until?: number;
}

/**
 * A workspace on a fake clock: reads take READ_MS each (the App API's pacing), sleeps advance the clock;
 * `fail` answers chosen reads with a failure.
 */
function world(rels: Rel[], o: { fail?: (label: string, n: number) => ListingRead | undefined; stopAfterReads?: number } = {}) {
  const READ_MS = 100;
  let now = 0;
  const sleeps: number[] = [];
  const reads: Array<{ at: number; label: string }> = [];
  // A listing shows the state at the moment the read started.
  let at = 0;
  const visible = (r: Rel): boolean => (r.from ?? 0) <= at && at < (r.until ?? Infinity);
  const fx = {
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    stopped: () => o.stopAfterReads !== undefined && reads.length >= o.stopAfterReads,
    read: async (t: Target): Promise<ListingRead> => {
      at = now;
      reads.push({ at, label: t.label });
      now += READ_MS;
      const failed = o.fail?.(t.label, reads.filter((r) => r.label === t.label).length);
      if (failed !== undefined) return failed;
      if (t.read.side === "objects") {
        const label = objectLabel(t.read.object);
        return {
          kind: "people",
          people: rels
            .filter((r) => r.object === label && visible(r))
            .map((r) => {
              const [k, v] = r.person.split(":") as [string, string];
              return { id: k === "id" ? v : null, email: k === "email" ? v : null, cio_id: `cio-${v}` };
            }),
        };
      }
      const label = personLabel(t.read.person);
      return {
        kind: "objects",
        objects: rels
          .filter((r) => r.person === label && visible(r))
          .map((r) => {
            const [type, id] = r.object.split(":") as [string, string];
            return { object_type_id: type, object_id: id, cio_object_id: null, attributes: r.attributes ?? {} };
          }),
      };
    },
  };
  return { fx, sleeps, reads, now: () => now };
}

const targets = (rows: VerifyRow[], side: Side): Target[] => targetsOf(pairsOf(rows), side);
const OPTS: PollOptions = { timeoutMs: 120_000, concurrency: 1 };
const verdicts = (m: Map<number, { confirmed: boolean }>) => Object.fromEntries([...m].map(([k, v]) => [k, v.confirmed]));

describe("pollUntilConfirmed", () => {
  it("confirms everything once the writes become visible, re-reading only what is still unconfirmed", async () => {
    const rows = [row(1, "id:1", "1:a"), row(2, "id:2", "1:a"), row(3, "id:3", "1:b"), row(4, "id:4", "1:c")];
    const w = world([
      { person: "id:1", object: "1:a", from: 0 },
      { person: "id:2", object: "1:a", from: 4_000 },
      { person: "id:3", object: "1:b", from: 0 },
      { person: "id:4", object: "1:c", from: 9_000 },
    ]);
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, OPTS);
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: true, 3: true, 4: true });
    expect({ confirmed: r.confirmedRows, unconfirmed: r.unconfirmedRows }).toEqual({ confirmed: 4, unconfirmed: 0 });
    // First read after 1 s, then re-reads after 1, 2, 4, 8 s … of what is still open only.
    expect(w.sleeps).toEqual([1000, 1000, 2000, 4000, 8000]);
    expect(w.reads.map((x) => `${x.at}:${x.label}`)).toEqual([
      "1000:object 1:a",
      "1100:object 1:b",
      "1200:object 1:c",
      "2300:object 1:a",
      "2400:object 1:c",
      "4500:object 1:a",
      "4600:object 1:c",
      "8700:object 1:c",
      "16800:object 1:c",
    ]);
    expect({ reads: r.reads, rounds: r.rounds, durationMs: r.durationMs }).toEqual({ reads: 9, rounds: 5, durationMs: 16_900 });
  });

  it("leaves a pair that never shows unconfirmed, with the last reason, and stops re-reading at the timeout", async () => {
    const rows = [row(1, "id:1", "1:a"), row(2, "id:2", "1:a"), row(3, "id:3", "1:a")];
    const w = world([{ person: "id:1", object: "1:a" }]);
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, { timeoutMs: 60_000, concurrency: 1 });
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: false, 3: false });
    expect(r.rows.get(2)).toEqual({
      confirmed: false,
      why: "missing",
      reason: expect.stringMatching(/^not visible: object 1:a does not list person id:2 \(read 7 times over 60\.1 s\)$/),
    });
    // Waits double to the cap and the last one is cut so the last re-read starts at the deadline.
    expect(w.sleeps).toEqual([1000, 1000, 2000, 4000, 8000, 16000, 27400]);
    expect(w.reads.at(-1)?.at).toBe(60_000);
    expect(r.reads).toBe(7);
  });

  it("caps the wait between re-reads", async () => {
    const w = world([]);
    await pollUntilConfirmed(targets([row(1, "id:1", "1:a")], "objects"), w.fx, { timeoutMs: 200_000, concurrency: 1, backoffCapMs: 30_000 });
    expect(w.sleeps.slice(0, 8)).toEqual([1000, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(Math.max(...w.sleeps)).toBe(30_000);
  });

  it("with a timeout of 0 reads everything once, right away", async () => {
    const w = world([{ person: "id:1", object: "1:a" }]);
    const r = await pollUntilConfirmed(targets([row(1, "id:1", "1:a"), row(2, "id:2", "1:b")], "objects"), w.fx, { timeoutMs: 0 });
    expect(w.sleeps).toEqual([0]);
    expect(r.reads).toBe(2);
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: false });
  });

  it("reads everything at least once even when the first round outlasts the timeout", async () => {
    const rows = Array.from({ length: 50 }, (_, i) => row(i + 1, `id:${i}`, `1:o${i}`));
    const w = world(rows.map((r) => ({ person: `id:${r.person.value}`, object: objectLabel(r.object), from: 2_000 })));
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, { timeoutMs: 3_000, concurrency: 1 });
    // 50 reads × 100 ms: the round begun before the deadline finishes; no re-read starts after it.
    expect(r.reads).toBe(50);
    expect(r.rounds).toBe(1);
    expect(r.unconfirmedRows).toBe(10);
    expect(r.confirmedRows).toBe(40);
  });

  it("deletes: confirmed once the pair is gone", async () => {
    const del = "delete_relationships" as const;
    const rows = [row(1, "id:1", "1:a", undefined, del), row(2, "id:1", "1:b", undefined, del)];
    const w = world([
      { person: "id:1", object: "1:a", until: 3_000 },
      { person: "id:1", object: "1:b", until: 0 },
    ]);
    const r = await pollUntilConfirmed(targets(rows, "people"), w.fx, OPTS);
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: true });
    expect(w.reads.map((x) => x.label)).toEqual(["person id:1", "person id:1", "person id:1"]);
  });

  it("checks attributes on the people side and waits for a late attribute change", async () => {
    const rows = [row(1, "id:1", "1:a", { role: "admin" }), row(2, "id:1", "1:b", { role: "user" })];
    const rels: Rel[] = [
      { person: "id:1", object: "1:a", attributes: { role: "user" }, until: 5_000 },
      { person: "id:1", object: "1:a", attributes: { role: "admin" }, from: 5_000 },
      { person: "id:1", object: "1:b", attributes: { role: "owner" } },
    ];
    const r = await pollUntilConfirmed(targets(rows, "people"), world(rels).fx, { timeoutMs: 20_000 });
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: false });
    expect((r.rows.get(2) as { reason: string }).reason).toMatch(/^attribute "role" is "owner" in Customer.io \(sent "user"\)/);
  });

  it("a failed read is retried next round; the rows of a pair share its verdict", async () => {
    const rows = [row(1, "id:1", "1:a"), row(2, "id:1", "1:a"), row(3, "id:2", "1:b")];
    const w = world(
      [
        { person: "id:1", object: "1:a" },
        { person: "id:2", object: "1:b" },
      ],
      { fail: (label, n) => (label === "object 1:a" && n <= 2 ? { kind: "failed", reason: "HTTP 503 after 8 retries" } : undefined) },
    );
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, OPTS);
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: true, 3: true });
    expect(r.reads).toBe(4);
  });

  it("a read failing till the end leaves its rows unconfirmed with the failure", async () => {
    const w = world([{ person: "id:1", object: "1:a" }], { fail: () => ({ kind: "failed", reason: "HTTP 500" }) });
    const r = await pollUntilConfirmed(targets([row(1, "id:1", "1:a")], "objects"), w.fx, { timeoutMs: 5_000 });
    expect(r.rows.get(1)).toEqual({
      confirmed: false,
      why: "unread",
      reason: expect.stringMatching(/^could not read back: HTTP 500 \(read \d+ times/),
    });
  });

  it("refused credentials stop the verification: nothing more is read, the rest is not verified", async () => {
    const rows = [row(1, "id:1", "1:a"), row(2, "id:2", "1:b"), row(3, "id:3", "1:c")];
    const w = world([], {
      fail: (label) => (label === "object 1:b" ? { kind: "failed", reason: "App API authentication refused (401)", fatal: true } : undefined),
    });
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, OPTS);
    expect(r.halt).toEqual({ kind: "auth", reason: "App API authentication refused (401)" });
    expect(w.reads.map((x) => x.label)).toEqual(["object 1:a", "object 1:b"]);
    expect(r.rows.get(3)).toEqual({ confirmed: false, why: "unread", reason: "not verified: App API authentication refused (401)" });
    expect(r.unconfirmedRows).toBe(3);
    expect(r.rounds).toBe(1);
  });

  it("an interrupt stops new reads; every row still gets a verdict", async () => {
    const rows = [row(1, "id:1", "1:a"), row(2, "id:2", "1:b"), row(3, "id:3", "1:c")];
    const w = world([{ person: "id:1", object: "1:a" }], { stopAfterReads: 2 });
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, OPTS);
    expect(r.halt?.kind).toBe("interrupted");
    expect(r.rows.size).toBe(3);
    expect(verdicts(r.rows)).toEqual({ 1: true, 2: false, 3: false });
    expect(r.rows.get(3)).toEqual({ confirmed: false, why: "unread", reason: "not verified: interrupted" });
    expect(r.confirmedRows + r.unconfirmedRows).toBe(3);
  });

  it("reads several listings at once when allowed, each once per round", async () => {
    const rows = Array.from({ length: 9 }, (_, i) => row(i + 1, `id:${i}`, `1:o${i}`));
    let inFlight = 0;
    let most = 0;
    const w = world(rows.map((r) => ({ person: personLabel(r.person), object: objectLabel(r.object) })));
    const read = w.fx.read;
    w.fx.read = async (t) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      const res = await read(t);
      inFlight--;
      return res;
    };
    const r = await pollUntilConfirmed(targets(rows, "objects"), w.fx, { timeoutMs: 1000, concurrency: 4 });
    expect(most).toBe(4);
    expect(r.reads).toBe(9);
    expect(r.confirmedRows).toBe(9);
  });

  it("nothing to verify reads nothing", async () => {
    const w = world([]);
    const r = await pollUntilConfirmed([], w.fx, OPTS);
    expect({ reads: r.reads, rounds: r.rounds, sleeps: w.sleeps }).toEqual({ reads: 0, rounds: 0, sleeps: [] });
  });
});

describe("verifyRows", () => {
  it("chooses the side, samples objects, and verifies only the sample", async () => {
    const rows = Array.from({ length: 20 }, (_, i) => row(i + 1, `id:${i}`, `1:o${i % 10}`));
    const rels: Rel[] = rows.map((r) => ({ person: personLabel(r.person), object: objectLabel(r.object) }));
    const w = world(rels.filter((r) => r.object !== "1:o3"));
    const report = await verifyRows(rows, w.fx, { timeoutMs: 10_000, sample: 4, random: seededRandom(7) });
    expect(report.side.side).toBe("objects");
    expect(report.rows).toBe(20);
    const sample = report.sample;
    expect(sample?.of).toBe(10);
    expect(sample?.objects).toHaveLength(4);
    expect(report.targets).toBe(4);
    expect(sample?.rowsNotChecked).toBe(12);
    expect(report.poll.rows.size).toBe(8);
    // Exactly the rows of the sampled objects are judged, and only o3's are unconfirmed.
    const sampled = new Set(sample?.objects);
    for (const r of rows) expect(report.poll.rows.has(r.key)).toBe(sampled.has(objectLabel(r.object)));
    const expectedUnconfirmed = sampled.has("1:o3") ? 2 : 0;
    expect(report.poll.unconfirmedRows).toBe(expectedUnconfirmed);
    // The same seed gives the same sample.
    const again = await verifyRows(rows, world(rels).fx, { timeoutMs: 0, sample: 4, random: seededRandom(7) });
    expect(again.sample?.objects).toEqual(sample?.objects);
  });
});
