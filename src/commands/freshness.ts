// Writes are not instantly visible to reads (API.md: Track writes are applied asynchronously). A sync that
// plans right after this process wrote would plan from stale reads; it waits for them instead (issue 13).

/**
 * After this process wrote to the workspace, a sync waits this long by default before reading (--read-delay).
 * Not a measured figure (Customer.io documents none): long enough for the asynchronous processing a read
 * soon after a write usually misses, short enough not to stall a script.
 */
export const DEFAULT_READ_DELAY_S = 30;

/** When this process last had writes accepted (ms, on the caller's clock); undefined if never. */
let lastWriteAt: number | undefined;

/** Records that this process just had writes accepted (add, delete, sync, undo). */
export function noteWorkspaceWrite(at: number): void {
  lastWriteAt = at;
}

/** How long a read at `now` should still wait for this process's writes to show: 0 when none are that recent. */
export function readWaitMs(now: number, delayMs: number): { waitMs: number; sinceMs: number } {
  if (lastWriteAt === undefined) return { waitMs: 0, sinceMs: Infinity };
  return { waitMs: Math.max(0, lastWriteAt + delayMs - now), sinceMs: now - lastWriteAt };
}
