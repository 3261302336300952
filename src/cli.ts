import { Command, type Option } from "@commander-js/extra-typings";
import { EXIT } from "./errors.js";
import type { CommandContext } from "./commands/context.js";
import {
  applyEnv,
  envSourced,
  withAppConnection,
  withAppKey,
  undoDefaults,
  withFixedSide,
  withListing,
  withMapping,
  withSending,
  withShapes,
  withSync,
  withSyncScope,
  withTypesOutput,
  withValidateOutput,
  withVerify,
  withVerifyCommand,
} from "./commands/flags.js";
import { runRelationships } from "./commands/relationships.js";
import { runValidate } from "./commands/validate.js";
import { runSync } from "./commands/sync.js";
import { colorLevel } from "./report/summary.js";
import { resolveObjectTypeName, runList, runTypes } from "./commands/list.js";
import { VERSION } from "./version.js";
import { runVerify } from "./commands/verify.js";

/** Exit codes as README and --help state them (issue 5). */
export const EXIT_CODES_HELP = `
Exit codes:
  ${EXIT.ok}    every row applied (duplicates collapsed into applied rows are fine)
  ${EXIT.internal}    internal error
  ${EXIT.usage}    usage or input error: bad flags, unreadable file, or any invalid row
  ${EXIT.auth}    authentication or permission refused (401/403)
  ${EXIT.output}    an output file could not be written (report, failures, journal, --out)
  ${EXIT.api}    some rows failed at the API or could not be sent
  ${EXIT.unconfirmed}    sent and accepted, but not visible: --verify left rows unconfirmed (verify: rows missing)
  ${EXIT.interrupted}  interrupted (Ctrl-C / SIGTERM)`;

/** What every add/delete/validate --help starts with: the three input shapes (issue 10, "Help that teaches"). */
function synopsis(command: string): string {
  if (command === "validate") {
    return `Input shapes:
  cio-rel validate <file> --object <object_id>   the rows are people (a list of ids, emails or a CSV)
  cio-rel validate <file> --person <value>       the rows are objects
  cio-rel validate <file>                        each row names a person and an object
`;
  }
  return `Input shapes:
  cio-rel ${command} --object <object_id> --people <file>   every row's person ${command === "add" ? "to" : "from"} one object
  cio-rel ${command} --person <value> --objects <file>      every row's object ${command === "add" ? "to" : "from"} one person
  cio-rel ${command} --file <file>                          each row names a person and an object
  <file>: .csv .tsv .json .ndjson .jsonl .txt (optionally .gz), or - for standard input
`;
}

/** Said above the examples: their files are the README's, and the repository's fixtures/ folder has them. */
const EXAMPLE_FILES = "(people.csv, objects.csv and memberships.csv are shaped as in the README; the repository's fixtures/ folder has copies)";

const ADD_EXAMPLES = `
Examples ${EXAMPLE_FILES}:
  $ cio-rel add --object acme --people people.csv --dry-run
  $ cio-rel add --person 1001 --objects objects.csv --attributes plan
  $ cio-rel add --file memberships.csv --person-column user_id --object-column account_id --attributes role
  $ cio-rel add --sql "select user_id, account_id, role from memberships order by 1,2" --person-column user_id --object-column account_id --attributes role`;

const DELETE_EXAMPLES = `
Examples ${EXAMPLE_FILES}:
  $ cio-rel delete --object acme --people people.csv --dry-run
  $ cio-rel delete --object acme --people leavers.csv --yes --failures failed.csv
  $ cio-rel delete --file memberships.csv --person-column user_id --object-column account_id --yes`;

const VALIDATE_EXAMPLES = `
Examples ${EXAMPLE_FILES}:
  $ cio-rel validate memberships.csv --person-column user_id --object-column account_id
  $ cio-rel validate people.csv --object acme
  $ cio-rel validate ids.txt.gz --object acme --encoding latin1`;

const SYNC_EXAMPLES = `
Examples:
  $ cio-rel sync --file members.csv --dry-run --plan-out plan.ndjson
  $ cio-rel sync --file members.csv --yes --snapshot before.ndjson
  $ cio-rel undo --snapshot before.ndjson --yes`;

/** The commander program; each action resolves to the exit code that main.ts exits with. */
export function buildProgram(ctx: CommandContext, setExit: (code: number) => void): Command {
  const program = new Command("cio-rel")
    .description("Bulk-add and bulk-remove relationships between people and objects in Customer.io.")
    .version(VERSION)
    .showHelpAfterError("(cio-rel --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP)
    .configureOutput({
      writeOut: (s) => void ctx.stdout.write(s),
      writeErr: (s) => void ctx.stderr.write(s),
      // commander reads process.stdout/stderr for these by default; the context's streams are the ones written to.
      getOutHelpWidth: () => helpWidth(ctx.stdout),
      getErrHelpWidth: () => helpWidth(ctx.stderr),
      getOutHasColors: () => colorLevel(ctx.env, ctx.stdout.isTTY === true) > 0,
      getErrHasColors: () => colorLevel(ctx.env, ctx.stderr.isTTY === true) > 0,
    })
    // Defaults are written one way, "(default: x)", whether commander holds them or the text states them.
    .configureHelp({ optionDescription: describeOption })
    // Options with an environment variable read the context's environment (flags.ts), not process.env.
    .hook("preAction", (_program, action) => applyEnv(action, ctx.env))
    .exitOverride();

  for (const name of ["add", "delete"] as const) {
    const cmd = program
      .command(name)
      .description(name === "add" ? "add relationships from a file" : "remove relationships listed in a file (asks first)");
    withAppKey(withVerify(withSending(withMapping(withShapes(cmd)))))
      .showHelpAfterError(`(cio-rel ${name} --help for usage)`)
      .addHelpText("before", synopsis(name))
      .addHelpText("after", (name === "add" ? ADD_EXAMPLES : DELETE_EXAMPLES) + "\n" + EXIT_CODES_HELP)
      .action(async (opts, c) => setExit(await runRelationships(ctx, name, await withTypeId(ctx, opts), envSourced(c))));
  }

  // --- sync / undo (issue 13) ---
  const sync = program
    .command("sync")
    .description("make Customer.io match a file: plan adds and deletes per object (or person), guard, confirm, send");
  withVerify(withSyncScope(withSync(withSending(withMapping(withShapes(sync))))))
    .addHelpText("after", SYNC_EXAMPLES + "\n" + EXIT_CODES_HELP)
    .action(async (opts, c) => setExit(await runSync(ctx, "sync", await withTypeId(ctx, opts), envSourced(c))));
  const undo = program.command("undo").description("bring a sync's scope back to its --snapshot (a sync to the snapshot)");
  withVerify(withSync(withSending(undo)).requiredOption("--snapshot <file>", "the snapshot cio-rel sync --snapshot wrote"))
    .addHelpText("after", EXIT_CODES_HELP)
    .action(async (opts, c) => setExit(await runSync(ctx, "undo", { ...undoDefaults(), ...opts }, envSourced(c))));
  // --- end sync / undo ---

  const validate = program
    .command("validate")
    .description("read and check a file without sending: prints every invalid row with file:line and reason")
    .argument("[file]", "the input file (- for stdin); or give --sql");
  withAppKey(withValidateOutput(withMapping(withFixedSide(validate))))
    .showHelpAfterError("(cio-rel validate --help for usage)")
    .addHelpText("before", synopsis("validate"))
    .addHelpText("after", VALIDATE_EXAMPLES + "\n" + EXIT_CODES_HELP)
    .action(async (file, opts) => setExit(await runValidate(ctx, file, await withTypeId(ctx, opts))));

  const list = program.command("list").description("list who is related to an object, or what a person is related to (App API)");
  withAppConnection(withListing(list))
    .addHelpText("after", LIST_EXAMPLES + "\n" + LIST_EXIT_CODES)
    .action(async (opts) => setExit(await runList(ctx, opts)));
  const types = program.command("types").description("list the workspace's object types: id, name, slug (App API)");
  withAppConnection(withTypesOutput(types))
    .addHelpText("after", LIST_EXIT_CODES)
    .action(async (opts) => setExit(await runTypes(ctx, opts)));

  const verify = program
    .command("verify")
    .description("check a file against Customer.io now, sending nothing: present, missing or attribute mismatch per row (App API)");
  withVerifyCommand(withMapping(withShapes(verify)))
    .addHelpText("after", VERIFY_EXAMPLES + "\n" + VERIFY_EXIT_CODES)
    .action(async (opts, c) => setExit(await runVerify(ctx, await withTypeId(ctx, opts), envSourced(c))));
  return program;
}

/** A terminal's width for wrapping help, as commander does for process.stdout; its default 80 off a terminal. */
function helpWidth(stream: CommandContext["stdout"]): number {
  return (stream.isTTY === true ? (stream as { columns?: number }).columns : undefined) ?? 80;
}

// ---- issue 12: the App API (list, types, --object-type by name) -------------------------------------

/** --object-type given as a name or slug becomes its id, looked up once per run (needs an App API key). */
async function withTypeId<T extends Parameters<typeof resolveObjectTypeName>[1]>(ctx: CommandContext, opts: T): Promise<T> {
  const typeId = await resolveObjectTypeName(ctx, opts);
  return typeId === undefined ? opts : { ...opts, objectType: typeId };
}

const LIST_EXAMPLES = `
Examples:
  $ cio-rel list --object acme                         # the people related to acme: id,email,cio_id
  $ cio-rel list --object acme --object-type accounts --format ndjson --out acme.ndjson
  $ cio-rel list --person 42 --person-key id           # the objects related to person 42, with attributes
  $ cio-rel list --objects accounts.csv --out members.csv
  $ cio-rel list --object acme | cio-rel delete --object acme --people - --format csv --yes   # empties acme

The App API key comes from CIO_APP_API_KEY or --app-api-key-file, never from the command line.`;

const LIST_EXIT_CODES = `
Exit codes:
  ${EXIT.ok}    everything listed
  ${EXIT.internal}    internal error
  ${EXIT.usage}    usage or input error (an invalid input row is reported as file:line)
  ${EXIT.auth}    App API key refused (401/403)
  ${EXIT.api}    some object or person not found, or a listing failed at the API
  ${EXIT.interrupted}  interrupted (Ctrl-C / SIGTERM)`;

/**
 * An option's help text with its default written as "(default: x)", like the defaults the texts state; an option
 * read from the environment says so first: "(default: $CIO_REGION, else us)".
 */
export function describeOption(option: Option): string {
  const value: unknown = option.defaultValue;
  const shown = option.defaultValueDescription ?? (typeof value === "string" || typeof value === "number" ? String(value) : undefined);
  if (option.negate || option.hidden) return option.description;
  if (option.envVar !== undefined) return `${option.description} (default: $${option.envVar}${shown !== undefined ? `, else ${shown}` : ""})`;
  return shown === undefined ? option.description : `${option.description} (default: ${shown})`;
}

// ---- issue 14: cio-rel verify -------------------------------------------------------------------------

const VERIFY_EXAMPLES = `
Examples:
  $ cio-rel verify --object acme --people fixtures/people.csv
  $ cio-rel verify --file fixtures/memberships.csv --person-column user_id --object-column account_id --attributes role --failures missing.csv
  $ cio-rel add --file missing.csv --person-column user_id --object-column account_id --attributes role   # re-send what was missing

The App API key comes from CIO_APP_API_KEY or --app-api-key-file, never from the command line.`;

const VERIFY_EXIT_CODES = `
Exit codes:
  ${EXIT.ok}    every row present in Customer.io (with its attributes, where the listing carries them)
  ${EXIT.internal}    internal error
  ${EXIT.usage}    usage or input error, or invalid rows (and nothing missing)
  ${EXIT.auth}    App API key refused (401/403)
  ${EXIT.api}    some listings could not be read
  ${EXIT.unconfirmed}    rows missing in Customer.io, or listed with other attributes
  ${EXIT.interrupted}  interrupted (Ctrl-C / SIGTERM)`;
