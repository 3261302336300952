import { objectLabel, personLabel, type ObjectRef, type Outcome, type PersonRef } from "../model/types.js";
import type { OpenOutput } from "./outputs.js";
import { TextSink } from "./sink.js";
import { outcomeError } from "./tally.js";

/** One input row's fate, as the command knows it; person/object are absent when the row never got that far (e.g. invalid). */
export interface ReportRecord {
  /** Row.index: the row's identity. */
  row: number;
  line: number;
  outcome: Outcome;
  person?: PersonRef | undefined;
  object?: ObjectRef | undefined;
  /** --verify's verdict on an applied row (issue 14); absent when the row was not checked. */
  confirmed?: boolean;
}

/** The JSON shape of one `--report` line (issue 4). */
export interface ReportLine {
  line: number;
  /** The row's 1-based index in the input: tells apart rows that share a line (a one-line JSON array). */
  row: number;
  outcome: Outcome["kind"];
  person: string | null;
  object: string | null;
  error?: string;
  /** Present on applied and unconfirmed rows that --verify read back. */
  confirmed?: boolean;
}

/** The `--report` line for a row: `{"line","row","outcome","person","object"}` plus `"error"` only when there is one. */
export function reportLine(record: ReportRecord): ReportLine {
  const out: ReportLine = {
    line: record.line,
    row: record.row,
    outcome: record.outcome.kind,
    person: record.person ? personLabel(record.person) : null,
    object: record.object ? objectLabel(record.object) : null,
  };
  const error = outcomeError(record.outcome);
  if (error !== undefined) out.error = error;
  if (record.confirmed !== undefined) out.confirmed = record.confirmed;
  return out;
}

/** `--report <file>`: one NDJSON line per input row, in the order rows settle (batches settle out of input order). */
export class ReportFile {
  private constructor(private readonly sink: TextSink) {}

  /** Creates (or truncates) the report file. */
  static async open(path: string, opener?: OpenOutput): Promise<ReportFile> {
    return new ReportFile(await TextSink.create(path, opener));
  }

  /** The file's path. */
  get path(): string {
    return this.sink.path;
  }

  /** Appends one row's line; await it so a fast run is held back by the disk instead of buffering without end. */
  write(record: ReportRecord): Promise<void> {
    return this.sink.write(JSON.stringify(reportLine(record)) + "\n");
  }

  /** Flushes, fsyncs and closes. */
  close(): Promise<void> {
    return this.sink.close();
  }
}
