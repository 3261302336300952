// The batch sender every destination shares (issues 4, 9, 11): POSTs a batch through the HTTP exchange
// (src/http/exchange.ts: limiter, retries, Retry-After, redirects, timeouts, redaction), reads the answer
// with the destination's reader, and settles every row exactly once, isolating bad rows by splitting and
// re-packing with the destination's encoder. A destination is an encoder, an answer reader, a path and
// the reason a 401/403 gives; nothing here knows Track's or Data Pipelines' JSON.
import { UsageError } from "../errors.js";
import { createExchange, INTERRUPTED, type ExchangeInfo } from "../http/exchange.js";
import type { Relationship } from "../model/types.js";
import { encodeBatch, type Encoder } from "../plan/encoder.js";
import { forEachRow, operationCount, rowCount } from "../plan/packed-batch.js";
import { Packer } from "../plan/packer.js";
import type { Batch, Operation, PlanEvent } from "../plan/types.js";
import { formatApiErrors, statusText, type Answer, type ApiErrorEntry } from "./response.js";
import { DEFAULT_CONCURRENCY, DEFAULT_RATE, DEFAULT_TIMEOUT_MS, DEFAULT_BACKOFF } from "./retry.js";
import type { BatchSettlement, BatchTransport, RequestInfo, RowSettlement, SendSettings, TransportHalt } from "./types.js";

/** issue 9: --give-up-after default: no request succeeded for this long means an outage. */
export const DEFAULT_GIVE_UP_AFTER_MS = 60_000;
/** Most of an answer body kept for reasons; the rest is read and dropped so the connection can be reused. */
const MAX_ANSWER_CHARS = 64_000;

/** Where batches go and how the answers read: what makes one destination differ from another. */
export interface Destination {
  /** The wire format and limits, shared with the planner. */
  encoder: Encoder;
  /** Path of the batch endpoint under the base URL, e.g. "/api/v2/batch". */
  batchPath: string;
  /** What an answer means for a batch of `opCount` operations. */
  readAnswer(status: number, body: string, opCount: number): Answer;
  /** The reason rows are skipped with once a 401/403 stopped the run (names the credentials to check). */
  authReason(status: number): string;
}

/** How one request authenticates, and what must never be shown. */
export interface SenderAuth {
  /** Headers sent with every request: authorization, and any the route always needs. */
  headers: Record<string, string>;
  /** Credential values (and their encodings) scrubbed from every text the sender returns or logs. */
  secrets: readonly string[];
}

type RowOutcome = RowSettlement["outcome"];
/** Outcome per row of one send, keyed by the relationship object so halves of an op keep their rows. */
type Ledger = Map<Relationship, RowOutcome>;
/** How one (sub-)batch ended once retries and redirects are done. */
type Final =
  | Exclude<Answer, { kind: "retry" | "redirect" | "auth" }>
  /** Not an answer about these rows (retries exhausted, a refused redirect, an unexpected status): --resume resends them. */
  | { kind: "failed"; status: number | undefined; reason: string }
  | { kind: "skipped"; reason: string };

const APPLIED: RowOutcome = { kind: "applied" };

/** A BatchTransport that delivers batches to `destination`. */
export function createBatchSender(destination: Destination, auth: SenderAuth, o: SendSettings): BatchTransport {
  const concurrency = positive("concurrency", o.concurrency ?? DEFAULT_CONCURRENCY, true);
  const ratePerSecond = positive("ratePerSecond", o.ratePerSecond ?? DEFAULT_RATE, false);
  const timeoutMs = positive("timeoutMs", o.timeoutMs ?? DEFAULT_TIMEOUT_MS, false);
  const maxRetries = o.maxRetries ?? DEFAULT_BACKOFF.maxRetries;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new UsageError(`maxRetries must be 0 or more, not ${maxRetries}`);
  const isolate = o.isolate ?? true;
  const encoder = destination.encoder;
  const maxBatchBytes = o.maxBatchBytes ?? encoder.maxBatchBytes;

  const exchange = createExchange({
    baseUrl: o.baseUrl,
    headers: { ...auth.headers, accept: "application/json", "user-agent": o.userAgent ?? "cio-rel" },
    secrets: auth.secrets,
    ratePerSecond,
    timeoutMs,
    maxRetries,
    connections: concurrency,
    // A POST follows only the redirects that keep its method and body; a 301/302/303 is an answer (failed).
    redirectStatuses: [307, 308],
    maxBodyChars: MAX_ANSWER_CHARS,
    quoteBodyOnRetryFailure: false,
    giveUpAfterMs: o.giveUpAfterMs ?? DEFAULT_GIVE_UP_AFTER_MS,
    ...(o.backoffBaseMs !== undefined ? { backoffBaseMs: o.backoffBaseMs } : {}),
    ...(o.backoffCapMs !== undefined ? { backoffCapMs: o.backoffCapMs } : {}),
    ...(o.dispatcher !== undefined ? { dispatcher: o.dispatcher } : {}),
    ...(o.now !== undefined ? { now: o.now } : {}),
    ...(o.sleep !== undefined ? { sleep: o.sleep } : {}),
    ...(o.random !== undefined ? { random: o.random } : {}),
  });
  const redact = (text: string): string => exchange.redact(text);
  let stopped: { status: number; reason: string } | undefined;

  /** A failed row's outcome, scrubbed: the API's reason and field may quote what we sent. */
  function failed(reason: string, status?: number, field?: string, retry?: boolean): RowOutcome {
    const out: RowOutcome = { kind: "failed", reason: redact(reason) };
    if (retry === true) out.retry = true;
    if (status !== undefined) out.status = status;
    if (field !== undefined) out.field = redact(field);
    return out;
  }

  /** Sends one (sub-)batch until an answer that is not retried or followed. */
  async function post(batch: Batch): Promise<Final> {
    const onAttempt = o.onRequest === undefined ? undefined : (i: ExchangeInfo): void => o.onRequest?.(requestInfo(i, batch));
    const r = await exchange.send("POST", destination.batchPath, batch.body, onAttempt !== undefined ? { onAttempt } : undefined);
    if (r.kind === "aborted") return { kind: "skipped", reason: INTERRUPTED };
    if (r.kind === "stopped") return { kind: "skipped", reason: r.reason };
    if (r.kind === "failed") return r;
    const a = destination.readAnswer(r.status, r.body, operationCount(batch));
    if (a.kind === "auth") {
      stopped ??= { status: a.status, reason: destination.authReason(a.status) };
      exchange.stop(stopped.reason);
      return { kind: "skipped", reason: stopped.reason };
    }
    // The exchange retried and followed these already; a reader that still names one has met an unexpected status.
    if (a.kind === "retry" || a.kind === "redirect") return { kind: "failed", status: a.status, reason: statusText(a.status) };
    return a;
  }

  /** Delivers a (sub-)batch and settles its rows, splitting to isolate bad ones. */
  async function deliver(batch: Batch, ledger: Ledger): Promise<void> {
    return settleAnswer(batch, await post(batch), ledger);
  }

  /** Settles a (sub-)batch's rows from its final answer, resending halves where that isolates bad rows. */
  async function settleAnswer(batch: Batch, a: Final, ledger: Ledger): Promise<void> {
    switch (a.kind) {
      case "applied":
        return settle(batch.operations, ledger, APPLIED);
      case "skipped":
        return settle(batch.operations, ledger, { kind: "skipped", reason: a.reason });
      case "failed":
        // Not an answer about these rows: --resume sends them again (issue 9).
        return settle(batch.operations, ledger, failed(a.reason, a.status, undefined, true));
      case "too-large":
        // Size is not the rows' fault, so --no-isolate does not stop this split.
        return splitOrSettle(batch, ledger, true, failed(statusText(a.status), a.status));
      case "invalid":
        return splitOrSettle(batch, ledger, isolate, failed(a.reason, a.status, a.field));
      case "partial": {
        const halves: Operation[] = [];
        batch.operations.forEach((op, i) => {
          const errors = a.failed.get(i);
          if (errors === undefined) settle([op], ledger, APPLIED);
          else if (isolate && op.relationships.length > 1) halves.push(...halveOperation(op));
          else settle([op], ledger, failed(formatApiErrors(errors), a.status, firstField(errors)));
        });
        for (const sub of repack(batch.seq, halves, ledger)) await deliver(sub, ledger);
        return;
      }
    }
  }

  async function splitOrSettle(batch: Batch, ledger: Ledger, split: boolean, outcome: RowOutcome): Promise<void> {
    const parts = split ? splitBatch(encoder, batch) : undefined;
    if (parts === undefined) return settle(batch.operations, ledger, outcome);
    for (const part of parts) await deliver(part, ledger);
  }

  /** Operations (halves of failed ones) into as few batches as the limits allow, with the planner's Packer. */
  function repack(seq: number, ops: Operation[], ledger: Ledger): Batch[] {
    const first = ops[0];
    if (first === undefined) return [];
    const packer = new Packer({
      action: first.action,
      encoder,
      maxBatchBytes,
      maxOperationBytes: Math.min(encoder.maxOperationBytes, maxBatchBytes - encoder.batchHead.length - encoder.batchTail.length),
      seq,
    });
    const events: PlanEvent[] = [];
    for (const op of ops) packer.addGroup(op.type, op.type === "object" ? op.object : op.person, op.relationships, events);
    packer.finish(events);
    const batches: Batch[] = [];
    for (const ev of events) {
      if (ev.type === "batch") batches.push(ev.batch);
      // It was sent once already, so it fits; should the packer refuse it, the row still ends in an outcome.
      else if (ev.type === "invalid" && !ledger.has(ev.relationship)) ledger.set(ev.relationship, failed(ev.reason));
    }
    return batches;
  }

  /** A settlement, carrying the halt (401/403, gave up) if the transport has halted by now. */
  function settlement(batch: Batch, rows: RowSettlement[]): BatchSettlement {
    const gaveUp = exchange.gaveUp;
    const h: TransportHalt | undefined =
      stopped !== undefined ? { kind: "auth", ...stopped } : gaveUp !== undefined ? { kind: "gave-up", reason: gaveUp } : undefined;
    return h === undefined ? { batch, rows } : { batch, rows, halt: h };
  }

  return {
    async send(batch: Batch): Promise<BatchSettlement> {
      if (rowCount(batch) === 0) return settlement(batch, []);
      const ledger: Ledger = new Map();
      try {
        const answer = await post(batch);
        // The common case, a batch applied whole, needs no per-row ledger.
        if (answer.kind === "applied") {
          // Read to its end and applied: nothing sends this body again, so its memory can carry the next batch.
          batch.release?.();
          // By row ids: a batch whose rows are packed (src/plan/packed-batch.ts) is not decoded for this.
          return settlement(batch, appliedRows(batch));
        }
        await settleAnswer(batch, answer, ledger);
      } catch (err) {
        // A bug here must not lose rows: whatever is unsettled fails with the error.
        settle(batch.operations, ledger, failed(`internal error: ${String(err)}`, undefined, undefined, true));
      }
      const rows = rowsOf(batch, (r) => ledger.get(r) ?? failed("internal error: row not settled"));
      return settlement(batch, rows);
    },
    stats: exchange.stats,
    abort() {
      exchange.abort();
    },
    stopWaiting() {
      exchange.stopWaiting();
    },
    close: () => exchange.close(),
  };
}

/** An exchange attempt as the sender's --verbose line reports it. */
function requestInfo(i: ExchangeInfo, batch: Batch): RequestInfo {
  const info: RequestInfo = { method: i.method, url: i.url, status: i.status, bytes: batch.bytes, ms: i.ms, attempt: i.attempt, seq: batch.seq };
  if (i.error !== undefined) info.error = i.error;
  return info;
}

function firstField(errors: ApiErrorEntry[]): string | undefined {
  return errors.find((e) => e.field !== undefined)?.field;
}

/** Every row of a batch applied, in operation order. */
function appliedRows(batch: Batch): RowSettlement[] {
  const rows: RowSettlement[] = [];
  forEachRow(batch, (index, line) => rows.push({ index, line, outcome: APPLIED }));
  return rows;
}

/** Every row of a batch with its outcome, in operation order. */
function rowsOf(batch: Batch, outcomeOf: (rel: Relationship) => RowOutcome): RowSettlement[] {
  const rows: RowSettlement[] = [];
  for (const op of batch.operations) for (const r of op.relationships) rows.push({ index: r.index, line: r.line, outcome: outcomeOf(r) });
  return rows;
}

/** Gives each row of `ops` its outcome, unless it already has one (a row is settled exactly once). */
function settle(ops: Operation[], ledger: Ledger, outcome: RowOutcome): void {
  for (const op of ops) for (const r of op.relationships) if (!ledger.has(r)) ledger.set(r, outcome);
}

/** The same op (type, action, identifiers) with its relationships in two halves. */
function halveOperation(op: Operation): [Operation, Operation] {
  const mid = Math.floor(op.relationships.length / 2);
  return [
    { ...op, relationships: op.relationships.slice(0, mid) },
    { ...op, relationships: op.relationships.slice(mid) },
  ];
}

/** Two halves of a batch (by operations; a lone op by its relationships), or undefined for a single row. */
function splitBatch(encoder: Encoder, batch: Batch): Batch[] | undefined {
  const ops = batch.operations;
  if (ops.length > 1) {
    const mid = Math.floor(ops.length / 2);
    return [encodeBatch(encoder, batch.seq, ops.slice(0, mid)), encodeBatch(encoder, batch.seq, ops.slice(mid))];
  }
  const only = ops[0];
  if (only === undefined || only.relationships.length < 2) return undefined;
  return halveOperation(only).map((op) => encodeBatch(encoder, batch.seq, [op]));
}

function positive(name: string, value: number, integer: boolean): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${name} must be a positive ${integer ? "integer" : "number"}, not ${value}`);
  }
  return value;
}
