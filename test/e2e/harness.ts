import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFakeTrackApi, type FakeOptions, type FakeTrackApi } from "../fake-track-api/index.js";
import type { SummaryJson } from "../../src/report/summary.js";
import { runCli, spawnCli, tempDir, type CliResult, type RunOptions, type SpawnOptions } from "./cli.js";

/** Recognisable credentials: every secrets test greps output and files for them. */
export const SITE_ID = "site-7c1e55d0";
export const API_KEY = "KEY-5f0b9e2a-do-not-leak";
/** The Data Pipelines source key the fake accepts (issue 15); as recognisable, for the same greps. */
export const PIPELINES_KEY = "PKEY-91d3c7a0-do-not-leak";

/** One generated membership row. */
export interface Membership {
  user: string;
  account: string;
  role: string;
}

/** `people` users spread over `accounts` accounts, sorted by account (as a migration export usually is). */
export function memberships(accounts: number, perAccount: number): Membership[] {
  const rows: Membership[] = [];
  for (let a = 0; a < accounts; a++) {
    for (let p = 0; p < perAccount; p++) {
      rows.push({ user: `u${a * perAccount + p}`, account: `acct-${a}`, role: p === 0 ? "owner" : "member" });
    }
  }
  return rows;
}

/** Writes rows as `user_id,account_id,role` CSV. */
export function writeMembershipsCsv(dir: string, rows: readonly Membership[], name = "memberships.csv"): string {
  const path = join(dir, name);
  writeFileSync(path, "user_id,account_id,role\n" + rows.map((r) => `${r.user},${r.account},${r.role}`).join("\n") + "\n");
  return path;
}

/** The mapping flags for generated memberships. */
export const MEMBERSHIP_FLAGS = ["--person-column", "user_id", "--object-column", "account_id", "--attributes", "role"];

/**
 * Flags that keep a faulty run fast: small backoff, no progress. The timeout stays generous: the CLI and the
 * fake share one event loop in process, and on a loaded machine a 2 s timeout fired on healthy requests
 * (tests of hanging requests set their own --timeout).
 */
export const FAST_FLAGS = ["--backoff-base", "0.01", "--backoff-cap", "0.1", "--timeout", "15", "--progress", "none"];

/** What the fake should hold after adding these rows: "type|object|key|value" → attributes. */
export function expectedState(rows: readonly Membership[]): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const r of rows) m.set(`1|${r.account}|id|${r.user}`, { role: r.role });
  return m;
}

/** The fake's relationships in the same shape as expectedState. */
export function actualState(fake: FakeTrackApi): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const r of fake.state.all()) m.set(`${r.objectTypeId}|${r.objectId}|${r.personKey}|${r.personValue}`, r.attributes);
  return m;
}

/** A fake Track API that knows the test credentials (the Data Pipelines source key too). */
export function startFake(options: FakeOptions = {}): Promise<FakeTrackApi> {
  return startFakeTrackApi({ siteId: SITE_ID, apiKey: API_KEY, pipelinesApiKey: PIPELINES_KEY, ...options });
}

/** Runs the CLI (in process) against the fake with the test credentials in the environment. */
export function runAgainst(fake: FakeTrackApi, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runCli([...args, "--track-url", fake.url], {
    ...options,
    env: { CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY, ...options.env },
  });
}

/** Runs the CLI (in process) with `--via pipelines` against the fake's Data Pipelines endpoint, the source key in the environment (issue 15). */
export function runViaPipelines(fake: FakeTrackApi, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runCli([...args, "--via", "pipelines", "--pipelines-url", fake.pipelines.url], {
    ...options,
    env: { CIO_PIPELINES_API_KEY: PIPELINES_KEY, ...options.env },
  });
}

/** Spawns the CLI against the fake, for tests that signal or kill the process. */
export function spawnAgainst(fake: FakeTrackApi, args: readonly string[], options: SpawnOptions = {}): Promise<CliResult> {
  return spawnCli([...args, "--track-url", fake.url], {
    ...options,
    env: { CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY, ...options.env },
  });
}

/** The --json summary of issue 5. */
export type JsonSummary = SummaryJson;

/** The --json summary printed by a run. */
export function summaryOf(r: CliResult): JsonSummary {
  try {
    return JSON.parse(r.stdout) as JsonSummary;
  } catch {
    throw new Error(`not a JSON summary (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** The accounting identity of issues 4 and 14: rows read = applied + failed + invalid + duplicate + skipped + unconfirmed. */
export function balanced(s: JsonSummary): boolean {
  return s.rows === s.applied + s.failed + s.invalid + s.duplicate + s.skipped + s.unconfirmed;
}

/** Parses a CSV failures file written for generated memberships: header and rows as records. */
export function readFailuresCsv(path: string): {
  header: string[];
  rows: { user_id: string; account_id: string; role: string; cio_rel_error: string }[];
} {
  const lines = readFileSync(path, "utf8").trimEnd().split("\n");
  const header = (lines.shift() ?? "").split(",");
  const rows = lines
    .filter((l) => l !== "")
    .map((l) => {
      // Generated ids and roles hold no commas; the error is the last column and may be quoted.
      const cells = l.match(/^([^,]*),([^,]*),([^,]*),(.*)$/);
      if (cells === null) throw new Error(`unexpected failures line: ${l}`);
      return { user_id: cells[1] ?? "", account_id: cells[2] ?? "", role: cells[3] ?? "", cio_rel_error: cells[4] ?? "" };
    });
  return { header, rows };
}

/** The NDJSON report, parsed. */
export function readReport(path: string): ReportEntry[] {
  return readFileSync(path, "utf8")
    .trimEnd()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as ReportEntry);
}

/** One line of a --report file. */
export interface ReportEntry {
  line: number;
  row: number;
  outcome: string;
  person: string | null;
  object: string | null;
  error?: string;
}

export { tempDir };

/** Journal records (lines after the header) written so far. */
export function journalRecords(path: string): number {
  if (!existsSync(path)) return 0;
  return (
    readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "").length - 1
  );
}

/** Resolves once `check` holds, polling; rejects after `ms`. */
export async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
