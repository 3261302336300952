// One verification from applied rows to verdicts (issue 14): pairs, an optional sample, the side, the
// targets, then reading until confirmed. The reads and the clock are injected (STYLE: effects at the edges).
import { chooseSide, pairsOf, targetsOf, type SideChoice, type Target, type VerifyRow } from "./pairs.js";
import { pollUntilConfirmed, type PollEffects, type PollOptions, type PollResult } from "./poll.js";
import { sampleObjects, type Sample } from "./sample.js";

/** Settings of a verification: the polling ones, plus --verify-sample. */
export interface VerifyOptions extends PollOptions {
  /** --verify-sample N: verify only the rows of N objects chosen at random. */
  sample?: number;
  /** Drives the sample; default Math.random. */
  random?: () => number;
}

/** What a verification did and found. */
export interface VerifyReport {
  side: SideChoice;
  /** Listings to read (distinct objects or people of the chosen side). */
  targets: number;
  /** Applied rows handed in. */
  rows: number;
  sample?: Sample;
  poll: PollResult;
}

/** Verifies applied rows: each ends confirmed or unconfirmed in `poll.rows`; rows left out of a sample are not in it. */
export async function verifyRows(rows: Iterable<VerifyRow>, fx: PollEffects, o: VerifyOptions): Promise<VerifyReport> {
  let pairs = pairsOf(rows);
  const count = pairs.reduce((n, p) => n + p.rows.length, 0);
  let sample: Sample | undefined;
  if (o.sample !== undefined) {
    sample = sampleObjects(pairs, o.sample, o.random ?? Math.random);
    pairs = sample.pairs;
  }
  const side = chooseSide(pairs);
  const targets: Target[] = targetsOf(pairs, side.side);
  const poll = await pollUntilConfirmed(targets, fx, o);
  const report: VerifyReport = { side, targets: targets.length, rows: count, poll };
  if (sample !== undefined) report.sample = sample;
  return report;
}
