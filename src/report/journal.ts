import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat, truncate, unlink } from "node:fs/promises";
import { APPEND_FLAGS, OutputError, WRITE_FLAGS, describeFsError, openOutput, type OpenOutput, type OutputHandle } from "./outputs.js";
import { UsageError } from "../errors.js";

/**
 * The journal format's version, the value of the header's `cioRel` key. 2: records name rows by Row.index
 * (version 1 named them by line, which many rows of a one-line JSON array share), so a version 1 journal
 * cannot be resumed.
 */
export const JOURNAL_VERSION = 2;

/** How much of the input's start the header hashes: enough to tell files apart without reading millions of rows. */
export const HEAD_HASH_BYTES = 64 * 1024;

/** The input a journal belongs to. */
export interface JournalInput {
  /** The input path as the command resolved it; a different path is a different input. */
  path: string;
  size: number;
  /** computeHeadHash(path). */
  headHash: string;
}

/** First line of a journal. */
export interface JournalHeader {
  cioRel: typeof JOURNAL_VERSION;
  input: JournalInput;
  options: Record<string, unknown>;
  optionsHash: string;
}

/** What the journal says became of a row: only acknowledged outcomes are journalled (skipped rows are retried). */
export type SettledOutcome = { kind: "applied" } | { kind: "failed"; reason: string };

/** The rows an earlier run settled, looked up by Row.index. */
export interface ResumeState {
  isSettled(index: number): boolean;
  outcomeOf(index: number): SettledOutcome | undefined;
  /** Distinct rows settled as applied / as failed. */
  readonly applied: number;
  readonly failed: number;
}

/** A failed row as the journal keeps it. */
export interface FailedRow {
  /** Row.index. */
  index: number;
  reason: string;
}

/** An open journal: record() after every acknowledged batch; resume holds what an earlier run settled. */
export interface Journal {
  readonly path: string;
  /** What the journal read back held; undefined for a new journal (also --resume when there was no journal yet). */
  readonly resume: ResumeState | undefined;
  /**
   * Appends one line for a batch's applied and failed rows and fsyncs it before resolving. Skipped rows are
   * not journalled: a resumed run retries them. Concurrent calls are written one after another.
   */
  record(applied: readonly number[], failed: readonly FailedRow[]): Promise<void>;
  close(): Promise<void>;
}

/** What openJournal needs. */
export interface OpenJournalOptions {
  /** The input file: its path (size and head hash are then read from it) or a description already made. */
  input: string | JournalInput;
  /**
   * The options that shape the payloads (action, mapping, grouping, attributes...), JSON-serialisable. They are
   * written to the journal in clear, so they must never include credentials (site id, API key); keys that look
   * like one are refused.
   */
  options: Readonly<Record<string, unknown>>;
  /** --resume: read the journal back and keep appending to it. */
  resume: boolean;
  /** Opens the journal file (default fs.promises.open); tests inject a failing disk. */
  opener?: OpenOutput;
}

/** Option names that would mean a credential is about to be written to disk (issue 5: never in the journal). */
const CREDENTIAL_KEY = /^(api[-_]?key|site[-_]?id|password|secret|token|authorization|credentials?)$/i;

/** sha256 (hex) of the first 64 KiB of a file. */
export async function computeHeadHash(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(HEAD_HASH_BYTES);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return createHash("sha256").update(buffer.subarray(0, filled)).digest("hex");
  } finally {
    await handle.close();
  }
}

/** Sorted, de-duplicated rows compressed to inclusive runs of consecutive numbers: [1,2,3,7] → [[1,3],[7,7]]. */
export function toRanges(rows: Iterable<number>): Array<[number, number]> {
  const sorted = Float64Array.from(rows).sort();
  const ranges: Array<[number, number]> = [];
  let current: [number, number] | undefined;
  for (const index of sorted) {
    if (current && index <= current[1] + 1) current[1] = Math.max(current[1], index);
    else ranges.push((current = [index, index]));
  }
  return ranges;
}

/** Describes an input file for a journal header: path, size and the hash of its first 64 KiB. */
export async function describeInput(path: string): Promise<JournalInput> {
  const [info, headHash] = await Promise.all([stat(path), computeHeadHash(path)]);
  return { path, size: info.size, headHash };
}

/** Opens a journal for writing; with resume, reads back an existing one after checking it belongs to this input and options. */
export async function openJournal(path: string, opts: OpenJournalOptions): Promise<Journal> {
  assertNoCredentials(opts.options);
  // Normalised through JSON as a resumed run reads it back, so the comparison is like for like.
  const options = JSON.parse(JSON.stringify(opts.options)) as Record<string, unknown>;
  const header: JournalHeader = {
    cioRel: JOURNAL_VERSION,
    input: typeof opts.input === "string" ? await describeInput(opts.input) : opts.input,
    options,
    optionsHash: optionsHash(options),
  };
  const existing = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });

  if (!opts.resume) {
    if (existing && existing.size > 0) {
      throw new UsageError(`journal ${path} already exists: add --resume to continue that run, or delete it to start over`, { help: false });
    }
    return startFresh(path, header, opts.opener);
  }
  // issue 9: a resume with no journal is a mistyped path or a lost file, never a silent fresh start.
  if (!existing)
    throw new UsageError(`journal ${path} does not exist: there is nothing to resume (drop --resume to start a new run)`, { help: false });
  // Created but empty: the crash came before the header was on disk, so nothing was sent.
  if (existing.size === 0) return startFresh(path, header, opts.opener);

  const read = await readJournal(path);
  // Nothing but a header cut short: the crash came before anything was sent, so start over.
  if (read === "torn-header") return startFresh(path, header, opts.opener);
  const problems = differences(read.header, header);
  if (problems.length > 0) {
    throw new UsageError(
      `cannot resume from journal ${path}: ${problems.join("; ")}. ` + `Run with the original input and options, or delete ${path} to start over`,
      { help: false },
    );
  }
  // Cut off a torn last line so that the next record starts on a line of its own.
  if (read.completeBytes < existing.size) await truncate(path, read.completeBytes);
  return new JournalWriter(path, await openOutput(path, APPEND_FLAGS, opts.opener), read.state);
}

async function startFresh(path: string, header: JournalHeader, opener: OpenOutput | undefined): Promise<Journal> {
  const handle = await openOutput(path, WRITE_FLAGS, opener);
  try {
    await handle.appendFile(JSON.stringify(header) + "\n", "utf8");
    await handle.datasync();
  } catch (err) {
    await handle.close();
    // A half-written header must not block the rerun ("already exists"): nothing was sent yet.
    await unlink(path).catch(() => undefined);
    throw new UsageError(`cannot write journal ${path}: ${describeFsError(err)}`, { help: false });
  }
  return new JournalWriter(path, handle, undefined);
}

class JournalWriter implements Journal {
  /** Records are appended strictly one after another: concurrent batches settle concurrently. */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly handle: OutputHandle,
    readonly resume: ResumeState | undefined,
  ) {}

  record(applied: readonly number[], failed: readonly FailedRow[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`journal ${this.path} is already closed`));
    if (applied.length === 0 && failed.length === 0) return this.tail;
    const failedPairs = failed.map((f): [number, string] => [f.index, f.reason]).sort((a, b) => a[0] - b[0]);
    const text = JSON.stringify({ applied: toRanges(applied), failed: failedPairs }) + "\n";
    // On disk before the caller moves on (issue 4): a crash after this resolves never resends these rows.
    this.tail = this.tail.then(async () => {
      try {
        await this.handle.appendFile(text, "utf8");
        await this.handle.datasync();
      } catch (e) {
        // A full disk may leave a torn last line; --resume ignores it and resends those rows.
        throw new OutputError(this.path, e);
      }
    });
    return this.tail;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.tail;
    } finally {
      await this.handle.close();
    }
  }
}

/** Applied rows as sorted, merged inclusive ranges searched by bisection; failed rows in a Map. */
class SettledRows implements ResumeState {
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  readonly applied: number;
  readonly failed: number;

  constructor(
    ranges: Array<[number, number]>,
    private readonly failures: Map<number, string>,
  ) {
    ranges.sort((a, b) => a[0] - b[0]);
    const starts: number[] = [];
    const ends: number[] = [];
    for (const [start, end] of ranges) {
      const last = ends.length - 1;
      if (last >= 0 && start <= ends[last]! + 1) ends[last] = Math.max(ends[last]!, end);
      else {
        starts.push(start);
        ends.push(end);
      }
    }
    this.starts = Float64Array.from(starts);
    this.ends = Float64Array.from(ends);
    this.applied = starts.reduce((sum, start, i) => sum + ends[i]! - start + 1, 0);
    let failed = 0;
    for (const index of failures.keys()) if (!this.isApplied(index)) failed++;
    this.failed = failed;
  }

  isSettled(index: number): boolean {
    return this.isApplied(index) || this.failures.has(index);
  }

  outcomeOf(index: number): SettledOutcome | undefined {
    // A row journalled as applied after having failed (a later retry) counts as applied.
    if (this.isApplied(index)) return { kind: "applied" };
    const reason = this.failures.get(index);
    return reason === undefined ? undefined : { kind: "failed", reason };
  }

  private isApplied(index: number): boolean {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= index) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && index <= this.ends[hi]!;
  }
}

type ReadJournal = { header: JournalHeader; state: ResumeState; completeBytes: number };

/** Reads a journal line by line (it can be large); a last line without its newline was torn by a crash and is left out. */
async function readJournal(path: string): Promise<ReadJournal | "torn-header"> {
  let header: JournalHeader | undefined;
  const ranges: Array<[number, number]> = [];
  const failures = new Map<number, string>();
  let lineNo = 0;
  let completeBytes = 0;
  let carry: Buffer = Buffer.alloc(0);
  const onLine = (text: string): void => {
    lineNo++;
    if (lineNo === 1) {
      header = parseHeader(path, text);
      return;
    }
    if (text.trim() === "") return;
    parseRecord(path, lineNo, text, ranges, failures);
  };
  for await (const chunk of createReadStream(path)) {
    const buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
      onLine(buf.toString("utf8", start, nl));
      start = nl + 1;
    }
    completeBytes += start;
    carry = buf.subarray(start);
  }
  if (!header) {
    if (carry.toString("utf8").startsWith(`{"cioRel"`)) return "torn-header";
    throw notAJournal(path);
  }
  return { header, state: new SettledRows(ranges, failures), completeBytes };
}

function notAJournal(path: string): UsageError {
  return new UsageError(`${path} is not a cio-rel journal: pass the --journal file of an earlier run, or a new path`, { help: false });
}

function parseHeader(path: string, text: string): JournalHeader {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw notAJournal(path);
  }
  const h = value as Partial<JournalHeader> | null;
  if (typeof h !== "object" || h === null || typeof h.input !== "object" || typeof h.options !== "object") {
    throw notAJournal(path);
  }
  if (h.cioRel !== JOURNAL_VERSION) {
    throw new UsageError(
      `journal ${path} has format version ${String(h.cioRel)} and this cio-rel reads only version ${JOURNAL_VERSION}, so it cannot be resumed: ` +
        `delete it to start over`,
      { help: false },
    );
  }
  return h as JournalHeader;
}

function parseRecord(path: string, lineNo: number, text: string, ranges: Array<[number, number]>, failures: Map<number, string>): void {
  const corrupt = (): UsageError => new UsageError(`journal ${path}:${lineNo} is corrupt: delete the journal to start over`, { help: false });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt();
  }
  const record = value as { applied?: unknown; failed?: unknown } | null;
  if (typeof record !== "object" || record === null || !Array.isArray(record.applied) || !Array.isArray(record.failed)) throw corrupt();
  for (const range of record.applied as unknown[]) {
    if (!Array.isArray(range) || typeof range[0] !== "number" || typeof range[1] !== "number") throw corrupt();
    ranges.push([range[0], range[1]]);
  }
  for (const entry of record.failed as unknown[]) {
    if (!Array.isArray(entry) || typeof entry[0] !== "number" || typeof entry[1] !== "string") throw corrupt();
    failures.set(entry[0], entry[1]);
  }
}

/** What stops a resume, in words an operator can act on; empty when the journal matches. */
function differences(was: JournalHeader, now: JournalHeader): string[] {
  const out: string[] = [];
  if (was.input.path !== now.input.path) {
    out.push(`the input is a different file (was ${was.input.path}, now ${now.input.path})`);
  } else {
    const changes: string[] = [];
    if (was.input.size !== now.input.size) changes.push(`size ${was.input.size} → ${now.input.size}`);
    if (was.input.headHash !== now.input.headHash) changes.push("its first 64 KiB differ");
    if (changes.length > 0) out.push(`the input changed since the journal was written (${changes.join(", ")})`);
  }
  if (was.optionsHash !== now.optionsHash || canonicalJson(was.options) !== canonicalJson(now.options)) {
    const keys = [...new Set([...Object.keys(was.options), ...Object.keys(now.options)])].sort();
    const changed = keys
      .filter((key) => canonicalJson(was.options[key]) !== canonicalJson(now.options[key]))
      .map((key) => `${flagName(key)} was ${showValue(was.options[key])}, now ${showValue(now.options[key])}`);
    out.push(changed.length > 0 ? `options differ: ${changed.join(", ")}` : "options differ");
  }
  return out;
}

/** groupBy → --group-by: options are keyed as the CLI parses them. */
function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

function showValue(value: unknown): string {
  if (value === undefined) return "unset";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** JSON with object keys sorted, so that equal options always hash alike. */
function canonicalJson(value: unknown): string {
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON of the options. */
export function optionsHash(options: Readonly<Record<string, unknown>>): string {
  return createHash("sha256").update(canonicalJson(options)).digest("hex");
}

function assertNoCredentials(value: unknown, where = "options"): void {
  if (Array.isArray(value)) value.forEach((v, i) => assertNoCredentials(v, `${where}[${i}]`));
  else if (typeof value === "object" && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      // A programming error, not a user's: credentials must be kept out of the options passed here.
      if (CREDENTIAL_KEY.test(key)) throw new Error(`journal ${where}.${key} looks like a credential; credentials are never journalled`);
      assertNoCredentials(v, `${where}.${key}`);
    }
  }
}
