import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InputError } from "../errors.js";
import type { Format } from "./types.js";

// Compressed and binary input (issue 10): gzip is read transparently; anything else that is not text is
// refused before a row is read, naming what it probably is, instead of being parsed into rubbish rows.

/** How much of the start of an input is looked at for signs of a binary file (git looks at 8,000 bytes). */
export const SNIFF_BYTES = 8 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b];

/** Known signatures of files that are not text, and what to tell the user about each. */
const SIGNATURES: readonly { magic: readonly number[]; what: string }[] = [
  { magic: [0x50, 0x4b, 0x03, 0x04], what: "a zip archive (an Excel .xlsx workbook is one too): unzip it, or save the sheet as CSV" },
  { magic: [0x50, 0x4b, 0x05, 0x06], what: "an empty zip archive" },
  { magic: [0x42, 0x5a, 0x68], what: "bzip2-compressed: decompress it first (cio-rel reads gzip itself, nothing else)" },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: "xz-compressed: decompress it first (cio-rel reads gzip itself, nothing else)" },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], what: "zstd-compressed: decompress it first (cio-rel reads gzip itself, nothing else)" },
  { magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: "a 7-Zip archive: extract it first" },
  { magic: [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], what: "an old Office file (an Excel .xls?), not text: save the sheet as CSV" },
  { magic: [0x25, 0x50, 0x44, 0x46, 0x2d], what: "a PDF, not text" },
  { magic: [0x50, 0x41, 0x52, 0x31], what: "a Parquet file, not text: export it as CSV or NDJSON" },
];

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic[i]) return false;
  return true;
}

/**
 * Reads up to `want` bytes ahead; returns them with an iterator over all the chunks, those read first included.
 * The chunks are passed on unchanged.
 */
async function peek(chunks: AsyncIterable<Buffer>, want: number): Promise<{ head: Buffer; all: AsyncGenerator<Buffer> }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < want) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    seen.push(next.value);
    length += next.value.length;
  }
  async function* all(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      if (ended) return;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return?.();
    }
  }
  return { head: seen.length === 1 ? (seen[0] as Buffer) : Buffer.concat(seen), all: all() };
}

/** The chunks, gunzipped when they start with gzip's magic bytes (1f 8b); others pass unchanged. */
export async function* gunzipIfCompressed(chunks: AsyncIterable<Buffer>, file: string): AsyncGenerator<Buffer> {
  const { head, all } = await peek(chunks, GZIP_MAGIC.length);
  if (!startsWith(head, GZIP_MAGIC)) {
    yield* all;
    return;
  }
  const gunzip = createGunzip();
  const input = Readable.from(all);
  input.on("error", (error) => gunzip.destroy(error));
  input.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    if (error instanceof InputError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new InputError({ file }, `cannot decompress (gzip): ${reason} (the file is damaged or was cut short)`, { cause: error });
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}

/** What binaryCheck needs to know about the input. */
export interface BinaryCheckOptions {
  file: string;
  format: Format;
  /** --encoding, when given: UTF-16 input is full of NUL bytes by nature. */
  encoding: string | undefined;
}

/**
 * The chunks, once their start has been checked for a binary file: a known signature (zip, bzip2, xz, ...),
 * UTF-16 text without a byte-order mark, or a NUL byte. Each is an InputError naming the likely cause.
 */
export async function* binaryCheck(chunks: AsyncIterable<Buffer>, options: BinaryCheckOptions): AsyncGenerator<Buffer> {
  const { head, all } = await peek(chunks, SNIFF_BYTES);
  const problem = binaryProblem(head.subarray(0, SNIFF_BYTES), options);
  if (problem !== undefined) {
    await all.return(undefined);
    throw new InputError({ file: options.file, ...(problem.line !== undefined ? { line: problem.line } : {}) }, problem.message);
  }
  yield* all;
}

/** Why the first bytes of an input say it is not text of its format, or undefined. Pure, for tests. */
export function binaryProblem(head: Uint8Array, options: Omit<BinaryCheckOptions, "file">): { message: string; line?: number } | undefined {
  for (const { magic, what } of SIGNATURES) if (startsWith(head, magic)) return { message: `this is ${what}` };
  const utf16 = (options.encoding ?? "").startsWith("utf-16") || startsWith(head, [0xff, 0xfe]) || startsWith(head, [0xfe, 0xff]);
  if (utf16) return undefined;
  let even = 0;
  let odd = 0;
  let first = -1;
  for (let i = 0; i < head.length; i++) {
    if (head[i] !== 0) continue;
    if (first === -1) first = i;
    if (i % 2 === 0) even++;
    else odd++;
  }
  if (first === -1) return undefined;
  // ASCII text in UTF-16 has a NUL in every other byte: odd positions for little-endian, even for big-endian.
  const units = Math.floor(head.length / 2);
  if (options.encoding === undefined && units >= 2 && Math.max(even, odd) >= units / 2 && Math.min(even, odd) <= units / 20) {
    const endian = odd > even ? "utf-16le" : "utf-16be";
    return { message: `this looks like ${endian.toUpperCase()} text without a byte-order mark: pass --encoding ${endian}` };
  }
  let line = 1;
  for (let i = 0; i < first; i++) {
    const b = head[i];
    if (b === 0x0a || (b === 0x0d && head[i + 1] !== 0x0a)) line++;
  }
  return {
    line,
    message: `a NUL byte (at byte ${first + 1}): this looks like a binary file, not ${options.format} text; if it is text in UTF-16 or another wide encoding, name it with --encoding`,
  };
}
