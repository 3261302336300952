import { CommanderError, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { buildProgram } from "./cli.js";
import { CioRelError, EXIT, InputError, UsageError } from "./errors.js";
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
  // --- issue 10: under --json every failure is one JSON document on stdout; usage errors point at the command's help ---
  const json = ctx.argv.includes("--json");
  const command = program.commands.find((c) => c.name() === ctx.argv[0]);
  const help = command !== undefined ? `cio-rel ${command.name()} --help` : "cio-rel --help";
  const failJson = (doc: ErrorDocument): void => {
    if (json) ctx.stdout.write(redact(JSON.stringify({ error: doc }, null, 2)) + "\n");
  };
  try {
    if (command !== undefined) checkFlagValues(command, ctx.argv.slice(1));
    await program.parseAsync([...ctx.argv], { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exitCode 0; bad flags with 1, which is a usage error (2) for us.
      if (e.exitCode === 0) return EXIT.ok;
      failJson({ message: e.message.replace(/^error: /, ""), code: e.code, exitCode: EXIT.usage, help });
      return EXIT.usage;
    }
    if (e instanceof CioRelError) {
      // One line: the usage pointer goes on it, so that scripts reading the first line get all of it.
      fail(`cio-rel: ${e.message}${e instanceof UsageError && e.pointsAtHelp ? ` (see ${help})` : ""}`);
      if (debug && e.stack !== undefined) fail(e.stack);
      failJson(errorDocument(e, help));
      return e.exitCode;
    }
    const message = e instanceof Error ? e.message : String(e);
    fail(`cio-rel: internal error: ${message}`);
    if (debug && e instanceof Error && e.stack !== undefined) fail(e.stack);
    else fail("(run again with --debug for the stack trace)");
    failJson({ message: `internal error: ${message}`, code: "internal", exitCode: EXIT.internal });
    return EXIT.internal;
  }
}

/** The `error` of the --json document a failed run prints: always message, code and exitCode; more when known. */
export interface ErrorDocument {
  message: string;
  /** Stable: "usage", "input", "internal", or commander's ("commander.unknownOption", ...). */
  code: string;
  exitCode: number;
  file?: string;
  line?: number;
  column?: number;
  /** The help that explains the flags, for usage errors. */
  help?: string;
}

function errorDocument(e: CioRelError, help: string): ErrorDocument {
  const doc: ErrorDocument = { message: e.message, code: e.code, exitCode: e.exitCode };
  if (e instanceof InputError) {
    doc.file = e.file;
    if (e.line !== undefined) doc.line = e.line;
    if (e.column !== undefined) doc.column = e.column;
  }
  if (e instanceof UsageError && e.pointsAtHelp) doc.help = help;
  return doc;
}

/**
 * A flag that needs a value followed by another flag (`add --object --people f`) took that flag as its value;
 * commander would then complain about the stray file instead. Says which flag needs a value.
 */
export function checkFlagValues(command: CommandUnknownOpts, args: readonly string[]): void {
  const needsValue = new Set(command.options.filter((o) => o.required && o.long !== undefined).map((o) => o.long as string));
  const known = new Set(command.options.flatMap((o) => [o.long, o.negate ? o.long : undefined]).filter((f): f is string => f !== undefined));
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") return;
    if (!needsValue.has(a)) continue;
    const next = args[i + 1];
    if (next === undefined || (next.startsWith("--") && known.has(next.split("=")[0] as string))) {
      const what = next === undefined ? "nothing follows it" : `it is followed by the flag ${next}`;
      throw new UsageError(`${a} needs a value: ${what}`);
    }
    i++;
  }
}
// --- end issue 10 ---

/** The credential a `--x-file` flag points at, if it can be read; for masking only. */
function fileCredential(ctx: CommandContext, flag: string): string | undefined {
  const file = flagValue(ctx.argv, flag);
  if (file === undefined) return undefined;
  try {
    return readCredential({ env: ctx.env, envName: "", file, fileFlag: flag, cwd: ctx.cwd });
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
