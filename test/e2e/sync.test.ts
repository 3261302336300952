import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeOptions, FakeTrackApi } from "../fake-track-api/index.js";
import type { ChildProcess } from "node:child_process";
import { FAST_FLAGS, balanced, readReport, runAgainst, spawnAgainst, startFake, summaryOf, tempDir } from "./harness.js";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const APP_KEY = "app-key-1b7d-do-not-leak";
/** Every sync in these tests: the fake's App API, no wait for this process's earlier writes (tests run in one process). */
const SYNC = [...FAST_FLAGS, "--read-delay", "0"];

async function workspace(options: FakeOptions = {}): Promise<FakeTrackApi> {
  fake = await startFake({ ...options, app: { apiKey: APP_KEY, ...options.app } });
  return fake;
}

function sync(f: FakeTrackApi, args: readonly string[], env: Record<string, string> = {}) {
  return runAgainst(f, [...args, ...SYNC, "--app-url", f.url], { env: { CIO_APP_API_KEY: APP_KEY, ...env } });
}

/** The fake's relationships as "type:object id:person" strings (people by the identifier they were created with). */
function pairs(f: FakeTrackApi): string[] {
  return f.state.all().map((r) => `${r.objectTypeId}:${r.objectId} ${r.personKey}:${r.personValue}`);
}

const trackWrites = (f: FakeTrackApi): number => f.requests.filter((r) => r.path.includes("/api/v2/")).length;

function csv(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** acme: 1,2,3; globex: 4; initech (out of scope): 9. */
function seed(f: FakeTrackApi): void {
  for (const p of ["1", "2", "3"]) f.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: p });
  f.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "4" });
  f.state.add({ objectTypeId: "1", objectId: "initech" }, { key: "id", value: "9" });
  f.state.settle();
}

describe("cio-rel sync against the fake workspace", () => {
  it("adds, deletes and unchanged counted exactly; objects out of scope untouched; --json carries the plan", async () => {
    const f = await workspace();
    seed(f);
    const dir = tempDir();
    // acme should be 1,2,5 (add 5, delete 3); globex 4,6 (add 6). initech is not in the file.
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n2,acme\n5,acme\n4,globex\n6,globex\n");
    const report = join(dir, "report.ndjson");
    const r = await sync(f, ["sync", "--file", file, "--yes", "--json", "--max-deletes", "1", "--report", report]);
    expect(r.code, r.stderr).toBe(0);
    const s = summaryOf(r) as ReturnType<typeof summaryOf> & { plan: Record<string, number> };
    expect(s.plan).toMatchObject({ add: 2, delete: 1, unchanged: 3, keep: 0, current: 4, desired: 5, members: 2 });
    expect(s).toMatchObject({ command: "sync", rows: 3, applied: 3, failed: 0, skipped: 0 });
    expect(balanced(s)).toBe(true);
    expect(pairs(f)).toEqual(["1:acme id:1", "1:acme id:2", "1:acme id:5", "1:globex id:4", "1:globex id:6", "1:initech id:9"]);
    // The report names plan lines: adds first, then the delete (of person 3, by cio_id).
    const lines = readReport(report);
    expect(lines.map((l) => [l.row, l.outcome, l.person, l.object]).sort()).toEqual([
      [1, "applied", "id:5", "1:acme"],
      [2, "applied", "id:6", "1:globex"],
      [3, "applied", `cio_id:${f.state.person("id", "3")?.cio_id}`, "1:acme"],
    ]);
    // Secrets never in output.
    expect(r.stdout + r.stderr).not.toContain(APP_KEY);
  });

  it("the delete guard refuses (exit 2) and the fake receives no write", async () => {
    const f = await workspace();
    seed(f);
    const dir = tempDir();
    const file = csv(dir, "truncated.csv", "id,object_id\n1,acme\n"); // acme loses 2 of its 3: 2 of 4 in scope = 50%
    const r = await sync(f, ["sync", "--file", file, "--yes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("refused: the plan deletes 2 of the 3 relationships in scope (67%), more than --max-deletes 10% allows (0)");
    expect(r.stderr).toContain("--max-deletes 2");
    expect(trackWrites(f)).toBe(0);
    expect(pairs(f)).toContain("1:acme id:3");
    // --json says the same, and a dry run is refused too (the plan it shows would not be applied).
    const json = await sync(f, ["sync", "--file", file, "--yes", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ command: "sync", plan: { add: 0, delete: 2, unchanged: 1 }, exitCode: 2 });
    expect((await sync(f, ["sync", "--file", file, "--dry-run"])).code).toBe(2);
    expect(trackWrites(f)).toBe(0);
  });

  it("--dry-run prints the plan, writes --plan-out and sends nothing", async () => {
    const f = await workspace();
    seed(f);
    const dir = tempDir();
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n2,acme\n5,acme\n");
    const planOut = join(dir, "plan.ndjson");
    const r = await sync(f, ["sync", "--file", file, "--dry-run", "--plan-out", planOut, "--max-deletes", "100%"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "Plan: add 1, delete 1, unchanged 2 — 1 object in scope, 3 relationships there now, 3 in the file, people matched on id",
    );
    expect(r.stdout).toContain("  add  id:5 → 1:acme");
    expect(r.stdout).toMatch(/ {2}delete {2}cio_id:c\S+ \(id:3\) → 1:acme/);
    const plan = readFileSync(planOut, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { op: string });
    expect(plan.map((p) => p.op)).toEqual(["add", "delete", "unchanged", "unchanged"]);
    expect(trackWrites(f)).toBe(0);
    // A second dry run does not overwrite the plan file.
    const again = await sync(f, ["sync", "--file", file, "--dry-run", "--plan-out", planOut, "--max-deletes", "100%"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already exists");
    // Nor the input: refused before anything is read.
    const reads = f.requests.length;
    for (const flag of ["--plan-out", "--snapshot", "--report"]) {
      const r = await sync(f, ["sync", "--file", file, "--yes", flag, file]);
      expect(r.code, flag).toBe(2);
    }
    expect(readFileSync(file, "utf8")).toBe("id,object_id\n1,acme\n2,acme\n5,acme\n");
    expect(f.requests.length).toBe(reads);
  });

  it("--objects-scope: an object absent from the file is emptied; one not in scope is untouched", async () => {
    const f = await workspace();
    seed(f);
    const dir = tempDir();
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n2,acme\n3,acme\n");
    const scope = csv(dir, "scope.csv", "object_id\nacme\nglobex\n");
    const r = await sync(f, ["sync", "--file", file, "--objects-scope", scope, "--yes", "--json", "--max-deletes", "1"]);
    expect(r.code, r.stderr).toBe(0);
    expect((summaryOf(r) as unknown as { plan: Record<string, number> }).plan).toMatchObject({ add: 0, delete: 1, unchanged: 3, members: 2 });
    expect(pairs(f)).toEqual(["1:acme id:1", "1:acme id:2", "1:acme id:3", "1:initech id:9"]);
  });

  it("people matched by email; those without one are kept and the plan names the flag", async () => {
    const f = await workspace();
    f.state.addPerson({ id: "1", email: "ann@x.io" });
    f.state.addPerson({ id: "2", email: "bob@x.io" });
    f.state.addPerson({ id: "3" }); // no email: the file cannot name them
    for (const p of ["1", "2", "3"]) f.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: p });
    f.state.settle();
    const dir = tempDir();
    const file = csv(dir, "members.csv", "email\nAnn@x.io\ncarl@x.io\n");
    const r = await sync(f, ["sync", "--object", "acme", "--people", file, "--yes", "--max-deletes", "1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Plan: add 1, delete 1, unchanged 1, keep 1 unmatchable");
    expect(r.stderr).toContain("pass --delete-unmatchable to delete them");
    // bob deleted, carl added, ann unchanged, 3 kept.
    expect(pairs(f)).toEqual(["1:acme email:carl@x.io", "1:acme id:1", "1:acme id:3"]);
  });

  it("--scope person: a person's objects become the file's, attributes compared; undo restores them with their attributes", async () => {
    const f = await workspace();
    f.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "42" }, { role: "admin" });
    f.state.add({ objectTypeId: "1", objectId: "globex" }, { key: "id", value: "42" }, { role: "member" });
    f.state.add({ objectTypeId: "1", objectId: "old" }, { key: "id", value: "42" });
    f.state.add({ objectTypeId: "2", objectId: "other-type" }, { key: "id", value: "42" });
    f.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "43" });
    f.state.settle();
    const before = f.state.all();
    const dir = tempDir();
    // 42: acme unchanged (same role), globex role changes, new added, old deleted; type 2 out of scope; 43 not in the file.
    const file = csv(dir, "mine.csv", "id,object_id,role\n42,acme,admin\n42,globex,owner\n42,new,member\n");
    const snap = join(dir, "snap.ndjson");
    const r = await sync(f, [
      "sync",
      "--file",
      file,
      "--scope",
      "person",
      "--attributes",
      "role",
      "--yes",
      "--json",
      "--max-deletes",
      "1",
      "--snapshot",
      snap,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((summaryOf(r) as unknown as { plan: Record<string, number> }).plan).toMatchObject({
      add: 2,
      resend: 1,
      delete: 1,
      unchanged: 1,
      current: 3,
    });
    expect(f.state.objectsOf({ key: "id", value: "42" })).toEqual([
      { object: { objectTypeId: "1", objectId: "acme" }, attributes: { role: "admin" } },
      { object: { objectTypeId: "1", objectId: "globex" }, attributes: { role: "owner" } },
      { object: { objectTypeId: "1", objectId: "new" }, attributes: { role: "member" } },
      { object: { objectTypeId: "2", objectId: "other-type" }, attributes: {} },
    ]);
    expect(f.state.has({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "43" })).toBe(true);
    const u = await sync(f, ["undo", "--snapshot", snap, "--yes", "--max-deletes", "100%"]);
    expect(u.code, u.stderr).toBe(0);
    expect(f.state.all()).toEqual(before);
  });

  it("--snapshot, then undo restores the snapshot exactly; a second undo plans nothing", async () => {
    const f = await workspace();
    seed(f);
    const before = pairs(f);
    const dir = tempDir();
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n7,acme\n8,globex\n");
    const snap = join(dir, "before.ndjson");
    const r = await sync(f, ["sync", "--file", file, "--yes", "--snapshot", snap, "--max-deletes", "100%"]);
    expect(r.code, r.stderr).toBe(0);
    expect(pairs(f)).toEqual(["1:acme id:1", "1:acme id:7", "1:globex id:8", "1:initech id:9"]);
    const lines = readFileSync(snap, "utf8").trim().split("\n");
    expect(JSON.parse(lines[0] as string)).toMatchObject({ cioRelSnapshot: 1, scope: "object", personKey: "id" });
    expect(lines).toHaveLength(3);
    const u = await sync(f, ["undo", "--snapshot", snap, "--yes", "--json", "--max-deletes", "100%"]);
    expect(u.code, u.stderr).toBe(0);
    expect((summaryOf(u) as unknown as { plan: Record<string, number> }).plan).toMatchObject({ add: 3, delete: 2, unchanged: 1 });
    expect(pairs(f)).toEqual(before);
    const again = await sync(f, ["undo", "--snapshot", snap, "--yes", "--json"]);
    expect((summaryOf(again) as unknown as { plan: Record<string, number> }).plan).toMatchObject({ add: 0, delete: 0, unchanged: 4 });
  });

  it("writes show late: a sync right after another sees stale state; once visible, a second sync plans nothing", async () => {
    let t = 1_000_000;
    const f = await workspace({ now: () => t, visibilityDelayMs: 60_000, app: { rateLimit: undefined } });
    seed(f);
    const dir = tempDir();
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n2,acme\n5,acme\n4,globex\n");
    const first = await sync(f, ["sync", "--file", file, "--yes", "--json", "--max-deletes", "1"]);
    expect((summaryOf(first) as unknown as { plan: Record<string, number> }).plan).toMatchObject({ add: 1, delete: 1 });
    const stale = await sync(f, ["sync", "--file", file, "--dry-run", "--json", "--max-deletes", "1"]);
    expect((summaryOf(stale) as unknown as { plan: Record<string, number> }).plan).toMatchObject({ add: 1, delete: 1 });
    t += 60_000;
    const second = await sync(f, ["sync", "--file", file, "--yes", "--json"]);
    expect(second.code, second.stderr).toBe(0);
    expect((summaryOf(second) as unknown as { plan: Record<string, number> }).plan).toMatchObject({ add: 0, delete: 0, unchanged: 4 });
    expect(summaryOf(second).rows).toBe(0);
  });

  it("a sync right after this process wrote waits --read-delay before reading, and says so", async () => {
    const f = await workspace();
    const dir = tempDir();
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n");
    const added = await runAgainst(f, ["add", "--file", file, ...FAST_FLAGS]);
    expect(added.code, added.stderr).toBe(0);
    f.state.settle();
    const r = await runAgainst(f, ["sync", "--file", file, ...FAST_FLAGS, "--app-url", f.url, "--read-delay", "0.3", "--yes"], {
      env: { CIO_APP_API_KEY: APP_KEY },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/This process wrote to Customer\.io .* ago and reads may not show it yet: waiting \d+ ms \(--read-delay\)/);
    expect(r.stderr).toContain("Plan: add 0, delete 0, unchanged 1");
  });

  it("--verify reads back the adds and the deletes (by cio_id); a write never applied is unconfirmed, exit 6", async () => {
    const f = await workspace({ visibilityDelayMs: 200 });
    seed(f);
    f.faults.set({ dropWritesFor: ["6"] });
    const dir = tempDir();
    const file = csv(dir, "members.csv", "id,object_id\n1,acme\n2,acme\n5,acme\n6,acme\n4,globex\n");
    const report = join(dir, "report.ndjson");
    const r = await sync(f, [
      "sync",
      "--file",
      file,
      "--yes",
      "--json",
      "--max-deletes",
      "1",
      "--verify",
      "--verify-timeout",
      "3",
      "--report",
      report,
    ]);
    expect(r.code, r.stderr).toBe(6);
    const s = summaryOf(r);
    expect(s).toMatchObject({ rows: 3, applied: 2, unconfirmed: 1, failed: 0, exitCode: 6 });
    expect(balanced(s)).toBe(true);
    expect(s.verify).toMatchObject({ confirmed: 2, unconfirmed: 1 });
    const lines = readReport(report);
    expect(lines).toHaveLength(3);
    expect(lines.filter((l) => l.outcome === "unconfirmed").map((l) => l.person)).toEqual(["id:6"]);
    expect(pairs(f)).toEqual(["1:acme id:1", "1:acme id:2", "1:acme id:5", "1:globex id:4", "1:initech id:9"]);
  });

  it("a run stopped mid-apply resumes from its journal and plan, sending only what was left", async () => {
    const f = await workspace({ faults: { revokeAfter: 1 } });
    const dir = tempDir();
    // 4 objects × 1,000 people: several batches of at most 32 KB.
    const rows = Array.from({ length: 4000 }, (_, i) => `person-${100_000 + i},obj-${i % 4}`);
    const file = csv(dir, "members.csv", "id,object_id\n" + rows.join("\n") + "\n");
    const journal = join(dir, "sync.journal");
    // One request gets through, then the key is refused: exit 3, the rest skipped.
    const small = ["--batch-bytes", "32012", "--group-by", "object", "--concurrency", "1", "--journal", journal];
    const first = await sync(f, ["sync", "--file", file, "--yes", "--json", ...small]);
    expect(first.code, first.stderr).toBe(3);
    const s1 = summaryOf(first);
    expect(balanced(s1)).toBe(true);
    expect(s1.rows).toBe(4000);
    expect(s1.skipped + s1.failed).toBeGreaterThan(0);
    expect(existsSync(journal + ".plan.ndjson")).toBe(true);
    const sentFirst = f.state.size;
    expect(sentFirst).toBeGreaterThan(0);
    expect(sentFirst).toBeLessThan(4000);
    f.faults.set({ revokeAfter: undefined });
    const requestsBefore = f.requests.length;
    const resumed = await sync(f, ["sync", "--file", file, "--yes", "--json", ...small, "--resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const s2 = summaryOf(resumed);
    expect(balanced(s2)).toBe(true);
    expect(s2.rows).toBe(4000);
    expect(s2.applied).toBe(4000);
    expect(f.state.size).toBe(4000);
    // Nothing read again (the saved plan is sent), and only the rest was sent.
    const resentRelationships = f.requests
      .slice(requestsBefore)
      .filter((r) => r.path.includes("/api/v2/"))
      .reduce((n, r) => n + JSON.stringify(r.body).split('"id":').length - 1, 0);
    expect(resentRelationships).toBe(4000 - sentFirst);
    expect(f.requests.slice(requestsBefore).filter((r) => r.path.includes("/v1/"))).toEqual([]);
  });

  it("a run killed with SIGKILL mid-apply resumes: the saved plan, minus what the journal settled, and the scope ends as the file says", async () => {
    const f = await workspace({ faults: { latencyMs: 60 } });
    // 40 objects × 100 people; the file keeps 90 of each and adds 1,000: 40,000 adds (~30 batches), then 400 deletes.
    let file = "id,object_id\n";
    for (let o = 0; o < 40; o++) {
      for (let p = 0; p < 100; p++) f.state.add({ objectTypeId: "1", objectId: `acct-${o}` }, { key: "id", value: `old-${o}-${p}` });
      for (let p = 10; p < 100; p++) file += `old-${o}-${p},acct-${o}\n`;
      for (let p = 0; p < 1000; p++) file += `new-${o}-${p},acct-${o}\n`;
    }
    f.state.settle();
    const dir = tempDir();
    const input = csv(dir, "members.csv", file);
    const journal = join(dir, "sync.journal");
    const args = [
      "sync",
      "--file",
      input,
      ...SYNC,
      "--app-url",
      f.url,
      "--yes",
      "--max-deletes",
      "10%",
      "--batch-bytes",
      "32012",
      "--concurrency",
      "2",
      "--journal",
      journal,
    ];
    const env = { CIO_APP_API_KEY: APP_KEY };
    let child: ChildProcess | undefined;
    const first = spawnAgainst(f, args, { onSpawn: (c) => (child = c), env });
    const records = (): number =>
      existsSync(journal)
        ? readFileSync(journal, "utf8")
            .split("\n")
            .filter((l) => l.trim() !== "").length - 1
        : 0;
    for (const start = Date.now(); records() < 5;) {
      if (Date.now() - start > 60_000) throw new Error("the journal did not grow");
      await new Promise((r) => setTimeout(r, 10));
    }
    child!.kill("SIGKILL");
    expect((await first).signal).toBe("SIGKILL");
    const sentBeforeKill = f.state.size - 4000;
    expect(sentBeforeKill).toBeLessThan(40_000);

    f.faults.set({ latencyMs: undefined });
    const requestsBefore = f.requests.length;
    const second = await runAgainst(f, [...args, "--resume", "--json"], { env });
    expect(second.code, second.stderr).toBe(0);
    const s = summaryOf(second);
    expect(s).toMatchObject({ rows: 40_400, applied: 40_400, failed: 0, skipped: 0 });
    expect(balanced(s)).toBe(true);
    // Exactly the file: 90 old and 1,000 new people per object.
    const want: string[] = [];
    for (let o = 0; o < 40; o++) {
      for (let p = 10; p < 100; p++) want.push(`1:acct-${o} id:old-${o}-${p}`);
      for (let p = 0; p < 1000; p++) want.push(`1:acct-${o} id:new-${o}-${p}`);
    }
    expect(pairs(f).sort()).toEqual(want.sort());
    // The resumed run read nothing (it sent the saved plan) and resent at most the batches in flight at the kill.
    const after = f.requests.slice(requestsBefore);
    expect(after.filter((r) => r.path.includes("/v1/"))).toEqual([]);
    const sent = after.reduce(
      (n, r) => n + ((r.body as { batch?: { cio_relationships: unknown[] }[] }).batch ?? []).reduce((m, op) => m + op.cio_relationships.length, 0),
      0,
    );
    expect(sent).toBeLessThanOrEqual(40_400 - sentBeforeKill + 2 * 1600);
    expect(sent).toBeGreaterThanOrEqual(40_400 - sentBeforeKill);
  });
});
