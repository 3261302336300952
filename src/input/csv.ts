import { InputError } from "../errors.js";
import { CsvParser } from "./csv-parser.js";
import { decodeText, type DecodeInfo } from "./decode.js";
import { ERROR_COLUMN, IDENTIFIER_COLUMN, type Row, type RowBlock } from "./types.js";

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
  for await (const block of readCsvBlocks(chunks, options)) {
    const rows: Row[] = [];
    for (let i = 0; i < block.length; i++) rows.push(block.row(i));
    yield rows;
  }
}

/**
 * readCsv's rows as blocks of cells, one per input chunk that completes a row (issue 16: no object per row). One
 * block is refilled for every chunk: a block is valid until the next one is asked for.
 */
export async function* readCsvBlocks(chunks: AsyncIterable<Buffer>, options: CsvOptions): AsyncGenerator<RowBlock> {
  const file = options.displayName;
  let parser: CsvParser | undefined;
  let keys: (string | undefined)[] | undefined; // per column: the field name, or undefined to drop it
  let block: CsvBlock | undefined;
  let index = 0;

  const take = (record: string[], count: number, line: number): void => {
    if (record[0] === "" && allEmpty(record, count)) return;
    if (!options.header) {
      (block ??= new CsvBlock([IDENTIFIER_COLUMN])).push(record, ++index, line);
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
    (block ??= new CsvBlock(keys)).push(record, ++index, line);
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
    if (block !== undefined && block.length > 0) {
      yield block;
      block.clear();
    }
  }
  if (pending !== undefined && pending !== "") {
    delimiter = sniffed(pending, delimiter, options.onSniffed);
    parser ??= new CsvParser(file, delimiter, info);
    parser.feed(pending, take);
  }
  parser?.end(take);
  if (block !== undefined && block.length > 0) yield block;
}

/**
 * Fills a record's fields into `fields`, keys in header order (so that every row's object has one shape): cells from
 * `cells` at `at` on; a dropped column (undefined key) is skipped.
 */
function fillFields(
  fields: Record<string, unknown>,
  keys: readonly (string | undefined)[],
  cells: readonly string[],
  at: number,
): Record<string, unknown> {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key !== undefined) fields[key] = cells[at + i];
  }
  return fields;
}

/**
 * A chunk's rows as their cells: `width` cells per row, row after row, with each row's index and line. Cleared and
 * refilled chunk after chunk, so that its arrays grow once rather than for every chunk.
 */
class CsvBlock implements RowBlock {
  readonly #keys: readonly (string | undefined)[];
  readonly #width: number;
  /** The Row every view(i) refills; its fields object has the header's keys, in order, from the start. */
  readonly #view: Row;
  readonly #cells: string[] = [];
  readonly #lines: number[] = [];
  #first = 0;
  #length = 0;

  constructor(keys: readonly (string | undefined)[]) {
    this.#keys = keys;
    this.#width = keys.length;
    this.#view = { index: 0, line: 0, fields: fillFields({}, keys, [], 0) };
  }

  get length(): number {
    return this.#length;
  }

  /** Appends the record with this index (one more than the last one's): its first `width` fields. */
  push(record: readonly string[], index: number, line: number): void {
    if (this.#length === 0) this.#first = index;
    const cells = this.#cells;
    const width = this.#width;
    const at = this.#length * width;
    for (let i = 0; i < width; i++) cells[at + i] = record[i] as string;
    this.#lines[this.#length++] = line;
  }

  /** Empties the block for the next chunk (the arrays keep their room). */
  clear(): void {
    this.#length = 0;
  }

  view(i: number): Row {
    const v = this.#view;
    v.index = this.#first + i;
    v.line = this.#lines[i] as number;
    fillFields(v.fields, this.#keys, this.#cells, i * this.#width);
    return v;
  }

  row(i: number): Row {
    return { index: this.#first + i, line: this.#lines[i] as number, fields: fillFields({}, this.#keys, this.#cells, i * this.#width) };
  }
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
