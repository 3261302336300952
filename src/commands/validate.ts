import { EXIT, UsageError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { closeInput, prepareInput } from "./input.js";
import type { ValidateFlags } from "./flags.js";
import { parseInputOptions } from "./options.js";
import { startPipeline } from "./pipeline.js";
import { encoderFor } from "./destination.js";
import { fixedEmailWarning, noRowsNote } from "./relationships.js";
import type { SettledRow } from "./outcomes.js";
import { Tally } from "../report/tally.js";

/** How many invalid rows --json lists (the text output lists them all, streamed). */
const JSON_ERRORS_CAP = 1000;

/** `cio-rel validate <file>`: reads and checks every row without sending; exit 2 when any row is invalid (issue 5). */
export async function runValidate(ctx: CommandContext, file: string | undefined, raw: ValidateFlags): Promise<number> {
  if (file === undefined && raw.sql === undefined && raw.sqlFile === undefined) {
    throw new UsageError("validate needs the rows: a file (- for stdin), or --sql / --sql-file");
  }
  const input = parseInputOptions(raw, file);
  const source = await (await prepareInput(ctx, input, { onNote: (m) => void ctx.stderr.write(`cio-rel: note: ${m}\n`) })).open();
  const errors: { line: number; reason: string }[] = [];
  const json = raw.json === true;
  const tally = new Tally();
  const warning = fixedEmailWarning(raw);
  if (warning !== undefined) ctx.stderr.write(`cio-rel: warning: ${warning}\n`);
  const { done } = startPipeline({
    ...(raw.personKey === undefined ? { onEmailsAsIds: (w: string) => void ctx.stderr.write(`cio-rel: warning: ${w}\n`) } : {}),
    tally,
    action: "add_relationships",
    // issue 15: the route's own refusals (email or cio_id people via pipelines) are invalid rows here too.
    encoder: encoderFor(raw.via),
    input,
    source,
    sink: { kind: "dry-run" },
    keepRows: false,
    rows: {
      settle(s: SettledRow) {
        if (s.outcome.kind !== "invalid") return;
        if (json) {
          if (errors.length < JSON_ERRORS_CAP) errors.push({ line: s.line, reason: s.outcome.reason });
        } else {
          ctx.stdout.write(`${source.displayName}:${s.line}: ${s.outcome.reason}\n`);
        }
      },
    },
  });
  const result = await done.finally(() => closeInput(source));
  const rowsRead = tally.rowsRead;
  const counts = { invalid: tally.count("invalid"), duplicate: tally.count("duplicate") };
  const valid = rowsRead - counts.invalid - counts.duplicate;
  const exitCode = counts.invalid > 0 ? EXIT.usage : EXIT.ok;
  if (json) {
    const doc = {
      command: "validate",
      file: source.displayName,
      via: raw.via,
      rows: rowsRead,
      valid,
      invalid: counts.invalid,
      duplicate: counts.duplicate,
      relationships: result.plan.relationships,
      errors,
      errorsTruncated: counts.invalid > errors.length,
      exitCode,
    };
    ctx.stdout.write(JSON.stringify(doc, null, 2) + "\n");
  } else if (rowsRead === 0) {
    ctx.stdout.write(`${noRowsNote(source)}\n`);
  } else if (raw.quiet !== true) {
    const verdict = counts.invalid > 0 ? `${counts.invalid} invalid` : "all valid";
    ctx.stdout.write(
      `${source.displayName}: ${rowsRead} ${rowsRead === 1 ? "row" : "rows"} read, ${valid} valid, ${counts.invalid} invalid, ${counts.duplicate} duplicate (${verdict})\n`,
    );
  }
  return exitCode;
}
