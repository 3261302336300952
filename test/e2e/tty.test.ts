import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { FakeTrackApi } from "../fake-track-api/index.js";
import { BIN, ROOT, distReady } from "./cli.js";
import { API_KEY, MEMBERSHIP_FLAGS, SITE_ID, memberships, startFake, tempDir, writeMembershipsCsv } from "./harness.js";

// A real pseudo-terminal through util-linux `script`, so the CLI sees a TTY on stdin, stdout and stderr
// exactly as in a person's terminal.
const SCRIPT = "/usr/bin/script";

/** The text a terminal shows, without colour and cursor sequences. */
function stripAnsi(s: string): string {
  return s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
}

/** The environment without NO_COLOR/FORCE_COLOR, so the terminal decides as for a person. */
function withoutColorSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...rest } = env;
  return rest;
}

let fake: FakeTrackApi | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/**
 * Runs the CLI on a pseudo-terminal `columns` wide (0: never sized, as some CI runners leave it); `answer`
 * is typed once `prompt` shows. Resolves with everything the terminal showed.
 */
async function onTerminal(
  args: readonly string[],
  answer?: { prompt: RegExp; keys: string },
  columns = 100,
): Promise<{ code: number | null; screen: string; raw: string }> {
  const cli = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const command = columns > 0 ? `stty cols ${columns} rows 30; ${cli}` : cli;
  await distReady();
  return new Promise((resolve, reject) => {
    const child = spawn(SCRIPT, ["-qec", command, "/dev/null"], {
      cwd: ROOT,
      env: { ...withoutColorSettings(process.env), CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY, TERM: "xterm" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let screen = "";
    let answered = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      screen += d;
      if (answer !== undefined && !answered && answer.prompt.test(stripAnsi(screen))) {
        answered = true;
        // As a person would: a moment after the question shows.
        setTimeout(() => child.stdin.write(answer.keys), 100);
      }
    });
    // A run that never ends must not outlive the test: killing `script` hangs up the terminal, which ends the CLI.
    const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(deadline);
      resolve({ code, screen: stripAnsi(screen), raw: screen });
    });
  });
}

describe.skipIf(!existsSync(SCRIPT))("on a terminal (issue 5)", () => {
  it("shows a spinner with live figures on stderr, then the coloured summary", async () => {
    // ≈ 9 requests of ≈ 250 ms one at a time: long enough for rows/s and an ETA to show.
    fake = await startFake({ faults: { latencyMs: 250 } });
    const input = writeMembershipsCsv(tempDir(), memberships(40, 100));
    const { code, screen, raw } = await onTerminal([
      "add",
      "--file",
      input,
      ...MEMBERSHIP_FLAGS,
      "--batch-bytes",
      "32012",
      "--concurrency",
      "1",
      "--track-url",
      fake.url,
    ]);
    expect(code).toBe(0);
    expect(screen).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] rows [\d,]+ · applied [\d,]+ · failed 0 · requests \d+ · [\d,]+ rows\/s · \d+% · ETA/);
    expect(raw).toContain("\u001b[1G"); // the spinner line is redrawn in place
    expect(raw).toContain("\u001b[32m4,000"); // the applied count, in green
    expect(screen).toMatch(/applied +4,000/);
    expect(raw).not.toContain(API_KEY);
  });

  it("a terminal that reports no width gets plain status lines instead of a spinner, and the run ends", async () => {
    fake = await startFake({ faults: { latencyMs: 100 } });
    const input = writeMembershipsCsv(tempDir(), memberships(5, 100));
    const { code, screen } = await onTerminal(["add", "--file", input, ...MEMBERSHIP_FLAGS, "--track-url", fake.url], undefined, 0);
    expect(code).toBe(0);
    expect(screen).not.toContain("\u001b[1A");
    expect(screen).toMatch(/applied.*500/);
  });

  it("asks before deleting, and deletes on y", async () => {
    fake = await startFake();
    fake.state.add({ objectTypeId: "1", objectId: "acme" }, { key: "id", value: "1001" });
    const { code, screen } = await onTerminal(["delete", "--object", "acme", "--people", "fixtures/people.csv", "--track-url", fake.url], {
      prompt: /\[y\/N\]/,
      keys: "y\r",
    });
    expect(screen).toMatch(/Remove 8 relationships between 8 people and 1:acme \(object type 1\)\? \[y\/N\]/);
    expect(code).toBe(0);
    expect(fake.state.size).toBe(0);
  });

  it("a plain Enter at the question deletes nothing", async () => {
    fake = await startFake();
    const { code, screen } = await onTerminal(["delete", "--object", "acme", "--people", "fixtures/people.csv", "--track-url", fake.url], {
      prompt: /\[y\/N\]/,
      keys: "\r",
    });
    expect(screen).toContain("Nothing deleted.");
    expect(code).toBe(130);
    expect(fake.requests).toHaveLength(0);
  });
});
