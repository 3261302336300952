// `cio-rel verify --file F [mapping flags]` (issue 14): check a file against Customer.io now, sending nothing.
// The rows are read, mapped and deduplicated exactly as `add` would, then read back through the App API:
// each is present, missing or listed with other attributes. `--failures` gets the rows to re-send with `add`.
import { resolve } from "node:path";
import { EXIT } from "../errors.js";
import { objectLabel, personLabel } from "../model/types.js";
import { FailuresFile } from "../report/failures-file.js";
import { formatCount, formatDuration } from "../report/format.js";
import { resolveProgressMode } from "../report/progress.js";
import { TextSink } from "../report/sink.js";
import { Tally } from "../report/tally.js";
import type { BatchTransport } from "../transport/types.js";
import type { Verdict } from "../verify/judge.js";
import { VERSION } from "../version.js";
import { createAppClient, type AppClient } from "../workspace/client.js";
import type { CommandContext } from "./context.js";
import { closeInput, prepareInput } from "./input.js";
import type { VerifyCommandFlags } from "./flags.js";
import { parseInputOptions, regionOption } from "./options.js";
import type { SettledRow } from "./outcomes.js";
import { startPipeline } from "./pipeline.js";
import { fixedEmailWarning } from "./relationships.js";
import { redactor } from "./secrets.js";
import { appConnection, parseVerifyFlags, Verifier } from "./verify-phase.js";

/** What became of one row of the file: the verdicts of Customer.io, or why it was not checked. */
export type VerifyStatus = "present" | "missing" | "mismatch" | "unread" | "not-checked" | "invalid" | "duplicate";

/** How many problem rows `--json` lists (the text output lists them all). */
const JSON_PROBLEMS_CAP = 1000;

/** A transport that sends nothing: every planned row is handed on as it is, to be read back instead. */
function readOnlyTransport(): BatchTransport {
  return {
    async send(batch) {
      const rows = batch.operations.flatMap((op) =>
        op.relationships.map((rel) => ({ index: rel.index, line: rel.line, outcome: { kind: "applied" as const } })),
      );
      return { batch, rows };
    },
    stats: { requests: 0, retries: 0, bytesSent: 0 },
    stopWaiting() {},
    abort() {},
    async close() {},
  };
}

/** The status of a row from its verdict. */
function statusOf(verdict: Verdict | undefined): VerifyStatus {
  if (verdict === undefined) return "not-checked";
  if (verdict.confirmed) return "present";
  return verdict.why === "mismatch" ? "mismatch" : verdict.why === "unread" ? "unread" : "missing";
}

/** `cio-rel verify`: every row of the file checked against Customer.io; returns the exit code. */
export async function runVerify(ctx: CommandContext, raw: VerifyCommandFlags, fromEnv?: ReadonlyMap<string, string>): Promise<number> {
  const now = ctx.now ?? Date.now;
  const started = now();
  const input = parseInputOptions(raw);
  // Checking now: one read unless --verify-timeout asks to wait for writes still on their way.
  const flags = parseVerifyFlags({ ...raw, verify: true }, { dryRun: false }) as NonNullable<ReturnType<typeof parseVerifyFlags>>;
  if (raw.verifyTimeout === undefined) flags.timeoutMs = 0;
  const region = regionOption(raw.region, fromEnv?.has("region") === true, false);
  const app = await appConnection(raw, ctx, region, "verify");
  const timeoutMs = Math.round(raw.timeout * 1000);
  const maxRetries = raw.maxRetries;
  const redact = redactor([app.apiKey]);
  const warning = fixedEmailWarning(raw);
  if (warning !== undefined) ctx.stderr.write(`cio-rel: warning: ${warning}\n`);
  const at = (path: string): string => resolve(ctx.cwd, path);
  const json = raw.json === true;
  const quiet = raw.quiet === true;

  const source = await (await prepareInput(ctx, input, { onNote: (m) => void ctx.stderr.write(`cio-rel: note: ${m}\n`) })).open();
  let failures: FailuresFile | undefined;
  let report: TextSink | undefined;
  let client: AppClient | undefined;
  const counts: Record<VerifyStatus, number> = { present: 0, missing: 0, mismatch: 0, unread: 0, "not-checked": 0, invalid: 0, duplicate: 0 };
  const problems: { row: number; line: number; status: VerifyStatus; reason: string }[] = [];
  const verifier = new Verifier(flags);
  const tally = new Tally();
  let halt: "auth" | "interrupted" | undefined;
  let summary: Awaited<ReturnType<Verifier["finish"]>>["summary"] | undefined;
  let unhook: (() => void) | undefined;
  try {
    if (raw.failures !== undefined) {
      failures = await FailuresFile.open(at(raw.failures), {
        format: source.format,
        headerless: source.headerless,
        columns: () => source.columns(),
        delimiter: () => source.delimiter?.() ?? input.delimiter,
      });
    }
    if (raw.report !== undefined) report = await TextSink.create(at(raw.report));

    /** One row's verdict: counted, reported, printed when it is a problem, copied to --failures when `add` would fix it. */
    const settleRow = async (s: SettledRow, status: VerifyStatus, reason: string | undefined): Promise<void> => {
      counts[status]++;
      if (report !== undefined) {
        const line: Record<string, unknown> = {
          row: s.index,
          line: s.line,
          status,
          person: s.relationship !== undefined ? personLabel(s.relationship.person) : null,
          object: s.relationship !== undefined ? objectLabel(s.relationship.object) : null,
        };
        if (reason !== undefined) line.error = redact(reason);
        await report.write(JSON.stringify(line) + "\n");
      }
      if (reason === undefined || status === "duplicate") return;
      if (json) {
        if (problems.length < JSON_PROBLEMS_CAP) problems.push({ row: s.index, line: s.line, status, reason: redact(reason) });
      } else {
        ctx.stdout.write(`${source.displayName}:${s.line}: ${status}: ${redact(reason)}\n`);
      }
      // Missing rows and rows with other attributes are what `add` fixes; invalid rows it would refuse again.
      if (failures !== undefined && (status === "missing" || status === "mismatch") && s.row !== undefined)
        await failures.write(s.row, redact(reason));
    };

    const { done } = startPipeline({
      tally,
      action: "add_relationships",
      input,
      source,
      sink: { kind: "send", transport: readOnlyTransport(), concurrency: 1 },
      keepRows: failures !== undefined,
      rows: {
        settle: (s: SettledRow) => {
          if (verifier.take(s, "add_relationships")) return;
          if (s.outcome.kind === "invalid") return settleRow(s, "invalid", s.outcome.reason);
          if (s.outcome.kind === "duplicate") return settleRow(s, "duplicate", undefined);
          // The read-only transport settles nothing else; anything more would be a bug, counted as not read.
          return settleRow(s, "unread", s.outcome.kind === "applied" ? "not checked" : s.outcome.reason);
        },
      },
    });
    await done;
    client = createAppClient({
      baseUrl: app.baseUrl,
      apiKey: app.apiKey,
      timeoutMs,
      maxRetries,
      userAgent: `cio-rel/${VERSION}`,
      ...(raw.verbose === true
        ? {
            onRequest: (r) =>
              void ctx.stderr.write(redact(`${r.method} ${r.url} ${r.status ?? r.error ?? "no answer"} ${Math.round(r.ms)} ms`) + "\n"),
          }
        : {}),
    });
    let interrupts = 0;
    unhook = ctx.onInterrupt?.(() => {
      interrupts++;
      if (interrupts === 1) verifier.interrupt();
      else verifier.abort();
    });
    const mode = resolveProgressMode(raw.progress, ctx.stderr.isTTY === true, quiet || json);
    const finished = await verifier.finish({
      client,
      onRow: (s, verdict) => settleRow(s, statusOf(verdict), verdict === undefined || verdict.confirmed ? undefined : verdict.reason),
      progress: { mode, stream: ctx.stderr },
      announce: `Checking ${formatCount(verifier.size)} rows against Customer.io through the App API…`,
      ...(ctx.now !== undefined ? { now: ctx.now } : {}),
    });
    summary = finished.summary;
    halt = finished.halt;
  } finally {
    unhook?.();
    await Promise.all([failures?.close(), report?.close(), client?.close(), closeInput(source)]);
  }

  const exitCode = verifyExitCode(halt, counts);
  printVerifyResult(ctx, raw, { file: source.displayName, rows: tally.rowsRead, counts, problems, summary, exitCode, redact, started: started, now });
  tallyCheck(tally.rowsRead, counts);
  return exitCode;
}

/** The exit code of a verify run: a halt first, then rows not read, rows not as the file says, invalid rows. */
function verifyExitCode(halt: "auth" | "interrupted" | undefined, counts: Record<VerifyStatus, number>): number {
  if (halt === "interrupted") return EXIT.interrupted;
  if (halt === "auth") return EXIT.auth;
  if (counts.unread > 0) return EXIT.api;
  if (counts.missing + counts.mismatch > 0) return EXIT.unconfirmed;
  return counts.invalid > 0 ? EXIT.usage : EXIT.ok;
}

/** What a verify run found, for printing. */
interface VerifyResult {
  file: string;
  rows: number;
  counts: Record<VerifyStatus, number>;
  problems: { row: number; line: number; status: VerifyStatus; reason: string }[];
  summary: Awaited<ReturnType<Verifier["finish"]>>["summary"] | undefined;
  exitCode: number;
  redact: (text: string) => string;
  started: number;
  now: () => number;
}

/** Prints the --json document or the summary lines (nothing with --quiet). */
function printVerifyResult(ctx: CommandContext, raw: VerifyCommandFlags, r: VerifyResult): void {
  const json = raw.json === true;
  const quiet = raw.quiet === true;
  const durationMs = Math.round(r.now() - r.started);
  if (json) {
    const doc = {
      command: "verify",
      file: r.file,
      rows: r.rows,
      present: r.counts.present,
      missing: r.counts.missing,
      mismatch: r.counts.mismatch,
      unread: r.counts.unread,
      notChecked: r.counts["not-checked"],
      invalid: r.counts.invalid,
      duplicate: r.counts.duplicate,
      verify: r.summary === undefined ? null : { ...r.summary, halt: r.summary.halt === null ? null : r.redact(r.summary.halt) },
      problems: r.problems,
      problemsTruncated: r.counts.missing + r.counts.mismatch + r.counts.unread + r.counts.invalid > r.problems.length,
      files: { report: raw.report ?? null, failures: raw.failures ?? null },
      durationMs,
      exitCode: r.exitCode,
    };
    ctx.stdout.write(JSON.stringify(doc, null, 2) + "\n");
  } else if (!quiet) {
    const parts = [
      `${formatCount(r.counts.present)} present`,
      `${formatCount(r.counts.missing)} missing`,
      `${formatCount(r.counts.mismatch)} attribute mismatch`,
      ...(r.counts.unread > 0 ? [`${formatCount(r.counts.unread)} not read`] : []),
      ...(r.counts["not-checked"] > 0 ? [`${formatCount(r.counts["not-checked"])} not checked`] : []),
      `${formatCount(r.counts.invalid)} invalid`,
      `${formatCount(r.counts.duplicate)} duplicate`,
    ];
    const lines = [`${r.file}: ${formatCount(r.rows)} rows read: ${parts.join(", ")}`];
    if (r.summary !== undefined && r.summary.listings > 0) {
      const side = r.summary.side === "objects" ? (r.summary.listings === 1 ? "object" : "objects") : r.summary.listings === 1 ? "person" : "people";
      lines.push(
        `  read ${formatCount(r.summary.listings)} ${side} (${r.summary.sideReason}), ${formatCount(r.summary.requests)} requests in ${formatDuration(r.summary.durationMs)}`,
      );
    }
    if (r.summary?.sample != null)
      lines.push(
        `  sample ${formatCount(r.summary.sample.objects.length)} of ${formatCount(r.summary.sample.of)} objects: ${r.summary.sample.objects.join(", ")}`,
      );
    if (r.summary?.halt != null) lines.push(`  stopped: ${r.redact(r.summary.halt)}`);
    if (raw.failures !== undefined)
      lines.push(`  failures ${raw.failures} (${formatCount(r.counts.missing + r.counts.mismatch)} rows to re-send with add)`);
    ctx.stdout.write(lines.join("\n") + "\n");
  }
}

/** Every row read ends in exactly one status (issue 4's identity, for this command's statuses). */
function tallyCheck(rows: number, counts: Record<VerifyStatus, number>): void {
  const sum = Object.values(counts).reduce((a, b) => a + b, 0);
  if (sum !== rows) throw new Error(`accounting mismatch: ${rows} rows read, but ${JSON.stringify(counts)} = ${sum}`);
}
