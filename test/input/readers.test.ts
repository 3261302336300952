import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { InputError, UsageError } from "../../src/errors.js";
import { openRowSource, type OpenOptions } from "../../src/input/open.js";
import type { BatchedRowSource, Row } from "../../src/input/types.js";

/** Every case is read whole, in 1-byte chunks and in 3-byte chunks: chunk boundaries must not matter. */
const CHUNK_SIZES = [1 << 20, 1, 3];

function stdinOf(data: string, chunk: number): Readable {
  const bytes = Buffer.from(data);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function read(data: string, options: OpenOptions, chunk = 1 << 20): Promise<{ rows: Row[]; source: BatchedRowSource }> {
  const source = await openRowSource("-", { ...options, stdin: stdinOf(data, chunk) });
  const rows: Row[] = [];
  for await (const row of source.rows()) rows.push(row);
  return { rows, source };
}

/** The rows as [line, fields] pairs, the same for every chunk size. */
async function rowsOf(data: string, options: OpenOptions): Promise<[number, Record<string, unknown>][]> {
  const results = [];
  for (const chunk of CHUNK_SIZES) {
    const { rows } = await read(data, options, chunk);
    // Whatever the layout, a row's identity is its ordinal among the records: 1, 2, 3, ...
    expect(rows.map((r) => r.index)).toEqual(rows.map((_, i) => i + 1));
    results.push(rows.map((r): [number, Record<string, unknown>] => [r.line, r.fields]));
  }
  for (const other of results.slice(1)) expect(other).toEqual(results[0]);
  return results[0]!;
}

/** The InputError reading `data` raises, the same for every chunk size. */
async function failureOf(data: string, options: OpenOptions): Promise<InputError> {
  const errors: InputError[] = [];
  for (const chunk of CHUNK_SIZES) {
    const error = await read(data, options, chunk).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    errors.push(error as InputError);
  }
  for (const other of errors.slice(1)) expect(other.message).toBe(errors[0]!.message);
  return errors[0]!;
}

describe("row identity (issue 9): Row.index is the record's ordinal, whatever shares a line", () => {
  it.each<[string, string, OpenOptions, [number, number][]]>([
    [
      "a JSON array on one line (JSON.stringify)",
      JSON.stringify([{ id: "a" }, { id: "b" }, { id: "c" }]),
      { format: "json" },
      [
        [1, 1],
        [2, 1],
        [3, 1],
      ],
    ],
    [
      "a JSON array, two elements on one line",
      '[{"id":"a"},\n{"id":"b"},{"id":"c"}]',
      { format: "json" },
      [
        [1, 1],
        [2, 2],
        [3, 2],
      ],
    ],
    [
      "CSV with quoted newlines",
      'id,note\n1,"x\ny"\n2,"p\r\nq\rr"\n3,z\n',
      { format: "csv" },
      [
        [1, 2],
        [2, 4],
        [3, 7],
      ],
    ],
    [
      "CSV with CR line ends and blank records",
      "id\r1\r\r,\r2\r",
      { format: "csv" },
      [
        [1, 2],
        [2, 5],
      ],
    ],
    [
      "headerless CSV",
      "a\n\nb\n",
      { format: "csv", header: false },
      [
        [1, 1],
        [2, 3],
      ],
    ],
    [
      "NDJSON with blank lines",
      '\n{"id":1}\n\n{"id":2}\n',
      { format: "ndjson" },
      [
        [1, 2],
        [2, 4],
      ],
    ],
    [
      "lines with blank lines",
      "a\n\n  \nb\n",
      { format: "lines" },
      [
        [1, 1],
        [2, 4],
      ],
    ],
  ])("%s", async (_name, data, options, expected) => {
    for (const chunk of CHUNK_SIZES) {
      const { rows } = await read(data, options, chunk);
      expect(rows.map((r) => [r.index, r.line])).toEqual(expected);
    }
  });
});

describe("csv and tsv", () => {
  const cases: [string, string, OpenOptions, [number, Record<string, unknown>][]][] = [
    [
      "header then rows",
      "id,role\n1,admin\n2,member\n",
      {},
      [
        [2, { id: "1", role: "admin" }],
        [3, { id: "2", role: "member" }],
      ],
    ],
    [
      "CRLF",
      "id,role\r\n1,a\r\n2,b\r\n",
      {},
      [
        [2, { id: "1", role: "a" }],
        [3, { id: "2", role: "b" }],
      ],
    ],
    [
      "lone CR",
      "id\r1\r2\r",
      {},
      [
        [2, { id: "1" }],
        [3, { id: "2" }],
      ],
    ],
    [
      "mixed line endings leave no CR in a field",
      "id,role\n1,a\r\n2,b\n",
      {},
      [
        [2, { id: "1", role: "a" }],
        [3, { id: "2", role: "b" }],
      ],
    ],
    ["no final newline", "id\n1", {}, [[2, { id: "1" }]]],
    [
      "quoted newline moves the next record's line",
      'id,note\n1,"a\nb"\n2,c\n',
      {},
      [
        [2, { id: "1", note: "a\nb" }],
        [4, { id: "2", note: "c" }],
      ],
    ],
    [
      "quoted CRLF counts as one line",
      'id,note\r\n1,"a\r\nb"\r\n2,c\r\n3,d\r\n',
      {},
      [
        [2, { id: "1", note: "a\r\nb" }],
        [4, { id: "2", note: "c" }],
        [5, { id: "3", note: "d" }],
      ],
    ],
    [
      "several quoted newlines then a blank line",
      'id,n\n"1","x\n\ny"\n\n2,z\n',
      {},
      [
        [2, { id: "1", n: "x\n\ny" }],
        [6, { id: "2", n: "z" }],
      ],
    ],
    [
      "blank lines are skipped, lines stay physical",
      "\nid\n\n1\n\n\n2\n",
      {},
      [
        [4, { id: "1" }],
        [7, { id: "2" }],
      ],
    ],
    ["BOM", "\uFEFFid,role\n1,a\n", {}, [[2, { id: "1", role: "a" }]]],
    ["header names trimmed, fields not", " id , role \n1, a \n", {}, [[2, { id: "1", role: " a " }]]],
    ["quotes, delimiters and doubled quotes in fields", 'id,name\n1,"Smith, ""Jo"""\n', {}, [[2, { id: "1", name: 'Smith, "Jo"' }]]],
    ["multi-byte UTF-8", "id,name\n1,Zoë 😀\n", {}, [[2, { id: "1", name: "Zoë 😀" }]]],
    [
      "empty cells stay, all-empty records go",
      "id,role\n1,\n,\n2,b\n",
      {},
      [
        [2, { id: "1", role: "" }],
        [4, { id: "2", role: "b" }],
      ],
    ],
    ["cio_rel_error is dropped", "id,role,cio_rel_error\n1,a,boom\n", {}, [[2, { id: "1", role: "a" }]]],
    ["unnamed columns are dropped", "id,role,\n1,a,\n", {}, [[2, { id: "1", role: "a" }]]],
    ["custom delimiter", "id;role\n1;a,b\n", { delimiter: ";" }, [[2, { id: "1", role: "a,b" }]]],
    ["backslash-t means TAB", "id\trole\n1\ta\n", { delimiter: "\\t" }, [[2, { id: "1", role: "a" }]]],
    ["tsv", "id\trole\n1\ta,b\n", { format: "tsv" }, [[2, { id: "1", role: "a,b" }]]],
    [
      "headerless: the first field is the identifier",
      "u1\nu2,ignored\n\nu3\n",
      { header: false },
      [
        [1, { "": "u1" }],
        [2, { "": "u2" }],
        [4, { "": "u3" }],
      ],
    ],
    [
      "a headerless failures file reads back",
      'u1,invalid id\nu2,"api error: 400, bad"\n',
      { header: false },
      [
        [1, { "": "u1" }],
        [2, { "": "u2" }],
      ],
    ],
    ["header only", "id,role\n", {}, []],
    ["empty input", "", {}, []],
  ];
  it.each(cases)("%s", async (_name, data, options, expected) => {
    expect(await rowsOf(data, { format: "csv", ...options })).toEqual(expected);
  });

  it("knows its columns once the header is read, and whether it is headerless", async () => {
    const { source } = await read("id,cio_rel_error,role\n1,x,a\n", { format: "csv" });
    expect(source.columns()).toEqual(["id", "role"]);
    expect(source.headerless).toBe(false);
    const headerless = await read("u1\n", { format: "csv", header: false });
    expect(headerless.source.headerless).toBe(true);
    expect(headerless.source.columns()).toBeUndefined();
  });

  const failures: [string, string, OpenOptions, string][] = [
    ["too many fields", "id,role\n1,a\n2,b,c\n", {}, "<stdin>:3: row has 3 fields, header has 2"],
    ["too few fields", "id,role\n1\n", {}, "<stdin>:2: row has 1 field, header has 2"],
    ["too few fields after a quoted newline", 'id,note\n1,"a\nb"\n2\n', {}, "<stdin>:4: row has 1 field, header has 2"],
    ["unclosed quote", 'id,note\n1,a\n2,"oops\n3,c\n4,d\n', {}, "<stdin>:3: a quoted field opened on this line is never closed"],
    [
      "unclosed quote after a multi-line field of the same record",
      'id,a,b\n1,"x\ny","open\nmore\n',
      {},
      "<stdin>:3: a quoted field opened on this line is never closed",
    ],
    ["unclosed quote after blank lines", 'id\n1\n\n\n"open\n', {}, "<stdin>:5: a quoted field opened on this line is never closed"],
    [
      "text after a closing quote",
      'id,note\n1,"ab"c\n',
      {},
      '<stdin>:2: a closing quote must be followed by the delimiter or the end of the line (write a quote inside a quoted field as "")',
    ],
    [
      "text after a closing quote, on the field's second line",
      'id,note\n1,"a\nb"c\n',
      {},
      '<stdin>:3: a closing quote must be followed by the delimiter or the end of the line (write a quote inside a quoted field as "")',
    ],
    [
      "quote inside an unquoted field",
      'id,note\n1,ab"c"\n',
      {},
      '<stdin>:2: a quote inside an unquoted field (quote the whole field and write the quote as "")',
    ],
    ["duplicate header names", "id,role, id\n1,2,3\n", {}, '<stdin>:1: duplicate column name "id" in the header'],
    ["duplicate header names after a blank line", "\nid,id\n", {}, '<stdin>:2: duplicate column name "id" in the header'],
  ];
  it.each(failures)("%s is an InputError at its line", async (_name, data, options, message) => {
    const error = await failureOf(data, { format: "csv", ...options });
    expect(error.message).toBe(message);
    expect(error.file).toBe("<stdin>");
    expect(error.line).toBe(Number(/^<stdin>:(\d+)/.exec(message)![1]));
  });

  it("a row that fails stops the stream after the good rows before it", async () => {
    const source = await openRowSource("-", { format: "csv", stdin: stdinOf('id\n1\n2\n"3\n', 1 << 20) });
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const row of source.rows()) seen.push(row.line);
      })(),
    ).rejects.toThrow("<stdin>:4: a quoted field opened on this line is never closed");
    expect(seen).toEqual([2, 3]);
  });
});

describe("lines", () => {
  it("one trimmed identifier per non-blank line; a TAB starts a comment; BOM and CR are dropped", async () => {
    const data = "\uFEFFu1\n  u2  \r\n\n   \nu3\tinvalid id: too long\n\tonly a comment\nu 4\n u5 ";
    expect(await rowsOf(data, { format: "lines" })).toEqual([
      [1, { "": "u1" }],
      [2, { "": "u2" }],
      [5, { "": "u3" }],
      [7, { "": "u 4" }],
      [8, { "": "u5" }],
    ]);
  });

  it("is headerless and ignores the header option", async () => {
    const { rows, source } = await read("id\n1\n", { format: "lines", header: true });
    expect(source.headerless).toBe(true);
    expect(rows.map((r) => r.fields[""])).toEqual(["id", "1"]);
  });
});

describe("ndjson", () => {
  const cases: [string, string, [number, Record<string, unknown>][]][] = [
    [
      "objects keep JSON types; blank lines skipped; CRLF; cio_rel_error dropped",
      '{"id":"1","n":2,"ok":true}\r\n\n  \n{"id":"2","cio_rel_error":"x","nested":{"a":[1]},"none":null}\n',
      [
        [1, { id: "1", n: 2, ok: true }],
        [4, { id: "2", nested: { a: [1] }, none: null }],
      ],
    ],
    ["BOM and no final newline", '\uFEFF{"id":"é😀"}', [[1, { id: "é😀" }]]],
    ["empty input", "", []],
  ];
  it.each(cases)("%s", async (_name, data, expected) => {
    expect(await rowsOf(data, { format: "ndjson" })).toEqual(expected);
  });

  const failures: [string, string, string][] = [
    ["a bad value", '{"id":1}\n{"id":}\n', "<stdin>:2:7: invalid JSON in the line: Unexpected token '}'"],
    ["an unclosed object", '{"id":"1"\n', "<stdin>:1:10: invalid JSON in the line: Expected ',' or '}' after property value"],
    ["two objects on a line", '{"a":1} {"b":2}\n', "<stdin>:1:9: invalid JSON in the line: Unexpected non-whitespace character after JSON"],
    ["a raw control character", '{"a":"x\ty"}', "<stdin>:1:8: invalid JSON in the line: Bad control character in string literal"],
    ["an array", '{"id":1}\n[1]\n', "<stdin>:2:1: the line holds an array, expected a JSON object"],
    ["a string", '  "x"\n', "<stdin>:1:3: the line holds a string, expected a JSON object"],
    ["null", "null", "<stdin>:1:1: the line holds null, expected a JSON object"],
  ];
  it.each(failures)("%s is an InputError at line and column", async (_name, data, message) => {
    const error = await failureOf(data, { format: "ndjson" });
    expect(error.message).toBe(message);
    const [, line, column] = /^<stdin>:(\d+):(\d+)/.exec(message)!;
    expect([error.line, error.column]).toEqual([Number(line), Number(column)]);
  });
});

describe("json", () => {
  const pretty = JSON.stringify(
    [
      { id: "1", tags: ["a", "b"] },
      { id: "2", role: "admin" },
    ],
    null,
    2,
  );
  const cases: [string, string, [number, Record<string, unknown>][]][] = [
    [
      "elements across lines; strings holding brackets, commas, escaped quotes and backslashes",
      '[{"id":"1"},\n {"id":"2", "s":"a,]}\\"[{", "p":"C:\\\\"},\n\n  {"id":3,"cio_rel_error":"e"}]',
      [
        [1, { id: "1" }],
        [2, { id: "2", s: 'a,]}"[{', p: "C:\\" }],
        [4, { id: 3 }],
      ],
    ],
    [
      "pretty-printed",
      pretty,
      [
        [2, { id: "1", tags: ["a", "b"] }],
        [9, { id: "2", role: "admin" }],
      ],
    ],
    ["BOM, multi-byte UTF-8 and \\u escapes", '\uFEFF[{"id":"é😀","e":"\\u00e9\\ud83d\\ude00"}]\n', [[1, { id: "é😀", e: "é😀" }]]],
    ["nested values are kept", '[{"id":"1","o":{"a":{"b":[1,{"c":"]"}]}}}]', [[1, { id: "1", o: { a: { b: [1, { c: "]" }] } } }]]],
    ["empty array", "[]", []],
    ["empty array with whitespace", " \n[ \n ]\n\n", []],
  ];
  it.each(cases)("%s", async (_name, data, expected) => {
    expect(await rowsOf(data, { format: "json" })).toEqual(expected);
  });

  const failures: [string, string, string][] = [
    ["a string element", '[{"id":1},\n"x"]', "<stdin>:2:1: element 2 is a string, expected an object"],
    ["a number element", "[ 1 ]", "<stdin>:1:3: element 1 is a number, expected an object"],
    ["a null element", "[{},null]", "<stdin>:1:5: element 2 is null, expected an object"],
    ["an array element", "[[{}]]", "<stdin>:1:2: element 1 is an array, expected an object"],
    ["a bad value inside a pretty element", '[\n  {"id": 1,\n   "b": }\n]', "<stdin>:3:9: invalid JSON in element 1: Unexpected token '}'"],
    ["a missing comma", '[{"a":1} {"b":2}]', "<stdin>:1:10: invalid JSON in element 1: Unexpected non-whitespace character after JSON"],
    ["a stray }", '[{"a":1}}]', "<stdin>:1:9: invalid JSON in element 1: Unexpected non-whitespace character after JSON"],
    ["a missing ]", '[{"id":1},\n{"id":2}\n', "<stdin>:3:1: the file ends before the JSON array is closed with ]"],
    ["a file cut inside a string", '[{"id":"ab', "<stdin>:1:11: the file ends before the JSON array is closed with ]"],
    ["text after the array", '[{"id":1}]\n x', "<stdin>:2:2: unexpected text after the end of the JSON array"],
    ["a second array", "[][]", "<stdin>:1:3: unexpected text after the end of the JSON array"],
    ["a trailing comma", '[{"id":1},]', "<stdin>:1:11: trailing comma before ]"],
    ["two commas", '[{"id":1},,{}]', "<stdin>:1:11: expected an object after ,"],
    ["a leading comma", "[,{}]", "<stdin>:1:2: expected an object or ]"],
    [
      "an object instead of an array",
      '{"id":1}',
      "<stdin>:1:1: expected a JSON array of objects, [ ... ] (for one object per line use --format ndjson)",
    ],
    ["an empty file", "", "<stdin>:1:1: the file is empty, expected a JSON array of objects"],
    ["only whitespace", "\n  ", "<stdin>:2:3: the file is empty, expected a JSON array of objects"],
  ];
  it.each(failures)("%s is an InputError at line and column", async (_name, data, message) => {
    const error = await failureOf(data, { format: "json" });
    expect(error.message).toBe(message);
    const [, line, column] = /^<stdin>:(\d+):(\d+)/.exec(message)!;
    expect([error.line, error.column]).toEqual([Number(line), Number(column)]);
  });

  it("yields the rows before a broken element", async () => {
    const source = await openRowSource("-", { format: "json", stdin: stdinOf('[{"id":1},{"id":2},{"id":}]', 1) });
    const ids: unknown[] = [];
    await expect(
      (async () => {
        for await (const row of source.rows()) ids.push(row.fields["id"]);
      })(),
    ).rejects.toThrow("<stdin>:1:26: invalid JSON in element 3: Unexpected token '}'");
    expect(ids).toEqual([1, 2]);
  });
});

describe("stdin", () => {
  it.each([
    ["json", ' \n[{"id":"1"}]'],
    ["json", '\uFEFF[{"id":"1"}]'],
    ["ndjson", '{"id":"1"}\n'],
  ])("is sniffed as %s from its first significant byte", async (format, data) => {
    const { rows, source } = await read(data, {}, 1);
    expect(source.format).toBe(format);
    expect(source.displayName).toBe("<stdin>");
    expect(source.totalBytes).toBeUndefined();
    expect(source.bytesRead()).toBe(Buffer.byteLength(data));
    expect(rows).toEqual([{ index: 1, line: format === "json" && data.startsWith(" ") ? 2 : 1, fields: { id: "1" } }]);
  });

  it.each([
    ["a CSV", "id,role\n1,a\n"],
    ["nothing", ""],
  ])("needs --format for %s", async (_name, data) => {
    const error = await read(data, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(
      "cannot tell the format of <stdin>: pass --format csv|tsv|json|ndjson|lines (only JSON and NDJSON are recognised)",
    );
  });

  it("accepts string chunks", async () => {
    const source = await openRowSource("-", { format: "csv", stdin: Readable.from(["id\n", "1\n"], { objectMode: true }) });
    const rows: Row[] = [];
    for await (const batch of source.rowBatches()) rows.push(...batch);
    expect(rows).toEqual([{ index: 1, line: 2, fields: { id: "1" } }]);
  });
});

describe("a runaway record stops at MAX_RECORD_SIZE instead of filling memory", () => {
  const long = "x\n".repeat(600_000);
  it.each([
    ["csv", `id,note\n1,"open\n${long}`, "<stdin>:2: the record starting on this line is longer than 1048576 bytes (an unclosed quote?)"],
    ["json", `[{"id":1},\n {"note":"${"x".repeat(1_100_000)}"}]`, "<stdin>:2:2: element 2 is longer than 1048576 characters (an unclosed string?)"],
    ["ndjson", `{"id":1}\n{"note":"${"x".repeat(1_100_000)}"}\n`, "<stdin>:2: the line is longer than 1048576 characters"],
    ["lines", `u1\n${"x".repeat(1_100_000)}`, "<stdin>:2: the line is longer than 1048576 characters"],
  ] as const)("%s", async (format, data, message) => {
    await expect(read(data, { format }, 64 * 1024)).rejects.toThrow(message);
  });
});

it("a line of exactly MAX_RECORD_SIZE characters is read", async () => {
  const { rows } = await read(`u1\n${"x".repeat(1 << 20)}\nu3`, { format: "lines" }, 64 * 1024);
  expect(rows.map((r) => [r.line, String(r.fields[""]).length])).toEqual([
    [1, 2],
    [2, 1 << 20],
    [3, 2],
  ]);
});
