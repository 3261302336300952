import { TextDecoder } from "node:util";
import { InputError, UsageError } from "../errors.js";

// Bytes → text, exactly or not at all (issue 10, "Encoding"): a fatal TextDecoder, so an invalid byte is an
// InputError naming file:line instead of a U+FFFD that can merge two different identifiers into one.

/** What the decoder found out about the input, for readers that measure as csv-parse did (UTF-16 units). */
export interface DecodeInfo {
  /** The encoding in use, as TextDecoder names it ("utf-8", "utf-16le", "windows-1252", ...). */
  encoding: string;
  /** True for UTF-16 input: csv-parse measured its record sizes as 2 bytes per unit. */
  utf16: boolean;
}

/** Options of decodeText. */
export interface DecodeOptions {
  /** How the input is named in messages. */
  file: string;
  /** --encoding: any label TextDecoder knows; when absent a BOM decides, else UTF-8. */
  encoding?: string | undefined;
  /** Filled in before the first string is yielded. */
  info?: DecodeInfo;
}

/** The encoding name TextDecoder gives `label`, or a UsageError naming the flag (checked before anything is read). */
export function checkEncoding(label: string): string {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    throw new UsageError(
      `--encoding ${JSON.stringify(label)} is not an encoding this Node.js knows: try utf-8, latin1, windows-1252, utf-16le or utf-16be`,
    );
  }
}

/**
 * Decodes chunks to text, one string per chunk that completes a character. Without --encoding, a UTF-8 BOM is
 * dropped and a UTF-16 BOM (FF FE or FE FF) switches to UTF-16LE/BE, as csv-parse's `bom` option did; the choice
 * waits for 3 bytes. A byte sequence that is not valid in the encoding is an InputError at its line.
 */
export async function* decodeText(chunks: AsyncIterable<Uint8Array>, options: DecodeOptions): AsyncGenerator<string> {
  const info: DecodeInfo = options.info ?? { encoding: "utf-8", utf16: false };
  const lines = new LineCounter();
  let decoder: TextDecoder | undefined;
  // UTF-8 is decoded a chunk at a time, each cut after its last whole character (issue 16): TextDecoder's fast
  // path takes whole inputs only, and a streaming decode goes through ICU, which took 18 ms a million rows and
  // 50 ms more to load, against 5 ms. The first bytes of a character the chunk cut off wait in `partial`.
  let utf8 = false;
  let partial: Uint8Array = EMPTY;
  let head: Uint8Array | undefined;
  let consumed = 0; // bytes before the current piece
  let previousEnd: Uint8Array = EMPTY; // the last bytes decoded so far (a character may straddle pieces)

  const decodePiece = (bytes: Uint8Array, last: boolean): string => {
    const d = decoder as TextDecoder;
    let text: string;
    try {
      text = utf8 || last ? d.decode(bytes) : d.decode(bytes, { stream: true });
    } catch (error) {
      throw invalidBytes(options.file, info.encoding, bytes, previousEnd, consumed, lines, error);
    }
    consumed += bytes.length;
    previousEnd = bytes.length >= 4 ? bytes.slice(bytes.length - 4) : concat(previousEnd, bytes).slice(-4);
    if (text !== "") lines.add(text);
    return text;
  };

  for await (const chunk of chunks) {
    let bytes = chunk;
    if (decoder === undefined) {
      head = head === undefined ? chunk : concat(head, chunk);
      if (head.length < 3) continue;
      decoder = decoderFor(head, options.encoding, info);
      [bytes, head] = [head, undefined];
      if (decoder.encoding === "utf-8") {
        // A BOM is dropped here, as the streaming decoder drops it at the start only.
        utf8 = true;
        decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
        if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
      }
    }
    if (!utf8) {
      const text = decodePiece(bytes, false);
      if (text !== "") yield text;
      continue;
    }
    if (partial.length > 0) {
      // The character the last chunk cut off, whole with this chunk's first bytes, decoded on its own.
      const need = sequenceLength(partial[0] as number) - partial.length;
      const taken = Math.min(need, bytes.length);
      const joined = concat(partial, bytes.subarray(0, taken));
      bytes = bytes.subarray(taken);
      if (taken < need) {
        partial = joined;
        continue;
      }
      partial = EMPTY;
      const text = decodePiece(joined, false);
      if (text !== "") yield text;
    }
    const cut = bytes.length - trailingPartial(bytes.subarray(Math.max(0, bytes.length - 4)), "utf-8", 0).length;
    partial = bytes.slice(cut);
    const text = decodePiece(bytes.subarray(0, cut), false);
    if (text !== "") yield text;
  }
  decoder ??= decoderFor(head ?? EMPTY, options.encoding, info);
  // What is left: a cut-off character at the end of UTF-8 (an error), or what a streaming decoder still holds.
  const rest = decodePiece(utf8 ? partial : (head ?? EMPTY), true);
  if (rest !== "") yield rest;
}

const EMPTY = new Uint8Array(0);

function decoderFor(head: Uint8Array, label: string | undefined, info: DecodeInfo): TextDecoder {
  let encoding = label ?? "utf-8";
  if (label === undefined && head.length >= 2) {
    if (head[0] === 0xff && head[1] === 0xfe) encoding = "utf-16le";
    else if (head[0] === 0xfe && head[1] === 0xff) encoding = "utf-16be";
  }
  const decoder = new TextDecoder(encoding, { fatal: true });
  info.encoding = decoder.encoding;
  info.utf16 = decoder.encoding.startsWith("utf-16");
  return decoder;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Counts physical lines in decoded text: "\r\n", "\n" and a lone "\r" each end one, as the CSV parser counts. */
class LineCounter {
  count = 0;
  #pendingCr = false;

  /** A counter that goes on from this one's state (a "\r" at its end still pairs with a "\n"). */
  copy(): LineCounter {
    const c = new LineCounter();
    c.count = this.count;
    c.#pendingCr = this.#pendingCr;
    return c;
  }

  add(text: string): void {
    // Most text holds no "\r": its "\n"s are counted by indexOf, several times faster than a loop over every unit.
    if (text.indexOf("\r") === -1) {
      // A "\n" right after a "\r" that ended the previous text was counted with it.
      const from = this.#pendingCr && text.charCodeAt(0) === 10 ? 1 : 0;
      this.#pendingCr = false;
      for (let at = text.indexOf("\n", from); at !== -1; at = text.indexOf("\n", at + 1)) this.count++;
      return;
    }
    let i = 0;
    if (this.#pendingCr && text.charCodeAt(0) === 10) i = 1;
    this.#pendingCr = false;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.count++;
      else if (c === 13) {
        this.count++;
        if (i + 1 === text.length) this.#pendingCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
    }
  }
}

/**
 * The InputError for a piece the decoder refused. The decoder does not say where, so the first bad byte is found
 * again with a fresh decoder (binary search over prefixes), and the lines before it are counted.
 */
function invalidBytes(
  file: string,
  encoding: string,
  piece: Uint8Array,
  previousEnd: Uint8Array,
  consumed: number,
  lines: LineCounter,
  cause: unknown,
): InputError {
  // A character begun in the previous piece continues at the start of this one: decode from where the
  // previous piece's last whole character ended, so that the fresh decoder starts on a boundary.
  const carry = trailingPartial(previousEnd, encoding, consumed);
  const bytes = concat(carry, piece);
  const fails = (n: number): boolean => {
    try {
      new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, n), { stream: true });
      return false;
    } catch {
      return true;
    }
  };
  const failsFinal = (b: Uint8Array): boolean => {
    try {
      new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(b);
      return false;
    } catch {
      return true;
    }
  };
  // The shortest failing prefix ends at the bad byte (a prefix that fails stays failing as it grows). When
  // even the whole piece decodes as far as it goes, the input ended inside a character.
  let ok = bytes.length;
  if (fails(bytes.length) || !failsFinal(bytes)) {
    let bad = bytes.length;
    ok = 0;
    while (bad - ok > 1) {
      const mid = (ok + bad) >>> 1;
      if (fails(mid)) bad = mid;
      else ok = mid;
    }
  }
  const before = new TextDecoder(encoding, { ignoreBOM: true }).decode(bytes.subarray(carry.length, Math.max(carry.length, ok)));
  const counter = lines.copy();
  counter.add(before);
  const at = counter.count + 1;
  // The byte at which the text stopped making sense; at the very end, the input was cut inside a character.
  const culprit = ok < bytes.length ? bytes[ok] : undefined;
  const shown = culprit === undefined ? "" : `0x${culprit.toString(16).toUpperCase().padStart(2, "0")}`;
  const name = encoding === "utf-8" ? "UTF-8" : encoding.toUpperCase();
  const hint =
    encoding === "utf-8"
      ? ": the file is not UTF-8; if it is a legacy export, name its encoding with --encoding (latin1, windows-1252, ...)"
      : `: the file is not ${name}; check --encoding`;
  return new InputError({ file, line: at }, `invalid ${name} (${shown !== "" ? `byte ${shown}` : "a character cut short at the end"})${hint}`, {
    cause,
  });
}

/** The bytes at the end of `end` that begin a character not finished there (UTF-8 and UTF-16 only; else none). */
/** The bytes of the UTF-8 sequence a byte other than a continuation byte begins (1 for ASCII, or a byte no sequence begins with). */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

function trailingPartial(end: Uint8Array, encoding: string, consumed: number): Uint8Array {
  if (encoding === "utf-8") {
    for (let k = 1; k <= Math.min(3, end.length); k++) {
      const b = end[end.length - k] as number;
      if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
      return sequenceLength(b) > k ? end.subarray(end.length - k) : new Uint8Array(0);
    }
    return new Uint8Array(0);
  }
  if (encoding.startsWith("utf-16")) return consumed % 2 === 1 ? end.subarray(end.length - 1) : new Uint8Array(0);
  return new Uint8Array(0);
}
