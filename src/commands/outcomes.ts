import type { Row } from "../input/types.js";
import type { Outcome, Relationship } from "../model/types.js";

/** One settled input row, as the pipeline hands it to the report, failures file and tally. */
export interface SettledRow {
  /** Row.index: the row's identity. */
  index: number;
  /** Where the row starts, for messages. */
  line: number;
  outcome: Outcome;
  /** The relationship the row became, when it got that far. */
  relationship?: Relationship;
  /** The input row itself, when still held (needed only for the failures file). */
  row?: Row;
}

/** Where settled rows go; the report writers and the tally implement it. */
export interface RowSink {
  settle(row: SettledRow): void | Promise<void>;
  /** True when settle does nothing for applied rows (no --report), so the pipeline need not call it for them. */
  readonly ignoresApplied?: boolean;
  /**
   * Whether settle needs the input row of a row with this outcome (when the pipeline keeps rows); default yes. The
   * failures file copies only the rows that did not apply: looking up a million that did cost seconds (issue 16).
   */
  needsRow?(outcome: Outcome): boolean;
}
