import type { Batch } from "../plan/types.js";
import type { Outcome } from "../model/types.js";

/** Outcome of one row carried by a batch, as the sender settled it. */
export interface RowSettlement {
  line: number;
  outcome: Extract<Outcome, { kind: "applied" } | { kind: "failed" } | { kind: "skipped" }>;
}

/** What became of every row of one batch (including rows of sub-batches made while isolating bad ones). */
export interface BatchSettlement {
  batch: Batch;
  rows: RowSettlement[];
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
  /** Delivers one batch and settles every row it carries. Never throws for API answers; AuthError stops the transport. */
  send(batch: Batch): Promise<BatchSettlement>;
  readonly stats: SendStats;
  /** Set once a 401/403 has stopped the run: every later send settles its rows as skipped. */
  readonly stopped: { status: number; reason: string } | undefined;
  /** Aborts requests in flight (second Ctrl-C). */
  abort(): void;
  close(): Promise<void>;
}
