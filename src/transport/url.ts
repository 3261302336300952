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
  return resolveBaseUrl(TRACK_URLS, o.region, o.trackUrl, { flag: "--track-url", credentials: "CIO_SITE_ID and CIO_API_KEY" });
}

/** Data Pipelines base URLs by workspace region (API.md "Data Pipelines API"; the spec's servers). */
export const PIPELINES_URLS = { us: "https://cdp.customer.io/v1", eu: "https://cdp-eu.customer.io/v1" } as const;

/** The Data Pipelines base URL (issue 15): `pipelinesUrl` when given, else the region's; Track's rules for http. */
export function resolvePipelinesUrl(o: { region?: string | undefined; pipelinesUrl?: string | undefined }): string {
  return resolveBaseUrl(PIPELINES_URLS, o.region, o.pipelinesUrl, { flag: "--pipelines-url", credentials: "CIO_PIPELINES_API_KEY" });
}

/** A base URL: `given` when set (checked: https, or http to loopback; no credentials, query or fragment), else the region's. */
function resolveBaseUrl(
  urls: Readonly<Record<Region, string>>,
  region: string | undefined,
  given: string | undefined,
  names: { flag: string; credentials: string },
): string {
  if (given === undefined || given === "") {
    const r = (region ?? "us").toLowerCase();
    if (r !== "us" && r !== "eu") throw new UsageError(`unknown region "${region}": use us or eu`);
    return urls[r];
  }
  const flag = names.flag;
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`${flag} "${given}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new UsageError(`${flag} must be an https URL, not ${url.protocol}`);
  }
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new UsageError(`${flag} ${url.host}: plain http is allowed only to loopback hosts; use https`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new UsageError(`${flag} must not carry credentials: use ${names.credentials}`);
  }
  if (url.search !== "" || url.hash !== "") throw new UsageError(`${flag} must not carry a query or fragment`);
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}
