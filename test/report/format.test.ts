import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatDuration } from "../../src/report/format.js";

describe("format", () => {
  it.each([
    [0, "0"],
    [999, "999"],
    [120000, "120,000"],
    [4100.4, "4,100"],
  ])("formatCount(%d) = %s", (n, s) => expect(formatCount(n)).toBe(s));

  it("formatCount writes what en-US Intl.NumberFormat writes (it is built by hand, so that no run loads ICU)", () => {
    const intl = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
    const values = [
      1,
      12,
      123,
      1234,
      12345,
      123456,
      1234567,
      999_999.5,
      2.5,
      0.5,
      -0.4,
      -2.5,
      -1234.5,
      2 ** 53,
      1e21,
      1.5e22,
      NaN,
      Infinity,
      -Infinity,
    ];
    for (let e = 0; e < 16; e++) values.push(10 ** e, 10 ** e - 1, 7 * 10 ** e + 0.5);
    for (const n of values) expect(formatCount(n), String(n)).toBe(intl.format(n));
  });

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
