import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { inject } from "vitest";
import type { CommandContext } from "../../src/commands/context.js";
import { runMain } from "../../src/run.js";

/** The repository root; tests run the CLI from here so README paths like fixtures/people.csv work. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The shim a user runs. */
export const BIN = join(ROOT, "bin", "cio-rel.js");

/** What a CLI run left behind. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of one run. */
export interface RunOptions {
  /** Added to (undefined: removed from) the developer's environment without its CIO_* variables. */
  env?: Record<string, string | undefined>;
  stdin?: string | Buffer;
  cwd?: string;
  /** In process only: effects to inject (issue 9: a disk that fills up through openOutput). */
  context?: Pick<CommandContext, "openOutput" | "progressIntervalMs">;
}

/** Options of one spawned run. */
export interface SpawnOptions extends RunOptions {
  /** Called once the child is spawned (to send it signals). */
  onSpawn?: (child: ChildProcess) => void;
}

/** The environment a test run sees: no CIO_* from the developer's shell, no colour, then the test's own. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("CIO_")) env[k] = v;
  env.NO_COLOR = "1";
  delete env.FORCE_COLOR;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** A writable that keeps what it is given as text; never a TTY, like a pipe. */
function capture(): { stream: Writable & { isTTY: false }; text: () => string } {
  let text = "";
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
      callback();
    },
  });
  return { stream: Object.assign(stream, { isTTY: false as const }), text: () => text };
}

/**
 * Runs `cio-rel ...args` in this process through the same runMain that bin/cio-rel.js runs, with stdin,
 * stdout and stderr as pipes, a clean environment and ROOT (or `cwd`) as the folder: flags, exit codes,
 * messages and files exactly as a spawned run shows them, without ~1 s of process start per test. No
 * interrupt handler and no terminal: tests of signals and TTYs use spawnCli.
 */
export async function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const stdout = capture();
  const stderr = capture();
  const stdin = Object.assign(Readable.from(options.stdin !== undefined ? [Buffer.from(options.stdin)] : []), { isTTY: false });
  const ctx: CommandContext = {
    argv: [...args],
    env: cleanEnv(options.env),
    stdin,
    stdout: stdout.stream,
    stderr: stderr.stream,
    cwd: options.cwd ?? ROOT,
    now: () => Date.now(),
    ...options.context,
  };
  const listenersBefore = processListeners();
  const code = await runMain(ctx);
  // In process, a handler left on process.* would outlive the run and fire in later tests.
  const listenersAfter = processListeners();
  if (listenersAfter !== listenersBefore)
    throw new Error(`cio-rel ${args.join(" ")} left process listeners behind: ${listenersBefore} → ${listenersAfter}`);
  // Everything written has been captured once the streams finish (the writes above are synchronous).
  await Promise.all([stdout.stream, stderr.stream].map((s) => new Promise<void>((resolve) => s.end(resolve))));
  return { code, signal: null, stdout: stdout.text(), stderr: stderr.text() };
}

/** The process-wide handlers a run could leave behind, as one comparable string. */
function processListeners(): string {
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "exit", "beforeExit", "uncaughtException", "unhandledRejection", "warning"] as const;
  return events.map((e) => `${e}:${process.listenerCount(e)}`).join(" ");
}

/**
 * Resolves once dist/ is built: test/global-setup.ts builds it in the background in a fresh clone. Every test
 * that runs bin/cio-rel.js awaits this first (spawnCli does).
 */
export async function distReady(): Promise<void> {
  const marker = inject("distBuild");
  if (marker === "") return;
  while (!existsSync(marker)) await new Promise((r) => setTimeout(r, 50));
  const result = readFileSync(marker, "utf8");
  if (result !== "ok") throw new Error(`building dist/ for the tests that spawn the CLI ${result}`);
}

/**
 * Spawns `node bin/cio-rel.js ...args` with a clean environment: for the tests where the process boundary is
 * the point (signals, SIGKILL, the bin shim, draining stdout before exit).
 */
export async function spawnCli(args: readonly string[], options: SpawnOptions = {}): Promise<CliResult> {
  await distReady();
  const env = cleanEnv(options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
    options.onSpawn?.(child);
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
    else child.stdin.end();
  });
}

/** A fresh temporary folder for one test's files. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "cio-rel-test-"));
}
