import { InputError } from "../errors.js";
import { decodeText } from "./decode.js";
import { checkJsonRecord } from "./json-record.js";
import { MAX_RECORD_SIZE, type TextOptions } from "./text.js";
import { ERROR_COLUMN, type Row } from "./types.js";

/** How a JSON value reads in a message: "a string", "null", "an array", ... */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * The row for a JSON record `text` that parsed to the object `fields`: numbers not written as they would be sent
 * become JsonNumbers, and a record nested too deep becomes an invalid row that keeps its text (issue 10).
 */
export function jsonRow(text: string, fields: Record<string, unknown>, line: number, index: number): Row {
  const record = checkJsonRecord(text, fields);
  return "problem" in record ? { index, line, fields: {}, problem: record.problem, raw: text.trim() } : { index, line, fields: record.fields };
}

/** A parsed JSON value as row fields, or undefined when it is not an object; drops ERROR_COLUMN. */
export function jsonFields(value: unknown): Record<string, unknown> | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const fields = value as Record<string, unknown>;
  if (Object.hasOwn(fields, ERROR_COLUMN)) delete fields[ERROR_COLUMN];
  return fields;
}

/**
 * The InputError for `text` that JSON.parse rejected, placed at the offending character. `text` starts at
 * `line`:`column` of `file`; `what` names the text in the message ("element 3", "the line").
 */
export function jsonSyntaxError(file: string, text: string, line: number, column: number, error: unknown, what: string): InputError {
  const offset = jsonErrorOffset(text);
  let l = line;
  let c = column;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      l++;
      c = 1;
    } else {
      c++;
    }
  }
  const reason = errorMessage(error)
    .replace(/( in JSON)? at position \d+.*$/s, "")
    .replace(/, ".*" is not valid JSON$/s, "");
  return new InputError({ file, line: l, column: c }, `invalid JSON in ${what}: ${reason}`, { cause: error });
}

/**
 * Index of the character JSON.parse trips on in `text` (text.length when the text ends too early). V8 names a
 * position only for some errors, so find the shortest prefix that fails other than by ending: every shorter
 * prefix is the valid start of a document, so the last character of that prefix is the culprit.
 */
function jsonErrorOffset(text: string): number {
  const failsBeforeEnd = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (error) {
      const message = errorMessage(error);
      if (message.includes("Unexpected end of JSON input")) return false;
      const position = /at position (\d+)/.exec(message);
      return position === null || Number(position[1]) < n;
    }
  };
  if (!failsBeforeEnd(text.length)) return text.length;
  let fine = 0;
  let failing = text.length;
  while (failing - fine > 1) {
    const mid = (fine + failing) >>> 1;
    if (failsBeforeEnd(mid)) failing = mid;
    else fine = mid;
  }
  return failing - 1;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const NL = 10;
const QUOTE = 34;
const COMMA = 44;
const BACKSLASH = 92;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

const BEFORE = 0; // before the opening [
const FIRST = 1; // after [: the first element or ]
const NEXT = 2; // after a comma: an element
const IN = 3; // inside an element
const AFTER = 4; // after the closing ]: only whitespace

function isSpace(c: number): boolean {
  return c === 32 || c === NL || c === 13 || c === 9;
}

/**
 * A JSON file holding one array of objects, read in bounded memory: a scanner follows strings and nesting
 * across chunks to cut out each top-level element, which JSON.parse then reads on its own.
 */
export async function* readJsonArray(chunks: AsyncIterable<Uint8Array>, options: TextOptions | string): AsyncGenerator<Row[]> {
  const opts: TextOptions = typeof options === "string" ? { file: options } : options;
  const file = opts.file;
  let phase = BEFORE;
  let line = 1;
  let lineStart = 0; // absolute offset of the current line's first character
  let base = 0; // absolute offset of the current text's first character
  let depth = 0;
  let inString = false;
  let escaped = false;
  let parts: string[] = []; // the current element's text from earlier chunks
  let partsLength = 0;
  let count = 0;
  let elementLine = 0;
  let elementColumn = 0;
  const at = (i: number) => ({ file, line, column: base + i - lineStart + 1 });

  // Only elements that span chunks can grow past a chunk's size, so only those are measured.
  const checkLength = (length: number): void => {
    if (length > MAX_RECORD_SIZE) {
      throw new InputError(
        { file, line: elementLine, column: elementColumn },
        `element ${count} is longer than ${MAX_RECORD_SIZE} characters (an unclosed string?)`,
      );
    }
  };

  const element = (text: string): Row => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw jsonSyntaxError(file, text, elementLine, elementColumn, error, `element ${count}`);
    }
    const fields = jsonFields(value);
    if (fields === undefined) {
      throw new InputError({ file, line: elementLine, column: elementColumn }, `element ${count} is ${describeJson(value)}, expected an object`);
    }
    return jsonRow(text, fields, elementLine, count);
  };

  for await (const text of decodeText(chunks, opts)) {
    const batch: Row[] = [];
    let from = 0; // where the current element's text starts in this chunk
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === NL) {
        line++;
        lineStart = base + i + 1;
      }
      if (phase !== IN) {
        if (isSpace(c)) continue;
        if (phase === BEFORE) {
          if (c !== OPEN_BRACKET) {
            const hint = c === OPEN_BRACE ? " (for one object per line use --format ndjson)" : "";
            throw new InputError(at(i), `expected a JSON array of objects, [ ... ]${hint}`);
          }
          phase = FIRST;
          continue;
        }
        if (phase === AFTER) throw new InputError(at(i), "unexpected text after the end of the JSON array");
        if (c === CLOSE_BRACKET && phase === FIRST) {
          phase = AFTER;
          continue;
        }
        if (c === COMMA || c === CLOSE_BRACKET) {
          const problem = phase === FIRST ? "expected an object or ]" : c === COMMA ? "expected an object after ," : "trailing comma before ]";
          throw new InputError(at(i), problem);
        }
        // c starts an element: fall through to scan it.
        phase = IN;
        from = i;
        count++;
        elementLine = line;
        elementColumn = base + i - lineStart + 1;
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) {
        inString = true;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        depth++;
      } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) {
        depth--;
      } else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
        // The element ends here. A stray } at depth 0 stays in the text for JSON.parse to report.
        parts.push(text.slice(from, i));
        if (parts.length > 1) checkLength(partsLength + i - from);
        batch.push(element(parts.join("")));
        parts = [];
        partsLength = 0;
        phase = c === COMMA ? NEXT : AFTER;
      }
    }
    if (phase === IN) {
      parts.push(text.slice(from));
      partsLength += text.length - from;
      checkLength(partsLength);
    }
    base += text.length;
    if (batch.length > 0) yield batch;
  }
  if (phase === AFTER) return;
  const end = { file, line, column: base - lineStart + 1 };
  if (phase === BEFORE) throw new InputError(end, "the file is empty, expected a JSON array of objects");
  throw new InputError(end, "the file ends before the JSON array is closed with ]");
}
