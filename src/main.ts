import { createInterface } from "node:readline/promises";
import { setFlagsFromString } from "node:v8";
import type { CommandContext } from "./commands/context.js";
import { runMain } from "./run.js";

// issue 16: V8 allocates objects of an allocation site straight in the old generation once enough of them outlive
// a scavenge ("pretenuring"). A relationship outlives one only while it waits in a window or an open batch, then
// dies, so pretenured relationships pile up in the old generation until a full GC: 1M shuffled rows ran 20-30 %
// slower and peaked 25 MB higher with it (paired runs, bench/hot-path.mjs). The heuristic is read at every GC,
// so turning it off here takes effect; node flags cannot go in the bin's shebang (BusyBox env has no -S).
setFlagsFromString("--no-allocation-site-pretenuring");
// issue 16: after a full GC, V8 lets the old generation grow to a multiple of what survived (up to 4 x) before the
// next one. cio-rel's live set is small and steady (a window, the batches in flight, a partition), but rows that
// wait a little are promoted and die there, so the old generation filled with dead rows before it was collected:
// with --report and --failures, 5M shuffled rows peaked at 238-256 MB with 25-30 MB live. Growing by 30 % keeps
// that garbage near a third of the live set (171-178 MB; 194-204 MB at 50 %) for more, cheap, full GCs (10 ms each
// here; dry runs timed the same). A factor, not a cap: a run that needs more memory still gets it. V8 reads it at
// every GC, so it takes effect when set here.
setFlagsFromString("--heap-growing-percent=30");

/** The real process effects: the one place that reads process.* (STYLE: inject the effects). */
const ctx: CommandContext = {
  argv: process.argv.slice(2),
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  cwd: process.cwd(),
  now: () => Date.now(),
  confirm: async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(question);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      rl.close();
    }
  },
  onInterrupt: (handler) => {
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
    return () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    };
  },
};

const code = await runMain(ctx);
// The only place that exits (STYLE). Let stdout drain first (large --json documents piped to jq).
process.exitCode = code;
process.stdout.write("", () => process.exit(code));
