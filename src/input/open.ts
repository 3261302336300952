import { open } from "node:fs/promises";
import { extname, resolve } from "node:path";
import { InputError, UsageError } from "../errors.js";
import { binaryCheck, gunzipIfCompressed } from "./binary.js";
import { readCsv, readCsvBlocks, type CsvOptions } from "./csv.js";
import { checkEncoding } from "./decode.js";
import { readJsonArray } from "./json.js";
import { readNdjson } from "./ndjson.js";
import { readLines } from "./text.js";
import { FORMATS, type BatchedRowSource, type Format, type Row } from "./types.js";

/** How to read an input; all optional. */
export interface OpenOptions {
  /** Overrides the format the extension implies; needed for stdin unless it starts with [ or {. */
  format?: Format;
  /** CSV/TSV: whether the first record is a header (default true). */
  header?: boolean;
  /** CSV/TSV: field delimiter (default "," for csv, TAB for tsv); the two characters \t also mean TAB. */
  delimiter?: string;
  /** What "-" reads (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** --encoding: any label TextDecoder knows (latin1, windows-1252, utf-16le, ...); default: a BOM, else UTF-8. */
  encoding?: string | undefined;
  /** Told what the reader decided on the user's behalf (a sniffed delimiter), to print as a note. */
  onNote?: (message: string) => void;
  /** The folder a relative path is read from (default the process's); messages keep the path as given. */
  cwd?: string;
}

const BY_EXTENSION: Readonly<Record<string, Format>> = {
  ".csv": "csv",
  ".tsv": "tsv",
  ".json": "json",
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
  ".txt": "lines",
};

const FORMAT_HINT = `pass --format ${FORMATS.join("|")}`;

/**
 * The most bytes the readers get at a time, which is also the most a row block holds. Measured on 1M CSV rows:
 * 64 KiB beat 1 MiB by ~30%, as smaller blocks' rows die young in the GC.
 */
const CHUNK_BYTES = 64 * 1024;
/**
 * A file is read in larger pieces, cut into chunks for the readers (issue 16): each read is a round trip to the
 * thread pool, and 64 KiB reads left the main thread waiting for them ~80 ms of a 1.9 s run (1M rows); ~58 ms.
 */
const READ_BYTES = 1024 * 1024;

/** The format a file's extension implies (case-insensitive; a .gz is looked through), or undefined. */
export function detectFormat(path: string): Format | undefined {
  return BY_EXTENSION[extname(withoutGz(path)).toLowerCase()];
}

/** `ids.csv.gz` → `ids.csv`: the format of a compressed file is in the name under .gz (issue 10). */
function withoutGz(path: string): string {
  return path.toLowerCase().endsWith(".gz") ? path.slice(0, -3) : path;
}

/**
 * Opens `path` ("-" for stdin) as a streaming RowSource. Fails early with a UsageError when the format cannot
 * be told or the delimiter is unusable, and with an InputError when the file cannot be read.
 */
export async function openRowSource(path: string, options: OpenOptions = {}): Promise<BatchedRowSource> {
  const settings: Settings = {
    header: options.header ?? true,
    delimiter: checkDelimiter(options.delimiter),
    encoding: options.encoding === undefined ? undefined : checkEncoding(options.encoding),
    onNote: options.onNote,
    gunzip: true,
  };
  if (path === "-") {
    // Gzip is recognised by its magic bytes before the format is sniffed from what it holds.
    const stdin = gunzipIfCompressed(asBuffers(options.stdin ?? process.stdin), "<stdin>");
    settings.gunzip = false;
    const { format, chunks } = options.format !== undefined ? { format: options.format, chunks: stdin } : await sniffFormat(stdin);
    return makeSource("<stdin>", format, undefined, chunks, settings);
  }
  const format = options.format ?? detectFormat(path);
  if (format === undefined) {
    throw new UsageError(`cannot tell the format of ${path} from its extension: ${FORMAT_HINT}`);
  }
  let handle;
  try {
    handle = await open(options.cwd !== undefined ? resolve(options.cwd, path) : path, "r");
    const stat = await handle.stat();
    // Opening a directory succeeds on Linux; only the first read would fail.
    if (stat.isDirectory()) throw new InputError({ file: path }, "cannot read: is a directory");
    const size = stat.isFile() ? stat.size : undefined;
    return makeSource(path, format, size, handle.createReadStream({ highWaterMark: READ_BYTES }), settings);
  } catch (error) {
    await handle?.close();
    throw readError(path, error);
  }
}

interface Settings {
  header: boolean;
  delimiter: string | undefined;
  encoding: string | undefined;
  onNote: ((message: string) => void) | undefined;
  /** Whether the bytes may still be gzip (stdin is unpacked before its format is sniffed). */
  gunzip: boolean;
}

function makeSource(
  displayName: string,
  format: Format,
  totalBytes: number | undefined,
  stream: AsyncIterable<Buffer | string>,
  settings: Settings,
): BatchedRowSource {
  const csv = format === "csv" || format === "tsv";
  const { header, encoding } = settings;
  let delimiter = settings.delimiter ?? (format === "tsv" ? "\t" : ",");
  let columns: readonly string[] | undefined;
  let bytes = 0;
  let opened = false;

  // Counts bytes for progress and turns a failed read into an InputError.
  async function* counted(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of asBuffers(stream)) {
        // A read of READ_BYTES reaches the readers CHUNK_BYTES at a time.
        for (let at = 0; at < chunk.length; at += CHUNK_BYTES) {
          const piece = chunk.length <= CHUNK_BYTES ? chunk : chunk.subarray(at, at + CHUNK_BYTES);
          bytes += piece.length;
          yield piece;
        }
      }
    } catch (error) {
      throw readError(displayName, error);
    }
  }

  /** The file's bytes, once: counted for progress (compressed ones for a .gz, as its size is), unpacked, checked. */
  function open(): AsyncIterable<Buffer> {
    if (opened) throw new Error(`the rows of ${displayName} can be read only once`);
    opened = true;
    const raw = counted();
    return binaryCheck(settings.gunzip ? gunzipIfCompressed(raw, displayName) : raw, { file: displayName, format, encoding });
  }

  function csvOptions(): CsvOptions {
    return {
      displayName,
      header,
      delimiter,
      encoding,
      // Only a .csv with a header and no --delimiter: a TSV says what it is, a choice is a choice.
      ...(format === "csv" && header && settings.delimiter === undefined
        ? {
            onSniffed: (sniffed: string) => {
              delimiter = sniffed;
              settings.onNote?.(
                `${displayName}: the header has no "," but ${JSON.stringify(sniffed)}: reading it as ${delimiterName(sniffed)}-separated (pass --delimiter to choose)`,
              );
            },
          }
        : {}),
      onColumns: (names) => (columns = names),
    };
  }

  const source: BatchedRowSource = {
    displayName,
    format,
    headerless: format === "lines" || (csv && !header),
    totalBytes,
    columns: () => columns,
    delimiter: () => delimiter,
    bytesRead: () => bytes,
    rowBatches(): AsyncIterable<Row[]> {
      const chunks = open();
      const text = { file: displayName, encoding };
      switch (format) {
        case "csv":
        case "tsv":
          return readCsv(chunks, csvOptions());
        case "json":
          return readJsonArray(chunks, text);
        case "ndjson":
          return readNdjson(chunks, text);
        case "lines":
          return readLines(chunks, text);
      }
    },
    async *rows(): AsyncGenerator<Row> {
      for await (const batch of source.rowBatches()) for (const row of batch) yield row;
    },
  };
  if (csv) source.rowBlocks = () => readCsvBlocks(open(), csvOptions());
  return source;
}

function delimiterName(d: string): string {
  return d === "\t" ? "tab" : JSON.stringify(d);
}

/** The --delimiter as csv-parse takes it; checked whatever the format, since a bad one is a mistake anyway. */
function checkDelimiter(given: string | undefined): string | undefined {
  if (given === undefined) return undefined;
  const delimiter = given === "\\t" ? "\t" : given;
  if (delimiter === "" || /["\r\n]/.test(delimiter)) {
    throw new UsageError(`--delimiter ${JSON.stringify(given)} cannot be used: give a character other than a quote or a line break`);
  }
  return delimiter;
}

async function* asBuffers(stream: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  for await (const chunk of stream) yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
}

/**
 * Reads stdin up to its first significant byte: "[" means json, "{" ndjson; anything else needs --format.
 * Returns the chunks again, those already read first.
 */
async function sniffFormat(chunks: AsyncIterable<Buffer>): Promise<{ format: Format; chunks: AsyncIterable<Buffer> }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let format: Format | undefined;
  let decided = false;
  while (!decided) {
    const next = await iterator.next();
    if (next.done === true) break;
    seen.push(next.value);
    for (const byte of next.value) {
      // Skip whitespace and the UTF-8 BOM's bytes.
      if (byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0xef || byte === 0xbb || byte === 0xbf) continue;
      format = byte === 0x5b ? "json" : byte === 0x7b ? "ndjson" : undefined;
      decided = true;
      break;
    }
  }
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return?.();
    }
  }
  if (format === undefined) {
    await iterator.return?.();
    throw new UsageError(`cannot tell the format of <stdin>: ${FORMAT_HINT} (only JSON and NDJSON are recognised)`);
  }
  return { format, chunks: replay() };
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "no such file (a parent is not a directory)",
};

function readError(file: string, error: unknown): InputError {
  if (error instanceof InputError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code !== undefined ? REASONS[code] : undefined) ?? (error instanceof Error ? error.message : String(error));
  return new InputError({ file }, `cannot read: ${reason}`, { cause: error });
}
