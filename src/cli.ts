import { Command, Option } from "commander";
import { EXIT } from "./errors.js";
import type { CommandContext } from "./commands/context.js";
import type { RawOptions } from "./commands/options.js";
import { runRelationships } from "./commands/relationships.js";
import { runValidate } from "./commands/validate.js";
import { runSync, type SyncRawOptions } from "./commands/sync.js";
import { colorLevel } from "./report/summary.js";
import { resolveObjectTypeName, runList, runTypes, type ListRawOptions } from "./commands/list.js";
import { VERSION } from "./version.js";
import { DEFAULT_VERIFY_TIMEOUT_MS } from "./verify/poll.js";
import { DEFAULT_BACKOFF, DEFAULT_CONCURRENCY, DEFAULT_PIPELINES_RATE, DEFAULT_RATE, DEFAULT_TIMEOUT_MS } from "./transport/retry.js";
import { DEFAULT_GIVE_UP_AFTER_MS } from "./transport/track.js";
import { MAX_BATCH_BYTES } from "./plan/types.js";
import { DEFAULT_OBJECT_TYPE } from "./model/mapping.js";
import { DEFAULT_LIST_CONCURRENCY } from "./commands/list.js";
import { APP_RATE } from "./workspace/client.js";
import { DEFAULT_READ_DELAY_S } from "./commands/freshness.js";

/** A default as commander holds and --help shows it: the constant the parsers and transports use, as text. */
const shown = (value: number): string => String(value);
import { runVerify, type VerifyCommandOptions } from "./commands/verify.js";

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

/** Flags that say how rows are read and mapped: shared by add, delete and validate. */
function addMappingOptions(cmd: Command, withShapes: boolean): Command {
  // issue 10: --help groups the options (input, mapping, sending, output); each optionsGroup() applies to the
  // options added after it.
  cmd.optionsGroup("Input:");
  if (withShapes) {
    cmd
      .option("--object <object_id>", "relate every row's person to this object")
      .option("--people <file>", "people to relate to --object (CSV/TSV/JSON/NDJSON/lines, - for stdin)")
      .option("--person <value>", "relate every row's object to this person")
      .option("--objects <file>", "objects to relate to --person (- for stdin)")
      .option("--file <file>", "rows that each name a person and an object (- for stdin)");
  } else {
    cmd
      .option("--object <object_id>", "the rows are people related to this object")
      .option("--person <value>", "the rows are objects related to this person");
  }
  addSqlOptions(cmd);
  return cmd
    .optionsGroup("Mapping:")
    .option("--object-type <n>", `object type id for --object and for rows without an object_type_id column (default: ${DEFAULT_OBJECT_TYPE})`)
    .option("--person-key <key>", "which identifier person values are: id, email or cio_id (default: the column's name, else id)")
    .option("--person-column <name>", "column holding the person (default: the column named id, email or cio_id)")
    .option("--object-column <name>", "column holding the object id (default: object_id, or cio_object_id)")
    .option("--attributes <columns>", 'columns sent as relationship attributes: role,seat or "*" for every non-identifier column')
    .option("--empty-removes", "send an empty CSV cell as null, which removes that attribute in Customer.io")
    .optionsGroup("Input:")
    .option("--format <format>", "csv, tsv, json, ndjson or lines (default: from the file extension, under a .gz)")
    .option("--no-header", "the CSV has no header row: its first column holds the identifiers")
    .option("--delimiter <char>", 'CSV field delimiter, "\\t" for tab (default: "," for csv, sniffed from a comma-less header; tab for tsv)')
    .option("--encoding <name>", "text encoding of the input: utf-8, latin1, windows-1252, utf-16le, ... (default: a BOM, else utf-8)")
    .optionsGroup("Sending:")
    .option("--group-by <how>", "group relationships into operations per object, person, or auto (fewer operations)", "auto")
    .option("--batch-bytes <n>", `largest request body in bytes (at most Customer.io's ${MAX_BATCH_BYTES})`, shown(MAX_BATCH_BYTES))
    .addOption(new Option("--window-size <rows>", "relationships grouped (and deduplicated) at a time").hideHelp());
}

// --- SQL source (issue 17): any command that reads rows takes a query in place of a file ---
/** `--sql`, `--sql-file`, `--db`: rows from PostgreSQL; pg is loaded only when they are used. */
function addSqlOptions(cmd: Command): Command {
  return cmd
    .option("--sql <query>", "read the rows from this PostgreSQL query instead of a file (columns as named in the result)")
    .option("--sql-file <file>", "the same, with the query read from a file")
    .option("--db <url>", "postgres:// URL without a password (default: $DATABASE_URL, else the PG* variables)");
}
// --- end SQL source ---

/** Flags of add and delete beyond the mapping. */
function addRunOptions(cmd: Command): Command {
  return (
    cmd
      .optionsGroup("Sending:")
      .option("--dry-run", "plan and print what would be sent; sends nothing, needs no credentials")
      .optionsGroup("Output:")
      .option("--out <file>", "with --dry-run: write every batch body, one JSON document per line")
      .optionsGroup("Sending:")
      // issue 9: credentials come from the environment or a file; --site-id/--api-key are refused (see options.ts).
      .option("--site-id-file <file>", "file holding the Track API site id (default: $CIO_SITE_ID)")
      .option("--api-key-file <file>", "file holding the Track API key (default: $CIO_API_KEY)")
      .addOption(new Option("--site-id <id>").hideHelp())
      .addOption(new Option("--api-key <key>").hideHelp())
      .option("--region <region>", "us or eu (default: $CIO_REGION, else us)")
      .option("--track-url <url>", "Track API base URL, overriding --region (default: $CIO_TRACK_URL)")
      // --- issue 15: a second route ---
      .option("--via <route>", "track (the Track API) or pipelines (Data Pipelines, one call per relationship)", "track")
      .option("--pipelines-api-key-file <file>", "file holding the Data Pipelines source API key (default: $CIO_PIPELINES_API_KEY)")
      .addOption(new Option("--pipelines-api-key <key>").hideHelp())
      .option("--pipelines-url <url>", "Data Pipelines base URL, overriding --region (default: $CIO_PIPELINES_URL)")
      .option("--concurrency <n>", "requests in flight", shown(DEFAULT_CONCURRENCY))
      .option(
        "--rate <n>",
        `requests per second across all of them (default: ${DEFAULT_RATE} via track, Customer.io's fair use; ${DEFAULT_PIPELINES_RATE} via pipelines, half of Data Pipelines' documented 3000 per 3 s)`,
      )
      .option("--timeout <seconds>", "per request", shown(DEFAULT_TIMEOUT_MS / 1000))
      .option("--max-retries <n>", "retries of a batch on 408, 429, 5xx, timeouts and network errors", shown(DEFAULT_BACKOFF.maxRetries))
      .option("--backoff-base <seconds>", "first retry delay (exponential, full jitter)", shown(DEFAULT_BACKOFF.baseMs / 1000))
      .option("--backoff-cap <seconds>", "longest retry delay", shown(DEFAULT_BACKOFF.capMs / 1000))
      .option("--no-isolate", "do not split failed operations to find the bad rows")
      .option("--max-errors <n>", "stop sending once n rows have failed; the rest are skipped")
      .option(
        "--give-up-after <seconds>",
        "stop once no request has succeeded for this long (an outage); 0: never",
        shown(DEFAULT_GIVE_UP_AFTER_MS / 1000),
      )
      .optionsGroup("Output:")
      .option("--report <file>", "write one NDJSON line per input row with its outcome")
      .option("--failures <file>", "write failed, invalid, skipped and unconfirmed rows in the input's format, to re-run")
      .option("--journal <file>", "record settled rows after each batch, to resume after a crash")
      .option("--temp-dir <dir>", "folder for the temporary files that group a large unsorted input (default: $CIO_REL_TEMP_DIR, else the system's)")
      .option("--resume", "with --journal: skip the rows the journal already settled")
      .optionsGroup("Sending:")
      .option("--yes", "delete without asking")
      .optionsGroup("Output:")
      .option("--progress <mode>", "auto, tty, plain or none", "auto")
      .option("--quiet", "print only errors (rows that failed or are invalid included)")
      .option("--json", "print one JSON document with the results instead of the summary")
      .option("--verbose", "log every request (method, URL, status, bytes, ms)")
      .option("--debug", "print stack traces of internal errors")
  );
}

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
    .exitOverride();

  for (const name of ["add", "delete"] as const) {
    const cmd = program
      .command(name)
      .description(name === "add" ? "add relationships from a file" : "remove relationships listed in a file (asks first)");
    addMappingOptions(cmd, true);
    addRunOptions(cmd);
    addVerifyOptions(cmd);
    cmd
      .showHelpAfterError(`(cio-rel ${name} --help for usage)`)
      .addHelpText("before", synopsis(name))
      .addHelpText("after", (name === "add" ? ADD_EXAMPLES : DELETE_EXAMPLES) + "\n" + EXIT_CODES_HELP)
      .action(async (opts: RawOptions) => setExit(await runRelationships(ctx, name, await withTypeId(ctx, opts))));
  }

  // --- sync / undo (issue 13) ---
  const syncFlags = (cmd: Command): Command =>
    cmd
      .optionsGroup("Sync:")
      .option(
        "--max-deletes <n|p%>",
        "refuse (exit 2, nothing sent) when the plan deletes more than this (default: 10%, of the relationships in scope)",
      )
      .option("--plan-out <file>", "write the plan, one NDJSON line per relationship (add, delete, unchanged, keep)")
      .option("--app-url <url>", "App API base URL, overriding --region (default: $CIO_APP_URL)")
      .option("--app-api-key-file <file>", "file holding the App API key (default: $CIO_APP_API_KEY)")
      .option(
        "--read-delay <seconds>",
        "after a write by this process, wait this long before reading (writes show late)",
        shown(DEFAULT_READ_DELAY_S),
      );
  const sync = program
    .command("sync")
    .description("make Customer.io match a file: plan adds and deletes per object (or person), guard, confirm, send");
  addMappingOptions(sync, true);
  addRunOptions(sync);
  syncFlags(sync)
    .option("--scope <kind>", "object: the objects' people become the file's; person: the people's objects do", "object")
    .option("--objects-scope <file>", "more objects in scope: one absent from the file ends with no people")
    .option("--delete-unmatchable", "also delete related people who lack the file's identifier (kept by default)")
    .option("--snapshot <file>", "write every relationship in scope before applying, for cio-rel undo")
    .addHelpText("after", SYNC_EXAMPLES + "\n" + EXIT_CODES_HELP);
  addVerifyOptions(sync).action(async (opts: SyncRawOptions) => setExit(await runSync(ctx, "sync", { ...opts, ...(await withTypeId(ctx, opts)) })));
  const undo = program.command("undo").description("bring a sync's scope back to its --snapshot (a sync to the snapshot)");
  addRunOptions(undo);
  syncFlags(undo).requiredOption("--snapshot <file>", "the snapshot cio-rel sync --snapshot wrote").addHelpText("after", EXIT_CODES_HELP);
  addVerifyOptions(undo).action(async (opts: SyncRawOptions) => setExit(await runSync(ctx, "undo", opts)));
  // --- end sync / undo ---

  const validate = program
    .command("validate")
    .description("read and check a file without sending: prints every invalid row with file:line and reason")
    .argument("[file]", "the input file (- for stdin); or give --sql");
  addMappingOptions(validate, false);
  validate
    .showHelpAfterError("(cio-rel validate --help for usage)")
    .addHelpText("before", synopsis("validate"))
    .optionsGroup("Output:")
    .option("--json", "print one JSON document with the results")
    .option("--quiet", "print only the invalid rows")
    .addHelpText("after", VALIDATE_EXAMPLES + "\n" + EXIT_CODES_HELP)
    .action(async (file: string | undefined, opts: RawOptions) => setExit(await runValidate(ctx, file, await withTypeId(ctx, opts))));
  addWorkspaceCommands(program, ctx, setExit);
  addVerifyCommand(program, ctx, setExit);
  return program;
}

/** A terminal's width for wrapping help, as commander does for process.stdout; its default 80 off a terminal. */
function helpWidth(stream: CommandContext["stdout"]): number {
  return (stream.isTTY === true ? (stream as { columns?: number }).columns : undefined) ?? 80;
}

// ---- issue 14: --verify ------------------------------------------------------------------------------

/** --verify and its settings (add, delete; sync takes the same). The App API key: CIO_APP_API_KEY or --app-api-key-file. */
export function addVerifyOptions(cmd: Command): Command {
  return cmd
    .optionsGroup("Verify:")
    .option("--verify", "after sending, read back through the App API until every applied row is confirmed (needs CIO_APP_API_KEY)")
    .option(
      "--verify-timeout <seconds>",
      `how long to wait for writes to become visible before rows stay unconfirmed (default: ${DEFAULT_VERIFY_TIMEOUT_MS / 1000})`,
    )
    .option("--verify-sample <n>", "verify only n objects chosen at random (for runs too large to read back whole)");
}

// ---- issue 12: the App API (list, types, --object-type by name) -------------------------------------

/** --object-type given as a name or slug becomes its id, looked up once per run (needs an App API key). */
async function withTypeId(ctx: CommandContext, opts: RawOptions): Promise<RawOptions> {
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

/** App API connection flags of list and types; add, delete and validate take them for --object-type names. */
function addAppOptions(cmd: Command, withRate: boolean): Command {
  cmd
    .option("--app-api-key-file <file>", "file holding the App API key (default: $CIO_APP_API_KEY)")
    .option("--app-url <url>", "App API base URL, overriding --region (default: $CIO_APP_URL)");
  if (withRate) {
    cmd
      .option("--region <region>", "us or eu (default: $CIO_REGION, else us)")
      .option("--app-rate <n>", `App API requests per second across everything in flight (at most ${APP_RATE})`, shown(APP_RATE))
      .option("--timeout <seconds>", "per request", shown(DEFAULT_TIMEOUT_MS / 1000))
      .option("--max-retries <n>", "retries of a request on 408, 429, 5xx, timeouts and network errors", shown(DEFAULT_BACKOFF.maxRetries));
  }
  return cmd;
}

function addWorkspaceCommands(program: Command, ctx: CommandContext, setExit: (code: number) => void): void {
  for (const name of ["add", "delete", "validate"]) {
    const cmd = program.commands.find((c) => c.name() === name);
    if (cmd !== undefined) addAppOptions(cmd, false);
  }
  const list = program
    .command("list")
    .description("list who is related to an object, or what a person is related to (App API)")
    .option("--object <object_id>", "list the people related to this object")
    .option("--objects <file>", "list the people related to each object of the file (- for stdin)")
    .option("--person <value>", "list the objects related to this person")
    .option("--people <file>", "list the objects related to each person of the file (- for stdin)")
    .option("--object-type <type>", `object type id, name or slug (default: ${DEFAULT_OBJECT_TYPE})`)
    .option("--person-key <key>", "id, email or cio_id: which identifier --person (or the --people column) is (default: id)")
    .option("--input-format <format>", "format of --objects/--people: csv, tsv, json, ndjson or lines (default: from the extension)")
    .option("--format <format>", "output: csv, ndjson or json", "csv")
    .option("--out <file>", "write the listing to a file instead of standard output")
    .option("--concurrency <n>", "listings in flight (all under --app-rate)", shown(DEFAULT_LIST_CONCURRENCY))
    .option("--progress <mode>", "auto, plain or none (progress lines on standard error)", "auto")
    .option("--quiet", "print only errors")
    .option("--json", "print a JSON summary (to standard error when the listing goes to standard output)")
    .option("--verbose", "log every request (method, URL, status, ms)");
  addAppOptions(list, true)
    .addHelpText("after", LIST_EXAMPLES + "\n" + LIST_EXIT_CODES)
    .action(async (opts: ListRawOptions) => setExit(await runList(ctx, opts)));
  const types = program
    .command("types")
    .description("list the workspace's object types: id, name, slug (App API)")
    .option("--format <format>", "csv, ndjson or json", "csv")
    .option("--out <file>", "write to a file instead of standard output")
    .option("--verbose", "log every request (method, URL, status, ms)");
  addAppOptions(types, true)
    .addHelpText("after", LIST_EXIT_CODES)
    .action(async (opts: ListRawOptions) => setExit(await runTypes(ctx, opts)));
}

/** An option's help text with commander's default written as "(default: x)", like the defaults the texts state. */
function describeOption(option: Option): string {
  const shown = option.defaultValueDescription ?? (typeof option.defaultValue === "string" ? option.defaultValue : undefined);
  return option.negate || shown === undefined ? option.description : `${option.description} (default: ${shown})`;
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

/** `cio-rel verify`: the mapping flags of add, the App API connection, and what to write. */
function addVerifyCommand(program: Command, ctx: CommandContext, setExit: (code: number) => void): void {
  const cmd = program
    .command("verify")
    .description("check a file against Customer.io now, sending nothing: present, missing or attribute mismatch per row (App API)");
  addMappingOptions(cmd, true);
  cmd
    .optionsGroup("Reading:")
    .option("--app-api-key-file <file>", "file holding the App API key (default: $CIO_APP_API_KEY)")
    .option("--app-url <url>", "App API base URL, overriding --region (default: $CIO_APP_URL)")
    .option("--region <region>", "us or eu (default: $CIO_REGION, else us)")
    .option("--verify-timeout <seconds>", "keep re-reading rows not yet visible for this long (default: 0, read once)")
    .option("--verify-sample <n>", "check only n objects chosen at random, and their rows")
    .option("--timeout <seconds>", "per request", shown(DEFAULT_TIMEOUT_MS / 1000))
    .option("--max-retries <n>", "retries of a request on 408, 429, 5xx, timeouts and network errors", shown(DEFAULT_BACKOFF.maxRetries))
    .optionsGroup("Output:")
    .option("--report <file>", 'one NDJSON line per input row: {"row","line","status","person","object","error"}')
    .option("--failures <file>", "the missing rows (and those with other attributes) in the input's format, ready for add")
    .option("--progress <mode>", "auto, tty, plain or none", "auto")
    .option("--quiet", "print only errors")
    .option("--json", "print one JSON document with the results")
    .option("--verbose", "log every request (method, URL, status, ms)")
    .option("--debug", "print stack traces of internal errors")
    .addHelpText("after", VERIFY_EXAMPLES + "\n" + VERIFY_EXIT_CODES)
    .action(async (opts: VerifyCommandOptions) => setExit(await runVerify(ctx, await withTypeId(ctx, opts))));
}
