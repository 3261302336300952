// Pure helpers for --sql (issue 17): the query text and the database URL. No pg import here, so that
// main.ts can use the URL helpers without loading the driver.

/** How messages name the rows of a SQL result: `sql:17` is the 17th row (1-based) of the result. */
export const SQL_DISPLAY_NAME = "sql";

/** The URL schemes `--db` / DATABASE_URL accept, as libpq and pg do. */
export const DB_URL_SCHEMES: readonly string[] = ["postgres:", "postgresql:"];

/**
 * The query with comments, string literals, quoted identifiers and dollar-quoted bodies blanked out (each
 * character replaced by a space, line breaks kept), so that keyword searches see only SQL structure and
 * positions still line up with the original text.
 */
export function blankQuoted(sql: string): string {
  const out = sql.split("");
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== "\n") out[k] = " ";
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      const stop = end === -1 ? sql.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      let k = i + 2;
      while (k < sql.length && depth > 0) {
        if (sql[k] === "/" && sql[k + 1] === "*") {
          depth++;
          k += 2;
        } else if (sql[k] === "*" && sql[k + 1] === "/") {
          depth--;
          k += 2;
        } else k++;
      }
      blank(i, k);
      i = k;
    } else if (c === "'" || c === '"') {
      // E'...' strings take backslash escapes; '' and "" are the quote itself.
      const escapes = c === "'" && i > 0 && /[eE]/.test(sql[i - 1] ?? "") && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? "");
      let k = i + 1;
      while (k < sql.length) {
        if (escapes && sql[k] === "\\") k += 2;
        else if (sql[k] === c && sql[k + 1] === c) k += 2;
        else if (sql[k] === c) break;
        else k++;
      }
      blank(i, k + 1);
      i = k + 1;
    } else if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag !== null && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? "")) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end === -1 ? sql.length : end + tag[0].length;
        blank(i, stop);
        i = stop;
      } else i++;
    } else i++;
  }
  return out.join("");
}

/**
 * Whether the query's outermost statement sorts its rows: an ORDER BY outside every parenthesis (so not one
 * in a subquery, a CTE body or a window's OVER clause), comments and quoted text ignored. A resumed run must
 * read the same rows in the same order, and only a top-level ORDER BY promises an order.
 */
export function hasTopLevelOrderBy(sql: string): boolean {
  const text = blankQuoted(sql);
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (depth === 0 && (c === "o" || c === "O") && !/[A-Za-z0-9_$]/.test(text[i - 1] ?? "")) {
      if (/^order\s+by(?![A-Za-z0-9_$])/i.test(text.slice(i, i + 64))) return true;
    }
  }
  return false;
}

/** A 1-based character position in the query (as PostgreSQL reports it) as 1-based line and column. */
export function positionToLineColumn(sql: string, position: number): { line: number; column: number } {
  const chars = Array.from(sql)
    .slice(0, Math.max(0, position - 1))
    .join("");
  const lines = chars.split("\n");
  return { line: lines.length, column: (lines[lines.length - 1] ?? "").length + 1 };
}

/** The password a postgres URL carries, in its user info or as a `password` parameter; undefined if none. */
export function urlPassword(url: string): string | undefined {
  const parsed = parseDbUrl(url);
  if (parsed === undefined) return undefined;
  const inline = parsed.password !== "" ? safeDecode(parsed.password) : undefined;
  return inline ?? parsed.searchParams.get("password") ?? undefined;
}

/** The URL for messages: the password (user info or parameter) replaced by ***; anything unparsable is hidden whole. */
export function maskDbUrl(url: string): string {
  const parsed = parseDbUrl(url);
  if (parsed === undefined) return "(the database URL)";
  if (parsed.password !== "") parsed.password = "***";
  if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***");
  return parsed.toString().replace("password=%2A%2A%2A", "password=***");
}

/** Whether the text is a postgres:// or postgresql:// URL. */
export function isDbUrl(url: string): boolean {
  return parseDbUrl(url) !== undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function parseDbUrl(url: string): URL | undefined {
  try {
    const parsed = new URL(url);
    return DB_URL_SCHEMES.includes(parsed.protocol) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Every form in which a database password could show up in a message, for main.ts's redactor. */
export function dbSecrets(env: Readonly<Record<string, string | undefined>>, dbFlag: string | undefined): string[] {
  const out: string[] = [];
  for (const url of [env.DATABASE_URL, dbFlag]) {
    const password = url !== undefined ? urlPassword(url) : undefined;
    if (password !== undefined) out.push(password, encodeURIComponent(password));
  }
  if (env.PGPASSWORD !== undefined) out.push(env.PGPASSWORD);
  return out;
}
