import { InputError } from "../errors.js";
import { IDENTIFIER_COLUMN, type Row } from "./types.js";

/**
 * The longest record (CSV record, JSON element, line) a reader holds, in bytes or characters. Customer.io caps
 * a relationship's attributes at 100 KB and an operation at 32,000 bytes, so no usable record comes near it;
 * the cap stops a broken file (an unclosed quote) from being read into memory whole.
 */
export const MAX_RECORD_SIZE = 1 << 20;

/** Decodes UTF-8 chunks to text; characters split across chunks survive and a leading BOM is dropped. */
export async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true });
    if (text !== "") yield text;
  }
  const rest = decoder.decode();
  if (rest !== "") yield rest;
}

/**
 * Splits UTF-8 chunks into physical lines (without "\n" or "\r\n") and maps each, with its 1-based number,
 * through `take`; yields the rows `take` returns, one batch per chunk.
 */
export async function* mapLines(
  chunks: AsyncIterable<Uint8Array>,
  file: string,
  take: (text: string, line: number) => Row | undefined,
): AsyncGenerator<Row[]> {
  let carry = "";
  let line = 0;
  for await (const text of decodeUtf8(chunks)) {
    const batch: Row[] = [];
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      let piece = text.slice(start, nl);
      if (carry !== "") {
        piece = checked(carry + piece, file, line + 1);
        carry = "";
      }
      start = nl + 1;
      const row = take(withoutCr(piece), ++line);
      if (row !== undefined) batch.push(row);
    }
    carry = checked(carry + text.slice(start), file, line + 1);
    if (batch.length > 0) yield batch;
  }
  if (carry !== "") {
    const row = take(withoutCr(carry), ++line);
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

function withoutCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}

/**
 * The `lines` format: every non-blank line is one identifier, trimmed. A TAB and what follows it is ignored,
 * so a failures file written as `value<TAB>error` reads straight back in.
 */
export function readLines(chunks: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<Row[]> {
  return mapLines(chunks, file, (text, line) => {
    const tab = text.indexOf("\t");
    const value = (tab === -1 ? text : text.slice(0, tab)).trim();
    return value === "" ? undefined : { line, fields: { [IDENTIFIER_COLUMN]: value } };
  });
}
