// The delete guard (issue 13): a truncated export must not wipe a workspace. Pure.
import type { PlanCounts } from "./types.js";
import { formatCount } from "../report/format.js";

/** --max-deletes: a count of relationships, or a percentage of the relationships in scope. */
export type DeleteLimit = { count: number } | { percent: number };

/** The default: 10 % of the current relationships in scope (issue 13). */
export const DEFAULT_DELETE_LIMIT: DeleteLimit = { percent: 10 };

/** Parses `--max-deletes N|P%`; returns a one-line problem for anything else. */
export function parseDeleteLimit(text: string): DeleteLimit | { problem: string } {
  const t = text.trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (percent !== null) {
    const p = Number(percent[1]);
    if (p > 100) return { problem: `--max-deletes ${text}: a percentage is at most 100%` };
    return { percent: p };
  }
  if (/^\d+$/.test(t)) return { count: Number(t) };
  return { problem: `--max-deletes ${text}: give a number of relationships (50) or a share of those in scope (10%)` };
}

/** How the limit reads in messages: "10%" or "50". */
export function limitText(limit: DeleteLimit): string {
  return "percent" in limit ? `${limit.percent}%` : String(limit.count);
}

/** The most deletions the limit allows when `current` relationships are in scope. */
export function allowedDeletes(limit: DeleteLimit, current: number): number {
  return "count" in limit ? limit.count : Math.floor((limit.percent * current) / 100 + 1e-9);
}

/**
 * Undefined when the plan's deletions are within the limit, else the one-paragraph refusal: how many, of
 * how many, what the limit allows, and the flag that would let it through once the plan is checked.
 */
export function guardDeletes(counts: Pick<PlanCounts, "delete" | "current">, limit: DeleteLimit): string | undefined {
  const allowed = allowedDeletes(limit, counts.current);
  if (counts.delete <= allowed) return undefined;
  const share = counts.current === 0 ? "" : ` (${formatPercent((counts.delete * 100) / counts.current)})`;
  return (
    `refused: the plan deletes ${formatCount(counts.delete)} of the ${formatCount(counts.current)} relationships in scope${share}, ` +
    `more than --max-deletes ${limitText(limit)} allows (${formatCount(allowed)}). Nothing was sent. ` +
    `A truncated or wrong file looks exactly like this: check the plan with --dry-run, then, if it is right, ` +
    `pass --max-deletes ${counts.delete}.`
  );
}

/** "12%", "0.5%". */
function formatPercent(p: number): string {
  return `${p >= 10 ? Math.round(p) : Math.round(p * 10) / 10}%`;
}
