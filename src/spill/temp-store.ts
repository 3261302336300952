import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SpillStore } from "../plan/grouping.js";
import { OutputError } from "../report/outputs.js";

// The grouping planner's temporary files (issue 16): one private folder per run (mkdtemp: 0700) in the
// system temp folder or --temp-dir, one file per partition created 0600, written and read synchronously
// (the planner runs between awaits; a write is a page-cache copy), removed as each partition is read back
// and all of them on close — which the pipeline calls on every way out: success, error, halt, Ctrl-C.

/** Where the folder goes when the user does not say. */
export const TEMP_DIR_ENV = "CIO_REL_TEMP_DIR";

/** Opens a store in a new private folder under `parent` (default: the system temp folder); throws OutputError. */
export function openTempStore(parent: string = tmpdir()): SpillStore & { readonly dir: string } {
  let dir: string;
  try {
    dir = mkdtempSync(join(parent, "cio-rel-"));
  } catch (e) {
    throw new OutputError(`a temporary folder in ${parent}`, e);
  }
  return new TempStore(dir);
}

class TempStore implements SpillStore {
  readonly dir: string;
  readonly #fds = new Map<number, number>();
  readonly #sizes = new Map<number, number>();
  #closed = false;

  constructor(dir: string) {
    this.dir = dir;
  }

  append(partition: number, bytes: Uint8Array): void {
    const path = this.#path(partition);
    try {
      let fd = this.#fds.get(partition);
      if (fd === undefined) {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_APPEND, 0o600);
        this.#fds.set(partition, fd);
      }
      const size = this.#sizes.get(partition) ?? 0;
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      this.#sizes.set(partition, size + done);
    } catch (e) {
      throw new OutputError(`temporary file ${path}`, e);
    }
  }

  read(partition: number, position: number, into: Buffer, offset: number, length: number): number {
    const size = this.#sizes.get(partition) ?? 0;
    const want = Math.min(length, size - position);
    if (want <= 0) return 0;
    const path = this.#path(partition);
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      let done = 0;
      while (done < want) {
        const n = readSync(fd, into, offset + done, want - done, position + done);
        if (n === 0) throw new Error(`temporary file ${path} is shorter than written`);
        done += n;
      }
      return done;
    } finally {
      closeSync(fd);
    }
  }

  drop(partition: number): void {
    const fd = this.#fds.get(partition);
    if (fd !== undefined) closeSync(fd);
    this.#fds.delete(partition);
    this.#sizes.delete(partition);
    try {
      unlinkSync(this.#path(partition));
    } catch {
      // already gone; close removes the folder anyway
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of this.#fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // closing is best effort; the folder goes below
      }
    }
    this.#fds.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  #path(partition: number): string {
    return join(this.dir, `part-${partition}.bin`);
  }
}
