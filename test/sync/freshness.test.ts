import { describe, expect, it } from "vitest";
import { noteWorkspaceWrite, readWaitMs } from "../../src/commands/freshness.js";

describe("reads wait for this process's writes (issue 13: writes show late)", () => {
  it("waits the rest of the delay after a write, nothing once it has passed", () => {
    noteWorkspaceWrite(1_000);
    expect(readWaitMs(1_000, 30_000)).toEqual({ waitMs: 30_000, sinceMs: 0 });
    expect(readWaitMs(11_000, 30_000)).toEqual({ waitMs: 20_000, sinceMs: 10_000 });
    expect(readWaitMs(31_000, 30_000).waitMs).toBe(0);
    expect(readWaitMs(5_000, 0).waitMs).toBe(0);
  });
});
