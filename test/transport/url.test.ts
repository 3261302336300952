import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { isLoopbackHost, resolvePipelinesUrl, resolveTrackUrl } from "../../src/transport/url.js";

describe("resolveTrackUrl", () => {
  it.each<[{ region?: string; trackUrl?: string }, string]>([
    [{}, "https://track.customer.io"],
    [{ region: "us" }, "https://track.customer.io"],
    [{ region: "eu" }, "https://track-eu.customer.io"],
    [{ region: "EU" }, "https://track-eu.customer.io"],
    [{ region: "eu", trackUrl: "https://proxy.example.com/" }, "https://proxy.example.com"],
    [{ trackUrl: "https://proxy.example.com/cio//" }, "https://proxy.example.com/cio"],
    [{ trackUrl: "http://127.0.0.1:8080" }, "http://127.0.0.1:8080"],
    [{ trackUrl: "http://127.9.8.7:1/" }, "http://127.9.8.7:1"],
    [{ trackUrl: "http://localhost:3000" }, "http://localhost:3000"],
    [{ trackUrl: "http://[::1]:3000" }, "http://[::1]:3000"],
    [{ region: "us", trackUrl: "" }, "https://track.customer.io"],
  ])("%j → %s", (input, expected) => {
    expect(resolveTrackUrl(input)).toBe(expected);
  });

  it.each<[{ region?: string; trackUrl?: string }, RegExp]>([
    [{ region: "ap" }, /unknown region "ap"/],
    [{ trackUrl: "http://track.customer.io" }, /plain http is allowed only to loopback/],
    [{ trackUrl: "http://localhost.evil.com" }, /plain http/],
    [{ trackUrl: "http://128.0.0.1" }, /plain http/],
    [{ trackUrl: "http://10.0.0.1:80" }, /plain http/],
    [{ trackUrl: "ftp://track.customer.io" }, /https URL, not ftp:/],
    [{ trackUrl: "track.customer.io" }, /is not a URL/],
    [{ trackUrl: "https://site:key@track.customer.io" }, /must not carry credentials/],
    [{ trackUrl: "https://track.customer.io/?x=1" }, /query/],
  ])("%j is refused", (input, message) => {
    expect(() => resolveTrackUrl(input)).toThrow(UsageError);
    expect(() => resolveTrackUrl(input)).toThrow(message);
  });

  it("never echoes credentials found in the URL", () => {
    expect(() => resolveTrackUrl({ trackUrl: "https://site:s3cr3t@track.customer.io" })).toThrow(/^(?!.*s3cr3t)/);
  });
});

describe("isLoopbackHost", () => {
  it.each([
    ["localhost", true],
    ["LOCALHOST", true],
    ["127.0.0.1", true],
    ["127.255.0.3", true],
    ["[::1]", true],
    ["::1", true],
    ["127.example.com", false],
    ["0.0.0.0", false],
    ["[::2]", false],
    ["track.customer.io", false],
  ])("%s → %s", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe("resolvePipelinesUrl (issue 15): Track's rules, the Data Pipelines hosts", () => {
  it.each<[{ region?: string; pipelinesUrl?: string }, string]>([
    [{}, "https://cdp.customer.io/v1"],
    [{ region: "eu" }, "https://cdp-eu.customer.io/v1"],
    [{ region: "EU", pipelinesUrl: "" }, "https://cdp-eu.customer.io/v1"],
    [{ region: "eu", pipelinesUrl: "https://proxy.example.com/v1/" }, "https://proxy.example.com/v1"],
    [{ pipelinesUrl: "http://127.0.0.1:4010/v1" }, "http://127.0.0.1:4010/v1"],
    [{ pipelinesUrl: "http://[::1]:4010/v1" }, "http://[::1]:4010/v1"],
  ])("%j → %s", (input, expected) => {
    expect(resolvePipelinesUrl(input)).toBe(expected);
  });

  it.each<[{ region?: string; pipelinesUrl?: string }, RegExp]>([
    [{ region: "ap" }, /unknown region "ap"/],
    [{ pipelinesUrl: "http://cdp.customer.io/v1" }, /--pipelines-url cdp.customer.io: plain http is allowed only to loopback/],
    [{ pipelinesUrl: "http://10.1.2.3/v1" }, /plain http/],
    [{ pipelinesUrl: "https://key:@cdp.customer.io/v1" }, /--pipelines-url must not carry credentials: use CIO_PIPELINES_API_KEY/],
    [{ pipelinesUrl: "https://cdp.customer.io/v1#x" }, /query or fragment/],
    [{ pipelinesUrl: "cdp.customer.io" }, /--pipelines-url "cdp.customer.io" is not a URL/],
  ])("%j is refused", (input, message) => {
    expect(() => resolvePipelinesUrl(input)).toThrow(UsageError);
    expect(() => resolvePipelinesUrl(input)).toThrow(message);
  });
});
