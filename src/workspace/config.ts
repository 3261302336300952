// Where the App API is and the key to it (issue 12): `--region` / `--app-url` (env CIO_APP_URL), and the
// key from CIO_APP_API_KEY or `--app-api-key-file`, never from argv.
import { UsageError } from "../errors.js";
import { readCredential } from "../commands/secrets.js";
import { isLoopbackHost } from "../transport/url.js";
import { APP_URLS } from "./client.js";

/**
 * The App API base URL (no trailing slash): `appUrl` when given, else the region's host (default us).
 * Plain http is refused except to loopback, so the key never crosses a network in clear (as for Track).
 */
export function resolveAppUrl(o: { region?: string | undefined; appUrl?: string | undefined }): string {
  if (o.appUrl === undefined || o.appUrl === "") {
    const region = (o.region ?? "us").toLowerCase();
    if (region !== "us" && region !== "eu") throw new UsageError(`unknown region "${o.region}": use us or eu`);
    return APP_URLS[region];
  }
  let url: URL;
  try {
    url = new URL(o.appUrl);
  } catch {
    throw new UsageError(`--app-url "${o.appUrl}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UsageError(`--app-url must be an https URL, not ${url.protocol}`);
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    throw new UsageError(`--app-url ${url.host}: plain http is allowed only to loopback hosts; use https`);
  }
  if (url.username !== "" || url.password !== "") throw new UsageError("--app-url must not carry credentials: use CIO_APP_API_KEY");
  if (url.search !== "" || url.hash !== "") throw new UsageError("--app-url must not carry a query or fragment");
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/**
 * The App API key: from `--app-api-key-file` when given, else CIO_APP_API_KEY; undefined when neither is
 * there; a relative file is resolved against `cwd` (the command's ctx.cwd). Read by the shared readCredential,
 * so a bad file is a usage error naming the file, never its content.
 */
export async function readAppApiKey(
  file: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<string | undefined> {
  return readCredential({ env, envName: "CIO_APP_API_KEY", file, fileFlag: "--app-api-key-file", cwd });
}
