import { InputError } from "../errors.js";
import { describeJson, jsonFields, jsonRow, jsonSyntaxError } from "./json.js";
import { mapLines, type TextOptions } from "./text.js";
import type { Row } from "./types.js";

/** NDJSON / JSON Lines: one JSON object per line; blank lines are skipped. */
export function readNdjson(chunks: AsyncIterable<Uint8Array>, options: TextOptions | string): AsyncGenerator<Row[]> {
  const file = typeof options === "string" ? options : options.file;
  return mapLines(chunks, options, (text, line, index) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      if (text.trim() === "") return undefined; // checked only here: blank lines are rare, parsing is not
      throw jsonSyntaxError(file, text, line, 1, error, "the line");
    }
    const fields = jsonFields(value);
    if (fields === undefined) {
      const column = text.length - text.trimStart().length + 1;
      throw new InputError({ file, line, column }, `the line holds ${describeJson(value)}, expected a JSON object`);
    }
    return jsonRow(text, fields, line, index);
  });
}
