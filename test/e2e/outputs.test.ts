// Issue 9 §2 and §3: outputs never overwrite the input or each other, never follow a planted symlink, are
// 0600, and an output that cannot be written stops the run cleanly (exit 2 at start, exit 4 mid-run).
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { OpenOutput, OutputHandle } from "../../src/report/outputs.js";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import {
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  actualState,
  balanced,
  expectedState,
  memberships,
  readReport,
  runAgainst,
  startFake,
  summaryOf,
  tempDir,
  writeMembershipsCsv,
} from "./harness.js";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const isRoot = process.getuid?.() === 0;

/** A folder with an input of 2×5 memberships in a subfolder, so ../sub/x paths can be made. */
function setup(): { dir: string; sub: string; input: string; bytes: Buffer } {
  const dir = tempDir();
  const sub = join(dir, "sub");
  mkdirSync(sub);
  const input = writeMembershipsCsv(sub, memberships(2, 5), "failed.csv");
  return { dir, sub, input, bytes: readFileSync(input) };
}

describe("an output that is the input is refused before anything is read (issue 9 §2)", () => {
  const FLAGS = ["--failures", "--report", "--journal", "--out"] as const;
  const WAYS: Record<string, (s: ReturnType<typeof setup>) => string> = {
    "the same path": (s) => s.input,
    "./x": (s) => join(s.sub, ".", "failed.csv").replace(s.sub, s.sub + "/."),
    "../dir/x": (s) => join(s.sub, "..", "sub", "failed.csv").replace(/\/sub\/\.\.\/sub\//, "/sub/../sub/"),
    "a symlink to it": (s) => (symlinkSync(s.input, join(s.dir, "link.csv")), join(s.dir, "link.csv")),
    "a hard link to it": (s) => (linkSync(s.input, join(s.dir, "hard.csv")), join(s.dir, "hard.csv")),
  };
  for (const flag of FLAGS) {
    it.each(Object.keys(WAYS))(`${flag} given as %s: exit 2, one line naming both, the input untouched, nothing sent`, async (way) => {
      fake = await startFake();
      const s = setup();
      const target = WAYS[way]!(s);
      const extra = flag === "--out" ? ["--dry-run", "--out", target] : [flag, target];
      const r = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...extra]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${flag} ${target}`);
      expect(lines[0]).toContain(`--file ${s.input}`);
      expect(readFileSync(s.input)).toEqual(s.bytes);
      expect(fake.requests).toHaveLength(0);
    });
  }
});

describe("two outputs that are one file are refused (issue 9 §2)", () => {
  it.each([
    ["--report X --journal X", (d: string) => ["--report", join(d, "x"), "--journal", join(d, "x")]],
    ["--report ./X --failures X", (d: string) => ["--report", join(d, "./x").replace(d, d + "/."), "--failures", join(d, "x")]],
    ["--failures X --journal ../dir/X", (d: string) => ["--failures", join(d, "x"), "--journal", `${d}/../${d.split("/").pop()}/x`]],
    [
      "a journal and a hard link to it",
      (d: string) => (
        writeFileSync(join(d, "r"), ""),
        linkSync(join(d, "r"), join(d, "r2")),
        ["--report", join(d, "r"), "--failures", join(d, "r2")]
      ),
    ],
  ])("%s: exit 2 before anything is created", async (_name, flags) => {
    fake = await startFake();
    const s = setup();
    const given = flags(s.dir);
    const before = readdirSync(s.dir).sort();
    const r = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...given]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/two outputs cannot share a file/);
    expect(readdirSync(s.dir).sort()).toEqual(before);
    expect(fake.requests).toHaveLength(0);
  });
});

describe("a symlink planted at an output path is never followed (issue 9 §2)", () => {
  it.each(["--report", "--failures", "--journal", "--out"])("%s through a symlink: exit 2, the link's target untouched", async (flag) => {
    fake = await startFake();
    const s = setup();
    const victim = join(s.dir, "victim.txt");
    writeFileSync(victim, "precious\n");
    const link = join(s.dir, "planted");
    symlinkSync(victim, link);
    const extra = flag === "--out" ? ["--dry-run", "--out", link] : [flag, link];
    const r = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/symbolic link/);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("outputs are created readable by their owner only (issue 9 §2)", () => {
  it("report, failures and journal are 0600; so is a dry run's --out", async () => {
    fake = await startFake({ faults: { poison: { people: ["u3"] } } });
    const s = setup();
    const files = { report: join(s.dir, "r.ndjson"), failures: join(s.dir, "f.csv"), journal: join(s.dir, "j") };
    const r = await runAgainst(fake, [
      "add",
      "--file",
      s.input,
      ...MEMBERSHIP_FLAGS,
      ...FAST_FLAGS,
      "--report",
      files.report,
      "--failures",
      files.failures,
      "--journal",
      files.journal,
    ]);
    expect(r.code).toBe(5);
    const out = join(s.dir, "plan.ndjson");
    expect((await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, "--dry-run", "--out", out])).code).toBe(0);
    for (const f of [...Object.values(files), out]) expect((statSync(f).mode & 0o777).toString(8)).toBe("600");
  });
});

describe("the null device is the one non-regular output allowed", () => {
  it("--out /dev/null times a dry run (the benchmark does) and leaves /dev/null's mode alone; --report /dev/null too", async () => {
    fake = await startFake();
    const s = setup();
    const modeBefore = statSync("/dev/null").mode;
    const dry = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, "--dry-run", "--out", "/dev/null", "--failures", "/dev/null"]);
    expect(dry.code, dry.stderr).toBe(0);
    const sent = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--report", "/dev/null"]);
    expect(sent.code, sent.stderr).toBe(0);
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(statSync("/dev/null").mode).toBe(modeBefore);
  });

  it("--journal /dev/null is refused: --resume could read nothing back", async () => {
    fake = await startFake();
    const s = setup();
    const r = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", "/dev/null"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--journal /dev/null");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("an output that cannot be written at start: exit 2, one line, nothing sent or created (issue 9 §3)", () => {
  const CASES: Record<string, (dir: string) => string> = {
    "a missing folder": (d) => join(d, "no", "such", "r.ndjson"),
    "a directory": (d) => (mkdirSync(join(d, "adir")), join(d, "adir")),
    "/dev/full": () => "/dev/full",
    "a read-only file": (d) => (writeFileSync(join(d, "ro"), "", { mode: 0o444 }), join(d, "ro")),
  };
  for (const flag of ["--report", "--failures", "--journal"]) {
    it.each(Object.keys(CASES))(`${flag} in %s`, async (name) => {
      if (isRoot && name === "a read-only file") return; // root writes read-only files
      fake = await startFake();
      const s = setup();
      const target = CASES[name]!(s.dir);
      const journal = join(s.dir, "run.journal");
      const others = flag === "--journal" ? ["--report", join(s.dir, "report.ndjson")] : ["--journal", journal];
      const before = readdirSync(s.dir).sort();
      const r = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, ...others, flag, target]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(target === "/dev/full" ? "/dev/full" : target.split("/").slice(0, -2).join("/") === "" ? target : flag);
      expect(lines[0]).toMatch(/cannot (write|create)|does not exist|directory|not a regular file/);
      // The flags are fine: pointing at --help would suggest a wrong fix.
      expect(lines[0]).not.toContain("--help");
      expect(fake.requests).toHaveLength(0);
      // No half-created journal or report blocks the rerun.
      expect(readdirSync(s.dir).sort()).toEqual(before);
    });
  }

  it("--resume with a journal that does not exist is exit 2, not a fresh start", async () => {
    fake = await startFake();
    const s = setup();
    const journal = join(s.dir, "typo.journal");
    const r = await runAgainst(fake, ["add", "--file", s.input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--journal", journal, "--resume"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not exist: there is nothing to resume/);
    expect(existsSync(journal)).toBe(false);
    expect(fake.requests).toHaveLength(0);
  });
});

/**
 * An opener whose files fill up: after the first write (a journal's header), once `budget` more characters
 * have been written to a file whose name matches, the next write puts part of its text on disk (a torn
 * record) and fails with ENOSPC, as a full disk does.
 */
function fillingDisk(matches: (path: string) => boolean, budget: number, exemptFirst = true): OpenOutput {
  return async (path, flags, mode) => {
    const real = await open(path, flags, mode);
    if (!matches(path)) return real;
    let written = 0;
    let first = exemptFirst;
    const full = async (text: string | Uint8Array): Promise<void> => {
      const s = typeof text === "string" ? text : Buffer.from(text).toString("utf8");
      if (first) {
        first = false;
        return real.appendFile(s, "utf8");
      }
      if (written + s.length <= budget) {
        written += s.length;
        return real.appendFile(s, "utf8");
      }
      await real.appendFile(s.slice(0, Math.max(0, budget - written)), "utf8");
      written = budget;
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
    };
    const handle: OutputHandle = {
      writeFile: (data) => full(data),
      appendFile: (data) => full(data),
      sync: () => real.sync(),
      datasync: () => real.datasync(),
      close: () => real.close(),
      chmod: (m) => real.chmod(m),
    };
    return handle;
  };
}

describe("an output that fills up mid-run (issue 9 §3)", () => {
  it.each(["report", "journal", "failures"])(
    "the %s: sending stops, the rest is skipped, the summary is printed, exit 4; --resume finishes",
    async (which) => {
      fake = await startFake(which === "failures" ? { faults: { poison: { people: ["u5", "u1205", "u2405"] } } } : {});
      const dir = tempDir();
      const rows = memberships(40, 100);
      const input = writeMembershipsCsv(dir, rows);
      const journal = join(dir, "run.journal");
      const report = join(dir, "report.ndjson");
      const failures = join(dir, "failed.csv");
      const args = ["add", "--file", input, ...MEMBERSHIP_FLAGS, ...FAST_FLAGS, "--batch-bytes", "32012", "--concurrency", "1", "--journal", journal];
      const target = { report, journal, failures }[which]!;
      // Room for the header and a few records: the disk fills after a few batches.
      const budget = which === "report" ? 70 * 1000 : which === "journal" ? 60 : 100;
      const r = await runAgainst(fake, [...args, "--report", report, "--failures", failures, "--json"], {
        context: { openOutput: fillingDisk((p) => p === target, budget, which === "journal") },
      });
      expect(r.code, r.stderr).toBe(4);
      const s = summaryOf(r);
      expect(s.exitCode).toBe(4);
      expect(balanced(s)).toBe(true);
      expect(r.stderr).toContain(`cannot write ${target}: no space left on device (ENOSPC)`);
      expect((s as unknown as { resume: string }).resume).toContain("--resume");
      if (which !== "failures") {
        // Sending stopped: the rest is skipped and never reached the fake. (The failures file is written in
        // 64 KiB chunks; these few rows reach the disk only when it closes, after everything was sent.)
        expect(s.skipped).toBeGreaterThan(0);
        expect(s.applied).toBeLessThan(rows.length);
        expect(fake.state.size).toBeLessThan(rows.length);
      }

      // The disk has room again: --resume (torn last record ignored) finishes the job.
      fake.faults.set({ poison: undefined });
      const second = await runAgainst(fake, [...args, "--resume", "--json", "--report", report]);
      const s2 = summaryOf(second);
      expect(balanced(s2)).toBe(true);
      if (which !== "failures") {
        expect(second.code, second.stderr).toBe(0);
        expect(actualState(fake)).toEqual(expectedState(rows));
      } else {
        // Poisoned rows Customer.io refused stay failed; every other row is there.
        expect(s2.applied + s2.failed).toBe(rows.length);
        expect(fake.state.size).toBe(rows.length - s2.failed);
      }
      expect(readReport(report)).toHaveLength(rows.length);
    },
  );
});
