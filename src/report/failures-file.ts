import { ERROR_COLUMN, IDENTIFIER_COLUMN, JsonNumber, type Format, type Row } from "../input/types.js";
import type { OpenOutput } from "./outputs.js";
import { TextSink } from "./sink.js";

/** What the failures file copies from the input so that it reads back with the same flags (issue 4). */
export interface FailuresLayout {
  format: Format;
  /** Headerless CSV/TSV and `lines`: each row carries only fields[IDENTIFIER_COLUMN]. */
  headerless: boolean;
  /**
   * CSV/TSV with header: the header's names (readers never include ERROR_COLUMN). A function when they are
   * only known once the input's first row has been read; when it yields nothing, the first row's keys are used.
   */
  columns?: readonly string[] | (() => readonly string[] | undefined) | undefined;
  /** CSV/TSV field delimiter; defaults to "," for csv and TAB for tsv. A function when it is sniffed from the header. */
  delimiter?: string | undefined | (() => string | undefined);
}

/** One CSV field, quoted only when it must be: it holds the delimiter, a quote, CR or LF (RFC 4180, quotes doubled). */
export function csvField(value: string, delimiter: string): string {
  const mustQuote = value.includes(delimiter) || value.includes('"') || value.includes("\n") || value.includes("\r");
  return mustQuote ? `"${value.replaceAll('"', '""')}"` : value;
}

/** A CSV cell from a row value; CSV readers give strings, anything else is written as text. */
function cellText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (value instanceof JsonNumber) return value.text;
  return typeof value === "string" ? value : jsonText(value);
}

/**
 * JSON text of row fields, with JsonNumbers written as the file wrote them (12345678901234567890, not a rounded
 * double), so that a failures file fed back in holds the same values. Readers cap nesting, so this cannot recurse
 * deeply; a row they could not nest (`raw`) never comes here.
 */
export function jsonText(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const fields = value as Record<string, unknown>;
  let numbers = false;
  for (const key in fields) if (fields[key] instanceof JsonNumber) numbers = true;
  return numbers ? withNumbers(fields) : JSON.stringify(fields);
}

function withNumbers(v: unknown): string {
  if (v instanceof JsonNumber) return v.text;
  if (Array.isArray(v)) return `[${v.map((x: unknown) => (x === undefined ? "null" : withNumbers(x))).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) if (x !== undefined) parts.push(`${JSON.stringify(k)}:${withNumbers(x)}`);
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * Neutralises spreadsheet formula injection in text cio-rel writes into a cell (issue 10): a server message
 * starting with =, +, -, @, TAB or CR would run as a formula when the CSV is opened; a leading ' keeps it text.
 */
export function safeCellText(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** A JSON object's text with one more key appended before its closing brace (the raw text of a row). */
function withKey(objectText: string, key: string, value: string): string {
  const body = objectText.trimEnd().replace(/}$/, "");
  const empty = /^\{\s*$/.test(body);
  return `${body}${empty ? "" : ","}${JSON.stringify(key)}:${JSON.stringify(value)}}`;
}

/** `--failures <file>`: every failed, invalid, skipped and unconfirmed row in the input's own format, plus its error. */
export class FailuresFile {
  private written = 0;
  private header: readonly string[] | undefined;
  private delimiterCache: string | undefined;

  private constructor(
    private readonly sink: TextSink,
    private readonly layout: FailuresLayout,
  ) {}

  /** The delimiter, asked for only once rows (or the header) are written, when the input has been read. */
  private get delimiter(): string {
    if (this.delimiterCache !== undefined) return this.delimiterCache;
    const given = typeof this.layout.delimiter === "function" ? this.layout.delimiter() : this.layout.delimiter;
    this.delimiterCache = given ?? (this.layout.format === "tsv" ? "\t" : ",");
    return this.delimiterCache;
  }

  /** Creates (or truncates) the failures file. */
  static async open(path: string, layout: FailuresLayout, opener?: OpenOutput): Promise<FailuresFile> {
    return new FailuresFile(await TextSink.create(path, opener), layout);
  }

  /** The file's path. */
  get path(): string {
    return this.sink.path;
  }

  /** Rows written so far. */
  get count(): number {
    return this.written;
  }

  /** Appends one row with its error text; await it for back-pressure. */
  write(row: Row, error: string): Promise<void> {
    const text = this.render(row, error);
    this.written++;
    return this.sink.write(text);
  }

  /** Finishes the file (CSV header or closing `]` even with no rows), then flushes, fsyncs and closes. */
  async close(): Promise<void> {
    let tail = "";
    if (this.isCsvWithHeader() && this.written === 0) {
      const columns = this.layoutColumns();
      if (columns) tail = this.headerLine(columns);
    } else if (this.layout.format === "json") {
      tail = this.written === 0 ? "[]\n" : "\n]\n";
    }
    if (tail) await this.sink.write(tail);
    await this.sink.close();
  }

  private isCsvWithHeader(): boolean {
    return (this.layout.format === "csv" || this.layout.format === "tsv") && !this.layout.headerless;
  }

  private layoutColumns(): readonly string[] | undefined {
    const { columns } = this.layout;
    return typeof columns === "function" ? columns() : columns;
  }

  private headerLine(columns: readonly string[]): string {
    return [...columns, ERROR_COLUMN].map((c) => csvField(c, this.delimiter)).join(this.delimiter) + "\n";
  }

  private render(row: Row, error: string): string {
    const { format } = this.layout;
    if (format === "json" || format === "ndjson") {
      // A row the reader could not nest is copied as it was read.
      const json = row.raw !== undefined ? withKey(row.raw, ERROR_COLUMN, error) : jsonText({ ...row.fields, [ERROR_COLUMN]: error });
      if (format === "ndjson") return json + "\n";
      // A streamed array: "[" before the first element, ",\n" between, "]" on close.
      return (this.written === 0 ? "[\n" : ",\n") + json;
    }
    const identifier = cellText(row.fields[IDENTIFIER_COLUMN]);
    if (format === "lines") {
      // The lines reader ignores everything after a TAB; the error must stay on its own line.
      return `${identifier}\t${error.replace(/[\t\r\n]+/g, " ")}\n`;
    }
    // The error column is cio-rel's (or the server's) text: neutralised. Identifier cells stay byte-exact.
    const errorCell = safeCellText(error);
    if (this.layout.headerless) {
      return [identifier, errorCell].map((v) => csvField(v, this.delimiter)).join(this.delimiter) + "\n";
    }
    let prefix = "";
    if (this.header === undefined) {
      this.header = this.layoutColumns() ?? Object.keys(row.fields);
      prefix = this.headerLine(this.header);
    }
    const cells = this.header.map((column) => csvField(cellText(row.fields[column]), this.delimiter));
    cells.push(csvField(errorCell, this.delimiter));
    return prefix + cells.join(this.delimiter) + "\n";
  }
}
