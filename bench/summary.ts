/** What both benches read of cio-rel's --json summary. */
export interface CliSummary {
  rows: number;
  applied: number;
  duplicate: number;
  operations: number;
  batches: number;
  requests: number;
  bytes: number;
  exitCode: number;
}

/** The --json summary of a cio-rel run that applied (or planned) every row; throws unless it went through cleanly. */
export function summaryOf(r: { stdout: string; stderr: string; code: number | null }, what: string, rows: number): CliSummary {
  let s: CliSummary;
  try {
    s = JSON.parse(r.stdout) as CliSummary;
  } catch {
    throw new Error(`${what}: no JSON summary (exit ${r.code})\n${r.stderr}`);
  }
  if (r.code !== 0 || s.exitCode !== 0 || s.rows !== rows || s.applied !== rows) {
    throw new Error(`${what}: exit ${r.code}, ${s.applied} of ${s.rows} rows applied (expected ${rows})\n${r.stderr}`);
  }
  return s;
}
