/** Replaces every occurrence of the given secrets with "***": the last guard before text leaves the process. */
export function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  // Very short values would redact innocent text; credentials are never that short.
  const list = secrets.filter((s): s is string => s !== undefined && s.length >= 4);
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.replaceAll(s, "***");
    return out;
  };
}
