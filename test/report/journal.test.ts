import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { appendFile, open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { UsageError } from "../../src/errors.js";
import { computeHeadHash, describeInput, openJournal, optionsHash, toRanges, type Journal } from "../../src/report/journal.js";
import { useTempDir } from "./helpers.js";

const tempDir = useTempDir();

const OPTIONS = { command: "add", action: "add_relationships", groupBy: "person", objectType: "1", attributes: ["role"] };

/** A temp dir with an input file and a journal path. */
async function setup(content = "email,org\na@x.io,acme\nb@x.io,acme\n"): Promise<{ input: string; journal: string }> {
  const dir = await tempDir();
  const input = join(dir, "people.csv");
  await writeFile(input, content);
  return { input, journal: join(dir, "run.journal") };
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).split("\n");
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  return err as Error;
}

describe("toRanges", () => {
  it.each([
    [[], []],
    [[5], [[5, 5]]],
    [
      [1, 2, 3, 7],
      [
        [1, 3],
        [7, 7],
      ],
    ],
    [
      [10, 3, 2, 11, 4, 4, 20],
      [
        [2, 4],
        [10, 11],
        [20, 20],
      ],
    ],
  ])("%j → %j", (input, expected) => {
    expect(toRanges(input)).toEqual(expected);
  });
});

describe("computeHeadHash", () => {
  it("hashes only the first 64 KiB", async () => {
    const head = Buffer.alloc(64 * 1024, "a");
    const { input } = await setup();
    await writeFile(input, Buffer.concat([head, Buffer.from("tail that changes")]));
    const expected = createHash("sha256").update(head).digest("hex");
    expect(await computeHeadHash(input)).toBe(expected);
    await appendFile(input, "more");
    expect(await computeHeadHash(input)).toBe(expected);
  });

  it("hashes a small file whole", async () => {
    const { input } = await setup("abc");
    expect(await computeHeadHash(input)).toBe(createHash("sha256").update("abc").digest("hex"));
  });
});

describe("openJournal: a new journal", () => {
  it("writes a header with exactly the input description and the options passed, and nothing else", async () => {
    const { input, journal } = await setup();
    const j = await openJournal(journal, { input, options: OPTIONS, resume: false });
    expect(j.resume).toBeUndefined();
    await j.close();
    const text = await readFile(journal, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    expect(JSON.parse(text)).toEqual({
      cioRel: 2,
      input: { path: input, size: (await stat(input)).size, headHash: await computeHeadHash(input) },
      options: OPTIONS,
      optionsHash: optionsHash(OPTIONS),
    });
  });

  it("keeps credentials out: option keys that look like one are refused before anything is written", async () => {
    const { input, journal } = await setup();
    const secret = "sk_test_CIO_REL_SECRET_123";
    for (const options of [
      { ...OPTIONS, apiKey: secret },
      { ...OPTIONS, send: { site_id: secret } },
    ]) {
      await expect(openJournal(journal, { input, options, resume: false })).rejects.toThrow(/credential/);
      await expect(stat(journal)).rejects.toMatchObject({ code: "ENOENT" });
    }
  });

  it("refuses to overwrite a journal that has content, but reuses an empty file", async () => {
    const { input, journal } = await setup();
    await writeFile(journal, "");
    await (await openJournal(journal, { input, options: OPTIONS, resume: false })).close();
    const err = await rejection(openJournal(journal, { input, options: OPTIONS, resume: false }));
    expect(err.message).toContain("--resume");
    expect(err.message).toContain("delete it");
  });

  it("has the record on disk once record() resolves, ranges compressed and failures sorted", async () => {
    const { input, journal } = await setup();
    const j = await openJournal(journal, { input, options: OPTIONS, resume: false });
    await j.record(
      [5, 3, 4, 10, 11, 1],
      [
        { index: 9, reason: "person not found" },
        { index: 7, reason: "HTTP 500" },
      ],
    );
    // Read synchronously, through another descriptor, the moment record() resolves: the line must be there already.
    expect(readFileSync(journal, "utf8").split("\n")[1]).toBe('{"applied":[[1,1],[3,5],[10,11]],"failed":[[7,"HTTP 500"],[9,"person not found"]]}');
    await j.record([], []);
    expect(await lines(journal)).toHaveLength(3);
    await j.close();
  });

  it("resolves record() only after the line has been fsynced", async () => {
    const { input, journal } = await setup();
    const j = await openJournal(journal, { input, options: OPTIONS, resume: false });
    // Make every fsync slow and note when it has finished.
    const probe = await open(journal, "r");
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void>; sync: () => Promise<void> };
    await probe.close();
    const synced: string[] = [];
    const slow = (name: "datasync" | "sync") => {
      const original = proto[name];
      return vi.spyOn(proto, name).mockImplementation(async function (this: unknown) {
        await new Promise((r) => setTimeout(r, 50));
        await original.call(this);
        synced.push(readFileSync(journal, "utf8"));
      });
    };
    const spies = [slow("datasync"), slow("sync")];
    try {
      await j.record([1, 2], []);
      expect(synced).toHaveLength(1);
      expect(synced[0]).toContain('{"applied":[[1,2]],"failed":[]}\n');
    } finally {
      spies.forEach((s) => s.mockRestore());
      await j.close();
    }
  });

  it("accepts a ready-made input description", async () => {
    const { input, journal } = await setup();
    const described = await describeInput(input);
    await (await openJournal(journal, { input: described, options: OPTIONS, resume: false })).close();
    expect((JSON.parse((await lines(journal))[0]!) as { input: unknown }).input).toEqual(described);
  });

  it("writes concurrent records whole and one per line", async () => {
    const { input, journal } = await setup();
    const j = await openJournal(journal, { input, options: OPTIONS, resume: false });
    await Promise.all(
      Array.from({ length: 50 }, (_, b) =>
        j.record(
          Array.from({ length: 100 }, (_, i) => b * 100 + i + 1),
          [],
        ),
      ),
    );
    await j.close();
    const records = (await lines(journal)).slice(1, -1).map((l) => JSON.parse(l) as { applied: number[][] });
    expect(records).toHaveLength(50);
    expect(records.map((r) => r.applied[0]![0]!).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, b) => b * 100 + 1));
  });
});

describe("openJournal: resume", () => {
  async function written(): Promise<{ input: string; journal: string }> {
    const paths = await setup();
    const j = await openJournal(paths.journal, { input: paths.input, options: OPTIONS, resume: false });
    await j.record([2, 3, 4, 8], [{ index: 6, reason: "HTTP 207: bad identifier" }]);
    await j.record([10, 9], [{ index: 11, reason: "out of retries: HTTP 503" }]);
    await j.close();
    return paths;
  }

  function expectSettled(j: Journal, applied: number[], failed: Record<number, string>): void {
    const state = j.resume;
    expect(state).toBeDefined();
    for (let line = 1; line <= 30; line++) {
      const reason = failed[line];
      if (applied.includes(line)) {
        expect(state!.outcomeOf(line), `line ${line}`).toEqual({ kind: "applied" });
      } else if (reason !== undefined) {
        expect(state!.outcomeOf(line), `line ${line}`).toEqual({ kind: "failed", reason });
      } else {
        expect(state!.outcomeOf(line), `line ${line}`).toBeUndefined();
      }
      expect(state!.isSettled(line)).toBe(applied.includes(line) || reason !== undefined);
    }
    expect(state!.applied).toBe(applied.length);
    expect(state!.failed).toBe(Object.keys(failed).length);
  }

  it("reads back what was settled and keeps appending to the same file", async () => {
    const { input, journal } = await written();
    const j = await openJournal(journal, { input, options: OPTIONS, resume: true });
    expectSettled(j, [2, 3, 4, 8, 9, 10], { 6: "HTTP 207: bad identifier", 11: "out of retries: HTTP 503" });
    await j.record([12, 13], []);
    await j.close();
    expect(await lines(journal)).toHaveLength(5);
    const again = await openJournal(journal, { input, options: OPTIONS, resume: true });
    expectSettled(again, [2, 3, 4, 8, 9, 10, 12, 13], { 6: "HTTP 207: bad identifier", 11: "out of retries: HTTP 503" });
    await again.close();
  });

  it("ignores a torn last line and cuts it off before appending", async () => {
    const { input, journal } = await written();
    await appendFile(journal, '{"applied":[[20,25]],"fai');
    const j = await openJournal(journal, { input, options: OPTIONS, resume: true });
    expect(j.resume!.isSettled(20)).toBe(false);
    expect(j.resume!.isSettled(10)).toBe(true);
    await j.record([20], []);
    await j.close();
    const text = await readFile(journal, "utf8");
    expect(text).not.toContain("fai{");
    expect(text.endsWith('{"applied":[[20,20]],"failed":[]}\n')).toBe(true);
    const again = await openJournal(journal, { input, options: OPTIONS, resume: true });
    expect(again.resume!.isSettled(20)).toBe(true);
    expect(again.resume!.isSettled(21)).toBe(false);
    await again.close();
  });

  it("refuses a corrupt line in the middle", async () => {
    const { input, journal } = await written();
    const text = await lines(journal);
    text.splice(2, 0, "not json");
    await writeFile(journal, text.join("\n"));
    const err = await rejection(openJournal(journal, { input, options: OPTIONS, resume: true }));
    expect(err.message).toContain(`${journal}:3 is corrupt`);
  });

  it("refuses a file that is not a journal, and leaves it alone", async () => {
    const { input, journal } = await setup();
    await writeFile(journal, "email,org\na@x.io,acme\n");
    const err = await rejection(openJournal(journal, { input, options: OPTIONS, resume: true }));
    expect(err.message).toContain("is not a cio-rel journal");
    expect(await readFile(journal, "utf8")).toBe("email,org\na@x.io,acme\n");
  });

  it("refuses --resume when there is no journal (issue 9); starts over from a header cut short", async () => {
    const { input, journal } = await setup();
    await expect(openJournal(journal, { input, options: OPTIONS, resume: true })).rejects.toThrow(/does not exist: there is nothing to resume/);
    await writeFile(journal, '{"cioRel":2,"inp');
    const k = await openJournal(journal, { input, options: OPTIONS, resume: true });
    expect(k.resume).toBeUndefined();
    await k.close();
    expect((await lines(journal)).map((l) => l.slice(0, 10))).toEqual(['{"cioRel":', ""]);
  });

  it("refuses when the input grew, naming both sizes", async () => {
    const { input, journal } = await written();
    const before = (await stat(input)).size;
    await appendFile(input, "c@x.io,acme\n");
    const err = await rejection(openJournal(journal, { input, options: OPTIONS, resume: true }));
    expect(err.message).toContain(`the input changed since the journal was written (size ${before} → ${before + 12}, its first 64 KiB differ)`);
    expect(err.message).toContain(`delete ${journal} to start over`);
  });

  it("refuses when the input's start changed at the same size", async () => {
    const { input, journal } = await written();
    const text = await readFile(input, "utf8");
    await writeFile(input, text.replace("a@x.io", "z@x.io"));
    const err = await rejection(openJournal(journal, { input, options: OPTIONS, resume: true }));
    expect(err.message).toContain("the input changed since the journal was written (its first 64 KiB differ)");
    expect(err.message).not.toContain("size");
  });

  it("refuses another input file", async () => {
    const { input, journal } = await written();
    const other = input.replace("people.csv", "other.csv");
    await writeFile(other, await readFile(input));
    const err = await rejection(openJournal(journal, { input: other, options: OPTIONS, resume: true }));
    expect(err.message).toContain(`the input is a different file (was ${input}, now ${other})`);
  });

  it("refuses other options, naming each flag with its old and new value", async () => {
    const { input, journal } = await written();
    const { attributes: _dropped, ...rest } = OPTIONS;
    const err = await rejection(openJournal(journal, { input, options: { ...rest, groupBy: "object", isolate: false }, resume: true }));
    expect(err.message).toContain(
      'options differ: --attributes was ["role"], now unset, --group-by was person, now object, --isolate was unset, now false',
    );
  });

  it("treats options with keys in another order as the same", async () => {
    const { input, journal } = await written();
    const reordered = Object.fromEntries(Object.entries(OPTIONS).reverse());
    await (await openJournal(journal, { input, options: reordered, resume: true })).close();
  });

  it("stays small and exact for many lines", async () => {
    const { input, journal } = await setup();
    const j = await openJournal(journal, { input, options: OPTIONS, resume: false });
    // 200,000 rows in batches of 1,000, each with one failed row and settled out of order.
    for (let b = 199; b >= 0; b--) {
      const first = b * 1000 + 1;
      const applied = Array.from({ length: 1000 }, (_, i) => first + i).filter((line) => line !== first + 500);
      await j.record(applied, [{ index: first + 500, reason: `bad ${b}` }]);
    }
    await j.close();
    expect((await stat(journal)).size).toBeLessThan(100_000);
    const r = await openJournal(journal, { input, options: OPTIONS, resume: true });
    expect(r.resume!.applied).toBe(199_800);
    expect(r.resume!.failed).toBe(200);
    expect(r.resume!.outcomeOf(1)).toEqual({ kind: "applied" });
    expect(r.resume!.outcomeOf(1501)).toEqual({ kind: "failed", reason: "bad 1" });
    expect(r.resume!.outcomeOf(200_000)).toEqual({ kind: "applied" });
    expect(r.resume!.isSettled(200_001)).toBe(false);
    expect(r.resume!.isSettled(0)).toBe(false);
    await r.close();
  });
});
