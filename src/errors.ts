/** Exit statuses, shared by README, --help and main.ts (issue 5; classes follow the official Customer.io CLI). */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  auth: 3,
  /** issue 9: an output file (report, failures, journal, --out) could not be written mid-run. */
  output: 4,
  api: 5,
  /** Sent and accepted, but not visible: --verify left rows unconfirmed, or `verify` found rows missing (issue 14). */
  unconfirmed: 6,
  interrupted: 130,
} as const;

/** Base of every error cio-rel raises on purpose; `code` is stable, `exitCode` is what main.ts exits with. */
export class CioRelError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(message: string, code: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad flags or a combination of them that cannot work. */
export class UsageError extends CioRelError {
  /**
   * Whether the command's --help can fix it (the message then points at it). False for a run that cannot
   * start for a reason outside the flags — a database that refuses the connection, a disk, a journal —
   * where "see --help" would suggest a wrong fix (issue 10).
   */
  readonly pointsAtHelp: boolean;
  constructor(message: string, options?: { cause?: unknown; help?: boolean }) {
    super(message, "usage", EXIT.usage, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.pointsAtHelp = options?.help ?? true;
  }
}

/** Where in an input a problem sits: the file as the user named it, 1-based line and column. */
export interface InputLocation {
  file: string;
  line?: number;
  column?: number;
}

/** An unreadable or malformed input file. The message already names file:line:column. */
export class InputError extends CioRelError {
  readonly file: string;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(location: InputLocation, problem: string, options?: { cause?: unknown }) {
    super(`${formatLocation(location)}: ${problem}`, "input", EXIT.usage, options);
    this.file = location.file;
    this.line = location.line;
    this.column = location.column;
  }
}

// Refused credentials (exit 3) and API failures (exit 5) are not thrown: the transport settles rows
// with them and the pipeline halts, so that every row still gets its outcome (src/commands/pipeline.ts).

/** `file:line:column`, leaving out what is unknown. */
export function formatLocation(loc: InputLocation): string {
  let s = loc.file;
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.line !== undefined && loc.column !== undefined) s += `:${loc.column}`;
  return s;
}
