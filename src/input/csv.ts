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

/** readCsv's rows as blocks of cells, one per input chunk that completes a row (issue 16: no object per row). */
export async function* readCsvBlocks(chunks: AsyncIterable<Buffer>, options: CsvOptions): AsyncGenerator<RowBlock> {
  const file = options.displayName;
  let parser: CsvParser | undefined;
  let keys: (string | undefined)[] | undefined; // per column: the field name, or undefined to drop it
  let view: Row | undefined; // the Row every block lends (RowBlock.view)
  let block: CsvBlock | undefined;
  let index = 0;

  const take = (record: string[], count: number, line: number): void => {
    if (record[0] === "" && allEmpty(record, count)) return;
    if (!options.header) {
      keys ??= [IDENTIFIER_COLUMN];
      view ??= { index: 0, line: 0, fields: { [IDENTIFIER_COLUMN]: "" } };
      (block ??= new CsvBlock(keys, view, index + 1)).push(record, 1, line);
      index++;
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
    view ??= { index: 0, line: 0, fields: fieldsOf(keys, record, 0) };
    (block ??= new CsvBlock(keys, view, index + 1)).push(record, count, line);
    index++;
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
    if (block !== undefined) {
      yield block;
      block = undefined;
    }
  }
  if (pending !== undefined && pending !== "") {
    delimiter = sniffed(pending, delimiter, options.onSniffed);
    parser ??= new CsvParser(file, delimiter, info);
    parser.feed(pending, take);
  }
  parser?.end(take);
  if (block !== undefined) yield block;
}

/**
 * A fields object of a record: keys in header order, so that every row's object has one shape. Cells come from
 * `cells` at `at` on; a dropped column (undefined key) is skipped.
 */
function fieldsOf(keys: readonly (string | undefined)[], cells: readonly string[], at: number): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (key !== undefined) fields[key] = cells[at + i];
  }
  return fields;
}

/** A chunk's rows as their cells: `width` cells per row, row after row, with each row's line. */
class CsvBlock implements RowBlock {
  readonly #keys: readonly (string | undefined)[];
  readonly #width: number;
  readonly #view: Row;
  readonly #first: number;
  readonly #cells: string[] = [];
  readonly #lines: number[] = [];

  /** `first`: the index of the block's first row. */
  constructor(keys: readonly (string | undefined)[], view: Row, first: number) {
    this.#keys = keys;
    this.#width = keys.length;
    this.#view = view;
    this.#first = first;
  }

  get length(): number {
    return this.#lines.length;
  }

  /** Appends a record: its first `width` fields (`count` of them; a headerless row keeps its first). */
  push(record: readonly string[], count: number, line: number): void {
    const cells = this.#cells;
    for (let i = 0; i < count; i++) cells.push(record[i] as string);
    this.#lines.push(line);
  }

  view(i: number): Row {
    const v = this.#view;
    v.index = this.#first + i;
    v.line = this.#lines[i] as number;
    // The same keys in the same order as fieldsOf made them: the object keeps its shape.
    const fields = v.fields;
    const keys = this.#keys;
    const cells = this.#cells;
    const at = i * this.#width;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k];
      if (key !== undefined) fields[key] = cells[at + k];
    }
    return v;
  }

  row(i: number): Row {
    return { index: this.#first + i, line: this.#lines[i] as number, fields: fieldsOf(this.#keys, this.#cells, i * this.#width) };
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
