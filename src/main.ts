import { createInterface } from "node:readline/promises";
import type { CommandContext } from "./commands/context.js";
import { runMain } from "./run.js";

/** The real process effects: the one place that reads process.* (STYLE: inject the effects). */
const ctx: CommandContext = {
  argv: process.argv.slice(2),
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  now: () => Date.now(),
  confirm: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(question);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  },
  onInterrupt: (handler) => {
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
    return () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    };
  },
};

const code = await runMain(ctx);
// The only place that exits (STYLE). Let stdout drain first (large --json documents piped to jq).
process.exitCode = code;
process.stdout.write("", () => process.exit(code));
