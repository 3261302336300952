// The Track API destination (issue 4): POST /api/v2/batch with Basic auth site_id:api_key, Track's JSON
// (src/plan/encoder.ts trackEncoder) and Track's answers (207 with batch_index, ./response.ts). Sending,
// retries, isolation and stopping are the shared batch sender's (./sender.ts).
import { INTERRUPTED, MAX_REDIRECTS, MAX_RETRY_AFTER_MS, describeNetworkError } from "../http/exchange.js";
import { trackEncoder } from "../plan/encoder.js";
import { readAnswer } from "./response.js";
import { createBatchSender, DEFAULT_GIVE_UP_AFTER_MS, type Destination } from "./sender.js";
import type { BatchTransport, TrackTransportOptions } from "./types.js";

export { DEFAULT_GIVE_UP_AFTER_MS, INTERRUPTED, MAX_REDIRECTS, MAX_RETRY_AFTER_MS, describeNetworkError };

/** Path of the batch endpoint under the base URL (API.md). */
export const BATCH_PATH = "/api/v2/batch";

/** "authentication refused (401): check CIO_SITE_ID and CIO_API_KEY". */
function authReason(status: number): string {
  const what = status === 403 ? "permission refused" : "authentication refused";
  return `${what} (${status}): check CIO_SITE_ID and CIO_API_KEY`;
}

/** Track API v2: its encoder, its answers, its path. */
export const trackDestination: Destination = { encoder: trackEncoder, batchPath: BATCH_PATH, readAnswer, authReason };

/** A BatchTransport that delivers batches to the Track API. */
export function createTrackTransport(o: TrackTransportOptions): BatchTransport {
  const token = Buffer.from(`${o.siteId}:${o.apiKey}`).toString("base64");
  // Server bodies and error texts may echo what we sent; the sender scrubs these from anything it reports.
  return createBatchSender(trackDestination, { headers: { authorization: `Basic ${token}` }, secrets: [token, o.apiKey, o.siteId] }, o);
}
