import { statSync } from "node:fs";
import { UsageError } from "../errors.js";
import { TEMP_DIR_ENV } from "../spill/temp-store.js";
import { readCredential } from "./secrets.js";
import { checkEncoding } from "../input/decode.js";
import { isDbUrl, SQL_DISPLAY_NAME, urlPassword } from "../input/sql/text.js";
import type { Format } from "../input/types.js";
import { FORMATS } from "../input/open.js";
import { PERSON_KEYS, type MappingOptions } from "../model/mapping.js";
import type { Action, ObjectRef, PersonRef } from "../model/types.js";
import { DEFAULT_WINDOW_SIZE } from "../plan/planner.js";
import { ROUTES, type Route } from "../plan/encoder.js";
import { MAX_BATCH_BYTES, MAX_OPERATION_BYTES, type GroupBy } from "../plan/types.js";
import { DEFAULT_BACKOFF, DEFAULT_CONCURRENCY, DEFAULT_PIPELINES_RATE, DEFAULT_RATE, DEFAULT_TIMEOUT_MS } from "../transport/retry.js";
import { DEFAULT_GIVE_UP_AFTER_MS } from "../transport/track.js";

/** The smallest --batch-bytes: one largest operation and the `{"batch":[]}` around it. */
const MIN_BATCH_BYTES = MAX_OPERATION_BYTES + 12;

/** The flags of add/delete/validate as commander hands them over (camelCase, strings unparsed). */
export interface RawOptions {
  object?: string;
  objectType?: string;
  people?: string;
  person?: string;
  personKey?: string;
  objects?: string;
  file?: string;
  format?: string;
  header?: boolean;
  delimiter?: string;
  encoding?: string;
  personColumn?: string;
  objectColumn?: string;
  attributes?: string;
  emptyRemoves?: boolean;
  groupBy?: string;
  windowSize?: string;
  batchBytes?: string;
  dryRun?: boolean;
  out?: string;
  region?: string;
  trackUrl?: string;
  // issue 9: refused (a value on argv is visible in ps); the *File flags replace them.
  siteId?: string;
  apiKey?: string;
  siteIdFile?: string;
  apiKeyFile?: string;
  // --- issue 15: --via pipelines ---
  via?: string;
  pipelinesUrl?: string;
  pipelinesApiKeyFile?: string;
  /** Refused like --api-key: the key comes from CIO_PIPELINES_API_KEY or --pipelines-api-key-file. */
  pipelinesApiKey?: string;
  giveUpAfter?: string;
  concurrency?: string;
  rate?: string;
  timeout?: string;
  maxRetries?: string;
  backoffBase?: string;
  backoffCap?: string;
  isolate?: boolean;
  maxErrors?: string;
  report?: string;
  failures?: string;
  journal?: string;
  resume?: boolean;
  progress?: string;
  quiet?: boolean;
  json?: boolean;
  verbose?: boolean;
  debug?: boolean;
  yes?: boolean;
  tempDir?: string;
  // --- SQL source (issue 17) ---
  sql?: string;
  sqlFile?: string;
  db?: string;
}

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
  progress: "auto" | "tty" | "plain" | "none";
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

const GROUP_BYS: readonly GroupBy[] = ["object", "person", "auto"];
const PROGRESS_MODES = ["auto", "tty", "plain", "none"] as const;

/** One of the allowed words, or a usage error naming the flag and the choices. */
function oneOf<T extends string>(flag: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} must be one of ${choices.join(", ")} (got "${value}")`);
}

/** A number in [min, max] (integer unless `decimal`), or a usage error naming the flag. */
function numberFlag(flag: string, value: string | undefined, min: number, options: { decimal?: boolean; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const ok =
    value.trim() !== "" && Number.isFinite(n) && (options.decimal === true || Number.isInteger(n)) && n >= min && n <= (options.max ?? Infinity);
  if (!ok) {
    const kind = options.decimal === true ? "a number" : "a whole number";
    throw new UsageError(`${flag} must be ${kind} ≥ ${min}${options.max !== undefined ? ` and ≤ ${options.max}` : ""} (got "${value}")`);
  }
  return n;
}

/** `--object-type`: a positive integer, kept as the string Customer.io expects (API.md). */
function objectTypeFlag(value: string | undefined): string {
  if (value === undefined) return "1";
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`--object-type must be a positive integer (got "${value}")`);
  return value;
}

/** Which file holds the rows, from the three command shapes of issue 2. */
function inputShape(raw: RawOptions): { path: string; fixedObject?: ObjectRef; fixedPerson?: PersonRef } {
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
    const key = oneOf("--person-key", raw.personKey, PERSON_KEYS) ?? "id";
    return { path: raw.objects, fixedPerson: { key, value: raw.person } };
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
function sqlOptions(raw: RawOptions): SqlOptions | undefined {
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
export function parseInputOptions(raw: RawOptions, path?: string): InputOptions {
  if (path !== undefined && (raw.sql !== undefined || raw.sqlFile !== undefined)) {
    throw new UsageError("give validate a file or --sql, not both");
  }
  const sql = sqlOptions(raw);
  const shape = path === undefined ? inputShape(raw) : { ...inputShapeForValidate(raw), path };
  const format = oneOf("--format", raw.format, FORMATS);
  const personKey = raw.person === undefined ? oneOf("--person-key", raw.personKey, PERSON_KEYS) : undefined;
  const delimiter = raw.delimiter === "\\t" ? "\t" : raw.delimiter;
  if (delimiter !== undefined && delimiter.length !== 1) throw new UsageError(`--delimiter must be one character (got "${raw.delimiter}")`);
  const attributes = attributesFlag(raw.attributes);
  const opts: InputOptions = {
    path: shape.path,
    header: raw.header !== false,
    objectType: objectTypeFlag(raw.objectType),
    emptyRemoves: raw.emptyRemoves === true,
    groupBy: oneOf("--group-by", raw.groupBy, GROUP_BYS) ?? "auto",
    windowSize: numberFlag("--window-size", raw.windowSize, 1) ?? DEFAULT_WINDOW_SIZE,
    // An op (≤ 32,000 bytes) plus the batch wrapper must still fit, hence the floor.
    batchBytes: numberFlag("--batch-bytes", raw.batchBytes, MIN_BATCH_BYTES, { max: MAX_BATCH_BYTES }) ?? MAX_BATCH_BYTES,
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
function inputShapeForValidate(raw: RawOptions): { fixedObject?: ObjectRef; fixedPerson?: PersonRef } {
  if (raw.object !== undefined && raw.person !== undefined) throw new UsageError("use --object or --person, not both");
  if (raw.object !== undefined) return { fixedObject: { typeId: objectTypeFlag(raw.objectType), id: raw.object } };
  if (raw.person !== undefined) {
    return { fixedPerson: { key: oneOf("--person-key", raw.personKey, PERSON_KEYS) ?? "id", value: raw.person } };
  }
  return {};
}

/** `--give-up-after <seconds>` (issue 9): default DEFAULT_GIVE_UP_AFTER_MS; 0 means never give up. */
function giveUpAfterFlag(value: string | undefined): number {
  const seconds = numberFlag("--give-up-after", value, 0, { decimal: true }) ?? DEFAULT_GIVE_UP_AFTER_MS / 1000;
  return seconds === 0 ? Infinity : Math.round(seconds * 1000);
}

/** The usage error for a credential given on the command line; names the safer ways, never the value. */
function credentialOnArgv(flag: string, envName: string, fileFlag: string): UsageError {
  return new UsageError(
    `${flag} is not accepted (a value on the command line is visible to every user in ps): export ${envName} or pass ${fileFlag} <file>`,
  );
}

/**
 * --region, else $CIO_REGION, else us (issue 10): case-blind (`CIO_REGION=EU` works); a bad value names where it
 * came from; a dry run sends nothing, so it never needs a valid one.
 */
export function regionOption(flag: string | undefined, env: string | undefined, dryRun: boolean): "us" | "eu" {
  const [source, value] = flag !== undefined ? ["--region", flag] : ["CIO_REGION", env];
  const word = value?.trim().toLowerCase();
  if (word === undefined || word === "") return "us";
  if (word === "us" || word === "eu") return word;
  if (dryRun) return "us";
  throw new UsageError(
    `${source} must be us or eu (got "${value}")${source === "CIO_REGION" ? ": fix or unset the environment variable, or pass --region" : ""}`,
  );
}

/** Every option of add/delete, or a UsageError. Credentials are checked here, before any input is read. */
export function parseRunOptions(command: "add" | "delete", raw: RawOptions, env: Readonly<Record<string, string | undefined>>): RunOptions {
  const input = parseInputOptions(raw);
  const dryRun = raw.dryRun === true;
  if (raw.out !== undefined && !dryRun) throw new UsageError("--out writes the batches of a dry run: add --dry-run");
  if (raw.resume === true && raw.journal === undefined) throw new UsageError("--resume needs --journal <file> (the journal of the run to resume)");
  const region = regionOption(raw.region, env.CIO_REGION, dryRun);
  const via = oneOf("--via", raw.via, ROUTES) ?? "track";
  const send: SendOptions = {
    via,
    region,
    concurrency: numberFlag("--concurrency", raw.concurrency, 1, { max: 64 }) ?? DEFAULT_CONCURRENCY,
    // Each route has its own documented rate (issue 15).
    rate: numberFlag("--rate", raw.rate, 0.1, { decimal: true }) ?? (via === "pipelines" ? DEFAULT_PIPELINES_RATE : DEFAULT_RATE),
    timeoutMs: Math.round((numberFlag("--timeout", raw.timeout, 0.001, { decimal: true }) ?? DEFAULT_TIMEOUT_MS / 1000) * 1000),
    maxRetries: numberFlag("--max-retries", raw.maxRetries, 0) ?? DEFAULT_BACKOFF.maxRetries,
    backoffBaseMs: Math.round((numberFlag("--backoff-base", raw.backoffBase, 0, { decimal: true }) ?? DEFAULT_BACKOFF.baseMs / 1000) * 1000),
    backoffCapMs: Math.round((numberFlag("--backoff-cap", raw.backoffCap, 0, { decimal: true }) ?? DEFAULT_BACKOFF.capMs / 1000) * 1000),
    isolate: raw.isolate !== false,
    giveUpAfterMs: giveUpAfterFlag(raw.giveUpAfter),
  };
  const maxErrors = numberFlag("--max-errors", raw.maxErrors, 1);
  if (maxErrors !== undefined) send.maxErrors = maxErrors;
  // --- issue 9: credentials only from the environment or a file, never from argv ---
  if (raw.apiKey !== undefined) throw credentialOnArgv("--api-key", "CIO_API_KEY", "--api-key-file");
  if (raw.siteId !== undefined) throw credentialOnArgv("--site-id", "CIO_SITE_ID", "--site-id-file");
  if (raw.pipelinesApiKey !== undefined) throw credentialOnArgv("--pipelines-api-key", "CIO_PIPELINES_API_KEY", "--pipelines-api-key-file");
  if (via === "pipelines") pipelinesSendOptions(send, raw, env, dryRun);
  else {
    const strays = flagsGiven(raw, { pipelinesUrl: "--pipelines-url", pipelinesApiKeyFile: "--pipelines-api-key-file" });
    if (strays.length > 0) throw new UsageError(`${strays.join(" and ")} go${strays.length === 1 ? "es" : ""} with --via pipelines`);
    const trackUrl = raw.trackUrl ?? env.CIO_TRACK_URL;
    if (trackUrl !== undefined && trackUrl !== "") send.trackUrl = trackUrl;
  }
  if (!dryRun && via === "track") {
    const siteId = readCredential({ env, envName: "CIO_SITE_ID", file: raw.siteIdFile, fileFlag: "--site-id-file" });
    const apiKey = readCredential({ env, envName: "CIO_API_KEY", file: raw.apiKeyFile, fileFlag: "--api-key-file" });
    if (siteId === undefined) throw new UsageError("CIO_SITE_ID is not set: export it or pass --site-id-file <file> (or use --dry-run)");
    if (apiKey === undefined) throw new UsageError("CIO_API_KEY is not set: export it or pass --api-key-file <file> (or use --dry-run)");
    send.siteId = siteId;
    send.apiKey = apiKey;
  }
  // --- end issue 9 credentials ---
  const output: OutputOptions = {
    dryRun,
    resume: raw.resume === true,
    progress: oneOf("--progress", raw.progress, PROGRESS_MODES) ?? "auto",
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
  const tempDir = tempDirOption(raw.tempDir, env[TEMP_DIR_ENV]);
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
/** The flags among `names` (RawOptions key → flag) that were given. */
function flagsGiven(raw: RawOptions, names: Partial<Record<keyof RawOptions, string>>): string[] {
  return Object.entries(names)
    .filter(([key]) => raw[key as keyof RawOptions] !== undefined)
    .map(([, flag]) => flag);
}

/** --via pipelines: its URL and its key (CIO_PIPELINES_API_KEY or a file; never argv); Track's flags are refused. */
function pipelinesSendOptions(send: SendOptions, raw: RawOptions, env: Readonly<Record<string, string | undefined>>, dryRun: boolean): void {
  const trackOnly = flagsGiven(raw, { siteIdFile: "--site-id-file", apiKeyFile: "--api-key-file", trackUrl: "--track-url" });
  if (trackOnly.length > 0) {
    throw new UsageError(
      `${trackOnly.join(", ")}: for the Track API, not --via pipelines, which takes CIO_PIPELINES_API_KEY (or --pipelines-api-key-file) and --pipelines-url`,
    );
  }
  const url = raw.pipelinesUrl ?? env.CIO_PIPELINES_URL;
  if (url !== undefined && url !== "") send.pipelinesUrl = url;
  if (dryRun) return;
  const key = readCredential({ env, envName: "CIO_PIPELINES_API_KEY", file: raw.pipelinesApiKeyFile, fileFlag: "--pipelines-api-key-file" });
  if (key === undefined) {
    throw new UsageError("CIO_PIPELINES_API_KEY is not set: export it or pass --pipelines-api-key-file <file> (or use --dry-run)");
  }
  send.pipelinesApiKey = key;
}
// --- end issue 15 ---

/** `--temp-dir <dir>`, else $CIO_REL_TEMP_DIR (issue 16): an existing folder, checked before anything is read or sent. */
function tempDirOption(flag: string | undefined, env: string | undefined): string | undefined {
  const [source, dir] = flag !== undefined ? ["--temp-dir", flag] : [TEMP_DIR_ENV, env === "" ? undefined : env];
  if (dir === undefined) return undefined;
  let folder = false;
  try {
    folder = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!folder) throw new UsageError(`${source} ${dir}: no such folder (temporary files go there)`);
  return dir;
}
