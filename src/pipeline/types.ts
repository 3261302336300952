import type { InputError } from "../errors.js";
import type { Outcome } from "../model/types.js";
import type { OutputError } from "../report/outputs.js";

/** What a previous run already settled, read from its journal (--resume), by Row.index. */
export interface SettledRows {
  isSettled(index: number): boolean;
  outcomeOf(index: number): Outcome | undefined;
}

/** Appends settled rows (by Row.index) to the journal, durably, before the pipeline goes on. */
export interface JournalWriter {
  record(applied: readonly number[], failed: readonly { index: number; reason: string }[]): Promise<void>;
}

/** Why sending stopped before the input ran out. */
export type Halt =
  | { kind: "auth"; status: number; reason: string }
  | { kind: "max-errors"; reason: string }
  | { kind: "interrupted"; reason: string }
  | { kind: "input-error"; reason: string; error: InputError }
  /** issue 9: no request succeeded for --give-up-after seconds (an outage). */
  | { kind: "gave-up"; reason: string }
  /** issue 9: the report, failures file or journal could not be written (a full disk). */
  | { kind: "output"; reason: string; error: OutputError };
