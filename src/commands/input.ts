import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError, UsageError } from "../errors.js";
import { openRowSource, type OpenOptions } from "../input/open.js";
import { openSqlSource, type SqlRowSource, type SqlSpec } from "../input/sql/source.js";
import { isDbUrl, SQL_DISPLAY_NAME } from "../input/sql/text.js";
import type { RowSource } from "../input/types.js";
import { ColumnError, createMapper } from "../model/mapping.js";
import type { CommandContext } from "./context.js";
import type { InputOptions, SqlOptions } from "./options.js";

/** The input of a command: a file (or stdin), or a --sql query; opened as a RowSource any command can read. */
export interface PreparedInput {
  /** The query and database, for a --sql input (read from --sql-file and DATABASE_URL by now). */
  sql?: SqlSpec;
  /** Opens the rows; each call starts a new read. `hashHead` (SQL only) hashes the result's first rows for a journal. */
  open(o?: { hashHead?: boolean }): Promise<RowSource>;
}

/**
 * Resolves what can be checked before connecting or reading (the --sql-file text, the URL), and how to open the
 * rows. Every command that reads rows calls this with its parsed InputOptions, so a new command that takes
 * --file (with addMappingOptions in cli.ts) takes --sql, --sql-file and --db with no code of its own.
 */
export async function prepareInput(ctx: CommandContext, input: InputOptions, file: Pick<OpenOptions, "onNote"> = {}): Promise<PreparedInput> {
  if (input.sql !== undefined) {
    const sql = await sqlSpec(ctx, input.sql);
    return { sql, open: (o = {}) => openSql(ctx, input, sql, o.hashHead === true) };
  }
  return {
    open: () =>
      openRowSource(input.path, {
        cwd: ctx.cwd,
        ...(input.format !== undefined ? { format: input.format } : {}),
        ...(input.delimiter !== undefined ? { delimiter: input.delimiter } : {}),
        ...(input.encoding !== undefined ? { encoding: input.encoding } : {}),
        header: input.header,
        stdin: ctx.stdin,
        ...file,
      }),
  };
}

/** Ends what a source holds open (a database connection); a file source has nothing to close. */
export async function closeInput(source: RowSource | undefined): Promise<void> {
  await (source as Partial<SqlRowSource> | undefined)?.close?.();
}

/** The query text and the URL: --db, else DATABASE_URL, else nothing (pg then uses the PG* variables). */
async function sqlSpec(ctx: CommandContext, o: SqlOptions): Promise<SqlSpec> {
  let query: string;
  let queryName: string;
  if ("text" in o.query) {
    query = o.query.text;
    queryName = "--sql";
  } else {
    queryName = o.query.file;
    try {
      query = await readFile(resolve(ctx.cwd, o.query.file), "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new InputError(
        { file: queryName },
        `cannot read: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (error as Error).message}`,
        { cause: error },
      );
    }
    if (query.trim() === "") throw new InputError({ file: queryName }, "the query file is empty");
  }
  const url = o.db ?? (ctx.env.DATABASE_URL !== "" ? ctx.env.DATABASE_URL : undefined);
  if (url !== undefined && !isDbUrl(url)) {
    // Never echoed: the value may hold a password.
    throw new UsageError(`${o.db !== undefined ? "--db" : "DATABASE_URL"} must be a postgres:// or postgresql:// URL`);
  }
  return { query, queryName, ...(url !== undefined ? { url } : {}) };
}

/**
 * Opens the query and checks the result's columns against the mapping flags before any row is used, so a
 * missing column is one line, exit 2, even for an empty result.
 */
async function openSql(ctx: CommandContext, input: InputOptions, spec: SqlSpec, hashHead: boolean): Promise<SqlRowSource> {
  const source = await openSqlSource(spec, { env: ctx.env, hashHead });
  try {
    createMapper(input, { headerless: false, names: source.columns() });
  } catch (error) {
    await source.close();
    if (error instanceof ColumnError) throw new InputError({ file: SQL_DISPLAY_NAME }, error.message, { cause: error });
    throw error;
  }
  return source;
}
