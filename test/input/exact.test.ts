import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError, UsageError } from "../../src/errors.js";
import { binaryProblem } from "../../src/input/binary.js";
import { sniffDelimiter } from "../../src/input/csv.js";
import { detectFormat, openRowSource, type OpenOptions } from "../../src/input/open.js";
import type { Format, Row } from "../../src/input/types.js";

// Issue 10, "Read exactly, or refuse with file:line": every case is read whole and in 1- and 3-byte chunks,
// so a character or a gzip header split across chunks cannot change the answer.

const CHUNK_SIZES = [1 << 20, 1, 3, 5];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cio-rel-exact-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function stdinOf(bytes: Buffer, chunk: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function readStdin(bytes: Buffer, options: OpenOptions, chunk: number): Promise<Row[]> {
  const source = await openRowSource("-", { ...options, stdin: stdinOf(bytes, chunk) });
  const rows: Row[] = [];
  for await (const row of source.rows()) rows.push(row);
  return rows;
}

/** Rows as [line, fields], the same for every chunk size. */
async function rowsOf(bytes: Buffer, options: OpenOptions): Promise<[number, Record<string, unknown>][]> {
  const results = [];
  for (const chunk of CHUNK_SIZES) {
    results.push((await readStdin(bytes, options, chunk)).map((r): [number, Record<string, unknown>] => [r.line, r.fields]));
  }
  for (const other of results.slice(1)) expect(other).toEqual(results[0]);
  return results[0]!;
}

/** The error message, the same for every chunk size. */
async function failureOf(bytes: Buffer, options: OpenOptions): Promise<string> {
  const messages: string[] = [];
  for (const chunk of CHUNK_SIZES) {
    const error = await readStdin(bytes, options, chunk).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, `chunk ${chunk}`).toBeInstanceOf(InputError);
    messages.push((error as InputError).message);
  }
  for (const other of messages.slice(1)) expect(other).toBe(messages[0]);
  return messages[0]!;
}

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");
const utf8 = (s: string): Buffer => Buffer.from(s, "utf8");

describe("invalid bytes are an input error at their line, never U+FFFD", () => {
  const cases: [string, Buffer, OpenOptions, string][] = [
    ["Latin-1 ü in a CSV on line 3", latin1("id\n1\nmüller\n"), { format: "csv" }, "<stdin>:3: invalid UTF-8 (byte 0xFC"],
    ["Latin-1 ö in a lines file on line 2", latin1("ada\nmöller\n"), { format: "lines" }, "<stdin>:2: invalid UTF-8 (byte 0xF6"],
    ["Latin-1 é in NDJSON on line 2", latin1('{"id":"a"}\n{"id":"é"}\n'), { format: "ndjson" }, "<stdin>:2: invalid UTF-8"],
    ["Latin-1 é in a JSON array on line 3", latin1('[\n{"id":"a"},\n{"id":"é"}]'), { format: "json" }, "<stdin>:3: invalid UTF-8"],
    [
      "a lone continuation byte",
      Buffer.concat([utf8("id\nx"), Buffer.from([0x80]), utf8("\n")]),
      { format: "csv" },
      "<stdin>:2: invalid UTF-8 (byte 0x80",
    ],
    ["an overlong NUL (C0 80)", Buffer.concat([utf8("id\n1\n2\n"), Buffer.from([0xc0, 0x80])]), { format: "csv" }, "<stdin>:4: invalid UTF-8"],
    [
      "an encoded surrogate (ED A0 80)",
      Buffer.concat([utf8("id\n"), Buffer.from([0xed, 0xa0, 0x80])]),
      { format: "csv" },
      "<stdin>:2: invalid UTF-8",
    ],
    [
      "a sequence cut short at the end",
      Buffer.concat([utf8("id\n1\n"), Buffer.from([0xe2, 0x82])]),
      { format: "csv" },
      "<stdin>:3: invalid UTF-8 (a character cut short at the end)",
    ],
    [
      "after valid multi-byte text, CRLF lines",
      Buffer.concat([utf8("id\r\né😀\r\nok\r\n"), Buffer.from([0xff]), utf8("\r\n")]),
      { format: "csv" },
      "<stdin>:4: invalid UTF-8 (byte 0xFF",
    ],
    ["after a quoted newline", Buffer.concat([utf8('id,n\n1,"a\nb"\n2,'), Buffer.from([0xe9])]), { format: "csv" }, "<stdin>:4: invalid UTF-8"],
    ["lone CR line ends are counted", Buffer.concat([utf8("a\rb\rc\r"), Buffer.from([0xe9])]), { format: "lines" }, "<stdin>:4: invalid UTF-8"],
    [
      "a lone surrogate in UTF-16LE",
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("id\n1\n", "utf16le"), Buffer.from([0x00, 0xdc]), Buffer.from("\n", "utf16le")]),
      { format: "csv" },
      "<stdin>:3: invalid UTF-16LE",
    ],
  ];
  it.each(cases)("%s", async (_name, bytes, options, expected) => {
    const message = await failureOf(bytes, options);
    expect(message.startsWith(expected), message).toBe(true);
  });

  it("names --encoding as the fix for a legacy export", async () => {
    expect(await failureOf(latin1("id\nmüller\n"), { format: "csv" })).toMatch(/--encoding \(latin1, windows-1252/);
  });
});

describe("--encoding reads legacy exports exactly", () => {
  const cases: [string, Buffer, OpenOptions, [number, Record<string, unknown>][]][] = [
    [
      "latin1 keeps müller and möller apart",
      latin1("id\nmüller\nmöller\n"),
      { format: "csv", encoding: "latin1" },
      [
        [2, { id: "müller" }],
        [3, { id: "möller" }],
      ],
    ],
    [
      "windows-1252 € and curly quotes",
      Buffer.from([0x69, 0x64, 0x0a, 0x80, 0x93, 0x61, 0x94, 0x0a]),
      { format: "csv", encoding: "windows-1252" },
      [[2, { id: "€“a”" }]],
    ],
    ["iso-8859-15 as a label", Buffer.from([0x69, 0x64, 0x0a, 0xa4, 0x0a]), { format: "csv", encoding: "iso-8859-15" }, [[2, { id: "€" }]]],
    ["utf-16le without a BOM", Buffer.from("id\nü1\n", "utf16le"), { format: "csv", encoding: "utf-16le" }, [[2, { id: "ü1" }]]],
    [
      "utf-16be lines",
      Buffer.from(Buffer.from("a\nb\n", "utf16le")).swap16(),
      { format: "lines", encoding: "utf-16be" },
      [
        [1, { "": "a" }],
        [2, { "": "b" }],
      ],
    ],
    ["latin1 NDJSON", latin1('{"id":"Zoë"}\n'), { format: "ndjson", encoding: "latin1" }, [[1, { id: "Zoë" }]]],
    ["latin1 JSON array", latin1('[{"id":"Zoë"}]'), { format: "json", encoding: "latin1" }, [[1, { id: "Zoë" }]]],
    ["utf-8 named explicitly drops its BOM", utf8("\uFEFFid\n1\n"), { format: "csv", encoding: "UTF-8" }, [[2, { id: "1" }]]],
  ];
  it.each(cases)("%s", async (_name, bytes, options, expected) => {
    expect(await rowsOf(bytes, options)).toEqual(expected);
  });

  it.each(["klingon", "", "utf-9"])("an unknown encoding %j is a usage error before reading", async (label) => {
    await expect(openRowSource("-", { format: "csv", encoding: label, stdin: stdinOf(utf8("id\n1\n"), 3) })).rejects.toBeInstanceOf(UsageError);
  });
});

describe("BOMs still decide without --encoding", () => {
  const cases: [string, Buffer, [number, Record<string, unknown>][]][] = [
    ["UTF-8 BOM dropped", utf8("\uFEFFid\nü\n"), [[2, { id: "ü" }]]],
    // Only the first one is a BOM: U+FEFF inside the text is a character (UTF-8 is decoded chunk by chunk).
    [
      "UTF-8 BOM dropped, U+FEFF in the text kept",
      utf8("\uFEFFid\n\uFEFFü\n\uFEFF\n"),
      [
        [2, { id: "\uFEFFü" }],
        [3, { id: "\uFEFF" }],
      ],
    ],
    ["UTF-16LE BOM", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("id\nü\n", "utf16le")]), [[2, { id: "ü" }]]],
    ["UTF-16BE BOM", Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(Buffer.from("id\nü\n", "utf16le")).swap16()]), [[2, { id: "ü" }]]],
  ];
  it.each(cases)("%s", async (_name, bytes, expected) => {
    expect(await rowsOf(bytes, { format: "csv" })).toEqual(expected);
  });
});

describe("lines split on \\r\\n, \\n and a lone \\r", () => {
  const cases: [string, string, string, [number, Record<string, unknown>][]][] = [
    [
      "lone CR",
      "u1\ru2\ru3",
      "lines",
      [
        [1, { "": "u1" }],
        [2, { "": "u2" }],
        [3, { "": "u3" }],
      ],
    ],
    [
      "mixed",
      "u1\r\nu2\nu3\ru4\r\n",
      "lines",
      [
        [1, { "": "u1" }],
        [2, { "": "u2" }],
        [3, { "": "u3" }],
        [4, { "": "u4" }],
      ],
    ],
    [
      "blank CR lines keep numbering",
      "u1\r\ru3\r",
      "lines",
      [
        [1, { "": "u1" }],
        [3, { "": "u3" }],
      ],
    ],
    [
      "NDJSON with lone CR",
      '{"id":1}\r{"id":2}\r',
      "ndjson",
      [
        [1, { id: 1 }],
        [2, { id: 2 }],
      ],
    ],
  ];
  it.each(cases)("%s", async (_name, text, format, expected) => {
    expect(await rowsOf(utf8(text), { format: format as Format })).toEqual(expected);
  });
});

describe("gzip is read transparently", () => {
  it.each([
    [
      "ids.csv.gz",
      "id\n1\n2\n",
      [
        [2, { id: "1" }],
        [3, { id: "2" }],
      ],
    ],
    [
      "rows.ndjson.gz",
      '{"id":"a"}\n{"id":"b"}\n',
      [
        [1, { id: "a" }],
        [2, { id: "b" }],
      ],
    ],
    ["ROWS.JSON.GZ", '[{"id":"a"}]', [[1, { id: "a" }]]],
    [
      "ids.txt.gz",
      "a\nb\n",
      [
        [1, { "": "a" }],
        [2, { "": "b" }],
      ],
    ],
  ] as const)("%s: format from the name under .gz, progress by compressed bytes", async (name, text, expected) => {
    const compressed = gzipSync(utf8(text));
    const path = join(dir, name);
    await writeFile(path, compressed);
    expect(detectFormat(path)).toBeDefined();
    const source = await openRowSource(path);
    const rows: [number, Record<string, unknown>][] = [];
    for await (const row of source.rows()) rows.push([row.line, row.fields]);
    expect(rows).toEqual(expected);
    expect(source.totalBytes).toBe(compressed.length);
    expect(source.bytesRead()).toBe(compressed.length);
  });

  it("a gzip file under a plain name is unpacked too (its magic bytes say so)", async () => {
    const path = join(dir, "really-gzip.csv");
    await writeFile(path, gzipSync(utf8("id\n7\n")));
    const rows: Row[] = [];
    for await (const row of (await openRowSource(path)).rows()) rows.push(row);
    expect(rows.map((r) => r.fields)).toEqual([{ id: "7" }]);
  });

  it.each([
    ["NDJSON", '{"id":"a"}\n', { id: "a" }],
    ["JSON array", '[{"id":"b"}]', { id: "b" }],
  ])("stdin with gzip magic: %s, format sniffed from what it holds", async (_name, text, fields) => {
    const rows = await rowsOf(gzipSync(utf8(text)), {});
    expect(rows.map(([, f]) => f)).toEqual([fields]);
  });

  it("stdin gzip with --format csv", async () => {
    expect(await rowsOf(gzipSync(utf8("id\n1\n")), { format: "csv" })).toEqual([[2, { id: "1" }]]);
  });

  it.each([
    ["cut short", gzipSync(utf8("id\n" + Array.from({ length: 500 }, (_, i) => String((i * 7919) % 100003)).join("\n"))).subarray(0, 200)],
    ["damaged", Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(20, 0x41)])],
  ])("a %s gzip is an input error", async (_name, bytes) => {
    expect(await failureOf(bytes, { format: "csv" })).toMatch(/^<stdin>: cannot decompress \(gzip\)/);
  });
});

describe("binary input is refused naming the likely cause", () => {
  const cases: [string, Buffer, string, RegExp][] = [
    ["an .xlsx (zip)", Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(50, 1)]), "csv", /zip archive \(an Excel \.xlsx/],
    ["an .xls", Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]), "csv", /old Office file/],
    ["bzip2", utf8("BZh91AY&SY"), "csv", /bzip2-compressed/],
    ["xz", Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1]), "ndjson", /xz-compressed/],
    ["zstd", Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2]), "lines", /zstd-compressed/],
    ["a PDF", utf8("%PDF-1.7\n..."), "csv", /a PDF/],
    ["UTF-16LE without BOM", Buffer.from("id,role\n1,a\n", "utf16le"), "csv", /UTF-16LE text without a byte-order mark: pass --encoding utf-16le/],
    ["UTF-16BE without BOM", Buffer.from(Buffer.from("id,role\n1,a\n", "utf16le")).swap16(), "csv", /pass --encoding utf-16be/],
    [
      "NUL bytes on line 2",
      Buffer.concat([utf8("id\n"), Buffer.from([0, 1, 2, 0, 0, 3])]),
      "csv",
      /^<stdin>:2: a NUL byte \(at byte 4\): this looks like a binary file, not csv text/,
    ],
    ["a NUL in a lines file", utf8("a\nb\nc\u0000d\n"), "lines", /^<stdin>:3: a NUL byte/],
  ];
  it.each(cases)("%s", async (_name, bytes, format, expected) => {
    expect(await failureOf(bytes, { format: format as Format })).toMatch(expected);
  });

  it("NUL bytes are expected in UTF-16 named by --encoding or a BOM", () => {
    expect(binaryProblem(Buffer.from("id\n", "utf16le"), { format: "csv", encoding: "utf-16le" })).toBeUndefined();
    expect(binaryProblem(Buffer.from([0xff, 0xfe, 0x41, 0x00]), { format: "csv", encoding: undefined })).toBeUndefined();
    expect(binaryProblem(utf8("plain text, no NUL\n"), { format: "csv", encoding: undefined })).toBeUndefined();
  });
});

describe("delimiter sniffing from a .csv header", () => {
  it.each([
    ["id;role", ",", ";"],
    ["id\trole", ",", "\t"],
    ["id|role", ",", "|"],
    ["id,role;x", ",", ","],
    ["id;role|x", ",", ","], // two candidates: ambiguous, left alone
    ["id", ",", ","],
    ['"id;x"', ",", ";"],
  ])("%j → %j", (header, current, expected) => {
    expect(sniffDelimiter(header + "\n1\n", current)).toBe(expected);
  });

  it.each([
    [
      "semicolons",
      "id;role\n1;admin\n2;member\n",
      ";",
      [
        { id: "1", role: "admin" },
        { id: "2", role: "member" },
      ],
    ],
    ["tabs", "id\trole\r\n1\tadmin\r\n", "\t", [{ id: "1", role: "admin" }]],
    ["pipes, no final newline", "id|role\n1|admin", "|", [{ id: "1", role: "admin" }]],
  ])("a .csv separated by %s is read and the choice is told", async (_name, text, delimiter, expected) => {
    for (const chunk of CHUNK_SIZES) {
      const notes: string[] = [];
      const source = await openRowSource("-", { format: "csv", stdin: stdinOf(utf8(text), chunk), onNote: (m) => notes.push(m) });
      const rows: Row[] = [];
      for await (const row of source.rows()) rows.push(row);
      expect(rows.map((r) => r.fields)).toEqual(expected);
      expect(source.delimiter?.()).toBe(delimiter);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/pass --delimiter to choose/);
    }
  });

  it.each([
    ["an explicit --delimiter", { format: "csv", delimiter: "," }],
    ["a .tsv", { format: "tsv" }],
    ["--no-header", { format: "csv", header: false }],
  ] as const)("not with %s", async (_name, options) => {
    const notes: string[] = [];
    const source = await openRowSource("-", { ...options, stdin: stdinOf(utf8("id;role\n1;a\n"), 4), onNote: (m) => notes.push(m) });
    for await (const _row of source.rows()) void _row;
    expect(notes).toEqual([]);
  });
});
