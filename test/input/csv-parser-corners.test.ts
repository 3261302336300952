import { describe, expect, it } from "vitest";
import { MAX_RECORD_SIZE } from "../../src/input/text.js";
import { codeOf, oracle, quoted, rowsOf } from "./csv-oracle.js";

// csv-parse's behaviours the parser keeps (split from csv-parser.test.ts: the record size cap cases parse
// megabytes with both parsers, and a file of their own runs beside the random-document cases).

describe("csv-parse's corners, kept", () => {
  it("a NUL after a closing quote continues the field unquoted", async () => {
    const text = 'a,b\n"x"\0y,1\n';
    expect(oracle(text, ",")).toEqual([
      ["a", "b"],
      ["x\0y", "1"],
    ]);
    expect(await rowsOf(Buffer.from(text), ",", 1)).toEqual([[2, { a: "x\0y", b: "1" }]]);
  });

  it("a UTF-16LE BOM switches to UTF-16LE", async () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("id,name\r\n1,Zoë 😀\r\n", "utf16le")]);
    expect(oracle(bytes, ",")).toEqual([
      ["id", "name"],
      ["1", "Zoë 😀"],
    ]);
    for (const chunk of [bytes.length, 1, 3]) expect(await rowsOf(bytes, ",", chunk)).toEqual([[2, { id: "1", name: "Zoë 😀" }]]);
  });

  // csv-parse compares the earlier fields' length in characters plus the current field's bytes with the cap,
  // before each byte: a record may hold one byte more than MAX_RECORD_SIZE.
  it.each([
    ["an ASCII field", (n: number) => `${"x".repeat(n)}|`],
    ["a quoted field with line breaks", (n: number) => `${quoted("x\n".repeat(n >> 1) + "x".repeat(n & 1))}|`],
    ["a multi-byte second field", (n: number) => `${"x".repeat(1000)}|${"é".repeat((n - 1000) >> 1)}${"x".repeat((n - 1000) & 1)}`],
    ["a short field after a long one", (n: number) => `${"x".repeat(n - 1)}|y`],
  ])("the record size cap is csv-parse's, to the byte: %s", async (_name, record) => {
    for (const size of [MAX_RECORD_SIZE - 1, MAX_RECORD_SIZE, MAX_RECORD_SIZE + 1, MAX_RECORD_SIZE + 2, MAX_RECORD_SIZE + 3]) {
      const text = `h|i\n${record(size)}\n`;
      const code = codeOf(() => oracle(text, "|"));
      expect([undefined, "CSV_MAX_RECORD_SIZE"]).toContain(code);
      const refused = code !== undefined;
      const ours = await rowsOf(Buffer.from(text), "|", 64 * 1024).then(
        () => false,
        (e: unknown) => {
          expect((e as Error).message).toBe(`f:2: the record starting on this line is longer than ${MAX_RECORD_SIZE} bytes (an unclosed quote?)`);
          return true;
        },
      );
      expect([size, ours]).toEqual([size, refused]);
    }
  });
});
