import { statSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "../errors.js";
import { TEMP_DIR_ENV } from "../spill/temp-store.js";
import { readCredential } from "./secrets.js";
import { checkEncoding } from "../input/decode.js";
import { isDbUrl, SQL_DISPLAY_NAME, urlPassword } from "../input/sql/text.js";
import type { Format } from "../input/types.js";
import { DEFAULT_OBJECT_TYPE, type MappingOptions } from "../model/mapping.js";
import type { Action, ObjectRef, PersonRef } from "../model/types.js";
import type { Route } from "../plan/encoder.js";
import type { GroupBy } from "../plan/types.js";
import { DEFAULT_PIPELINES_RATE, DEFAULT_RATE } from "../transport/retry.js";
import type { InputFlags, PROGRESS_MODES, SendFlags } from "./flags.js";

/** `--sql` / `--sql-file` with `--db` (issue 17): the query is read and the URL resolved when the input opens. */
export interface SqlOptions {
  /** --sql: the query text; or --sql-file: the file holding it. */
  query: { text: string } | { file: string };
  /** --db; undefined falls back on DATABASE_URL, then the PG* variables. Never carries a password (argv is readable by all). */
  db?: string;
}

/** How rows are read and turned into relationships: everything that shapes the payloads. */
export interface InputOptions extends MappingOptions {
  /** The file as given ("-" for stdin); SQL_DISPLAY_NAME for a --sql source. */
  path: string;
  /** Rows come from a PostgreSQL query instead of a file. */
  sql?: SqlOptions;
  format?: Format;
  header: boolean;
  delimiter?: string;
  /** --encoding, as TextDecoder names it; absent: a BOM decides, else UTF-8. */
  encoding?: string;
  groupBy: GroupBy;
  windowSize: number;
  /** Largest batch body; MAX_BATCH_BYTES unless the user asks for smaller requests. */
  batchBytes: number;
}

/** Where and how batches are sent. */
export interface SendOptions {
  /** issue 15: the Track API (default) or Data Pipelines. */
  via: Route;
  region: "us" | "eu";
  trackUrl?: string;
  siteId?: string;
  apiKey?: string;
  /** --pipelines-url or $CIO_PIPELINES_URL (--via pipelines only). */
  pipelinesUrl?: string;
  /** CIO_PIPELINES_API_KEY or --pipelines-api-key-file (--via pipelines, not a dry run). */
  pipelinesApiKey?: string;
  concurrency: number;
  rate: number;
  timeoutMs: number;
  maxRetries: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  isolate: boolean;
  maxErrors?: number;
  /** issue 9 (--give-up-after): stop once no request has succeeded for this long; Infinity with 0. */
  giveUpAfterMs: number;
}

/** What the user sees and which files are written. */
export interface OutputOptions {
  dryRun: boolean;
  out?: string;
  report?: string;
  failures?: string;
  journal?: string;
  resume: boolean;
  progress: (typeof PROGRESS_MODES)[number];
  quiet: boolean;
  json: boolean;
  verbose: boolean;
  debug: boolean;
  yes: boolean;
  /** issue 16: where the planner's temporary files go (--temp-dir, else $CIO_REL_TEMP_DIR, else the system temp folder). */
  tempDir?: string;
}

/** Every option of add/delete, typed and checked. */
export interface RunOptions {
  command: "add" | "delete";
  action: Action;
  input: InputOptions;
  send: SendOptions;
  output: OutputOptions;
}

/** `--object-type`: a positive integer, kept as the string Customer.io expects (API.md). */
function objectTypeFlag(value: string | undefined): string {
  if (value === undefined) return DEFAULT_OBJECT_TYPE;
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`--object-type must be a positive integer (got "${value}")`);
  return value;
}

/** Which file holds the rows, from the three command shapes of issue 2. */
function inputShape(raw: InputFlags): { path: string; fixedObject?: ObjectRef; fixedPerson?: PersonRef } {
  const sql = sqlOptions(raw);
  if (sql !== undefined) return { ...inputShapeForValidate(raw), path: SQL_DISPLAY_NAME };
  const shapes = [raw.object !== undefined, raw.person !== undefined, raw.file !== undefined].filter(Boolean).length;
  if (shapes > 1) throw new UsageError("use one of --object, --person or --file, not several");
  if (raw.object !== undefined) {
    if (raw.people === undefined) throw new UsageError("--object needs --people <file> (the people to relate to it)");
    if (raw.objects !== undefined) throw new UsageError("--objects goes with --person, not with --object");
    return { path: raw.people, fixedObject: { typeId: objectTypeFlag(raw.objectType), id: raw.object } };
  }
  if (raw.person !== undefined) {
    if (raw.objects === undefined) throw new UsageError("--person needs --objects <file> (the objects to relate them to)");
    if (raw.people !== undefined) throw new UsageError("--people goes with --object, not with --person");
    return { path: raw.objects, fixedPerson: { key: raw.personKey ?? "id", value: raw.person } };
  }
  if (raw.file !== undefined) {
    if (raw.people !== undefined || raw.objects !== undefined) {
      throw new UsageError("--file holds both sides; --people goes with --object and --objects with --person");
    }
    return { path: raw.file };
  }
  if (raw.people !== undefined) throw new UsageError("--people needs --object <object_id> (the object to relate them to)");
  if (raw.objects !== undefined) throw new UsageError("--objects needs --person <value> (the person to relate them to)");
  throw new UsageError("say what to relate: --object <id> --people <file>, --person <value> --objects <file>, or --file <file>");
}

/** `--attributes role,seat` or `'*'`. */
function attributesFlag(value: string | undefined): readonly string[] | "*" | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === "*") return "*";
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (names.length === 0) throw new UsageError('--attributes needs column names, e.g. --attributes role,seat, or "*"');
  return names;
}

// --- SQL source (issue 17) ---
/** `--sql`/`--sql-file`/`--db`, checked: one query, no file input beside it, no password on the command line. */
function sqlOptions(raw: InputFlags): SqlOptions | undefined {
  if (raw.sql === undefined && raw.sqlFile === undefined) {
    if (raw.db !== undefined) throw new UsageError("--db goes with --sql or --sql-file (the query to read the rows with)");
    return undefined;
  }
  if (raw.sql !== undefined && raw.sqlFile !== undefined) throw new UsageError("use --sql or --sql-file, not both");
  const files = (["file", "people", "objects"] as const).filter((k) => raw[k] !== undefined).map((k) => `--${k}`);
  if (files.length > 0)
    throw new UsageError(`--sql is the input: drop ${files.join(" and ")} (with --object or --person, the query gives the other side)`);
  const fileFlags = [
    raw.format !== undefined ? "--format" : "",
    raw.delimiter !== undefined ? "--delimiter" : "",
    raw.header === false ? "--no-header" : "",
    raw.encoding !== undefined ? "--encoding" : "",
  ].filter((f) => f !== "");
  if (fileFlags.length > 0) throw new UsageError(`${fileFlags.join(", ")} describe a file; the rows of --sql are the query's named columns`);
  if (raw.sql !== undefined && raw.sql.trim() === "") throw new UsageError("--sql is empty: give the query that selects the rows");
  const sql: SqlOptions = { query: raw.sql !== undefined ? { text: raw.sql } : { file: raw.sqlFile as string } };
  if (raw.db !== undefined) {
    if (!isDbUrl(raw.db)) throw new UsageError("--db must be a postgres:// or postgresql:// URL");
    if (urlPassword(raw.db) !== undefined) {
      throw new UsageError(
        "--db holds a password, which every user of this machine can read on the command line: leave --db out and export DATABASE_URL (cio-rel reads it from the environment), or keep the password in PGPASSWORD or ~/.pgpass",
      );
    }
    sql.db = raw.db;
  }
  return sql;
}
// --- end SQL source ---

/** Input and mapping options, shared by add, delete and validate. */
export function parseInputOptions(raw: InputFlags, path?: string): InputOptions {
  if (path !== undefined && (raw.sql !== undefined || raw.sqlFile !== undefined)) {
    throw new UsageError("give validate a file or --sql, not both");
  }
  const sql = sqlOptions(raw);
  const shape = path === undefined ? inputShape(raw) : { ...inputShapeForValidate(raw), path };
  const format = raw.format;
  const personKey = raw.person === undefined ? raw.personKey : undefined;
  const delimiter = raw.delimiter === "\\t" ? "\t" : raw.delimiter;
  if (delimiter !== undefined && delimiter.length !== 1) throw new UsageError(`--delimiter must be one character (got "${raw.delimiter}")`);
  const attributes = attributesFlag(raw.attributes);
  const opts: InputOptions = {
    path: shape.path,
    header: raw.header !== false,
    objectType: objectTypeFlag(raw.objectType),
    emptyRemoves: raw.emptyRemoves === true,
    groupBy: raw.groupBy,
    windowSize: raw.windowSize,
    batchBytes: raw.batchBytes,
  };
  if (sql !== undefined) opts.sql = sql;
  if (format !== undefined) opts.format = format;
  if (delimiter !== undefined) opts.delimiter = delimiter;
  if (raw.encoding !== undefined) opts.encoding = checkEncoding(raw.encoding);
  if (shape.fixedObject !== undefined) opts.fixedObject = shape.fixedObject;
  if (shape.fixedPerson !== undefined) opts.fixedPerson = shape.fixedPerson;
  if (raw.personColumn !== undefined) opts.personColumn = raw.personColumn;
  if (personKey !== undefined) opts.personKey = personKey;
  if (raw.objectColumn !== undefined) opts.objectColumn = raw.objectColumn;
  if (attributes !== undefined) opts.attributes = attributes;
  return opts;
}

/** validate takes the file as an argument; --object/--person still fix one side. */
function inputShapeForValidate(raw: InputFlags): { fixedObject?: ObjectRef; fixedPerson?: PersonRef } {
  if (raw.object !== undefined && raw.person !== undefined) throw new UsageError("use --object or --person, not both");
  if (raw.object !== undefined) return { fixedObject: { typeId: objectTypeFlag(raw.objectType), id: raw.object } };
  if (raw.person !== undefined) {
    return { fixedPerson: { key: raw.personKey ?? "id", value: raw.person } };
  }
  return {};
}

/**
 * --region, else $CIO_REGION, else us (issue 10; commander resolves which, flags.ts): case-blind (`CIO_REGION=EU`
 * works); a bad value names where it came from; a dry run sends nothing, so it never needs a valid one.
 */
export function regionOption(value: string, fromEnv: boolean, dryRun: boolean): "us" | "eu" {
  const word = value.trim().toLowerCase();
  if (word === "us" || word === "eu") return word;
  if (dryRun) return "us";
  throw new UsageError(
    fromEnv
      ? `CIO_REGION must be us or eu (got "${value}"): fix or unset the environment variable, or pass --region`
      : `--region must be us or eu (got "${value}")`,
  );
}

/**
 * Every option of add/delete, or a UsageError. Numbers, choices and defaults come parsed from commander (flags.ts);
 * `fromEnv` names the options whose value came from the environment. Credentials are checked here, before any input is read.
 */
export function parseRunOptions(
  command: "add" | "delete",
  raw: InputFlags & SendFlags,
  ctx: { env: Readonly<Record<string, string | undefined>>; cwd: string },
  fromEnv: ReadonlyMap<string, string> = new Map(),
): RunOptions {
  const { env, cwd } = ctx;
  const input = parseInputOptions(raw);
  const dryRun = raw.dryRun === true;
  if (raw.out !== undefined && !dryRun) throw new UsageError("--out writes the batches of a dry run: add --dry-run");
  if (raw.resume === true && raw.journal === undefined) throw new UsageError("--resume needs --journal <file> (the journal of the run to resume)");
  const via = raw.via;
  const send: SendOptions = {
    via,
    region: regionOption(raw.region, fromEnv.has("region"), dryRun),
    concurrency: raw.concurrency,
    // Each route has its own documented rate (issue 15), so --rate holds no single default (flags.ts).
    rate: raw.rate ?? (via === "pipelines" ? DEFAULT_PIPELINES_RATE : DEFAULT_RATE),
    timeoutMs: Math.round(raw.timeout * 1000),
    maxRetries: raw.maxRetries,
    backoffBaseMs: Math.round(raw.backoffBase * 1000),
    backoffCapMs: Math.round(raw.backoffCap * 1000),
    isolate: raw.isolate,
    // issue 9 (--give-up-after): 0 means never give up.
    giveUpAfterMs: raw.giveUpAfter === 0 ? Infinity : Math.round(raw.giveUpAfter * 1000),
  };
  if (raw.maxErrors !== undefined) send.maxErrors = raw.maxErrors;
  // --- issue 9: credentials only from the environment or a file, never from argv (--site-id, --api-key, --pipelines-api-key: flags.ts) ---
  if (via === "pipelines") pipelinesSendOptions(send, raw, ctx, fromEnv, dryRun);
  else {
    const strays = flagsGiven(raw, fromEnv, { pipelinesUrl: "--pipelines-url", pipelinesApiKeyFile: "--pipelines-api-key-file" });
    if (strays.length > 0) throw new UsageError(`${strays.join(" and ")} go${strays.length === 1 ? "es" : ""} with --via pipelines`);
    if (raw.trackUrl !== undefined && raw.trackUrl !== "") send.trackUrl = raw.trackUrl;
  }
  if (!dryRun && via === "track") {
    const siteId = readCredential({ env, envName: "CIO_SITE_ID", file: raw.siteIdFile, fileFlag: "--site-id-file", cwd });
    const apiKey = readCredential({ env, envName: "CIO_API_KEY", file: raw.apiKeyFile, fileFlag: "--api-key-file", cwd });
    if (siteId === undefined) throw new UsageError("CIO_SITE_ID is not set: export it or pass --site-id-file <file> (or use --dry-run)");
    if (apiKey === undefined) throw new UsageError("CIO_API_KEY is not set: export it or pass --api-key-file <file> (or use --dry-run)");
    send.siteId = siteId;
    send.apiKey = apiKey;
  }
  // --- end issue 9 credentials ---
  const output: OutputOptions = {
    dryRun,
    resume: raw.resume === true,
    progress: raw.progress,
    quiet: raw.quiet === true,
    json: raw.json === true,
    verbose: raw.verbose === true,
    debug: raw.debug === true,
    yes: raw.yes === true,
  };
  if (raw.out !== undefined) output.out = raw.out;
  if (raw.report !== undefined) output.report = raw.report;
  if (raw.failures !== undefined) output.failures = raw.failures;
  if (raw.journal !== undefined) output.journal = raw.journal;
  const tempDir = tempDirOption(raw.tempDir, fromEnv.has("tempDir"), cwd);
  if (tempDir !== undefined) output.tempDir = tempDir;
  return { command, action: command === "add" ? "add_relationships" : "delete_relationships", input, send, output };
}

/** The options that shape payloads, as the journal records them (never credentials or output paths). */
export function payloadShapingOptions(o: RunOptions): Record<string, unknown> {
  // The query and the database are the input's identity (the journal's input), not an option; --db must never reach a file.
  const { path: _path, sql: _sql, ...input } = o.input;
  // The route too (issue 15): a resume must send what is left the way the run began.
  return { command: o.command, action: o.action, via: o.send.via, ...input };
}

// --- issue 15: --via pipelines ---
/** The flags among `names` (option key → flag) given on the command line (a value from the environment is not given). */
function flagsGiven<K extends keyof SendFlags>(raw: SendFlags, fromEnv: ReadonlyMap<string, string>, names: Partial<Record<K, string>>): string[] {
  return Object.entries<string | undefined>(names)
    .filter(([key]) => raw[key as K] !== undefined && !fromEnv.has(key))
    .map(([, flag]) => flag as string);
}

/** --via pipelines: its URL and its key (CIO_PIPELINES_API_KEY or a file; never argv); Track's flags are refused. */
function pipelinesSendOptions(
  send: SendOptions,
  raw: SendFlags,
  ctx: { env: Readonly<Record<string, string | undefined>>; cwd: string },
  fromEnv: ReadonlyMap<string, string>,
  dryRun: boolean,
): void {
  const trackOnly = flagsGiven(raw, fromEnv, { siteIdFile: "--site-id-file", apiKeyFile: "--api-key-file", trackUrl: "--track-url" });
  if (trackOnly.length > 0) {
    throw new UsageError(
      `${trackOnly.join(", ")}: for the Track API, not --via pipelines, which takes CIO_PIPELINES_API_KEY (or --pipelines-api-key-file) and --pipelines-url`,
    );
  }
  if (raw.pipelinesUrl !== undefined && raw.pipelinesUrl !== "") send.pipelinesUrl = raw.pipelinesUrl;
  if (dryRun) return;
  const key = readCredential({
    env: ctx.env,
    envName: "CIO_PIPELINES_API_KEY",
    file: raw.pipelinesApiKeyFile,
    fileFlag: "--pipelines-api-key-file",
    cwd: ctx.cwd,
  });
  if (key === undefined) {
    throw new UsageError("CIO_PIPELINES_API_KEY is not set: export it or pass --pipelines-api-key-file <file> (or use --dry-run)");
  }
  send.pipelinesApiKey = key;
}
// --- end issue 15 ---

/**
 * `--temp-dir <dir>`, else $CIO_REL_TEMP_DIR (issue 16; commander resolves which): an existing folder, checked
 * before anything is read or sent, resolved against `cwd` (the command's ctx.cwd) like every user path.
 */
function tempDirOption(given: string | undefined, fromEnv: boolean, cwd: string): string | undefined {
  if (given === undefined) return undefined;
  const dir = resolve(cwd, given);
  const source = fromEnv ? TEMP_DIR_ENV : "--temp-dir";
  let folder = false;
  try {
    folder = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!folder) throw new UsageError(`${source} ${given}: no such folder (temporary files go there)`);
  return dir;
}
