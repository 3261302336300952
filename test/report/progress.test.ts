import { PassThrough, Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createProgress, progressText, resolveProgressMode, type ProgressFigures } from "../../src/report/progress.js";

const FIGURES: ProgressFigures = { rowsRead: 120_000, applied: 118_000, failed: 3, requests: 240, bytesRead: 420 };

/** A stream that records what is written to it. */
function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString()));
  return { stream, text: () => chunks.join("") };
}

describe("resolveProgressMode", () => {
  it.each([
    ["auto", true, false, "tty"],
    ["auto", false, false, "plain"],
    ["auto", true, true, "none"],
    ["tty", false, false, "tty"],
    ["plain", true, false, "plain"],
    ["none", true, false, "none"],
    ["tty", true, true, "none"],
    ["plain", false, true, "none"],
  ] as const)("--progress %s, TTY %s, quiet %s → %s", (flag, isTTY, quiet, mode) => {
    expect(resolveProgressMode(flag, isTTY, quiet)).toBe(mode);
  });
});

describe("progressText", () => {
  it("shows figures, rate, percent and ETA", () => {
    // 120,000 rows in 30 s; 42% of the bytes read in 30 s leaves 58/42 × 30 s ≈ 41.4 s.
    expect(progressText(FIGURES, 30_000, 1000)).toBe("rows 120,000 · applied 118,000 · failed 3 · requests 240 · 4,000 rows/s · 42% · ETA 42.0 s");
    expect(progressText({ ...FIGURES, bytesRead: 250 }, 20_000, 1000)).toContain("25% · ETA 1m 00s");
  });

  it("leaves out percent and ETA without a size, and the rate in the first second", () => {
    expect(progressText(FIGURES, 30_000)).toBe("rows 120,000 · applied 118,000 · failed 3 · requests 240 · 4,000 rows/s");
    expect(progressText(FIGURES, 500, 1000)).toBe("rows 120,000 · applied 118,000 · failed 3 · requests 240 · 42%");
  });

  it("shows 100% and no ETA once the input is read", () => {
    expect(progressText({ ...FIGURES, bytesRead: 1000 }, 30_000, 1000)).toMatch(/ · 100%$/);
  });
});

describe("createProgress: plain", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes one status line per interval with the latest figures, nothing that redraws", async () => {
    const out = capture();
    const start = Date.now();
    const p = await createProgress({ mode: "plain", stream: out.stream, intervalMs: 5000, now: () => Date.now(), totalBytes: 1000 });
    p.update({ ...FIGURES, rowsRead: 1000, bytesRead: 100 });
    vi.advanceTimersByTime(4999);
    expect(out.text()).toBe("");
    p.update({ ...FIGURES, rowsRead: 20_000, bytesRead: 250 });
    vi.advanceTimersByTime(1);
    p.update({ ...FIGURES, rowsRead: 40_000, bytesRead: 500 });
    vi.advanceTimersByTime(5000);
    p.log("warning: something");
    vi.advanceTimersByTime(5000);
    p.stop();
    vi.advanceTimersByTime(20_000);
    expect(Date.now() - start).toBe(35_000);
    const lines = out.text().split("\n");
    expect(lines).toEqual([
      "rows 20,000 · applied 118,000 · failed 3 · requests 240 · 4,000 rows/s · 25% · ETA 15.0 s",
      "rows 40,000 · applied 118,000 · failed 3 · requests 240 · 4,000 rows/s · 50% · ETA 10.0 s",
      "warning: something",
      "rows 40,000 · applied 118,000 · failed 3 · requests 240 · 2,667 rows/s · 50% · ETA 15.0 s",
      "",
    ]);
    expect(out.text()).not.toMatch(/\r|\u001b/);
  });

  it("stays silent until the first figures and after stop", async () => {
    const out = capture();
    const p = await createProgress({ mode: "plain", stream: out.stream, now: () => Date.now() });
    vi.advanceTimersByTime(12_000);
    expect(out.text()).toBe("");
    p.update(FIGURES);
    // Lines keep the timer's beat (every 5 s since the start), not the first update's.
    vi.advanceTimersByTime(2_999);
    expect(out.text()).toBe("");
    vi.advanceTimersByTime(1);
    expect(out.text()).toBe("rows 120,000 · applied 118,000 · failed 3 · requests 240 · 8,000 rows/s\n");
    p.stop();
    p.stop();
    vi.advanceTimersByTime(60_000);
    expect(out.text().split("\n")).toHaveLength(2);
  });
});

describe("createProgress: none", () => {
  it("shows no progress but still prints log lines", async () => {
    vi.useFakeTimers();
    try {
      const out = capture();
      const p = await createProgress({ mode: "none", stream: out.stream });
      p.update(FIGURES);
      vi.advanceTimersByTime(60_000);
      p.log("cio-rel: an error");
      p.stop();
      expect(out.text()).toBe("cio-rel: an error\n");
    } finally {
      vi.useRealTimers();
    }
  });
});

/** A writable that looks like a terminal to ora. */
class FakeTTY extends Writable {
  readonly isTTY = true;
  readonly columns = 200;
  readonly rows = 50;
  text = "";
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
  cursorTo(x: number): boolean {
    return this.write(`\u001b[${x + 1}G`);
  }
  moveCursor(_dx: number, dy: number): boolean {
    return this.write(`\u001b[${-dy}A`);
  }
  clearLine(): boolean {
    return this.write("\u001b[2K");
  }
}

describe("createProgress: tty", () => {
  it("draws an ora spinner with the figures, keeps log lines whole and clears on stop", async () => {
    const stream = new FakeTTY();
    let clock = 0;
    const p = await createProgress({ mode: "tty", stream, now: () => clock, totalBytes: 1000 });
    clock = 30_000;
    p.update(FIGURES);
    await new Promise((r) => setTimeout(r, 250));
    expect(stream.text).toContain("rows 120,000 · applied 118,000 · failed 3 · requests 240 · 4,000 rows/s · 42% · ETA 42.0 s");
    p.log("POST https://track.customer.io/api/v2/batch 200");
    expect(stream.text).toContain("POST https://track.customer.io/api/v2/batch 200\n");
    // Updates within 100 ms of the last one are not redrawn.
    clock = 30_050;
    p.update({ ...FIGURES, rowsRead: 999_999 });
    await new Promise((r) => setTimeout(r, 150));
    expect(stream.text).not.toContain("999,999");
    p.stop();
    const afterStop = stream.text.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(stream.text.length).toBe(afterStop);
    p.stop();
  });
});
