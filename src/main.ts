import { createInterface } from "node:readline/promises";
import { CommanderError } from "commander";
import { buildProgram } from "./cli.js";
import { CioRelError, EXIT } from "./errors.js";
import type { CommandContext } from "./commands/context.js";

/** Runs the CLI with the real process effects; the only place that calls process.exit (STYLE). */
async function main(): Promise<number> {
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
  let code: number = EXIT.ok;
  const program = buildProgram(ctx, (c) => {
    code = c;
  });
  const debug = ctx.argv.includes("--debug");
  try {
    await program.parseAsync([...ctx.argv], { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exitCode 0; bad flags with 1, which is a usage error (2) for us.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CioRelError) {
      process.stderr.write(`cio-rel: ${e.message}\n`);
      if (debug && e.stack !== undefined) process.stderr.write(e.stack + "\n");
      return e.exitCode;
    }
    process.stderr.write(`cio-rel: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (debug && e instanceof Error && e.stack !== undefined) process.stderr.write(e.stack + "\n");
    else process.stderr.write("(run again with --debug for the stack trace)\n");
    return EXIT.internal;
  }
}

const code = await main();
// Let stdout drain before exiting (large --json documents piped to jq).
process.exitCode = code;
process.stdout.write("", () => process.exit(code));
