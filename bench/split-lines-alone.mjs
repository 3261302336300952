// The byte floor the benchmark compares cio-rel with (issue 16): reading a file as a stream, decoding it
// as UTF-8 and cutting it into lines (a string per line), nothing else. Run as a child process, like
// cio-rel, so both pay the same process start. Prints the line count (the header included).
import { createReadStream } from "node:fs";
import { TextDecoder } from "node:util";

const file = process.argv[2];
if (file === undefined) throw new Error("usage: node bench/split-lines-alone.mjs <file>");
const decoder = new TextDecoder("utf-8");
let rest = "";
let lines = 0;
let longest = 0;
for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
  const text = rest + decoder.decode(chunk, { stream: true });
  let start = 0;
  for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
    const line = text.slice(start, nl);
    if (line.length > longest) longest = line.length;
    lines++;
    start = nl + 1;
  }
  rest = text.slice(start);
}
if (rest !== "") lines++;
console.log(lines);
