// Issue 11, "Flags from one source": every option of every command is defined here, once — its text, default,
// environment variable, choices, parser and conflicts — and the option types the commands receive are inferred
// from these definitions (@commander-js/extra-typings), so no hand-kept interface can drift from them. --help,
// the parsed values and README's flag tables (test/e2e/flags-doc.test.ts) all read the same Option objects.
import { Command, Option, type OptionValues } from "@commander-js/extra-typings";
import { UsageError } from "../errors.js";
import { FORMATS } from "../input/types.js";
import { DEFAULT_OBJECT_TYPE } from "../model/mapping.js";
import { PERSON_KEYS } from "../model/types.js";
import { DEFAULT_WINDOW_SIZE } from "../plan/planner.js";
import { GROUP_BYS, MAX_BATCH_BYTES, MAX_OPERATION_BYTES } from "../plan/types.js";
import { TEMP_DIR_ENV } from "../spill/temp-store.js";
import { DEFAULT_DELETE_LIMIT, limitText, parseDeleteLimit, type DeleteLimit } from "../sync/guard.js";
import { ROUTES } from "../plan/encoder.js";
import {
  DEFAULT_BACKOFF,
  DEFAULT_CONCURRENCY,
  DEFAULT_PIPELINES_RATE,
  DEFAULT_RATE,
  DEFAULT_TIMEOUT_MS,
  RETRYABLE_STATUSES,
} from "../transport/retry.js";
import { DEFAULT_GIVE_UP_AFTER_MS } from "../transport/track.js";
import { DEFAULT_VERIFY_TIMEOUT_MS } from "../verify/poll.js";
import { APP_RATE } from "../workspace/client.js";
import { DEFAULT_READ_DELAY_S } from "./freshness.js";

/** The smallest --batch-bytes: one largest operation and the `{"batch":[]}` around it. */
export const MIN_BATCH_BYTES = MAX_OPERATION_BYTES + 12;
/** Output formats of list and types. */
export const LIST_FORMATS = ["csv", "ndjson", "json"] as const;
/** Listings in flight (--concurrency of list). */
export const DEFAULT_LIST_CONCURRENCY = 4;
/** --progress of the commands that send or verify. */
export const PROGRESS_MODES = ["auto", "tty", "plain", "none"] as const;
/** --progress of list: its progress is lines on standard error, never a redrawn line. */
const LIST_PROGRESS_MODES = ["auto", "plain", "none"] as const;
/** --scope of sync. */
const SCOPES = ["object", "person"] as const;
/** What a retry is for, as the transports decide it (RETRYABLE_STATUSES), so --help cannot say "5xx" when 501 is final. */
const RETRIED = `${[...RETRYABLE_STATUSES].join(", ")}, timeouts and network errors`;

// ---- parsers: a bad value is a usage error (exit 2) naming the flag and what it got ----------------------------

/** A number in [min, max] (whole unless `decimal`); `what` replaces "a number"/"a whole number" in the message. */
export function numberArg(flag: string, min: number, o: { decimal?: boolean; max?: number; what?: string } = {}): (value: string) => number {
  return (value) => {
    const n = Number(value);
    const ok = value.trim() !== "" && Number.isFinite(n) && (o.decimal === true || Number.isInteger(n)) && n >= min && n <= (o.max ?? Infinity);
    if (ok) return n;
    const kind = o.what ?? (o.decimal === true ? "a number" : "a whole number");
    throw new UsageError(`${flag} must be ${kind} ≥ ${min}${o.max !== undefined ? ` and ≤ ${o.max}` : ""} (got "${value}")`);
  };
}

/** One of `choices`, or a usage error naming the flag and the choices (commander's own message names no flag value rules). */
export function choiceArg<const T extends readonly string[]>(flag: string, choices: T): (value: string) => T[number] {
  return (value) => {
    if ((choices as readonly string[]).includes(value)) return value;
    throw new UsageError(`${flag} must be one of ${choices.join(", ")} (got "${value}")`);
  };
}

/** `--x <v>` restricted to `choices`: shown as choices, parsed with cio-rel's message. */
function choice<const U extends string, const T extends readonly string[]>(usage: U, description: string, choices: T) {
  const flag = usage.split(" ")[0] as string;
  return new Option(usage, description).choices(choices).argParser(choiceArg(flag, choices));
}

/** issue 9: a credential on argv is visible to every user in ps; refused while parsing, naming the safer ways. */
function refusedCredential<const U extends string>(usage: U, envName: string, fileFlag: string) {
  const flag = usage.split(" ")[0] as string;
  return new Option(usage).hideHelp().argParser((): string => {
    throw new UsageError(
      `${flag} is not accepted (a value on the command line is visible to every user in ps): export ${envName} or pass ${fileFlag} <file>`,
    );
  });
}

// ---- the options, each defined once ---------------------------------------------------------------------------

/** Options used by several commands; a factory each, because commander records a help group on the Option it is given. */
export const flag = {
  // input
  sql: () =>
    new Option("--sql <query>", "read the rows from this PostgreSQL query instead of a file (columns as named in the result)").conflicts("sqlFile"),
  sqlFile: () => new Option("--sql-file <file>", "the same, with the query read from a file"),
  // DATABASE_URL may hold a password: read where the connection is made (input.ts), never through commander's .env().
  db: () => new Option("--db <url>", "postgres:// URL without a password (default: $DATABASE_URL, else the PG* variables)"),
  format: () =>
    choice("--format <format>", `${FORMATS.slice(0, -1).join(", ")} or ${FORMATS.at(-1)} (default: from the file extension, under a .gz)`, FORMATS),
  header: () => new Option("--no-header", "the CSV has no header row: its first column holds the identifiers"),
  delimiter: () =>
    new Option("--delimiter <char>", 'CSV field delimiter, "\\t" for tab (default: "," for csv, sniffed from a comma-less header; tab for tsv)'),
  encoding: () =>
    new Option("--encoding <name>", "text encoding of the input: utf-8, latin1, windows-1252, utf-16le, ... (default: a BOM, else utf-8)"),
  // mapping: --object-type has no commander default because whether it was given matters (a name to look up;
  // sync's person scope); its default is stated from the one constant.
  objectType: (usage: "<n>" | "<type>", description: string) =>
    new Option(`--object-type ${usage}`, `${description} (default: ${DEFAULT_OBJECT_TYPE})`),
  personKey: (description: string) => choice("--person-key <key>", description, PERSON_KEYS),
  // sending
  groupBy: () =>
    choice("--group-by <how>", "group relationships into operations per object, person, or auto (fewer operations)", GROUP_BYS).default("auto"),
  batchBytes: () =>
    new Option("--batch-bytes <n>", `largest request body in bytes (at most Customer.io's ${MAX_BATCH_BYTES})`)
      .default(MAX_BATCH_BYTES)
      // An op (≤ 32,000 bytes) plus the batch wrapper must still fit, hence the floor.
      .argParser(numberArg("--batch-bytes", MIN_BATCH_BYTES, { max: MAX_BATCH_BYTES })),
  windowSize: () =>
    new Option("--window-size <rows>", "relationships grouped (and deduplicated) at a time")
      .hideHelp()
      .default(DEFAULT_WINDOW_SIZE)
      .argParser(numberArg("--window-size", 1)),
  // --region is case-blind and a dry run never needs a valid one (options.ts), so it has no .choices().
  region: () => new Option("--region <region>", "us or eu").env("CIO_REGION").default("us"),
  appUrl: () => new Option("--app-url <url>", "App API base URL, overriding --region").env("CIO_APP_URL"),
  // The file flags name the variable they stand in for; the variable holds the secret itself, so no .env().
  appApiKeyFile: () => new Option("--app-api-key-file <file>", "file holding the App API key (default: $CIO_APP_API_KEY)"),
  timeout: () =>
    new Option("--timeout <seconds>", "per request").default(DEFAULT_TIMEOUT_MS / 1000).argParser(numberArg("--timeout", 0.001, { decimal: true })),
  maxRetries: (what: "a batch" | "a request") =>
    new Option("--max-retries <n>", `retries of ${what} on ${RETRIED}`).default(DEFAULT_BACKOFF.maxRetries).argParser(numberArg("--max-retries", 0)),
  verifySample: (description: string) =>
    new Option("--verify-sample <n>", description).argParser(numberArg("--verify-sample", 1, { what: "a whole number of objects" })),
  // output
  report: (description: string) => new Option("--report <file>", description),
  failures: (description: string) => new Option("--failures <file>", description),
  out: (description: string) => new Option("--out <file>", description),
  progress: () => choice("--progress <mode>", "auto, tty, plain or none", PROGRESS_MODES).default("auto"),
  quiet: (description = "print only errors") => new Option("--quiet", description),
  json: (description: string) => new Option("--json", description),
  verbose: (description = "log every request (method, URL, status, ms)") => new Option("--verbose", description),
  debug: () => new Option("--debug", "print stack traces of internal errors"),
};

/** --verify-timeout's seconds (verify defaults to one read, --verify to DEFAULT_VERIFY_TIMEOUT_MS; stated, not held, as its absence matters). */
const verifyTimeout = (description: string) =>
  new Option("--verify-timeout <seconds>", description).argParser(numberArg("--verify-timeout", 0, { decimal: true, what: "a number of seconds" }));

// ---- the option sets of the commands; each adds to a command and so carries the types along ----------------------

/** The input shapes of add, delete, sync and verify (issue 2): one of --object/--person/--file. */
export function withShapes<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .optionsGroup("Input:")
    .addOption(new Option("--object <object_id>", "relate every row's person to this object").conflicts(["person", "file"]))
    .addOption(new Option("--people <file>", "people to relate to --object (CSV/TSV/JSON/NDJSON/lines, - for stdin)"))
    .addOption(new Option("--person <value>", "relate every row's object to this person").conflicts("file"))
    .addOption(new Option("--objects <file>", "objects to relate to --person (- for stdin)"))
    .addOption(new Option("--file <file>", "rows that each name a person and an object (- for stdin)"));
}

/** validate's shapes: the file is its argument; --object or --person fixes one side. */
export function withFixedSide<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .optionsGroup("Input:")
    .addOption(new Option("--object <object_id>", "the rows are people related to this object").conflicts("person"))
    .addOption(new Option("--person <value>", "the rows are objects related to this person"));
}

/** How rows are read and mapped (after the shapes): add, delete, validate, sync, verify. */
export function withMapping<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .addOption(flag.sql())
    .addOption(flag.sqlFile())
    .addOption(flag.db())
    .optionsGroup("Mapping:")
    .addOption(flag.objectType("<n>", "object type id for --object and for rows without an object_type_id column"))
    .addOption(flag.personKey("which identifier person values are: id, email or cio_id (default: the column's name, else id)"))
    .addOption(new Option("--person-column <name>", "column holding the person (default: the column named id, email or cio_id)"))
    .addOption(new Option("--object-column <name>", "column holding the object id (default: object_id, or cio_object_id)"))
    .addOption(new Option("--attributes <columns>", 'columns sent as relationship attributes: role,seat or "*" for every non-identifier column'))
    .addOption(new Option("--empty-removes", "send an empty CSV cell as null, which removes that attribute in Customer.io"))
    .optionsGroup("Input:")
    .addOption(flag.format())
    .addOption(flag.header())
    .addOption(flag.delimiter())
    .addOption(flag.encoding())
    .optionsGroup("Sending:")
    .addOption(flag.groupBy())
    .addOption(flag.batchBytes())
    .addOption(flag.windowSize());
}

/** Flags of add, delete, sync and undo beyond the mapping: where and how to send, and what to write. */
export function withSending<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return (
    cmd
      .optionsGroup("Sending:")
      .addOption(new Option("--dry-run", "plan and print what would be sent; sends nothing, needs no credentials"))
      .optionsGroup("Output:")
      .addOption(flag.out("with --dry-run: write every batch body, one JSON document per line"))
      .optionsGroup("Sending:")
      // issue 9: credentials come from the environment or a file, never from argv.
      .addOption(new Option("--site-id-file <file>", "file holding the Track API site id (default: $CIO_SITE_ID)"))
      .addOption(new Option("--api-key-file <file>", "file holding the Track API key (default: $CIO_API_KEY)"))
      .addOption(refusedCredential("--site-id <id>", "CIO_SITE_ID", "--site-id-file"))
      .addOption(refusedCredential("--api-key <key>", "CIO_API_KEY", "--api-key-file"))
      .addOption(flag.region())
      .addOption(new Option("--track-url <url>", "Track API base URL, overriding --region").env("CIO_TRACK_URL"))
      // --- issue 15: a second route ---
      .addOption(choice("--via <route>", "track (the Track API) or pipelines (Data Pipelines, one call per relationship)", ROUTES).default("track"))
      .addOption(new Option("--pipelines-api-key-file <file>", "file holding the Data Pipelines source API key (default: $CIO_PIPELINES_API_KEY)"))
      .addOption(refusedCredential("--pipelines-api-key <key>", "CIO_PIPELINES_API_KEY", "--pipelines-api-key-file"))
      .addOption(new Option("--pipelines-url <url>", "Data Pipelines base URL, overriding --region").env("CIO_PIPELINES_URL"))
      .addOption(
        new Option("--concurrency <n>", "requests in flight").default(DEFAULT_CONCURRENCY).argParser(numberArg("--concurrency", 1, { max: 64 })),
      )
      // No commander default: each route has its own (options.ts applies it once the route is known).
      .addOption(
        new Option(
          "--rate <n>",
          `requests per second across all of them (default: ${DEFAULT_RATE} via track, Customer.io's fair use; ${DEFAULT_PIPELINES_RATE} via pipelines, half of Data Pipelines' documented 3000 per 3 s)`,
        ).argParser(numberArg("--rate", 0.1, { decimal: true })),
      )
      .addOption(flag.timeout())
      .addOption(flag.maxRetries("a batch"))
      .addOption(
        new Option("--backoff-base <seconds>", "first retry delay (exponential, full jitter)")
          .default(DEFAULT_BACKOFF.baseMs / 1000)
          .argParser(numberArg("--backoff-base", 0, { decimal: true })),
      )
      .addOption(
        new Option("--backoff-cap <seconds>", "longest retry delay")
          .default(DEFAULT_BACKOFF.capMs / 1000)
          .argParser(numberArg("--backoff-cap", 0, { decimal: true })),
      )
      .addOption(new Option("--no-isolate", "do not split failed operations to find the bad rows"))
      .addOption(new Option("--max-errors <n>", "stop sending once n rows have failed; the rest are skipped").argParser(numberArg("--max-errors", 1)))
      .addOption(
        new Option("--give-up-after <seconds>", "stop once no request has succeeded for this long (an outage); 0: never")
          .default(DEFAULT_GIVE_UP_AFTER_MS / 1000)
          .argParser(numberArg("--give-up-after", 0, { decimal: true })),
      )
      .optionsGroup("Output:")
      .addOption(flag.report("write one NDJSON line per input row with its outcome"))
      .addOption(flag.failures("write failed, invalid, skipped and unconfirmed rows in the input's format, to re-run"))
      .addOption(new Option("--journal <file>", "record settled rows after each batch, to resume after a crash"))
      // issue 16: no value held by default; the description names what applies then.
      .addOption(
        new Option("--temp-dir <dir>", "folder for the temporary files that group a large unsorted input")
          .env(TEMP_DIR_ENV)
          .default(undefined, "the system's"),
      )
      .addOption(new Option("--resume", "with --journal: skip the rows the journal already settled"))
      .optionsGroup("Sending:")
      .addOption(new Option("--yes", "delete without asking"))
      .optionsGroup("Output:")
      .addOption(flag.progress())
      .addOption(flag.quiet("print only errors (rows that failed or are invalid included)"))
      .addOption(flag.json("print one JSON document with the results instead of the summary"))
      .addOption(flag.verbose("log every request (method, URL, status, bytes, ms)"))
      .addOption(flag.debug())
  );
}

/** --verify and its settings (add, delete, sync, undo). */
export function withVerify<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .optionsGroup("Verify:")
    .addOption(new Option("--verify", "after sending, read back through the App API until every applied row is confirmed (needs CIO_APP_API_KEY)"))
    .addOption(
      verifyTimeout(`how long to wait for writes to become visible before rows stay unconfirmed (default: ${DEFAULT_VERIFY_TIMEOUT_MS / 1000})`),
    )
    .addOption(flag.verifySample("verify only n objects chosen at random (for runs too large to read back whole)"));
}

/** The App API key and URL: --verify, --object-type names (add, delete, validate). */
export function withAppKey<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd.addOption(flag.appApiKeyFile()).addOption(flag.appUrl());
}

/** The flags of sync and undo beyond those of add. */
export function withSync<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .optionsGroup("Sync:")
    .addOption(
      new Option(
        "--max-deletes <n|p%>",
        "refuse (exit 2, nothing sent) when the plan deletes more than this many, or this share of the relationships in scope",
      )
        .default(DEFAULT_DELETE_LIMIT, limitText(DEFAULT_DELETE_LIMIT))
        .argParser((text): DeleteLimit => {
          const limit = parseDeleteLimit(text);
          if ("problem" in limit) throw new UsageError(limit.problem);
          return limit;
        }),
    )
    .addOption(new Option("--plan-out <file>", "write the plan, one NDJSON line per relationship (add, delete, unchanged, keep)"))
    .addOption(flag.appUrl())
    .addOption(flag.appApiKeyFile())
    .addOption(
      new Option("--read-delay <seconds>", "after a write by this process, wait this long before reading (writes show late)")
        .default(DEFAULT_READ_DELAY_S)
        .argParser(numberArg("--read-delay", 0, { decimal: true, what: "a number of seconds" })),
    );
}

/** sync's own: what is in scope, and the snapshot to undo it. */
export function withSyncScope<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .addOption(choice("--scope <kind>", "object: the objects' people become the file's; person: the people's objects do", SCOPES).default("object"))
    .addOption(new Option("--objects-scope <file>", "more objects in scope: one absent from the file ends with no people"))
    .addOption(new Option("--delete-unmatchable", "also delete related people who lack the file's identifier (kept by default)"))
    .addOption(new Option("--snapshot <file>", "write every relationship in scope before applying, for cio-rel undo"));
}

/** validate's output. */
export function withValidateOutput<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .optionsGroup("Output:")
    .addOption(
      choice("--via <route>", "check the rows against this route's limits too: track or pipelines (people by id only)", ROUTES).default("track"),
    )
    .addOption(flag.json("print one JSON document with the results"))
    .addOption(flag.quiet("print only the invalid rows"));
}

/** What list reads and writes (the App API connection follows, withAppConnection). */
export function withListing<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .addOption(new Option("--object <object_id>", "list the people related to this object"))
    .addOption(new Option("--objects <file>", "list the people related to each object of the file (- for stdin)"))
    .addOption(new Option("--person <value>", "list the objects related to this person"))
    .addOption(new Option("--people <file>", "list the objects related to each person of the file (- for stdin)"))
    .addOption(flag.objectType("<type>", "object type id, name or slug"))
    .addOption(flag.personKey("id, email or cio_id: which identifier --person (or the --people column) is (default: id)"))
    .addOption(
      choice(
        "--input-format <format>",
        `format of --objects/--people: ${FORMATS.slice(0, -1).join(", ")} or ${FORMATS.at(-1)} (default: from the extension)`,
        FORMATS,
      ),
    )
    .addOption(choice("--format <format>", "output: csv, ndjson or json", LIST_FORMATS).default("csv"))
    .addOption(flag.out("write the listing to a file instead of standard output"))
    .addOption(
      new Option("--concurrency <n>", "listings in flight (all under --app-rate)")
        .default(DEFAULT_LIST_CONCURRENCY)
        .argParser(numberArg("--concurrency", 1, { max: 16 })),
    )
    .addOption(choice("--progress <mode>", "auto, plain or none (progress lines on standard error)", LIST_PROGRESS_MODES).default("auto"))
    .addOption(flag.quiet())
    .addOption(flag.json("print a JSON summary (to standard error when the listing goes to standard output)"))
    .addOption(flag.verbose());
}

/** What types writes. */
export function withTypesOutput<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .addOption(choice("--format <format>", "csv, ndjson or json", LIST_FORMATS).default("csv"))
    .addOption(flag.out("write to a file instead of standard output"))
    .addOption(flag.verbose());
}

/** The App API connection of list and types. */
export function withAppConnection<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return withAppKey(cmd)
    .addOption(flag.region())
    .addOption(
      new Option("--app-rate <n>", `App API requests per second across everything in flight (at most ${APP_RATE})`)
        .default(APP_RATE)
        .argParser(numberArg("--app-rate", 0.1, { decimal: true, max: APP_RATE })),
    )
    .addOption(flag.timeout())
    .addOption(flag.maxRetries("a request"));
}

/** `cio-rel verify`'s reading and output flags (after the shapes and the mapping). */
export function withVerifyCommand<A extends unknown[], O extends OptionValues>(cmd: Command<A, O>) {
  return cmd
    .optionsGroup("Reading:")
    .addOption(flag.appApiKeyFile())
    .addOption(flag.appUrl())
    .addOption(flag.region())
    .addOption(verifyTimeout("keep re-reading rows not yet visible for this long (default: 0, read once)"))
    .addOption(flag.verifySample("check only n objects chosen at random, and their rows"))
    .addOption(flag.timeout())
    .addOption(flag.maxRetries("a request"))
    .optionsGroup("Output:")
    .addOption(flag.report('one NDJSON line per input row: {"row","line","status","person","object","error"}'))
    .addOption(flag.failures("the missing rows (and those with other attributes) in the input's format, ready for add"))
    .addOption(flag.progress())
    .addOption(flag.quiet())
    .addOption(flag.json("print one JSON document with the results"))
    .addOption(flag.verbose())
    .addOption(flag.debug());
}

// ---- the option types, inferred from the definitions above -------------------------------------------------------

/** The options of a command that has none yet (extra-typings' own type for it). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
type NoOpts = {};
/** A command with no options yet: what the option sets are applied to when only their types (or defaults) are wanted. */
type Bare = Command<[], NoOpts>;
/** The options an option set adds, as the action receives them. */
type FlagsOf<F extends (cmd: Bare) => { opts(): OptionValues }> = ReturnType<ReturnType<F>["opts"]>;

/** The input and mapping flags of add, delete, sync and verify; validate's are a subset. */
export type InputFlags = FlagsOf<typeof withShapes<[], NoOpts>> & FlagsOf<typeof withMapping<[], NoOpts>>;
/** The flags of add, delete, sync and undo that say how to send and what to write. */
export type SendFlags = FlagsOf<typeof withSending<[], NoOpts>>;
/** --verify and its settings, with the App API key and URL. */
export type VerifyFlagValues = FlagsOf<typeof withVerify<[], NoOpts>> & FlagsOf<typeof withAppKey<[], NoOpts>>;
/** add and delete. */
export type RelationshipFlags = InputFlags & SendFlags & VerifyFlagValues;
/** sync and undo (undo has neither mapping nor scope flags: it runs with their defaults, undoDefaults()). */
export type SyncFlags = RelationshipFlags & FlagsOf<typeof withSync<[], NoOpts>> & FlagsOf<typeof withSyncScope<[], NoOpts>>;
/** validate. */
export type ValidateFlags = FlagsOf<typeof withFixedSide<[], NoOpts>> &
  FlagsOf<typeof withMapping<[], NoOpts>> &
  FlagsOf<typeof withValidateOutput<[], NoOpts>>;
/** The App API connection of list and types. */
export type AppConnectionFlags = FlagsOf<typeof withAppConnection<[], NoOpts>> & { verbose?: true | undefined };
/** list. */
export type ListFlags = FlagsOf<typeof withListing<[], NoOpts>> & AppConnectionFlags;
/** types. */
export type TypesFlags = FlagsOf<typeof withTypesOutput<[], NoOpts>> & AppConnectionFlags;
/** verify. */
export type VerifyCommandFlags = InputFlags & FlagsOf<typeof withVerifyCommand<[], NoOpts>>;

/** add's and delete's flags as commander holds them before parsing: their defaults (for calling runRelationships directly). */
export function relationshipDefaults(): RelationshipFlags {
  const cmd = new Command();
  return { ...withMapping(cmd).opts(), ...withSending(cmd).opts() };
}

/** The defaults of the flags sync has and undo has not: undo reads its snapshot as sync reads a file. */
export function undoDefaults(): FlagsOf<typeof withMapping<[], NoOpts>> & FlagsOf<typeof withSyncScope<[], NoOpts>> {
  return withSyncScope(withMapping(new Command())).opts();
}

/** The App API connection's defaults (--timeout, --max-retries, ...): for looking up an --object-type name from validate. */
export function appConnectionDefaults(): FlagsOf<typeof withAppConnection<[], NoOpts>> {
  return withAppConnection(new Command()).opts();
}

/**
 * Makes the context's environment the one .env() options read (commander reads process.env; in-process tests
 * inject theirs) and treats an empty variable as unset, as cio-rel always has. Run before each action.
 */
export function applyEnv(cmd: { options: readonly Option[] } & CommandValues, env: Readonly<Record<string, string | undefined>>): void {
  for (const option of cmd.options) {
    if (option.envVar === undefined) continue;
    const key = option.attributeName();
    if (cmd.getOptionValueSource(key) === "cli") continue;
    const value = env[option.envVar];
    if (value !== undefined && value.trim() !== "") cmd.setOptionValueWithSource(key, value, "env");
    else cmd.setOptionValueWithSource(key, option.defaultValue, "default");
  }
}

/** The part of a command applyEnv uses. */
interface CommandValues {
  getOptionValueSource(key: string): string | undefined;
  setOptionValueWithSource(key: string, value: unknown, source: "default" | "env"): unknown;
}

/** Which options of a command took their value from the environment (the message for a bad one names the variable). */
export function envSourced(cmd: CommandValues & { options: readonly Option[] }): ReadonlyMap<string, string> {
  const from = new Map<string, string>();
  for (const o of cmd.options)
    if (o.envVar !== undefined && cmd.getOptionValueSource(o.attributeName()) === "env") from.set(o.attributeName(), o.envVar);
  return from;
}
