// Output safety (issue 9 §2, §3): every file cio-rel writes is checked before anything is read, and is
// opened so that it can neither be the input nor another output, nor be reached through a symlink.
import { constants, type Stats } from "node:fs";
import { access, lstat, open, realpath, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { CioRelError, EXIT, UsageError } from "../errors.js";

/** One file the user named: the flag that named it, the path as given, and the path resolved against the command's folder. */
export interface NamedPath {
  flag: string;
  given: string;
  path: string;
}

/** What checkOutputs is told: the files read, and the files about to be written. */
export interface OutputPlan {
  /** Files read (the input, a --sql-file): an output that is one of them is refused. */
  inputs: readonly NamedPath[];
  outputs: readonly NamedPath[];
  /** Outputs that must already exist (--journal with --resume). */
  mustExist?: ReadonlySet<string>;
}

/** Identity of a file: device and inode when it exists; else its real folder and name (two outputs may name one new file). */
type Identity = { kind: "inode"; key: string } | { kind: "new"; key: string } | { kind: "null"; key: string };

/**
 * The null device: the one non-regular file an output may be. `--out /dev/null` times a dry run without
 * keeping its bodies (the benchmark does), and writing it destroys nothing. Never chmod-ed.
 */
export const NULL_DEVICE = "/dev/null";

/** An output file that could not be written mid-run (ENOSPC, EIO...): the run stops and exits 4. */
export class OutputError extends CioRelError {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(`cannot write ${path}: ${describeFsError(cause)}`, "output", EXIT.output, { cause });
    this.path = path;
  }
}

/** "no space left on device (ENOSPC)": an fs error in words, with its code. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    ENOSPC: "no space left on device",
    EDQUOT: "disk quota exceeded",
    EIO: "input/output error",
    EROFS: "read-only file system",
    EACCES: "permission denied",
    EPERM: "permission denied",
    ENOENT: "no such file or folder",
    ENOTDIR: "a parent is not a folder",
    EISDIR: "is a directory",
    ELOOP: "is a symbolic link",
    EFBIG: "file too large",
  };
  if (code !== undefined && words[code] !== undefined) return `${words[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Refuses (UsageError, exit 2, one line naming the paths) any output that is an input or another output —
 * compared by device and inode, so ./x, ../dir/x, symlinks and hard links are caught — any output that is a
 * symlink, not a regular file, a directory, read-only, or in a missing or read-only folder. Creates nothing.
 */
export async function checkOutputs(plan: OutputPlan): Promise<void> {
  const seen: { named: NamedPath; id: Identity; input: boolean }[] = [];
  for (const named of plan.inputs) {
    const info = await stat(named.path).catch(() => undefined);
    // An unreadable input is the reader's to report, with its own message.
    if (info !== undefined) seen.push({ named, id: { kind: "inode", key: `${info.dev}:${info.ino}` }, input: true });
  }
  for (const named of plan.outputs) {
    // Identity first (through a symlink), so that a link to the input is named as the input.
    const target = await stat(named.path).catch(() => undefined);
    const clashFirst = target === undefined ? undefined : seen.find((s) => s.id.kind === "inode" && s.id.key === `${target.dev}:${target.ino}`);
    const id = clashFirst !== undefined ? clashFirst.id : await outputIdentity(named, plan.mustExist?.has(named.flag) === true);
    const clash = seen.find((s) => s.id.kind === id.kind && s.id.key === id.key);
    if (clash !== undefined) {
      const what = clash.input ? "the input" : "also";
      throw new UsageError(
        `${named.flag} ${named.given} is ${what} ${clash.named.flag} ${clash.named.given}: ` +
          (clash.input ? "writing it would destroy the input; choose another path" : "two outputs cannot share a file; choose another path"),
        { help: false },
      );
    }
    seen.push({ named, id, input: false });
  }
  // A later output may have clashed first: every output still gets its own checks.
  for (const named of plan.outputs) await outputIdentity(named, plan.mustExist?.has(named.flag) === true);
}

/** Checks one output can be written, without creating it, and returns its identity. */
async function outputIdentity(named: NamedPath, mustExist: boolean): Promise<Identity> {
  const where = `${named.flag} ${named.given}`;
  const info = await lstatOrUndefined(named.path).catch((e: unknown) => {
    throw new UsageError(`${where}: cannot write it: ${describeFsError(e)}`, { help: false });
  });
  if (info === undefined) {
    if (mustExist) throw new UsageError(`${where} does not exist: there is nothing to resume (drop --resume to start a new run)`, { help: false });
    const folder = dirname(named.path);
    const folderInfo = await stat(folder).catch(() => undefined);
    if (folderInfo === undefined)
      throw new UsageError(`${where}: cannot write it: the folder ${dirname(named.given)} does not exist`, { help: false });
    if (!folderInfo.isDirectory()) throw new UsageError(`${where}: cannot write it: ${dirname(named.given)} is not a folder`, { help: false });
    try {
      await access(folder, constants.W_OK | constants.X_OK);
    } catch (e) {
      throw new UsageError(`${where}: cannot create it in ${dirname(named.given)}: ${describeFsError(e)}`, { help: false });
    }
    return { kind: "new", key: `${await realpath(folder)}/${basename(named.path)}` };
  }
  if (info.isSymbolicLink())
    throw new UsageError(`${where} is a symbolic link: cio-rel does not write through links; give the real path`, { help: false });
  if (info.isDirectory()) throw new UsageError(`${where}: cannot write it: is a directory`, { help: false });
  if (named.path === NULL_DEVICE && info.isCharacterDevice()) {
    // A journal must be read back by --resume: one written to the null device would resume nothing.
    if (named.flag === "--journal") throw new UsageError(`${where}: a journal must be a file that --resume can read back`, { help: false });
    return { kind: "null", key: `${named.flag}` };
  }
  if (!info.isFile()) throw new UsageError(`${where}: cannot write it: not a regular file (a device, pipe or socket)`, { help: false });
  try {
    await access(named.path, constants.W_OK);
  } catch (e) {
    throw new UsageError(`${where}: cannot write it: ${describeFsError(e)}`, { help: false });
  }
  return { kind: "inode", key: `${info.dev}:${info.ino}` };
}

/** Flags of a new or truncated output: never through a symlink planted at the path. */
export const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
/** Flags of an output appended to (a resumed journal). */
export const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW;
/** Outputs hold people's identifiers: readable by their owner only. */
export const OUTPUT_MODE = 0o600;

/** The file operations outputs use; tests inject failing ones (a full disk) through the command context. */
export type OutputHandle = Pick<FileHandle, "writeFile" | "appendFile" | "sync" | "datasync" | "close" | "chmod">;

/** Opens an output file; the default is fs.promises.open. */
export type OpenOutput = (path: string, flags: number, mode: number) => Promise<OutputHandle>;

/** Opens an output with no-follow and mode 0600 (an existing file is narrowed to 0600 too). */
export async function openOutput(path: string, flags: number, opener: OpenOutput = open): Promise<OutputHandle> {
  let handle: OutputHandle;
  try {
    handle = await opener(path, flags, OUTPUT_MODE);
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${describeFsError(e)}`, { help: false });
  }
  // The null device is shared by every user of the machine: its mode is not ours to narrow.
  if (path === NULL_DEVICE) return handle;
  try {
    await handle.chmod(OUTPUT_MODE);
  } catch {
    // A file system without modes (some mounts) still gets the output.
  }
  return handle;
}
