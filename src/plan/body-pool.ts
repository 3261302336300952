// Memory for batch bodies, reused (issue 16). A 500 KB body written into fresh memory costs more than
// encoding it: every new page faults in (measured: ~4 ms per fresh 500 KB buffer, ~0.01 ms reused), and
// a million rows make hundreds of bodies. So bodies are written into buffers that come back once their
// batch is written (dry run) or applied (sent), and go to the next batch.

/** Buffers of one size, handed out and taken back; a buffer never taken back is simply collected. */
export class BodyPool {
  readonly #free: Buffer[] = [];
  constructor(
    /** Bytes of each buffer. */
    readonly size: number,
    /** Most buffers kept for reuse; the rest are left to the collector. */
    readonly keep = 16,
  ) {}

  /** A buffer of `size` bytes whose contents are undefined. */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Takes a buffer back for reuse: nothing may read or write it afterwards. */
  give(buf: Buffer): void {
    if (buf.length === this.size && this.#free.length < this.keep && !this.#free.includes(buf)) this.#free.push(buf);
  }
}

const pools = new Map<number, BodyPool>();

/** The process's pool of buffers of `size` bytes. */
export function bodyPool(size: number): BodyPool {
  let pool = pools.get(size);
  if (pool === undefined) pools.set(size, (pool = new BodyPool(size)));
  return pool;
}
