import type { Ora } from "ora";
import { formatCount, formatDuration } from "./format.js";

/** How progress is shown: an ora spinner, a plain status line every few seconds (CI), or nothing. */
export type ProgressMode = "tty" | "plain" | "none";

/** The live figures of a run. */
export interface ProgressFigures {
  rowsRead: number;
  applied: number;
  failed: number;
  requests: number;
  /** Input bytes consumed, for the percentage and ETA when the input size is known. */
  bytesRead: number;
}

/** The progress display a command drives. */
export interface Progress {
  /** Takes the latest figures; cheap enough to call per row. */
  update(figures: ProgressFigures): void;
  /** Removes the spinner / stops the status lines; safe to call twice. */
  stop(): void;
  /** Prints a line (a warning, a --verbose request log) without breaking the spinner. */
  log(line: string): void;
}

/** What createProgress needs. */
export interface ProgressOptions {
  mode: ProgressMode;
  stream: NodeJS.WritableStream;
  /** Plain mode: time between status lines (issue 5: every 5 seconds). */
  intervalMs?: number | undefined;
  /** The clock rows/s and ETA are computed from. */
  now?: (() => number) | undefined;
  /** Input size in bytes when the input is a file; enables the percentage and the ETA. */
  totalBytes?: number | undefined;
}

/** Plain-mode default interval (issue 5). */
export const PLAIN_INTERVAL_MS = 5000;

/** The spinner text is rebuilt at most this often; ora redraws on its own timer anyway. */
const TTY_TEXT_EVERY_MS = 100;

/** Picks the mode: --quiet keeps only errors, so it shows none; auto means a spinner on a TTY, plain lines elsewhere. */
export function resolveProgressMode(flag: "auto" | ProgressMode, isTTY: boolean, quiet: boolean): ProgressMode {
  if (quiet) return "none";
  if (flag === "auto") return isTTY ? "tty" : "plain";
  return flag;
}

/** The status text: `rows 120,000 · applied 118,000 · failed 3 · requests 240 · 4,100 rows/s · 42% · ETA 1m 10s`. */
export function progressText(figures: ProgressFigures, elapsedMs: number, totalBytes?: number): string {
  const parts = [
    `rows ${formatCount(figures.rowsRead)}`,
    `applied ${formatCount(figures.applied)}`,
    `failed ${formatCount(figures.failed)}`,
    `requests ${formatCount(figures.requests)}`,
  ];
  // Below a second the rate is noise.
  if (elapsedMs >= 1000) parts.push(`${formatCount(figures.rowsRead / (elapsedMs / 1000))} rows/s`);
  if (totalBytes !== undefined && totalBytes > 0) {
    const fraction = Math.min(1, figures.bytesRead / totalBytes);
    parts.push(`${Math.floor(fraction * 100)}%`);
    if (fraction > 0 && fraction < 1 && elapsedMs >= 1000) {
      const remainingMs = (elapsedMs * (1 - fraction)) / fraction;
      parts.push(`ETA ${formatDuration(Math.ceil(remainingMs / 1000) * 1000)}`);
    }
  }
  return parts.join(" · ");
}

/**
 * Starts the progress display in the given mode. Async because the spinner library is loaded only for a spinner
 * (issue 16: a dry run or --progress none/plain never pays for loading ora).
 */
export async function createProgress(options: ProgressOptions): Promise<Progress> {
  const now = options.now ?? Date.now;
  const started = now();
  const text = (figures: ProgressFigures): string => progressText(figures, now() - started, options.totalBytes);
  const { stream } = options;
  // In tty mode ora 9 hooks writes to its stream: it clears the spinner, lets the line through and redraws.
  const log = (line: string): void => void stream.write(line + "\n");

  switch (options.mode) {
    case "none":
      return { update() {}, stop() {}, log };

    case "plain": {
      // Lines come from a timer, not from updates, so a stall (a long Retry-After) still shows the run is alive.
      let latest: ProgressFigures | undefined;
      const timer = setInterval(() => {
        if (latest) stream.write(text(latest) + "\n");
      }, options.intervalMs ?? PLAIN_INTERVAL_MS);
      timer.unref();
      return {
        update(figures) {
          latest = figures;
        },
        stop() {
          clearInterval(timer);
        },
        log,
      };
    }

    case "tty": {
      // A terminal that reports no width (a pseudo-terminal nobody sized, as some CI runners make) would send
      // ora's line counting to infinity: plain lines are the safe display there.
      if ((stream as { columns?: number }).columns === 0) return createProgress({ ...options, mode: "plain" });
      const { default: ora } = await import("ora");
      // discardStdin stays off: stdin may be the input being read.
      const spinner: Ora = ora({ stream, text: "starting", isEnabled: true, discardStdin: false }).start();
      let lastText = -Infinity;
      return {
        update(figures) {
          const t = now();
          if (t - lastText < TTY_TEXT_EVERY_MS) return;
          lastText = t;
          spinner.text = text(figures);
        },
        stop() {
          if (spinner.isSpinning) spinner.stop();
        },
        log,
      };
    }
  }
}
