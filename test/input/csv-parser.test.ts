import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { CsvParser } from "../../src/input/csv-parser.js";
import { seededRandom } from "../fake-track-api/faults.js";
import { codeOf, oracle, quoted, rowsOf } from "./csv-oracle.js";

/** [start line, fields] of every record the parser emits, fed `text` in pieces of `size` characters. */
function parsed(text: string, delimiter: string, size: number): [number, string[]][] {
  const out: [number, string[]][] = [];
  const sink = (fields: string[], count: number, line: number): void => void out.push([line, fields.slice(0, count)]);
  const parser = new CsvParser("f", delimiter);
  for (let i = 0; i < text.length; i += size) parser.feed(text.slice(i, i + size), sink);
  parser.end(sink);
  return out;
}

async function failureOf(bytes: Buffer, delimiter: string, chunk: number): Promise<InputError> {
  const error = await rowsOf(bytes, delimiter, chunk).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  return error as InputError;
}

const DELIMITERS = [",", ";", "\t", "|", "::", "§"];
const PIECES = ["a", "b", "Z", "0", " ", "é", "😀", ",", ";", "\t", "|", ":", "§", '"', '""', "\r", "\n", "\r\n"];
const ENDINGS = ["\n", "\r\n", "\r"];

interface Doc {
  delimiter: string;
  text: string;
  /** The records in order, with the line each starts on and its fields' texts as written. */
  records: { line: number; offset: number; fields: string[]; raw: string[] }[];
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function breaks(s: string): number {
  return s.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/** A random well-formed document: a header c0..c{k-1}, records of k fields, blank lines, mixed line endings. */
function randomDoc(rand: () => number): Doc {
  const delimiter = pick(rand, DELIMITERS);
  const width = 1 + Math.floor(rand() * 4);
  const serialize = (value: string): string => {
    // A value holding any character of the delimiter is quoted, so that "a:" never runs into "::".
    const special = /["\r\n]/.test(value) || [...delimiter].some((ch) => value.includes(ch));
    return special || (value === "" && width === 1) || rand() < 0.15 ? quoted(value) : value;
  };
  const items: { fields?: string[] }[] = [{ fields: Array.from({ length: width }, (_, i) => `c${i}`) }];
  const count = Math.floor(rand() * 9);
  for (let i = 0; i < count; i++) {
    if (rand() < 0.12) items.splice(Math.floor(rand() * (items.length + 1)), 0, {});
    else {
      const empty = rand() < 0.1;
      items.push({
        fields: Array.from({ length: width }, () => {
          if (empty) return "";
          let value = "";
          for (let n = Math.floor(rand() * 5); n > 0; n--) value += pick(rand, PIECES);
          return value;
        }),
      });
    }
  }
  let text = "";
  let line = 0;
  let previous = "";
  const records: Doc["records"] = [];
  items.forEach((item, i) => {
    // After a lone "\r", a blank line ending in "\n" would turn it into "\r\n".
    let ending = pick(rand, previous === "\r" && item.fields === undefined ? ["\r", "\r\n"] : ENDINGS);
    if (i === items.length - 1 && item.fields !== undefined && rand() < 0.3) ending = "";
    let raw = "";
    if (item.fields !== undefined) {
      const written = item.fields.map(serialize);
      raw = written.join(delimiter);
      records.push({ line: line + 1, offset: text.length, fields: item.fields, raw: written });
    }
    raw += ending;
    text += raw;
    line += breaks(raw);
    previous = ending;
  });
  return { delimiter, text, records };
}

describe("CsvParser against csv-parse on random documents", () => {
  it("reads the same records, on the lines they start, however the text is cut", () => {
    const rand = seededRandom(6);
    for (let i = 0; i < 3000; i++) {
      const doc = randomDoc(rand);
      const context = JSON.stringify(doc.text);
      const expected = doc.records.map((r): [number, string[]] => [r.line, r.fields]);
      expect(oracle(doc.text, doc.delimiter), context).toEqual(doc.records.map((r) => r.fields));
      // Pieces of 16 and 31 often complete a carried record with their first line, which is parsed before the rest.
      for (const size of [doc.text.length + 1, 1, 7, 16, 31]) expect(parsed(doc.text, doc.delimiter, size), context).toEqual(expected);
    }
  });

  it("a value the previous record had in its column is the same text, however the rows are cut", () => {
    // Sorted exports repeat a column's value row after row; the parser then hands over the previous string.
    const text = 'a,b\nacct_1,x\nacct_1,xy\nacct_12,x\nacct_1,\nacct_1,x\r\n"acct_1",x\nacct_1,x\n';
    const expected: [number, string[]][] = [
      [1, ["a", "b"]],
      [2, ["acct_1", "x"]],
      [3, ["acct_1", "xy"]],
      [4, ["acct_12", "x"]],
      [5, ["acct_1", ""]],
      [6, ["acct_1", "x"]],
      [7, ["acct_1", "x"]],
      [8, ["acct_1", "x"]],
    ];
    for (const size of [text.length, 1, 3, 5, 9]) expect(parsed(text, ",", size)).toEqual(expected);
  });

  it("readCsv gives the same rows for whole, 1-byte and 7-byte chunks, with or without a BOM", async () => {
    const rand = seededRandom(66);
    for (let i = 0; i < 1000; i++) {
      const doc = randomDoc(rand);
      const bytes = Buffer.from((rand() < 0.2 ? "\uFEFF" : "") + doc.text);
      const records = oracle(bytes, doc.delimiter);
      const kept = doc.records.filter((r) => r.fields.some((f) => f !== ""));
      const names = kept[0]!.fields;
      const expected = kept
        .slice(1)
        .map((r): [number, Record<string, unknown>] => [r.line, Object.fromEntries(names.map((n, j) => [n, r.fields[j]]))]);
      expect(records.filter((r) => r.some((f) => f !== "")).slice(1)).toEqual(expected.map(([, fields]) => Object.values(fields)));
      for (const chunk of [bytes.length + 1, 1, 7]) expect(await rowsOf(bytes, doc.delimiter, chunk), JSON.stringify(doc.text)).toEqual(expected);
    }
  });

  it("fails where csv-parse fails, with the same kind of error, at the line of the fault", async () => {
    const rand = seededRandom(666);
    const codes = {
      opening: "INVALID_OPENING_QUOTE",
      closing: "CSV_INVALID_CLOSING_QUOTE",
      unclosed: "CSV_QUOTE_NOT_CLOSED",
    } as const;
    const messages = {
      opening: 'a quote inside an unquoted field (quote the whole field and write the quote as "")',
      closing: 'a closing quote must be followed by the delimiter or the end of the line (write a quote inside a quoted field as "")',
      unclosed: "a quoted field opened on this line is never closed",
    } as const;
    for (let i = 0; i < 500; i++) {
      const doc = randomDoc(rand);
      const record = pick(rand, doc.records);
      const f = Math.floor(rand() * record.raw.length);
      const kind = pick(rand, ["opening", "closing", "unclosed"] as const);
      const value = record.fields[f]!;
      const fieldLine = record.line + breaks(record.raw.slice(0, f).join(doc.delimiter));
      // Cut the document at the field and write the fault there.
      const head =
        doc.text.slice(0, record.offset) +
        record.raw
          .slice(0, f)
          .map((r) => r + doc.delimiter)
          .join("");
      let text: string;
      let line = fieldLine;
      if (kind === "opening") text = `${head}x"y\n`;
      else if (kind === "closing") {
        text = `${head}${quoted(value)}x\n`;
        line += breaks(value);
      } else text = `${head}${quoted(value)}`.slice(0, -1);
      const context = JSON.stringify(text);
      expect(
        codeOf(() => oracle(text, doc.delimiter)),
        context,
      ).toBe(codes[kind]);
      for (const chunk of [text.length + 1, 1, 7]) {
        const error = await failureOf(Buffer.from(text), doc.delimiter, chunk);
        expect(error.message, context).toBe(`f:${line}: ${messages[kind]}`);
      }
    }
  });
});
