/** Input formats cio-rel reads (issue 2). `lines` is a plain list, one identifier per line. */
export const FORMATS = ["csv", "tsv", "json", "ndjson", "lines"] as const;
/** One of FORMATS. */
export type Format = (typeof FORMATS)[number];

/** The column name readers give the single value of a headerless CSV or a `lines` file. */
export const IDENTIFIER_COLUMN = "";

/** Key the failures file adds to each row; every reader drops it so a failures file feeds straight back in. */
export const ERROR_COLUMN = "cio_rel_error";

/**
 * One input record: its identity, where it starts and its fields, in input order. `index` is the row's
 * identity everywhere (tally, journal, resume, report, failures, dedupe); `line` is only for messages,
 * since many records can share a line (a JSON array written on one line).
 */
export interface Row {
  /** 1-based ordinal of the record in its input, in read order: the same for every format and layout. */
  index: number;
  /** 1-based physical line where the record starts. */
  line: number;
  /** CSV/TSV/lines: strings. JSON/NDJSON: the parsed values (JSON types kept). Never holds ERROR_COLUMN. */
  fields: Record<string, unknown>;
  /** Set by a reader that cannot hand the record over as fields (nested too deep): the row is invalid for this reason. */
  problem?: string;
  /** With `problem`: the record's text as read, which the failures file copies instead of the fields. */
  raw?: string;
}

/**
 * A JSON number written in a way its double does not repeat (issue 10: `12345678901234567890` parses to
 * 12345678901234567000; `1e3`, `1.0` and `-0` are not written as they would be sent). Readers put one in the
 * fields instead of the parsed number, so that nothing downstream can send a value other than the file's.
 */
export class JsonNumber {
  constructor(
    /** The number as written in the file. */
    readonly text: string,
    /** What JSON.parse made of it. */
    readonly value: number,
  ) {}
}

/** Options every reader takes. */
export interface ReaderOptions {
  /** How the file is named in messages: the path as given, or "<stdin>". */
  displayName: string;
  format: Format;
  /** CSV/TSV only: whether the first record is a header (default true). */
  header?: boolean;
  /** CSV/TSV only: field delimiter (default "," for csv, "\t" for tsv). */
  delimiter?: string;
}

/** A streaming source of rows. Malformed input makes the iterator throw an InputError. */
export interface RowSource {
  readonly displayName: string;
  readonly format: Format;
  /** True for headerless CSV and `lines`: each row has one field, IDENTIFIER_COLUMN. */
  readonly headerless: boolean;
  /** CSV/TSV with header: the header's column names, known once the first row has been read. */
  columns(): readonly string[] | undefined;
  /** CSV/TSV: the field delimiter in use (a sniffed one once the header has been read). */
  delimiter?(): string;
  /** Bytes consumed from the underlying stream so far (for progress). */
  bytesRead(): number;
  /** Total size in bytes when the input is a regular file, else undefined. */
  readonly totalBytes: number | undefined;
  rows(): AsyncIterable<Row>;
}

/** A RowSource that also hands over rows a chunk at a time, which is cheaper than one await per row. */
export interface BatchedRowSource extends RowSource {
  /** The rows in input order, in arrays of at most one input chunk's worth; rows() is built on it. Readable once. */
  rowBatches(): AsyncIterable<Row[]>;
  /**
   * The same rows as blocks that make no object per row (issue 16: CSV); readable once, instead of rowBatches().
   * A block is valid until the next one is asked for (the reader refills it). Absent where a reader makes each
   * row's fields anyway (JSON).
   */
  rowBlocks?(): AsyncIterable<RowBlock>;
}

/**
 * One input chunk's rows, kept as their cells (issue 16): a million rows made a million `fields` objects and Row
 * objects that only the mapper read. `view` lends a Row that the next call overwrites, for reading on the spot;
 * `row` makes one to keep (an invalid row's report line, the failures file).
 */
export interface RowBlock {
  readonly length: number;
  /** Row i in a Row object reused by every call: read it before the next one, never keep it. */
  view(i: number): Row;
  /** Row i as its own object. */
  row(i: number): Row;
}
