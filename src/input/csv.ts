import { InputError } from "../errors.js";
import { CsvParser } from "./csv-parser.js";
import { decodeText, type DecodeInfo } from "./decode.js";
import { ERROR_COLUMN, IDENTIFIER_COLUMN, type Row } from "./types.js";

/** What the CSV/TSV reader needs besides the bytes. */
export interface CsvOptions {
  displayName: string;
  header: boolean;
  delimiter: string;
  /** --encoding: a TextDecoder label; else a BOM decides, else UTF-8. */
  encoding?: string | undefined;
  /**
   * Given when the delimiter may be sniffed (a .csv with a header and no --delimiter): called with another
   * delimiter when the header line holds no comma but exactly one of ";", TAB and "|" (issue 10).
   */
  onSniffed?: (delimiter: string) => void;
  /** Called once with the header's column names (trimmed, without ERROR_COLUMN and unnamed columns). */
  onColumns?: (names: readonly string[]) => void;
}

/**
 * CSV or TSV rows. Row.index counts data records from 1 (the header is not one); Row.line is the physical line where the record starts; blank lines and all-empty records
 * (a spreadsheet's trailing ",,") are skipped. With a header, fields are keyed by its trimmed names and a row
 * with another number of fields is an error; headerless, the first field is the identifier and the rest is ignored.
 */
export async function* readCsv(chunks: AsyncIterable<Buffer>, options: CsvOptions): AsyncGenerator<Row[]> {
  const file = options.displayName;
  let parser: CsvParser | undefined;
  let keys: (string | undefined)[] | undefined; // per column: the field name, or undefined to drop it
  let batch: Row[] = [];
  let index = 0;

  const take = (record: string[], count: number, line: number): void => {
    if (record[0] === "" && allEmpty(record, count)) return;
    if (!options.header) {
      batch.push({ index: ++index, line, fields: { [IDENTIFIER_COLUMN]: record[0] } });
      return;
    }
    if (keys === undefined) {
      keys = headerKeys(record.slice(0, count), file, line);
      options.onColumns?.(keys.filter((k) => k !== undefined));
      return;
    }
    if (count !== keys.length) {
      throw new InputError({ file, line }, `row has ${count === 1 ? "1 field" : `${count} fields`}, header has ${keys.length}`);
    }
    // Keys are added in header order, so every row shares one object shape.
    const fields: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const key = keys[i];
      if (key !== undefined) fields[key] = record[i];
    }
    batch.push({ index: ++index, line, fields });
  };

  const info: DecodeInfo = { encoding: "utf-8", utf16: false };
  let delimiter = options.delimiter;
  let pending = options.onSniffed !== undefined ? "" : undefined; // text held until the header line is complete
  for await (const decoded of decodeText(chunks, { file, encoding: options.encoding, info })) {
    let text = decoded;
    if (pending !== undefined) {
      pending += text;
      if (!/[\r\n]/.test(pending) && pending.length < SNIFF_CHARS) continue;
      [text, pending] = [pending, undefined];
      delimiter = sniffed(text, delimiter, options.onSniffed);
    }
    parser ??= new CsvParser(file, delimiter, info);
    parser.feed(text, take);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  if (pending !== undefined && pending !== "") {
    delimiter = sniffed(pending, delimiter, options.onSniffed);
    parser ??= new CsvParser(file, delimiter, info);
    parser.feed(pending, take);
  }
  parser?.end(take);
  if (batch.length > 0) yield batch;
}

/** How far the header line is looked for when sniffing; a longer header line is read as it is. */
const SNIFF_CHARS = 64 * 1024;

/** Delimiters a header without a comma may be using: semicolon (European Excel), TAB, pipe. */
const SNIFFABLE = [";", "\t", "|"];

/** The delimiter the header line suggests: `current` unless it is absent and exactly one other candidate is there. */
export function sniffDelimiter(text: string, current: string): string {
  const end = text.search(/[\r\n]/);
  const header = end === -1 ? text : text.slice(0, end);
  if (header.includes(current)) return current;
  const found = SNIFFABLE.filter((d) => header.includes(d));
  return found.length === 1 ? (found[0] as string) : current;
}

function sniffed(text: string, current: string, onSniffed: ((d: string) => void) | undefined): string {
  const d = sniffDelimiter(text, current);
  if (d !== current) onSniffed?.(d);
  return d;
}

function allEmpty(record: readonly string[], count: number): boolean {
  for (let i = 0; i < count; i++) if (record[i] !== "") return false;
  return true;
}

function headerKeys(record: readonly string[], file: string, line: number): (string | undefined)[] {
  const seen = new Set<string>();
  return record.map((raw) => {
    const name = raw.trim();
    // The failures file adds ERROR_COLUMN; an unnamed column (a trailing delimiter) cannot be addressed.
    if (name === "" || name === ERROR_COLUMN) return undefined;
    if (seen.has(name)) throw new InputError({ file, line }, `duplicate column name "${name}" in the header`);
    seen.add(name);
    return name;
  });
}
