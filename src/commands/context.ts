import type { OpenOutput } from "../report/outputs.js";

/** The effects a command may use; main.ts passes the real ones, tests pass fakes (STYLE: inject the effects). */
export interface CommandContext {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** The folder every relative path the user gives is resolved against: inputs, outputs, credential files, --temp-dir (test/e2e/cwd.test.ts). */
  cwd: string;
  /** Asks a yes/no question on the terminal; resolves true only on an explicit yes. */
  confirm?: (question: string) => Promise<boolean>;
  /** Registers a handler for SIGINT/SIGTERM; returns a function that unregisters it. */
  onInterrupt?: (handler: () => void) => () => void;
  now?: () => number;
  /** issue 9: opens report, failures and journal files (default fs.promises.open); tests inject a failing disk. */
  openOutput?: OpenOutput;
  /** Plain progress: ms between status lines (default 5 s); tests shorten it rather than run for 5 s. */
  progressIntervalMs?: number;
}
