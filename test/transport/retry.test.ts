import { describe, expect, it } from "vitest";
import { backoffDelay, parseRetryAfter, RETRYABLE_STATUSES } from "../../src/transport/retry.js";

describe("backoffDelay", () => {
  it.each([
    // attempt, base, cap, random, expected
    [0, 500, 30_000, 1, 500],
    [1, 500, 30_000, 1, 1000],
    [3, 500, 30_000, 1, 4000],
    [3, 500, 30_000, 0.5, 2000],
    [3, 500, 30_000, 0, 0],
    [6, 500, 30_000, 1, 30_000], // 32 s capped at 30 s
    [6, 500, 30_000, 0.25, 7500],
    [2000, 500, 30_000, 0.5, 15_000], // 2^2000 is Infinity: the cap still wins
    [2, 10, 1000, 0.99, 39.6],
  ])("attempt %i base %i cap %i random %f → %f ms", (attempt, base, cap, r, expected) => {
    expect(backoffDelay(attempt, base, cap, () => r)).toBeCloseTo(expected, 6);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  it.each<[string | string[] | undefined, number | undefined]>([
    ["1", 1000],
    ["0", 0],
    [" 2 ", 2000],
    ["120", 120_000],
    ["1.5", 1500],
    [["3", "9"], 3000],
    ["Wed, 21 Oct 2015 07:28:05 GMT", 5000],
    ["Wed, 21 Oct 2015 07:30:00 GMT", 120_000],
    ["Wed, 21 Oct 2015 07:27:00 GMT", 0], // in the past: no wait
    ["-1", undefined],
    ["2024", 2_024_000], // delta-seconds, not a year
    ["soon", undefined],
    ["", undefined],
    [undefined, undefined],
    ["1e3", undefined],
  ])("%j → %s", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe("RETRYABLE_STATUSES", () => {
  it("holds exactly the transient statuses of issue 4", () => {
    expect([...RETRYABLE_STATUSES].sort()).toEqual([408, 429, 500, 502, 503, 504]);
  });
});
