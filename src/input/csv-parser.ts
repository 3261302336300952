import { InputError } from "../errors.js";
import { MAX_RECORD_SIZE } from "./text.js";

const LF = 10;
const CR = 13;
const QUOTE = 34;
const NUL = 0;

/** Receives each record: its fields are `fields[0..count)` (the array is reused), `line` where it starts. */
export type RecordSink = (fields: string[], count: number, line: number) => void;

/**
 * A streaming RFC 4180 parser over decoded text, with csv-parse 6's semantics as cio-rel configured it before
 * (bom, record_delimiter ["\r\n", "\n", "\r"], skip_empty_lines, relax_column_count, max_record_size): the
 * differential test holds it to csv-parse. It is several times faster because a record is cut out of the text
 * with slices instead of being copied byte by byte into a buffer and decoded field by field.
 *
 * Records are taken only once their line break has been seen, so the text after the last one is carried over
 * to the next feed; line numbers are physical ("\r\n", "\n" and "\r" each end one line, inside quotes too).
 */
export class CsvParser {
  readonly #file: string;
  readonly #delimiter: string;
  readonly #d0: number;
  readonly #dlen: number;
  /** Bytes per UTF-16 unit as csv-parse measures them: 2 for UTF-16LE input, else UTF-8 lengths. */
  readonly #utf16: boolean;
  readonly #fields: string[] = [];
  #count = 0;
  /** Line breaks inside the record just parsed, its own included. */
  #breaks = 0;
  /** Physical lines consumed so far. */
  #line = 0;
  #carry = "";
  /**
   * Per column, the last few distinct values, handed over again when a cell repeats one (issue 16: a role column
   * holds a handful of values, each a new string per row before); null once the column's cells rarely repeat
   * (ids), so that it is no longer looked up.
   */
  readonly #recent: (string[] | null)[] = Array.from({ length: RECENT_COLUMNS }, () => []);
  readonly #recentHits = new Int32Array(RECENT_COLUMNS);
  readonly #recentMisses = new Int32Array(RECENT_COLUMNS);

  constructor(file: string, delimiter: string, options: { utf16?: boolean } = {}) {
    this.#file = file;
    this.#delimiter = delimiter;
    this.#d0 = delimiter.charCodeAt(0);
    this.#dlen = delimiter.length;
    this.#utf16 = options.utf16 === true;
  }

  /** Parses the complete records `text` finishes; the rest waits for the next call. */
  feed(text: string, sink: RecordSink): void {
    // The record the carry began is finished with `text`'s first line when that line completes it (issue 16):
    // joining the carry to the whole chunk copies the chunk once more (a joined string is flattened when first
    // read), and so would slicing the chunk after that line (a sliced string reads slower character by character),
    // so the rest of `text` is parsed where it lies. A record that goes on past that line is joined as before.
    let s = text;
    let from = 0;
    const carry = this.#carry;
    if (carry !== "") {
      const lf = text.indexOf("\n");
      if (lf === -1) s = carry + text;
      else {
        const left = this.#run(carry + text.slice(0, lf + 1), 0, false, sink);
        if (left === "") from = lf + 1;
        else s = left + text.slice(lf + 1);
      }
    }
    const rest = this.#run(s, from, false, sink);
    // Only an unfinished record can grow past a chunk, so only it is measured against the cap.
    if (rest.length * 3 > MAX_RECORD_SIZE && this.#overflows(rest, 0, rest.length)) throw this.#tooLong();
    this.#carry = rest;
  }

  /** Column `column`'s cell s[p, q): one of its recent values when it is one, else a new string, remembered. */
  #recentValue(column: number, s: string, p: number, q: number): string {
    const recent = this.#recent[column];
    // Past the first RECENT_COLUMNS columns nothing is kept. Long values are neither looked up nor kept: a repeated
    // one is rare, and keeping it would cost memory.
    if (recent === null || recent === undefined || q - p > RECENT_LENGTH) return s.slice(p, q);
    for (let i = 0; i < recent.length; i++) {
      const v = recent[i] as string;
      if (sameAt(s, p, q, v)) {
        this.#recentHits[column] = (this.#recentHits[column] as number) + 1;
        return v;
      }
    }
    const value = s.slice(p, q);
    const misses = (this.#recentMisses[column] as number) + 1;
    this.#recentMisses[column] = misses;
    if (recent.length < RECENT_VALUES) recent.push(value);
    else recent[misses % RECENT_VALUES] = value;
    if (misses > RECENT_TRIAL && misses > 4 * (this.#recentHits[column] as number)) this.#recent[column] = null;
    return value;
  }

  /** Parses what is left once the input has ended. */
  end(sink: RecordSink): void {
    this.#run(this.#carry, 0, true, sink);
    this.#carry = "";
  }

  /** Emits the records in `s` from `from` on; returns the unparsed rest (an unfinished record, or a "\r" that may start "\r\n"). */
  #run(s: string, from: number, final: boolean, sink: RecordSink): string {
    const n = s.length;
    let p = from;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (c === LF || c === CR) {
        // A blank line.
        if (c === CR && p + 1 === n && !final) break;
        p += c === CR && s.charCodeAt(p + 1) === LF ? 2 : 1;
        this.#line++;
        continue;
      }
      const end = this.#record(s, p, final);
      if (end < 0) break;
      // Content bytes are at most 3 per UTF-16 unit: a shorter record cannot reach the cap.
      if ((end - p) * 3 > MAX_RECORD_SIZE && this.#overflows(s, p, end)) throw this.#tooLong();
      const line = this.#line + 1;
      this.#line += this.#breaks;
      sink(this.#fields, this.#count, line);
      p = end;
    }
    return p === 0 ? s : s.slice(p);
  }

  /**
   * Parses the record starting at `start` (not a line break) into #fields/#count/#breaks; returns where the next
   * one starts, or -1 when `s` ends before the record does and more text may come.
   */
  #record(s: string, start: number, final: boolean): number {
    const fields = this.#fields;
    const n = s.length;
    let count = 0;
    let breaks = 0;
    let p = start;
    for (;;) {
      let value: string;
      let q: number;
      if (s.charCodeAt(p) === QUOTE) {
        value = "";
        let from = p + 1;
        for (;;) {
          const close = s.indexOf('"', from);
          if (close === -1 || (close + 1 === n && !final)) {
            if (!final) return -1;
            throw this.#error(breaks, "a quoted field opened on this line is never closed", s, start, n);
          }
          if (s.charCodeAt(close + 1) === QUOTE) {
            value += s.slice(from, close + 1);
            from = close + 2;
            continue;
          }
          value += s.slice(from, close);
          q = close + 1;
          break;
        }
        // What follows the closing quote decides; a multi-character delimiter may still be arriving.
        if (!final && q + this.#dlen > n) return -1;
        const before = breaks;
        breaks += lineBreaks(s, p + 1, q - 1);
        if (q < n) {
          const c = s.charCodeAt(q);
          if (c === NUL) {
            // csv-parse takes a NUL after a closing quote for the end of the data, then reads on unquoted.
            const e = this.#unquoted(s, q, before, start);
            if (e === n && !final) return -1;
            value += s.slice(q, e);
            q = e;
          } else if (c !== LF && c !== CR && !(c === this.#d0 && s.startsWith(this.#delimiter, q))) {
            throw this.#error(
              breaks,
              'a closing quote must be followed by the delimiter or the end of the line (write a quote inside a quoted field as "")',
              s,
              start,
              q,
            );
          }
        }
      } else {
        q = this.#unquoted(s, p, breaks, start);
        if (q === n && !final) return -1;
        // The previous record's value in this column, when the text is the same (a sorted column repeats it row
        // after row), instead of a new string: fewer strings to collect, and the same one for the mapper's checks.
        const previous = fields[count];
        value = previous !== undefined && sameAt(s, p, q, previous) ? previous : this.#recentValue(count, s, p, q);
      }
      fields[count++] = value;
      if (q === n) {
        this.#count = count;
        this.#breaks = breaks;
        return n;
      }
      const c = s.charCodeAt(q);
      if (c === LF || c === CR) {
        if (c === CR && q + 1 === n && !final) return -1;
        this.#count = count;
        this.#breaks = breaks + 1;
        return c === CR && s.charCodeAt(q + 1) === LF ? q + 2 : q + 1;
      }
      p = q + this.#dlen;
    }
  }

  /** Where the unquoted text from `p` ends: at the delimiter, a line break or the end of `s`. */
  #unquoted(s: string, p: number, breaks: number, start: number): number {
    const n = s.length;
    const d0 = this.#d0;
    const single = this.#dlen === 1;
    for (let q = p; q < n; q++) {
      const c = s.charCodeAt(q);
      if (c === d0) {
        if (single || s.startsWith(this.#delimiter, q)) return q;
      } else if (c <= QUOTE) {
        if (c === LF || c === CR) return q;
        if (c === QUOTE) {
          throw this.#error(breaks, 'a quote inside an unquoted field (quote the whole field and write the quote as "")', s, start, q);
        }
      }
    }
    return n;
  }

  /**
   * A syntax error at `at`, `breaks` lines into the record starting at `start`. csv-parse reports the size cap
   * first when the record already passed it there.
   */
  #error(breaks: number, problem: string, s: string, start: number, at: number): InputError {
    if ((at - start) * 3 > MAX_RECORD_SIZE && this.#overflows(s, start, at)) return this.#tooLong();
    return new InputError({ file: this.#file, line: this.#line + 1 + breaks }, problem);
  }

  #tooLong(): InputError {
    return new InputError(
      { file: this.#file, line: this.#line + 1 },
      `the record starting on this line is longer than ${MAX_RECORD_SIZE} bytes (an unclosed quote?)`,
    );
  }

  /**
   * Whether csv-parse's max_record_size check fires within the (well-formed) record text s[from, to): before each
   * content byte it compares the earlier fields' lengths in UTF-16 units plus the current field's bytes with the cap.
   */
  #overflows(s: string, from: number, to: number): boolean {
    let earlier = 0;
    let units = 0;
    let bytes = 0;
    let quoting = false;
    for (let i = from; i < to; i++) {
      const c = s.charCodeAt(i);
      if (quoting) {
        if (c === QUOTE) {
          if (s.charCodeAt(i + 1) !== QUOTE) {
            quoting = false;
            continue;
          }
          i++;
        }
      } else if (c === QUOTE && units === 0) {
        quoting = true;
        continue;
      } else if (c === LF || c === CR) {
        break;
      } else if (c === this.#d0 && s.startsWith(this.#delimiter, i)) {
        earlier += units;
        units = bytes = 0;
        i += this.#dlen - 1;
        continue;
      }
      units++;
      bytes += this.#utf16 || (c >= 0xd800 && c < 0xe000) ? 2 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
      if (earlier + bytes - 1 > MAX_RECORD_SIZE) return true;
    }
    return false;
  }
}

/** Physical line breaks in s[from, to): "\r\n", "\n" and "\r" each count once. */
function lineBreaks(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === LF) n++;
    else if (c === CR) {
      n++;
      if (s.charCodeAt(i + 1) === LF) i++;
    }
  }
  return n;
}

/** Columns whose recent values are kept, values kept per column, and misses before a column may be given up. */
const RECENT_COLUMNS = 16;
const RECENT_VALUES = 8;
const RECENT_TRIAL = 1024;
/** The longest value kept. */
const RECENT_LENGTH = 64;

/** Whether s[p, q) is `text`: the length and the last character first (ids of one length mostly differ there). */
function sameAt(s: string, p: number, q: number, text: string): boolean {
  return text.length === q - p && (q === p || text.charCodeAt(q - p - 1) === s.charCodeAt(q - 1)) && sameText(s, p, text);
}

/** Whether `s` holds `text` at `at` (a short loop: startsWith costs a call more than the few characters of an id). */
function sameText(s: string, at: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (s.charCodeAt(at + i) !== text.charCodeAt(i)) return false;
  return true;
}
