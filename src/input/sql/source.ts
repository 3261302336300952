import { createHash } from "node:crypto";
import type { Client, ClientConfig, CustomTypesConfig, DatabaseError, QueryResult } from "pg";
import type Cursor from "pg-cursor";
import { CioRelError, InputError, UsageError } from "../../errors.js";
import { ERROR_COLUMN, type BatchedRowSource, type Row } from "../types.js";
import { maskDbUrl, positionToLineColumn, SQL_DISPLAY_NAME } from "./text.js";

/** What `--sql` / `--sql-file` with `--db` ask for. */
export interface SqlSpec {
  query: string;
  /** How messages name the query text for SQL errors: "--sql", or the --sql-file path. */
  queryName: string;
  /** The postgres:// URL (--db or DATABASE_URL); undefined leaves everything to the PG* variables and pg's defaults. */
  url?: string;
}

/** Rows fetched per round trip: large enough that the round trips cost nothing, small enough to stay tiny in memory. */
export const ROWS_PER_FETCH = 2_000;

/** How much of the result's start is hashed for the journal: as a file's first 64 KiB are (src/report/journal.ts). */
export const SQL_HEAD_HASH_BYTES = 64 * 1024;

/** Seconds to wait for the server to accept the connection before giving up with a one-line error. */
export const CONNECT_TIMEOUT_SECONDS = 30;

/** The rows of a query, streamed through a server-side cursor. */
export interface SqlRowSource extends BatchedRowSource {
  /** The result's column names, in order (known once opened). */
  readonly fieldNames: readonly string[];
  /** sha256 of the first SQL_HEAD_HASH_BYTES of rows (names and values) and how many rows that covers; only when asked for at open. */
  readonly head: { rows: number; hash: string } | undefined;
  /** Ends the connection; reading to the end or failing closes it too. Safe to call more than once. */
  close(): Promise<void>;
}

/** Options of openSqlSource. */
export interface OpenSqlOptions {
  /** The environment the PG* variables are read from. */
  env: Readonly<Record<string, string | undefined>>;
  /** Hash the result's first rows (for a journal); reads up to 64 KiB of rows ahead. */
  hashHead?: boolean;
  rowsPerFetch?: number;
}

/** Every type comes back as the text PostgreSQL prints: bigint ids must never pass through a JavaScript number. */
const AS_TEXT: CustomTypesConfig = { getTypeParser: () => (value: string) => value };

type RawRow = (string | null)[];

/**
 * Connects, runs the query in a read-only transaction through a cursor and reads its first rows, so that
 * connection, authentication and SQL errors all surface here, before anything is sent. Errors are one line
 * and never hold the password. pg is loaded only now (start-up time of every other run stays the same).
 */
export async function openSqlSource(spec: SqlSpec, options: OpenSqlOptions): Promise<SqlRowSource> {
  const target = describeTarget(spec, options.env);
  const [{ default: pg }, { default: CursorClass }] = await Promise.all([import("pg"), import("pg-cursor")]);
  const client: Client = new pg.Client(clientConfig(spec, options.env));
  // Without a listener, a connection dropped between reads would crash the process; the read reports it.
  client.on("error", () => undefined);
  let ended = false;
  const close = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    await client.end().catch(() => undefined);
  };
  try {
    await client.connect();
  } catch (error) {
    await close();
    throw connectError(target, error, spec.url === undefined);
  }
  let cursor: Cursor<RawRow>;
  let first: { rows: RawRow[]; result: QueryResult | undefined };
  const perFetch = options.rowsPerFetch ?? ROWS_PER_FETCH;
  try {
    // Read-only: a query that writes is refused by the server instead of run.
    await client.query("BEGIN TRANSACTION READ ONLY");
    cursor = client.query(new CursorClass<RawRow>(spec.query, undefined, { rowMode: "array", types: AS_TEXT }));
    first = await readWithResult(cursor, perFetch);
  } catch (error) {
    await close();
    throw queryError(spec, target, error);
  }
  const fieldNames = (first.result?.fields ?? []).map((f) => f.name);
  const problem = fieldsProblem(fieldNames);
  if (problem !== undefined) {
    await close();
    throw new InputError({ file: spec.queryName }, problem);
  }
  const keep = fieldNames.map((name) => name !== ERROR_COLUMN);

  let rowsRead = 0;
  let bytes = 0;
  const toRows = (raw: RawRow[]): Row[] => {
    const rows: Row[] = new Array<Row>(raw.length);
    for (let r = 0; r < raw.length; r++) {
      const values = raw[r] as RawRow;
      const fields: Record<string, unknown> = {};
      for (let c = 0; c < fieldNames.length; c++) {
        if (!keep[c]) continue;
        // NULL is an empty cell, as in a CSV export.
        const value = values[c] ?? "";
        bytes += value.length + 1;
        fields[fieldNames[c] as string] = value;
      }
      // A row's identity and its name in messages are both its 1-based position in the result.
      rowsRead++;
      rows[r] = { index: rowsRead, line: rowsRead, fields };
    }
    return rows;
  };

  // Batches read ahead of the consumer: the first, and with hashHead the rest of the first 64 KiB.
  const ahead: RawRow[][] = [first.rows];
  let exhausted = first.rows.length < perFetch;
  let head: SqlRowSource["head"];
  const nextRaw = async (): Promise<RawRow[]> => {
    try {
      const rows = await cursor.read(perFetch);
      if (rows.length < perFetch) exhausted = true;
      return rows;
    } catch (error) {
      await close();
      throw readError(error, rowsRead + ahead.reduce((n, b) => n + b.length, 0) + 1);
    }
  };
  if (options.hashHead === true) {
    const hash = createHash("sha256").update(JSON.stringify(fieldNames) + "\n");
    let hashed = 0;
    let rowsHashed = 0;
    let batch = 0;
    for (;;) {
      const rows = ahead[batch] as RawRow[];
      for (const row of rows) {
        if (hashed >= SQL_HEAD_HASH_BYTES) break;
        const text = JSON.stringify(row) + "\n";
        hash.update(text);
        hashed += Buffer.byteLength(text);
        rowsHashed++;
      }
      if (hashed >= SQL_HEAD_HASH_BYTES || exhausted) break;
      ahead.push(await nextRaw());
      batch++;
    }
    head = { rows: rowsHashed, hash: hash.digest("hex") };
  }

  let opened = false;
  const source: SqlRowSource = {
    displayName: SQL_DISPLAY_NAME,
    // Rows are named cells of text, as a CSV with a header: mapping, "" as an empty cell and the failures file all follow.
    format: "csv",
    headerless: false,
    totalBytes: undefined,
    fieldNames,
    head,
    columns: () => fieldNames.filter((_, i) => keep[i]),
    bytesRead: () => bytes,
    close,
    rowBatches(): AsyncIterable<Row[]> {
      if (opened) throw new Error("the rows of a query can be read only once");
      opened = true;
      return (async function* (): AsyncGenerator<Row[]> {
        try {
          while (ahead.length > 0) {
            const rows = ahead.shift() as RawRow[];
            if (rows.length > 0) yield toRows(rows);
          }
          while (!exhausted) {
            const rows = await nextRaw();
            if (rows.length > 0) yield toRows(rows);
          }
        } finally {
          await close();
        }
      })();
    },
    async *rows(): AsyncGenerator<Row> {
      for await (const batch of source.rowBatches()) for (const row of batch) yield row;
    },
  };
  return source;
}

/** A cursor read that also hands over the result (whose fields name the columns, even of an empty result). */
function readWithResult(cursor: Cursor<RawRow>, n: number): Promise<{ rows: RawRow[]; result: QueryResult | undefined }> {
  return new Promise((resolve, reject) => {
    cursor.read(n, (error, rows, result) => (error !== undefined && error !== null ? reject(error) : resolve({ rows, result })));
  });
}

/** Why a result cannot be read as rows of named columns; undefined when it can. */
function fieldsProblem(names: readonly string[]): string | undefined {
  if (names.length === 0) return "the query returns no columns: give a SELECT (or another statement that returns rows)";
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) return `the result has two columns named ${JSON.stringify(name)}: give one another name with AS`;
    seen.add(name);
  }
  return undefined;
}

/** pg's configuration: the URL when there is one, over the PG* variables of the given environment. */
function clientConfig(spec: SqlSpec, env: Readonly<Record<string, string | undefined>>): ClientConfig {
  const config: ClientConfig = {
    types: AS_TEXT,
    application_name: "cio-rel",
    connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
    // A server that vanishes while the pipeline is busy sending is noticed by the next fetch, not never.
    keepAlive: true,
  };
  const set = <K extends "host" | "user" | "password" | "database">(key: K, value: string | undefined): void => {
    if (value !== undefined && value !== "") config[key] = value;
  };
  set("host", env.PGHOST);
  set("user", env.PGUSER);
  set("password", env.PGPASSWORD);
  set("database", env.PGDATABASE);
  if (env.PGPORT !== undefined && /^[0-9]+$/.test(env.PGPORT)) config.port = Number(env.PGPORT);
  if (spec.url !== undefined) config.connectionString = spec.url;
  return config;
}

/** The server as messages name it: the URL with its password masked, else host:port/database from PG*. */
function describeTarget(spec: SqlSpec, env: Readonly<Record<string, string | undefined>>): string {
  if (spec.url !== undefined) return maskDbUrl(spec.url);
  const host = env.PGHOST ?? "localhost";
  return `${host}:${env.PGPORT ?? "5432"}/${env.PGDATABASE ?? env.PGUSER ?? "(default database)"}`;
}

function isDatabaseError(error: unknown): error is DatabaseError & { code: string } {
  return error instanceof Error && typeof (error as Partial<DatabaseError>).code === "string" && "severity" in error;
}

/** The message of any error as one line. */
function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused (is the server running and listening there?)",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name could not be resolved",
  ETIMEDOUT: "the connection timed out",
  EHOSTUNREACH: "the host is unreachable",
  ENETUNREACH: "the network is unreachable",
  ECONNRESET: "the server closed the connection",
  ENOENT: "no server socket there (is the server running?)",
};

/** A failed connect as one line naming the server (password masked) and what went wrong. */
function connectError(target: string, error: unknown, noUrl: boolean): CioRelError {
  const hint = noUrl ? " (give the database with --db or DATABASE_URL, or the PG* variables)" : "";
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  let reason: string;
  if (isDatabaseError(error) && error.code.startsWith("28")) reason = `authentication failed: ${oneLine(error)}`;
  else if (isDatabaseError(error)) reason = `${oneLine(error)} (SQLSTATE ${error.code})`;
  else if (code !== undefined && NETWORK_REASONS[code] !== undefined) reason = NETWORK_REASONS[code];
  else if (/password must be a string|no password/i.test(oneLine(error))) {
    reason = "the server asks for a password and none was given: put it in DATABASE_URL, PGPASSWORD or ~/.pgpass";
  } else if (/timeout/i.test(oneLine(error))) reason = `no answer within ${CONNECT_TIMEOUT_SECONDS} s`;
  else reason = oneLine(error);
  return new UsageError(`cannot connect to ${target}: ${reason}${hint}`, { cause: error, help: false });
}

/** An error of the query's first read: a SQL error at its place in the query text, else a connection problem. */
function queryError(spec: SqlSpec, target: string, error: unknown): CioRelError {
  if (isDatabaseError(error)) {
    const position = Number(error.position);
    const where = Number.isInteger(position) && position > 0 ? positionToLineColumn(spec.query, position) : undefined;
    const location = where !== undefined ? { file: spec.queryName, line: where.line, column: where.column } : { file: spec.queryName };
    return new InputError(location, `${oneLine(error)} (SQLSTATE ${error.code})`, { cause: error });
  }
  return new UsageError(`reading from ${target} failed: ${oneLine(error)}`, { cause: error, help: false });
}

/** An error while streaming: the row it stopped at, like a file malformed part-way (the pipeline's input-error halt). */
function readError(error: unknown, row: number): InputError {
  // 57P: the server shut the session down (admin command, crash, shutdown); 08: a connection exception.
  const lost = !isDatabaseError(error) || error.code.startsWith("57P") || error.code.startsWith("08");
  const text = isDatabaseError(error) ? `${oneLine(error)} (SQLSTATE ${error.code})` : oneLine(error);
  const what = lost ? `the connection to the database was lost: ${text}` : text;
  return new InputError({ file: SQL_DISPLAY_NAME, line: row }, `cannot read: ${what}`, { cause: error });
}
