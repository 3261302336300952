import { InputError } from "../errors.js";
import { decodeText, type DecodeInfo } from "./decode.js";
import { IDENTIFIER_COLUMN, type Row } from "./types.js";

/**
 * The longest record (CSV record, JSON element, line) a reader holds, in bytes or characters. Customer.io caps
 * a relationship's attributes at 100 KB and an operation at 32,000 bytes, so no usable record comes near it;
 * the cap stops a broken file (an unclosed quote) from being read into memory whole.
 */
export const MAX_RECORD_SIZE = 1 << 20;

/** How a line-based reader decodes its bytes: the file's name for messages and the --encoding, if any. */
export interface TextOptions {
  file: string;
  encoding?: string | undefined;
  info?: DecodeInfo;
}

/**
 * Splits decoded chunks into physical lines (without their line break) and maps each, with its 1-based number
 * and the index the next row gets, through `take`; yields the rows `take` returns, one batch per chunk. "\r\n", "\n" and a lone "\r" each end a
 * line, as in CSV (issue 10: a file from an old Mac export is not one long identifier).
 */
export async function* mapLines(
  chunks: AsyncIterable<Uint8Array>,
  options: TextOptions | string,
  take: (text: string, line: number, index: number) => Row | undefined,
): AsyncGenerator<Row[]> {
  const opts: TextOptions = typeof options === "string" ? { file: options } : options;
  const file = opts.file;
  let carry = "";
  let line = 0;
  let index = 1;
  let skipLf = false; // the previous chunk ended in "\r": a "\n" starting this one belongs to it
  for await (const text of decodeText(chunks, opts)) {
    const batch: Row[] = [];
    let start = 0;
    if (skipLf && text.charCodeAt(0) === 10) start = 1;
    skipLf = false;
    let nextCr = text.indexOf("\r", start);
    for (;;) {
      let nl = text.indexOf("\n", start);
      if (nextCr !== -1 && nextCr < start) nextCr = text.indexOf("\r", start);
      let width = 1;
      if (nextCr !== -1 && (nl === -1 || nextCr < nl)) {
        if (nextCr + 1 === text.length) skipLf = true;
        else if (text.charCodeAt(nextCr + 1) === 10) width = 2;
        nl = nextCr;
      }
      if (nl === -1) break;
      let piece = text.slice(start, nl);
      if (carry !== "") {
        piece = checked(carry + piece, file, line + 1);
        carry = "";
      }
      start = nl + width;
      const row = take(piece, ++line, index);
      if (row !== undefined) {
        batch.push(row);
        index++;
      }
    }
    carry = checked(carry + text.slice(start), file, line + 1);
    if (batch.length > 0) yield batch;
  }
  if (carry !== "") {
    const row = take(carry, ++line, index);
    if (row !== undefined) yield [row];
  }
}

// Only lines that span chunks can grow past a chunk's size, so only those are measured.
function checked(piece: string, file: string, line: number): string {
  if (piece.length > MAX_RECORD_SIZE) {
    throw new InputError({ file, line }, `the line is longer than ${MAX_RECORD_SIZE} characters`);
  }
  return piece;
}

/**
 * The `lines` format: every non-blank line is one identifier, trimmed. A TAB and what follows it is ignored,
 * so a failures file written as `value<TAB>error` reads straight back in.
 */
export function readLines(chunks: AsyncIterable<Uint8Array>, options: TextOptions | string): AsyncGenerator<Row[]> {
  return mapLines(chunks, options, (text, line, index) => {
    const tab = text.indexOf("\t");
    const value = (tab === -1 ? text : text.slice(0, tab)).trim();
    return value === "" ? undefined : { index, line, fields: { [IDENTIFIER_COLUMN]: value } };
  });
}
