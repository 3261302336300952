import { OUTCOME_KINDS, type Outcome, type OutcomeKind } from "../model/types.js";

/** How many problems the summary lists before "… and N more" (issue 5: "the first few failures"). */
export const DEFAULT_KEPT_PROBLEMS = 5;

/** The outcome kinds an operator has to act on; duplicates collapse into applied rows and are fine (issue 5). */
export type ProblemKind = Extract<OutcomeKind, "failed" | "invalid" | "skipped" | "unconfirmed">;

/** One row that did not make it, as the summary lists it. */
export interface Problem {
  /** Row.index of the row. */
  row: number;
  /** Where it starts in the input, for the file:line reference. */
  line: number;
  kind: ProblemKind;
  reason: string;
}

/** Rows that ended with the same reason (issue 10: 300 rows refused with one 401 are one line with a count). */
export interface ProblemGroup {
  kind: ProblemKind;
  reason: string;
  count: number;
  /** The first row with this reason. */
  first: Problem;
}

/** Distinct reasons a Tally groups; rows with further reasons are still counted, just not grouped. */
export const MAX_PROBLEM_GROUPS = 1_000;

/** Figures a Tally hands to the summary: rows read, one count per outcome, the first problems and their groups. */
export type TallySnapshot = { rows: number; problems: readonly Problem[]; groups: readonly ProblemGroup[] } & Record<OutcomeKind, number>;

/** The text a report or failures file shows for an outcome: its reason, or undefined when there is nothing wrong. */
export function outcomeError(outcome: Outcome): string | undefined {
  switch (outcome.kind) {
    case "applied":
    case "duplicate":
      return undefined;
    case "failed":
    case "invalid":
    case "skipped":
    case "unconfirmed":
      return outcome.reason;
  }
}

/** Counts rows by outcome and keeps the first few problems, so the accounting identity can be checked at the end. */
export class Tally {
  /** Rows the reader produced, counted apart from outcomes so that a lost row shows up as an imbalance. */
  rowsRead = 0;
  private readonly counts: Record<OutcomeKind, number> = { applied: 0, failed: 0, invalid: 0, duplicate: 0, skipped: 0, unconfirmed: 0 };
  private readonly kept: Problem[] = [];
  private readonly groups = new Map<string, ProblemGroup>();

  constructor(private readonly keepProblems: number = DEFAULT_KEPT_PROBLEMS) {}

  /** Counts one row read from the input. */
  read(): void {
    this.rowsRead++;
  }

  /** Counts the one outcome of row `index` (Row.index), which starts at `line`. */
  record(index: number, line: number, outcome: Outcome): void {
    this.counts[outcome.kind]++;
    if (outcome.kind === "applied" || outcome.kind === "duplicate") return;
    const problem: Problem = { row: index, line, kind: outcome.kind, reason: outcome.reason };
    if (this.kept.length < this.keepProblems) this.kept.push(problem);
    const key = `${outcome.kind}\u0000${outcome.reason}`;
    const group = this.groups.get(key);
    if (group !== undefined) group.count++;
    else if (this.groups.size < MAX_PROBLEM_GROUPS) this.groups.set(key, { kind: outcome.kind, reason: outcome.reason, count: 1, first: problem });
  }

  /**
   * Moves a row counted as applied to its final outcome once verification has judged it (issue 14): the
   * row stays counted once, so the identity still holds.
   */
  resettle(index: number, line: number, outcome: Extract<Outcome, { kind: "unconfirmed" }>): void {
    if (this.counts.applied === 0)
      throw new Error(`accounting mismatch: row ${index} (line ${line}) re-settled as ${outcome.kind}, but no row is applied`);
    this.counts.applied--;
    this.record(index, line, outcome);
  }

  /** How many rows ended with this outcome. */
  count(kind: OutcomeKind): number {
    return this.counts[kind];
  }

  /** Rows that ended in any outcome. */
  settled(): number {
    return OUTCOME_KINDS.reduce((sum, kind) => sum + this.counts[kind], 0);
  }

  /** Rows failed, invalid, skipped or unconfirmed: what "… and N more" counts from. */
  problemCount(): number {
    return this.counts.failed + this.counts.invalid + this.counts.skipped + this.counts.unconfirmed;
  }

  /** The first problems, in the order they were recorded. */
  problems(): readonly Problem[] {
    return this.kept;
  }

  /** Whether rows read = applied + failed + invalid + duplicate + skipped + unconfirmed (issue 4: always). */
  balanced(): boolean {
    return this.rowsRead === this.settled();
  }

  /** Throws when the accounting identity does not hold: a row was lost or counted twice, which is a bug. */
  assertBalanced(): void {
    if (!this.balanced()) {
      const parts = OUTCOME_KINDS.map((kind) => `${kind} ${this.counts[kind]}`).join(" + ");
      throw new Error(`accounting mismatch: ${this.rowsRead} rows read, but ${parts} = ${this.settled()}`);
    }
  }

  /** The figures for a RunSummary. */
  snapshot(): TallySnapshot {
    return { rows: this.rowsRead, ...this.counts, problems: [...this.kept], groups: [...this.groups.values()].map((g) => ({ ...g })) };
  }
}
