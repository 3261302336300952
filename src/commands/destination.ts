// Which destination a run sends to (--via, issue 15): the one place add, delete and sync turn the send
// options into an encoder (for the planner) and a transport (for the pipeline). pipeline.ts knows neither.
import { trackEncoder, type Encoder, type Route } from "../plan/encoder.js";
import { pipelinesEncoder } from "../plan/pipelines-encoder.js";
import { createPipelinesTransport } from "../transport/pipelines.js";
import { createTrackTransport } from "../transport/track.js";
import type { BatchTransport, RequestInfo, SendSettings } from "../transport/types.js";
import { resolvePipelinesUrl, resolveTrackUrl } from "../transport/url.js";
import type { InputOptions, SendOptions } from "./options.js";

/** The wire format and limits of a route. */
export function encoderFor(via: Route): Encoder {
  return via === "pipelines" ? pipelinesEncoder : trackEncoder;
}

/** The base URL the route sends to: checked before any input is read, so a bad one is a usage error up front. */
export function sendUrl(send: SendOptions): string {
  return send.via === "pipelines"
    ? resolvePipelinesUrl({ region: send.region, pipelinesUrl: send.pipelinesUrl })
    : resolveTrackUrl({ region: send.region, trackUrl: send.trackUrl });
}

/** The transport of the route `send` chose, with the settings every route shares. */
export function openTransport(
  send: SendOptions,
  input: Pick<InputOptions, "batchBytes">,
  extras: { baseUrl: string; userAgent: string; onRequest?: (r: RequestInfo) => void },
): BatchTransport {
  const settings: SendSettings = {
    baseUrl: extras.baseUrl,
    concurrency: send.concurrency,
    ratePerSecond: send.rate,
    timeoutMs: send.timeoutMs,
    maxRetries: send.maxRetries,
    backoffBaseMs: send.backoffBaseMs,
    backoffCapMs: send.backoffCapMs,
    isolate: send.isolate,
    maxBatchBytes: input.batchBytes,
    userAgent: extras.userAgent,
    giveUpAfterMs: send.giveUpAfterMs,
    ...(extras.onRequest !== undefined ? { onRequest: extras.onRequest } : {}),
  };
  if (send.via === "pipelines") return createPipelinesTransport({ ...settings, apiKey: send.pipelinesApiKey as string });
  return createTrackTransport({ ...settings, siteId: send.siteId as string, apiKey: send.apiKey as string });
}
