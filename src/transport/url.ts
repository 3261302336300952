import { isIP } from "node:net";
import { UsageError } from "../errors.js";

/** Track API hosts by workspace region (API.md "Track API v2"). */
export const TRACK_URLS = { us: "https://track.customer.io", eu: "https://track-eu.customer.io" } as const;

/** A workspace region. */
export type Region = keyof typeof TRACK_URLS;

/** Whether `hostname` (as URL.hostname gives it) is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/**
 * The Track API base URL (no trailing slash): `trackUrl` when given, else the region's host (default us).
 * Plain http is refused except to loopback, so credentials never cross a network in clear (issue 4).
 */
export function resolveTrackUrl(o: { region?: string | undefined; trackUrl?: string | undefined }): string {
  if (o.trackUrl === undefined || o.trackUrl === "") {
    const region = (o.region ?? "us").toLowerCase();
    if (region !== "us" && region !== "eu") throw new UsageError(`unknown region "${o.region}": use us or eu`);
    return TRACK_URLS[region];
  }
  let url: URL;
  try {
    url = new URL(o.trackUrl);
  } catch {
    throw new UsageError(`--track-url "${o.trackUrl}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`--track-url must be an https URL, not ${url.protocol}`);
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new UsageError(`--track-url ${url.host}: plain http is allowed only to loopback hosts; use https`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError("--track-url must not carry credentials: use CIO_SITE_ID and CIO_API_KEY");
  }
  if (url.search !== "" || url.hash !== "") throw new UsageError("--track-url must not carry a query or fragment");
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}
