import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatDuration } from "../../src/report/format.js";

describe("format", () => {
  it.each([
    [0, "0"],
    [999, "999"],
    [120000, "120,000"],
    [4100.4, "4,100"],
  ])("formatCount(%d) = %s", (n, s) => expect(formatCount(n)).toBe(s));

  it.each([
    [0, "0 B"],
    [999, "999 B"],
    [1000, "1.0 kB"],
    [1_234_567, "1.2 MB"],
    [3_500_000_000, "3.5 GB"],
  ])("formatBytes(%d) = %s", (n, s) => expect(formatBytes(n)).toBe(s));

  it.each([
    [850, "850 ms"],
    [3400, "3.4 s"],
    [70_000, "1m 10s"],
    [7_500_000, "2h 05m"],
  ])("formatDuration(%d) = %s", (n, s) => expect(formatDuration(n)).toBe(s));
});
