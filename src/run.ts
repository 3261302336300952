import { CommanderError } from "commander";
import { buildProgram } from "./cli.js";
import { CioRelError, EXIT } from "./errors.js";
import type { CommandContext } from "./commands/context.js";
import { readCredential, redactor } from "./commands/secrets.js";
import { dbSecrets } from "./input/sql/text.js";

/**
 * Runs one CLI invocation against the given effects and resolves to its exit code; never exits and never
 * throws. main.ts passes the real process; tests pass captured streams, so most of the suite runs in process.
 */
export async function runMain(ctx: CommandContext): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(ctx, (c) => {
    code = c;
  });
  const debug = ctx.argv.includes("--debug");
  // Error texts may quote what they were given; credentials must never reach the terminal.
  const redact = redactor([
    ctx.env.CIO_SITE_ID,
    ctx.env.CIO_API_KEY,
    ctx.env.CIO_APP_API_KEY,
    flagValue(ctx.argv, "--site-id"),
    flagValue(ctx.argv, "--api-key"),
    ...dbSecrets(ctx.env, flagValue(ctx.argv, "--db")),
    // issue 9: credentials read from files are masked too (best effort: an unreadable file is reported later).
    fileCredential(ctx, "--site-id-file"),
    fileCredential(ctx, "--api-key-file"),
  ]);
  const fail = (text: string): void => void ctx.stderr.write(redact(text) + "\n");
  try {
    await program.parseAsync([...ctx.argv], { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exitCode 0; bad flags with 1, which is a usage error (2) for us.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CioRelError) {
      fail(`cio-rel: ${e.message}`);
      if (debug && e.stack !== undefined) fail(e.stack);
      return e.exitCode;
    }
    fail(`cio-rel: internal error: ${e instanceof Error ? e.message : String(e)}`);
    if (debug && e instanceof Error && e.stack !== undefined) fail(e.stack);
    else fail("(run again with --debug for the stack trace)");
    return EXIT.internal;
  }
}

/** The credential a `--x-file` flag points at, if it can be read; for masking only. */
function fileCredential(ctx: CommandContext, flag: string): string | undefined {
  const file = flagValue(ctx.argv, flag);
  if (file === undefined) return undefined;
  try {
    return readCredential({ env: ctx.env, envName: "", file, fileFlag: flag });
  } catch {
    return undefined;
  }
}

/** The value of `--flag value` or `--flag=value` in argv, if present. */
function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === flag) return argv[i + 1];
    if (a.startsWith(flag + "=")) return a.slice(flag.length + 1);
  }
  return undefined;
}
