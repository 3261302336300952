import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "../errors.js";

/** Replaces every occurrence of the given secrets with "***": the last guard before text leaves the process. */
export function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  // Very short values would redact innocent text; credentials are never that short.
  // Longest first: a site id inside an API key must not mask part of the key and leave the rest showing.
  const list = secrets.filter((s): s is string => s !== undefined && s.length >= 4).sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.replaceAll(s, "***");
    return out;
  };
}

/** Where one credential comes from: an environment variable, or a file named by a flag (never argv itself). */
export interface CredentialSource {
  env: Readonly<Record<string, string | undefined>>;
  /** e.g. "CIO_API_KEY". */
  envName: string;
  /** The path given to the file flag, if it was given; it wins over the environment. */
  file?: string | undefined;
  /** The folder a relative `file` is resolved against (the command's ctx.cwd); messages show `file` as given. */
  cwd: string;
  /** e.g. "--api-key-file", for messages. */
  fileFlag: string;
  /** Reads a file as UTF-8 (default readFileSync); injected by tests. */
  readFile?: (path: string) => string;
}

/**
 * A credential from `--x-file <file>` (its content without the trailing line break or spaces) or else from
 * the environment; undefined when neither holds one. A file that cannot be read, is empty or holds more than
 * one line is a UsageError naming the flag and the path, never the content (issue 9: keys never on argv).
 */
export function readCredential(o: CredentialSource): string | undefined {
  if (o.file !== undefined) {
    let content: string;
    try {
      content = (o.readFile ?? ((p: string) => readFileSync(p, "utf8")))(resolve(o.cwd, o.file));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const why =
        code === "ENOENT"
          ? "no such file"
          : code === "EACCES" || code === "EPERM"
            ? "permission denied"
            : code === "EISDIR"
              ? "is a directory"
              : typeof code === "string"
                ? code
                : "unreadable";
      throw new UsageError(`${o.fileFlag} ${o.file}: cannot read it (${why})`, { help: false });
    }
    const value = content.replace(/[\s]+$/, "");
    if (value === "") throw new UsageError(`${o.fileFlag} ${o.file} is empty: it must hold the credential on one line`, { help: false });
    if (/[\r\n]/.test(value))
      throw new UsageError(`${o.fileFlag} ${o.file} holds more than one line: it must hold only the credential`, { help: false });
    return value;
  }
  const value = o.env[o.envName];
  return value === undefined || value === "" ? undefined : value;
}
