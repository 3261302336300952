import type { Dispatcher } from "undici";
import type { Batch } from "../plan/types.js";
import type { Outcome } from "../model/types.js";

/** Outcome of one row carried by a batch, as the sender settled it. */
export interface RowSettlement {
  /** Row.index of the row: its identity. */
  index: number;
  /** Where the row starts, for messages. */
  line: number;
  outcome: Extract<Outcome, { kind: "applied" } | { kind: "failed" } | { kind: "skipped" }>;
}

/** Why a transport sends nothing more: a 401/403, or an outage that outlasted --give-up-after (issue 9). */
export type TransportHalt = { kind: "auth"; status: number; reason: string } | { kind: "gave-up"; reason: string };

/** What became of every row of one batch (including rows of sub-batches made while isolating bad ones). */
export interface BatchSettlement {
  batch: Batch;
  rows: RowSettlement[];
  /** Set when the transport had halted by the time this batch settled: the run stops sending (issue 11). */
  halt?: TransportHalt;
}

/** Running counters of the transport. */
export interface SendStats {
  requests: number;
  retries: number;
  /** Request body bytes put on the wire, retries and splits included. */
  bytesSent: number;
}

/** Something that delivers batches; the Track API sender is one, a Data Pipelines route may be another. */
export interface BatchTransport {
  /**
   * Delivers one batch and settles every row it carries. Never throws for API answers. Once a 401/403 or an
   * outage has halted the transport, the settlement carries the halt and every later send settles its rows skipped.
   */
  send(batch: Batch): Promise<BatchSettlement>;
  readonly stats: SendStats;
  /** Aborts requests in flight (second Ctrl-C). */
  abort(): void;
  /** issue 9: ends every wait (backoff, Retry-After, rate limit) at once, settling those rows skipped; requests in flight finish (first Ctrl-C). */
  stopWaiting(): void;
  close(): Promise<void>;
}

/** One HTTP attempt, for --verbose logging. Carries no headers, so never a credential. */
export interface RequestInfo {
  method: string;
  url: string;
  /** Undefined when no answer came (network error, timeout, abort). */
  status: number | undefined;
  /** Request body bytes. */
  bytes: number;
  ms: number;
  /** 1 for the first try of a (sub-)batch, 2 for its first retry, ... */
  attempt: number;
  /** `seq` of the batch the request carries (sub-batches share their parent's). */
  seq: number;
  error?: string;
}

/** Settings every batch sender shares (createBatchSender in ./sender.ts); effects have real defaults. */
export interface SendSettings {
  /** e.g. https://track.customer.io (see resolveTrackUrl), or a loopback http URL in tests. */
  baseUrl: string;
  /** Keep-alive connections of the undici Agent; the caller limits sends in flight itself. Default 8. */
  concurrency?: number;
  /** Requests started per second across all sends, retries and splits included. Default 100. */
  ratePerSecond?: number;
  /** Per request, until the whole answer is read. Default 30_000. */
  timeoutMs?: number;
  /** Default 8. */
  maxRetries?: number;
  /** Default 500. */
  backoffBaseMs?: number;
  /** Default 30_000. */
  backoffCapMs?: number;
  /** Largest body when re-packing the halves of failed operations (default the encoder's; --batch-bytes). */
  maxBatchBytes?: number;
  /** Split failed ops and batches to isolate the bad rows (default true); false is --no-isolate. */
  isolate?: boolean;
  userAgent?: string;
  /** Default: an own undici Agent, closed by close(). An injected one is left open. */
  dispatcher?: Dispatcher;
  /** Wall clock in ms (Retry-After dates are read against it). Default Date.now. */
  now?: () => number;
  /** Default: timers/promises setTimeout. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Default Math.random. */
  random?: () => number;
  onRequest?: (info: RequestInfo) => void;
  /** issue 9 (--give-up-after): stop once no request has succeeded for this long (default 60_000; Infinity never). */
  giveUpAfterMs?: number;
}

/** Settings of the Track API sender (createTrackTransport in ./track.ts). */
export interface TrackTransportOptions extends SendSettings {
  siteId: string;
  apiKey: string;
}
