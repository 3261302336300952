// The floor the benchmark compares cio-rel with: csv-parse alone reading a file as a stream, with
// columns: true, consuming every record. Run as a child process, like cio-rel, so both pay the same
// process start. Prints the record count.
import { createReadStream } from "node:fs";
import { parse } from "csv-parse";

const file = process.argv[2];
if (file === undefined) throw new Error("usage: node bench/csv-parse-alone.mjs <file.csv>");
const parser = createReadStream(file).pipe(parse({ columns: true }));
let records = 0;
parser.on("readable", () => {
  while (parser.read() !== null) records++;
});
parser.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
parser.on("end", () => console.log(records));
