import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { seededRandom as rng } from "../../src/verify/sample.js";
import { runCli, tempDir } from "../e2e/cli.js";

// Issue 10's outside trial as a seeded differential check: random rows with tricky identifiers and attribute
// values are written in every format, encoding, line ending and with or without gzip; the dry run's bodies
// (--out) must carry exactly the identifiers and values written, in order. In process (runCli), so it stays fast.

// Pieces an export really holds: look-alikes, accents, CJK, emoji, combining marks, quotes, delimiters, number-like
// text (leading zeros, signs, exponents, big integers), backslashes and \N, inner spaces.
const UNICODE_PIECES = ["а", "ａ", "ß", "ü", "é", "e\u0301", "中文", "😀", "👩‍💻", "İ", "ﬁ", "Ω", "€", "œ", "\u00a0x", "x\u200by"];
const LATIN1_PIECES = ["ü", "ö", "ß", "é", "ñ", "Ø", "¿", "½", "ÿ", "Å"];
const ASCII_PIECES = [
  '"',
  "'",
  ",",
  ";",
  "|",
  "\\",
  "\\N",
  "00",
  "+",
  "-",
  "1e5",
  "1.50",
  "12345678901234567890",
  " ",
  "@",
  "#",
  "=",
  "%",
  "{",
  "}",
  "[",
  "]",
  "null",
  "true",
];

type Alphabet = "unicode" | "latin1" | "cp1252";

function identifier(next: () => number, alphabet: Alphabet, n: number): string {
  const extra = alphabet === "unicode" ? UNICODE_PIECES : alphabet === "latin1" ? LATIN1_PIECES : [...LATIN1_PIECES, "€", "œ", "Ÿ", "‰"];
  const pieces = [...ASCII_PIECES, ...extra];
  let s = String.fromCharCode(97 + Math.floor(next() * 26));
  const parts = Math.floor(next() * 6);
  for (let i = 0; i < parts; i++) s += pieces[Math.floor(next() * pieces.length)]!;
  // Unique (a repeated pair would collapse as a duplicate) and never whitespace at an end (ids are trimmed).
  return `${s}-${n}`;
}

function csvField(value: string, delimiter: string): string {
  return /["\r\n]/.test(value) || value.includes(delimiter) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

interface Shape {
  name: string;
  ext: string;
  /** The file's text for rows of [id, note]; null when the shape cannot hold these values. */
  write: (rows: readonly (readonly [string, string])[], eol: string) => string | null;
  /** Whether the note column travels (headerless lists hold only the id). */
  notes: boolean;
  args?: string[];
}

const SHAPES: Shape[] = [
  {
    name: "csv",
    ext: "csv",
    notes: true,
    write: (rows, eol) => ["id,note", ...rows.map(([i, n]) => `${csvField(i, ",")},${csvField(n, ",")}`)].join(eol) + eol,
  },
  // Excel in a comma-decimal locale: semicolons, sniffed from the header.
  {
    name: "csv;",
    ext: "csv",
    notes: true,
    write: (rows, eol) => ["id;note", ...rows.map(([i, n]) => `${csvField(i, ";")};${csvField(n, ";")}`)].join(eol) + eol,
  },
  {
    name: "tsv",
    ext: "tsv",
    notes: true,
    write: (rows, eol) => ["id\tnote", ...rows.map(([i, n]) => `${csvField(i, "\t")}\t${csvField(n, "\t")}`)].join(eol) + eol,
  },
  {
    name: "csv --no-header",
    ext: "csv",
    notes: false,
    args: ["--no-header"],
    write: (rows, eol) => rows.map(([i]) => csvField(i, ",")).join(eol) + eol,
  },
  {
    name: "ndjson",
    ext: "ndjson",
    notes: true,
    write: (rows, eol) => eol + rows.map(([i, n]) => JSON.stringify({ id: i, note: n })).join(eol + eol) + eol,
  },
  { name: "json (one line)", ext: "json", notes: true, write: (rows) => JSON.stringify(rows.map(([i, n]) => ({ id: i, note: n }))) },
  {
    name: "json (pretty)",
    ext: "json",
    notes: true,
    write: (rows, eol) =>
      JSON.stringify(
        rows.map(([i, n]) => ({ id: i, meta: { n: [1, { x: null }] }, note: n })),
        null,
        2,
      ).replace(/\n/g, eol),
  },
  // A plain list: one id per line, anything after a TAB ignored; ids here hold no TAB or line break anyway.
  { name: "lines", ext: "txt", notes: false, write: (rows, eol) => rows.map(([i]) => i).join(eol) + eol },
];

interface Encoding {
  name: string;
  alphabet: Alphabet;
  encode: (text: string) => Buffer;
  args: string[];
}

const utf16be = (text: string): Buffer => Buffer.from(text, "utf16le").swap16();
const CP1252_HIGH: Record<string, number> = { "€": 0x80, œ: 0x9c, Ÿ: 0x9f, "‰": 0x89 };
const cp1252 = (text: string): Buffer => Buffer.from([...text].map((ch) => CP1252_HIGH[ch] ?? ch.charCodeAt(0)));

const ENCODINGS: Encoding[] = [
  { name: "utf-8", alphabet: "unicode", encode: (t) => Buffer.from(t, "utf8"), args: [] },
  { name: "utf-8 with BOM", alphabet: "unicode", encode: (t) => Buffer.from("\ufeff" + t, "utf8"), args: [] },
  { name: "utf-16le with BOM", alphabet: "unicode", encode: (t) => Buffer.from("\ufeff" + t, "utf16le"), args: [] },
  { name: "utf-16be with BOM", alphabet: "unicode", encode: (t) => utf16be("\ufeff" + t), args: [] },
  { name: "utf-16le, --encoding", alphabet: "unicode", encode: (t) => Buffer.from(t, "utf16le"), args: ["--encoding", "utf-16le"] },
  { name: "utf-16be, --encoding", alphabet: "unicode", encode: (t) => utf16be(t), args: ["--encoding", "utf-16be"] },
  { name: "latin1, --encoding", alphabet: "latin1", encode: (t) => Buffer.from(t, "latin1"), args: ["--encoding", "latin1"] },
  { name: "windows-1252, --encoding", alphabet: "cp1252", encode: cp1252, args: ["--encoding", "windows-1252"] },
];

/** The person ids and notes the dry run's bodies carry, in order. */
function sent(out: string): [string, unknown][] {
  const rows: [string, unknown][] = [];
  for (const line of readFileSync(out, "utf8").split("\n")) {
    if (line === "") continue;
    const body = JSON.parse(line) as {
      batch: { cio_relationships: { identifiers: { id: string }; relationship_attributes?: { note?: unknown } }[] }[];
    };
    for (const op of body.batch) for (const rel of op.cio_relationships) rows.push([rel.identifiers.id, rel.relationship_attributes?.note]);
  }
  return rows;
}

describe("outside trial: random tricky rows in every format, encoding and compression arrive exactly", () => {
  const SEED = 20261202;
  const next = rng(SEED);
  const dir = tempDir();
  const cases: { shape: Shape; encoding: Encoding; eol: string; gzip: boolean; seed: number }[] = [];
  for (const shape of SHAPES)
    for (const encoding of ENCODINGS)
      cases.push({ shape, encoding, eol: next() < 0.5 ? "\r\n" : "\n", gzip: next() < 0.4, seed: Math.floor(next() * 2 ** 31) });

  it(`${cases.length} files (seed ${SEED}): the bodies carry exactly the ids and notes written`, async () => {
    let n = 0;
    for (const { shape, encoding, eol, gzip, seed } of cases) {
      const r = rng(seed);
      const rows = Array.from({ length: 25 }, (_, i) => [identifier(r, encoding.alphabet, i), identifier(r, encoding.alphabet, 100 + i)] as const);
      const text = shape.write(rows, eol);
      if (text === null) continue;
      const name = `t${n++}.${shape.ext}${gzip && n % 2 === 0 ? ".gz" : ""}`;
      const path = join(dir, name);
      const bytes = encoding.encode(text);
      // gzip as two concatenated members (as `cat a.gz b.gz` makes), split at a random byte, even inside a character.
      const cut = Math.floor(r() * bytes.length);
      writeFileSync(path, gzip ? Buffer.concat([gzipSync(bytes.subarray(0, cut)), gzipSync(bytes.subarray(cut))]) : bytes);
      const out = join(dir, `${name}.bodies.ndjson`);
      const args = ["add", "--object", "acme", "--people", path, "--dry-run", "--out", out, ...encoding.args, ...(shape.args ?? [])];
      if (shape.notes) args.push("--attributes", "note");
      const what = `${shape.name}, ${encoding.name}, ${eol === "\r\n" ? "CRLF" : "LF"}${gzip ? `, gzip (2 members) as ${name}` : ""}`;
      const res = await runCli(args);
      expect(res.code, `${what}: ${res.stderr}`).toBe(0);
      expect(sent(out), what).toEqual(rows.map(([id, note]) => [id, shape.notes ? note : undefined]));
    }
    expect(n).toBe(SHAPES.length * ENCODINGS.length);
  });
});
