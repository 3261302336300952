import { Readable } from "node:stream";
import { CsvError } from "csv-parse";
import { parse } from "csv-parse/sync";
import { expect } from "vitest";
import { readCsv } from "../../src/input/csv.js";
import { MAX_RECORD_SIZE } from "../../src/input/text.js";

// Shared by csv-parser.test.ts and csv-parser-corners.test.ts (split so that two workers share the CPU-heavy cases).

/** csv-parse as the reader used it before it had its own parser: the oracle. */
export function oracle(data: string | Buffer, delimiter: string): string[][] {
  return parse(data, {
    bom: true,
    delimiter,
    record_delimiter: ["\r\n", "\n", "\r"],
    skip_empty_lines: true,
    relax_column_count: true,
    max_record_size: MAX_RECORD_SIZE,
  });
}

/** The rows readCsv reads from `bytes` fed in chunks of `chunk` bytes: [line, fields]. */
export async function rowsOf(bytes: Buffer, delimiter: string, chunk: number): Promise<[number, Record<string, unknown>][]> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const rows: [number, Record<string, unknown>][] = [];
  for await (const batch of readCsv(Readable.from(parts), { displayName: "f", header: true, delimiter })) {
    for (const row of batch) rows.push([row.line, row.fields]);
  }
  return rows;
}

/** A CSV-quoted field. */
export function quoted(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/** The code of the CsvError `run` throws, or undefined when it returns. */
export function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(CsvError);
    return (e as CsvError).code;
  }
}
