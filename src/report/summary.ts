import { Chalk, type ChalkInstance, type ColorSupportLevel } from "chalk";
import { formatBytes, formatCount, formatDuration } from "./format.js";
import type { Problem, ProblemGroup } from "./tally.js";
import type { Route } from "../plan/encoder.js";

/** Files a run wrote, or null where the flag was not given. */
export interface RunFiles {
  report: string | null;
  failures: string | null;
  journal: string | null;
  /** --out of a dry run: where the planned batches went. */
  out: string | null;
}

/** What --verify did and found: its own part of the summary and of `--json` (issue 14). */
export interface VerifySummary {
  /** Applied rows read back and found as sent. */
  confirmed: number;
  /** Applied rows that verification could not confirm (the `unconfirmed` outcome). */
  unconfirmed: number;
  /** Applied rows left out of --verify-sample: applied, not checked. */
  notChecked: number;
  /** Which listings were read, and why that side. */
  side: "objects" | "people";
  sideReason: string;
  /** Distinct listings (objects or people) to read; reads counts re-reads, requests counts pages and retries. */
  listings: number;
  reads: number;
  rounds: number;
  requests: number;
  timeoutMs: number;
  durationMs: number;
  /** --verify-sample: the objects chosen, of how many the run touched; null when everything was checked. */
  sample: { objects: string[]; of: number } | null;
  /** Why reading stopped early (App API key refused, interrupted), or null. */
  halt: string | null;
}

/** The `--json` document: exactly these keys, so CI can read it with jq (issue 5). */
export interface SummaryJson {
  command: string;
  dryRun: boolean;
  /** The route the run sent (or would send) through: the Track API or Data Pipelines (issue 15). */
  via: Route;
  rows: number;
  applied: number;
  failed: number;
  invalid: number;
  duplicate: number;
  skipped: number;
  /** Rows sent and accepted that --verify could not read back (issue 14); 0 without --verify. */
  unconfirmed: number;
  relationships: number;
  operations: number;
  batches: number;
  requests: number;
  retries: number;
  /** Request bytes sent (a dry run: bytes that would be sent). */
  bytes: number;
  durationMs: number;
  files: RunFiles;
  /** --verify's part; null when the run did not verify. */
  verify: VerifySummary | null;
  exitCode: number;
}

/** Everything the end of a run reports (issue 5): the JSON figures plus what only people read. */
export interface RunSummary extends SummaryJson {
  /** How the input is named in `file:line` references ("people.csv", "<stdin>"). */
  input: string;
  /** The first failed, invalid or skipped rows (Tally keeps them). */
  problems: readonly Problem[];
  /** The problems grouped by reason, in order of first appearance; when given, the summary lists these. */
  groups?: readonly ProblemGroup[] | undefined;
  /** Why sending stopped before the input ran out (auth refused, --max-errors, interrupted), if it did. */
  halt?: string | undefined;
  /** The command that continues an interrupted run (needs --journal). */
  resumeCommand?: string | undefined;
}

/** The chalk level for an output: FORCE_COLOR wins (as in Node's own tty), then NO_COLOR, then whether it is a TTY. */
export function colorLevel(env: Readonly<Record<string, string | undefined>>, isTTY: boolean): ColorSupportLevel {
  const force = env["FORCE_COLOR"];
  if (force !== undefined) {
    if (force === "0" || force.toLowerCase() === "false") return 0;
    if (force === "2") return 2;
    if (force === "3") return 3;
    return 1;
  }
  // no-color.org: present and not empty disables colour, whatever its value.
  if (env["NO_COLOR"] !== undefined && env["NO_COLOR"] !== "") return 0;
  return isTTY && env["TERM"] !== "dumb" ? 1 : 0;
}

/** The `--json` summary object. */
export function summaryJson(s: RunSummary): SummaryJson {
  return {
    command: s.command,
    dryRun: s.dryRun,
    via: s.via,
    rows: s.rows,
    applied: s.applied,
    failed: s.failed,
    invalid: s.invalid,
    duplicate: s.duplicate,
    skipped: s.skipped,
    unconfirmed: s.unconfirmed,
    relationships: s.relationships,
    operations: s.operations,
    batches: s.batches,
    requests: s.requests,
    retries: s.retries,
    bytes: s.bytes,
    durationMs: s.durationMs,
    files: { report: s.files.report, failures: s.files.failures, journal: s.files.journal, out: s.files.out },
    verify:
      s.verify === null
        ? null
        : { ...s.verify, sample: s.verify.sample === null ? null : { objects: [...s.verify.sample.objects], of: s.verify.sample.of } },
    exitCode: s.exitCode,
  };
}

/** The summary people read on stdout at the end of a run (no trailing newline); colour only when asked for. */
export function formatSummary(s: RunSummary, options: { color: boolean }): string {
  const c = new Chalk({ level: options.color ? 1 : 0 });
  const lines: string[] = [];
  const route = s.via === "pipelines" ? " via Data Pipelines" : "";
  const title = s.dryRun ? `cio-rel ${s.command}${route} (dry run: nothing was sent)` : `cio-rel ${s.command}${route}`;
  lines.push(`${c.bold(title)}: ${plural(s.rows, "row")} read in ${formatDuration(s.durationMs)}`);

  // A dry run prints the plan of issue 2 (rows read, valid, invalid, duplicate, ...); "applied" there
  // counts the rows that made it into the plan, so it is shown as "valid".
  const table: Array<[string, string, (ChalkInstance | undefined)?]> = s.dryRun
    ? [
        ["rows read", formatCount(s.rows)],
        ["valid", formatCount(s.applied), s.applied > 0 ? c.green : undefined],
        ["invalid", formatCount(s.invalid), s.invalid > 0 ? c.red : undefined],
        ["duplicate", formatCount(s.duplicate)],
      ]
    : [
        ["applied", formatCount(s.applied), s.applied > 0 ? c.green : undefined],
        ["failed", formatCount(s.failed), s.failed > 0 ? c.red : undefined],
        ["invalid", formatCount(s.invalid), s.invalid > 0 ? c.red : undefined],
        ["duplicate", formatCount(s.duplicate)],
        ["skipped", formatCount(s.skipped), s.skipped > 0 ? c.yellow : undefined],
      ];
  if (s.verify !== null) table.splice(1, 0, ["unconfirmed", formatCount(s.unconfirmed), s.unconfirmed > 0 ? c.red : undefined]);
  // Data Pipelines sends calls (one relationship each), not Track operations.
  const operations = s.via === "pipelines" ? "calls" : "operations";
  table.push(["relationships", formatCount(s.relationships)], [operations, formatCount(s.operations)], ["batches", formatCount(s.batches)]);
  if (s.dryRun) table.push(["bytes", formatBytes(s.bytes)]);
  else {
    table.push(["requests", formatCount(s.requests)], ["retries", formatCount(s.retries)], ["bytes sent", formatBytes(s.bytes)]);
  }
  table.push(["duration", formatDuration(s.durationMs)]);
  const files: Array<[string, string | null]> = [
    ["report", s.files.report],
    ["failures", s.files.failures],
    ["journal", s.files.journal],
    [s.dryRun ? "plan" : "out", s.files.out],
  ];
  for (const [label, path] of files) if (path !== null) table.push([label, path]);

  const labelWidth = Math.max(...table.map(([label]) => label.length));
  for (const [label, value, paint] of table) {
    lines.push(`  ${c.dim(label.padEnd(labelWidth))}  ${paint ? paint(value) : value}`);
  }

  const problemCount = s.failed + s.invalid + s.skipped + s.unconfirmed;
  if (s.groups !== undefined && s.groups.length > 0) lines.push(...problemLines(s, c));
  else if (s.problems.length > 0) {
    lines.push(c.bold(s.problems.length === problemCount ? "Problems:" : "First problems:"));
    // Rows that share a line (a one-line JSON array) are told apart by their row number.
    const shared = new Set(s.problems.map((p) => p.line)).size < s.problems.length;
    for (const p of s.problems) lines.push(`  ${s.input}:${p.line}:${shared ? ` row ${p.row}:` : ""} ${p.reason}`);
    const rest = problemCount - s.problems.length;
    if (rest > 0) {
      const where = s.files.failures !== null ? ` (all in ${s.files.failures})` : "";
      lines.push(`  … and ${formatCount(rest)} more${where}`);
    }
  }
  if (s.verify !== null) lines.push(...verifyLines(s.verify, c));
  if (s.halt !== undefined) lines.push(`${c.yellow("Stopped:")} ${s.halt}`);
  if (s.resumeCommand !== undefined) lines.push(`${c.bold("Resume with:")} ${s.resumeCommand}`);
  return lines.join("\n");
}

/** Objects of a sample named in the text summary; --json lists them all. */
const SAMPLE_SHOWN = 10;

/** The verification part of the text summary: "Verified: N confirmed, M unconfirmed", then how. */
function verifyLines(v: VerifySummary, c: ChalkInstance): string[] {
  const head = `${formatCount(v.confirmed)} confirmed, ${formatCount(v.unconfirmed)} unconfirmed`;
  const lines = [
    `${c.bold("Verified:")} ${v.unconfirmed > 0 ? c.red(head) : c.green(head)}${v.notChecked > 0 ? `, ${formatCount(v.notChecked)} not checked` : ""}`,
  ];
  const sideWord = v.side === "objects" ? (v.listings === 1 ? "object" : "objects") : v.listings === 1 ? "person" : "people";
  const table: Array<[string, string]> = [
    [
      "read",
      `${formatCount(v.listings)} ${sideWord} (${v.sideReason}), ${formatCount(v.reads)} listings in ${formatCount(v.rounds)} ${v.rounds === 1 ? "round" : "rounds"}, ${formatCount(v.requests)} requests`,
    ],
  ];
  if (v.sample !== null) {
    const shown = v.sample.objects.slice(0, SAMPLE_SHOWN).join(", ");
    const more = v.sample.objects.length > SAMPLE_SHOWN ? `, … (${formatCount(v.sample.objects.length - SAMPLE_SHOWN)} more)` : "";
    table.push(["sample", `${formatCount(v.sample.objects.length)} of ${formatCount(v.sample.of)} objects: ${shown}${more}`]);
  }
  table.push(["took", `${formatDuration(v.durationMs)} (--verify-timeout ${formatDuration(v.timeoutMs)})`]);
  if (v.halt !== null) table.push(["stopped", v.halt]);
  const width = Math.max(...table.map(([label]) => label.length));
  for (const [label, value] of table) lines.push(`  ${c.dim(label.padEnd(width))}  ${value}`);
  return lines;
}

/** "1 row", "2 rows", "1,000 rows". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** How many reason groups the summary lists before "… and N more". */
export const LISTED_GROUPS = 5;

/**
 * The problems section (issue 10): one line per distinct reason, with a count where rows share it, so that 300
 * rows refused with the same 401 are one line, not 300; "… and N more" counts the rows not listed.
 */
export function problemLines(
  s: Pick<RunSummary, "input" | "groups" | "failed" | "invalid" | "skipped" | "files"> & { unconfirmed?: number },
  c: ChalkInstance,
): string[] {
  const groups = s.groups ?? [];
  const total = s.failed + s.invalid + s.skipped + (s.unconfirmed ?? 0);
  const listed = groups.slice(0, LISTED_GROUPS);
  const shown = listed.reduce((n, g) => n + g.count, 0);
  const lines = [c.bold(shown === total ? "Problems:" : "First problems:")];
  // Rows that share a line (a one-line JSON array) are told apart by their row number, as in summaryLines.
  const shared = new Set(listed.map((g) => g.first.line)).size < listed.length;
  for (const g of listed) {
    const at = `${s.input}:${g.first.line}${shared ? `: row ${g.first.row}` : ""}`;
    lines.push(g.count === 1 ? `  ${at}: ${g.reason}` : `  ${at}: ${g.reason} (${plural(g.count, "row")} with this reason, the first here)`);
  }
  const rest = total - shown;
  if (rest > 0) {
    const where = s.files.failures !== null ? ` (all in ${s.files.failures})` : "";
    lines.push(`  … and ${plural(rest, "more row", "more rows")}${where}`);
  }
  return lines;
}
