import { TextDecoder } from "node:util";
import { InputError } from "../errors.js";
import { CsvParser } from "./csv-parser.js";
import { ERROR_COLUMN, IDENTIFIER_COLUMN, type Row } from "./types.js";

/** What the CSV/TSV reader needs besides the bytes. */
export interface CsvOptions {
  displayName: string;
  header: boolean;
  delimiter: string;
  /** Called once with the header's column names (trimmed, without ERROR_COLUMN and unnamed columns). */
  onColumns?: (names: readonly string[]) => void;
}

/**
 * CSV or TSV rows. Row.line is the physical line where the record starts; blank lines and all-empty records
 * (a spreadsheet's trailing ",,") are skipped. With a header, fields are keyed by its trimmed names and a row
 * with another number of fields is an error; headerless, the first field is the identifier and the rest is ignored.
 */
export async function* readCsv(chunks: AsyncIterable<Buffer>, options: CsvOptions): AsyncGenerator<Row[]> {
  const file = options.displayName;
  let parser: CsvParser | undefined;
  let keys: (string | undefined)[] | undefined; // per column: the field name, or undefined to drop it
  let batch: Row[] = [];

  const take = (record: string[], count: number, line: number): void => {
    if (record[0] === "" && allEmpty(record, count)) return;
    if (!options.header) {
      batch.push({ line, fields: { [IDENTIFIER_COLUMN]: record[0] } });
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
    batch.push({ line, fields });
  };

  const encoding = { utf16: false };
  for await (const text of decode(chunks, encoding)) {
    parser ??= new CsvParser(file, options.delimiter, encoding);
    parser.feed(text, take);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  parser?.end(take);
  if (batch.length > 0) yield batch;
}

function allEmpty(record: readonly string[], count: number): boolean {
  for (let i = 0; i < count; i++) if (record[i] !== "") return false;
  return true;
}

/**
 * Decodes the chunks, one string per chunk that completes a character. Like csv-parse's `bom` option, which the
 * reader used to rely on, a leading UTF-8 BOM is dropped and a UTF-16LE BOM switches to UTF-16LE (noted in
 * `encoding` before the first string); the choice waits for 3 bytes, as csv-parse's did.
 */
async function* decode(chunks: AsyncIterable<Buffer>, encoding: { utf16: boolean }): AsyncGenerator<string> {
  let decoder: TextDecoder | undefined;
  let head: Buffer | undefined;
  for await (const chunk of chunks) {
    let bytes = chunk;
    if (decoder === undefined) {
      head = head === undefined ? chunk : Buffer.concat([head, chunk]);
      if (head.length < 3) continue;
      decoder = decoderFor(head, encoding);
      [bytes, head] = [head, undefined];
    }
    const text = decoder.decode(bytes, { stream: true });
    if (text !== "") yield text;
  }
  // TextDecoder drops the BOM of its own encoding.
  const rest = decoder === undefined ? decoderFor(head ?? Buffer.alloc(0), encoding).decode(head) : decoder.decode();
  if (rest !== "") yield rest;
}

function decoderFor(head: Buffer, encoding: { utf16: boolean }): TextDecoder {
  encoding.utf16 = head.length >= 3 && head[0] === 0xff && head[1] === 0xfe;
  return new TextDecoder(encoding.utf16 ? "utf-16le" : "utf-8");
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
