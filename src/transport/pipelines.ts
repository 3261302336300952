// The Data Pipelines destination (issue 15; API.md "Data Pipelines API"): POST /v1/batch with Basic auth
// api_key:"" and, always, `X-Strict-Mode: 1`. Without that header Data Pipelines answers 200 to bad calls and to
// bodies over its limits and drops them silently; with it a bad batch is a 400, which the shared sender splits
// to isolate the bad call, as for Track's 400. Its JSON is src/plan/pipelines-encoder.ts.
import { pipelinesEncoder } from "../plan/pipelines-encoder.js";
import { bodySnippet, formatApiErrors, parseErrors, statusText, type Answer } from "./response.js";
import { DEFAULT_PIPELINES_RATE, RETRYABLE_STATUSES } from "./retry.js";

export { DEFAULT_PIPELINES_RATE };
import { createBatchSender, type Destination } from "./sender.js";
import type { BatchTransport, SendSettings } from "./types.js";

/** Path of the batch endpoint under the base URL (which ends in /v1). */
export const PIPELINES_BATCH_PATH = "/batch";

/** Sent with every request: real 400/401 answers instead of a 200 that hides a dropped call. */
export const STRICT_MODE_HEADER = { "x-strict-mode": "1" } as const;

/** Settings of the Data Pipelines sender. */
export interface PipelinesTransportOptions extends SendSettings {
  /** The source's API key (CIO_PIPELINES_API_KEY). */
  apiKey: string;
}

/** The error texts of a Data Pipelines body: `{"meta":{"errors":["..."]}}` (the spec's 400) or Track-style `errors`. */
export function pipelinesErrors(body: string): string[] {
  const out: string[] = [];
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return out;
  }
  if (typeof json !== "object" || json === null) return out;
  const meta = (json as { meta?: unknown }).meta;
  const metaErrors = typeof meta === "object" && meta !== null ? (meta as { errors?: unknown }).errors : undefined;
  if (Array.isArray(metaErrors)) for (const e of metaErrors) if (typeof e === "string" && e !== "") out.push(e);
  const errors = parseErrors(body);
  if (errors !== undefined && errors.length > 0) out.push(formatApiErrors(errors));
  return out;
}

/** What `status` with `body` means for a Data Pipelines batch (always sent in strict mode). */
export function readPipelinesAnswer(status: number, body: string): Answer {
  if (status === 307 || status === 308) return { kind: "redirect", status };
  if (status === 401 || status === 403) return { kind: "auth", status };
  if (RETRYABLE_STATUSES.has(status)) return { kind: "retry", status };
  if (status === 413) return { kind: "too-large", status };
  const errors = pipelinesErrors(body);
  if (status >= 200 && status < 300) {
    // Strict mode answers errors with a 400; a 2xx that still names some is read as one, conservatively:
    // the calls are resent in halves (adding and removing a relationship again changes nothing).
    return errors.length === 0 ? { kind: "applied" } : { kind: "invalid", status, reason: errors.join("; ") };
  }
  // A 400 does not say which call was bad (no batch_index): the sender finds it by splitting.
  if (status === 400) return { kind: "invalid", status, reason: errors.length > 0 ? errors.join("; ") : withBody(status, body) };
  return { kind: "failed", status, reason: withBody(status, body) };
}

function withBody(status: number, body: string): string {
  const snippet = bodySnippet(body);
  return snippet === "" ? statusText(status) : `${statusText(status)}: ${snippet}`;
}

/** "authentication refused (401): check CIO_PIPELINES_API_KEY". */
function authReason(status: number): string {
  const what = status === 403 ? "permission refused" : "authentication refused";
  return `${what} (${status}): check CIO_PIPELINES_API_KEY`;
}

/** Data Pipelines: its encoder, its answers, its path. */
export const pipelinesDestination: Destination = {
  encoder: pipelinesEncoder,
  batchPath: PIPELINES_BATCH_PATH,
  readAnswer: (status, body) => readPipelinesAnswer(status, body),
  authReason,
};

/** A BatchTransport that delivers batches to Data Pipelines. */
export function createPipelinesTransport(o: PipelinesTransportOptions): BatchTransport {
  // Basic auth with the key as user and an empty password (the spec's Basic-Auth scheme).
  const token = Buffer.from(`${o.apiKey}:`).toString("base64");
  return createBatchSender(
    pipelinesDestination,
    { headers: { authorization: `Basic ${token}`, ...STRICT_MODE_HEADER }, secrets: [token, o.apiKey] },
    { ...o, ratePerSecond: o.ratePerSecond ?? DEFAULT_PIPELINES_RATE },
  );
}
