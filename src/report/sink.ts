import { NULL_DEVICE, OutputError, WRITE_FLAGS, openOutput, type OpenOutput, type OutputHandle } from "./outputs.js";

/** Text buffered before a write reaches the file; callers awaiting write() then wait for the disk (back-pressure). */
const HIGH_WATER_CHARS = 64 * 1024;

/**
 * An append-only text file written in order from many async callers. Writes are buffered and handed
 * to the FileHandle one chunk at a time; once the buffer passes the high-water mark, write() resolves
 * only when the disk has taken it, so a fast producer is held back instead of growing memory.
 */
export class TextSink {
  private chunks: string[] = [];
  private buffered = 0;
  /** The chain of writes in flight; keeps chunks in order and carries the first error to every later call. */
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: OutputHandle,
  ) {}

  /** Creates (or truncates) the file at path: mode 0600, never through a symlink. */
  static async create(path: string, opener?: OpenOutput): Promise<TextSink> {
    return new TextSink(path, await openOutput(path, WRITE_FLAGS, opener));
  }

  /** Queues text; resolves at once while the buffer is small, else when it has been written. */
  write(text: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.path} is already closed`));
    this.chunks.push(text);
    this.buffered += text.length;
    return this.buffered >= HIGH_WATER_CHARS ? this.flush() : Promise.resolve();
  }

  /** Hands everything buffered to the file, in order. */
  flush(): Promise<void> {
    if (this.chunks.length > 0) {
      const text = this.chunks.join("");
      this.chunks = [];
      this.buffered = 0;
      // FileHandle.writeFile loops until every byte is written, from the current position.
      this.flushing = this.flushing.then(() =>
        this.handle.writeFile(text, "utf8").catch((e: unknown) => {
          throw e instanceof OutputError ? e : new OutputError(this.path, e);
        }),
      );
    }
    return this.flushing;
  }

  /** Flushes, fsyncs and closes; safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
      // The null device keeps nothing and cannot be fsync-ed (EINVAL).
      if (this.path === NULL_DEVICE) return;
      await this.handle.sync().catch((e: unknown) => {
        throw new OutputError(this.path, e);
      });
    } finally {
      await this.handle.close();
    }
  }
}
