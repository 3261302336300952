import { describe, expect, it } from "vitest";
import { createRateLimiter } from "../../src/transport/rate-limiter.js";

/** A fake clock whose sleep advances it, so the limiter's schedule is exact and instant. */
function fakeClock() {
  let t = 1_000_000;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      await Promise.resolve();
      t += ms;
    },
  };
}

describe("createRateLimiter", () => {
  it("spaces starts 1000/rate ms apart, first one at once", async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 20, ...clock });
    const t0 = clock.now();
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => limiter.acquire().then(() => starts.push(clock.now() - t0))));
    expect(starts).toEqual([0, 50, 100, 150, 200]);
  });

  it("holds every waiter until a pause ends, then resumes the spacing", async () => {
    const clock = fakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 10, ...clock });
    const t0 = clock.now();
    await limiter.acquire();
    limiter.pauseUntil(t0 + 2000);
    limiter.pauseUntil(t0 + 500); // an earlier pause does not shorten it
    const starts: number[] = [];
    await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()].map((p) => p.then(() => starts.push(clock.now() - t0))));
    expect(starts).toEqual([2000, 2100, 2200]);
    expect(limiter.notBefore).toBe(t0 + 2000);
  });

  it("rejects waiters when its signal aborts, and a waiter whose own signal aborts", async () => {
    const halt = new AbortController();
    const limiter = createRateLimiter({
      ratePerSecond: 1,
      now: Date.now,
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          signal?.addEventListener("abort", () => (clearTimeout(t), reject(signal.reason)), { once: true });
        }),
      signal: halt.signal,
    });
    await limiter.acquire();
    const mine = new AbortController();
    const a = limiter.acquire(mine.signal);
    const b = limiter.acquire();
    mine.abort(new Error("mine"));
    await expect(a).rejects.toThrow("mine");
    halt.abort(new Error("halt"));
    await expect(b).rejects.toThrow("halt");
    await expect(limiter.acquire()).rejects.toThrow("halt");
  });
});
