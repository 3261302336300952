// Issue 9 §5: credentials are never taken on the command line; they come from the environment or a file.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readCredential } from "../../src/commands/secrets.js";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { runCli } from "./cli.js";
import {
  API_KEY,
  FAST_FLAGS,
  MEMBERSHIP_FLAGS,
  SITE_ID,
  actualState,
  expectedState,
  memberships,
  startFake,
  tempDir,
  writeMembershipsCsv,
} from "./harness.js";

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe("credentials on the command line are refused (issue 9 §5)", () => {
  it.each([
    ["--api-key", ["--api-key", API_KEY], "CIO_API_KEY", "--api-key-file"],
    ["--api-key=", [`--api-key=${API_KEY}`], "CIO_API_KEY", "--api-key-file"],
    ["--site-id", ["--site-id", SITE_ID], "CIO_SITE_ID", "--site-id-file"],
    ["--site-id=", [`--site-id=${SITE_ID}`], "CIO_SITE_ID", "--site-id-file"],
  ])("%s: exit 2, one line naming %s and the file flag, nothing sent, value not echoed", async (_name, flags, envName, fileFlag) => {
    fake = await startFake();
    const input = writeMembershipsCsv(tempDir(), memberships(2, 3));
    for (const dryRun of [[], ["--dry-run"]]) {
      const r = await runCli(["add", "--file", input, ...MEMBERSHIP_FLAGS, ...dryRun, ...flags, "--track-url", fake.url], {
        env: { CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY },
      });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(envName);
      expect(lines[0]).toContain(fileFlag);
      expect(r.stderr + r.stdout).not.toContain(API_KEY);
      expect(r.stderr + r.stdout).not.toContain(SITE_ID);
    }
    expect(fake.requests).toHaveLength(0);
  });

  it("--api-key-file and --site-id-file: read from files (a trailing newline dropped), and they win over the environment", async () => {
    fake = await startFake();
    const dir = tempDir();
    const rows = memberships(3, 4);
    const input = writeMembershipsCsv(dir, rows);
    const keyFile = join(dir, "key");
    const siteFile = join(dir, "site");
    writeFileSync(keyFile, API_KEY + "\n", { mode: 0o600 });
    writeFileSync(siteFile, SITE_ID + "\r\n", { mode: 0o600 });
    const r = await runCli(
      [
        "add",
        "--file",
        input,
        ...MEMBERSHIP_FLAGS,
        ...FAST_FLAGS,
        "--api-key-file",
        keyFile,
        "--site-id-file",
        siteFile,
        "--track-url",
        fake.url,
        "--verbose",
      ],
      {
        env: { CIO_SITE_ID: "wrong-site", CIO_API_KEY: "wrong-key" },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(actualState(fake)).toEqual(expectedState(rows));
    expect(r.stdout + r.stderr).not.toContain(API_KEY);
  });

  it.each([
    ["a missing file", (dir: string) => join(dir, "nope"), /--api-key-file .*nope: cannot read it \(no such file\)/],
    ["a directory", (dir: string) => dir, /--api-key-file .*: cannot read it \(is a directory\)/],
    ["an empty file", (dir: string) => (writeFileSync(join(dir, "empty"), "\n"), join(dir, "empty")), /--api-key-file .*empty is empty/],
    [
      "an unreadable file",
      (dir: string) => (writeFileSync(join(dir, "locked"), API_KEY), chmodSync(join(dir, "locked"), 0o000), join(dir, "locked")),
      /cannot read it \(permission denied\)/,
    ],
  ])("%s is exit 2 naming the path, never its content", async (_name, make, message) => {
    fake = await startFake();
    const dir = tempDir();
    const input = writeMembershipsCsv(dir, memberships(1, 2));
    const keyFile = make(dir);
    if (process.getuid?.() === 0 && _name === "an unreadable file") return; // root reads anything
    const r = await runCli(["add", "--file", input, ...MEMBERSHIP_FLAGS, "--api-key-file", keyFile, "--track-url", fake.url], {
      env: { CIO_SITE_ID: SITE_ID },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(keyFile);
    expect(r.stderr).not.toContain(API_KEY);
    expect(fake.requests).toHaveLength(0);
  });
});

describe("readCredential", () => {
  it("prefers the file (relative to cwd), trims trailing whitespace only, falls back to the environment, refuses several lines", () => {
    const files: Record<string, string> = { "/w/a": " k1 \n", "/w/b": "k1\nk2\n", "/elsewhere/d": "k4\n" };
    const readFile = (p: string): string => {
      const c = files[p];
      if (c === undefined) throw Object.assign(new Error("x"), { code: "ENOENT" });
      return c;
    };
    const base = { env: { CIO_X: "from-env" }, envName: "CIO_X", fileFlag: "--x-file", readFile, cwd: "/w" };
    expect(readCredential({ ...base, file: "a" })).toBe(" k1");
    expect(readCredential({ ...base, file: "../w/a" })).toBe(" k1");
    expect(readCredential({ ...base, file: "/elsewhere/d" })).toBe("k4");
    expect(readCredential(base)).toBe("from-env");
    expect(readCredential({ ...base, env: {} })).toBeUndefined();
    expect(readCredential({ ...base, env: { CIO_X: "" } })).toBeUndefined();
    expect(() => readCredential({ ...base, file: "b" })).toThrow(/--x-file b holds more than one line/);
    expect(() => readCredential({ ...base, file: "c" })).toThrow(/--x-file c: cannot read it \(no such file\)/);
  });
});
