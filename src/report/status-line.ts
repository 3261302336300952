import type { Ora } from "ora";
import { PLAIN_INTERVAL_MS, type ProgressMode } from "./progress.js";

/** A progress line whose text the caller builds: a spinner on a TTY, a line every few seconds elsewhere, or nothing. */
export interface StatusLine {
  update(text: string): void;
  /** Prints a line without breaking the spinner. */
  log(line: string): void;
  stop(): void;
}

/** Starts a status line in the given mode (the verification phase has its own, issue 14); ora is loaded only for a spinner. */
export async function createStatusLine(o: { mode: ProgressMode; stream: NodeJS.WritableStream; intervalMs?: number }): Promise<StatusLine> {
  const log = (line: string): void => void o.stream.write(line + "\n");
  if (o.mode === "none") return { update() {}, log() {}, stop() {} };
  if (o.mode === "tty" && (o.stream as { columns?: number }).columns !== 0) {
    // As in progress.ts: discardStdin off, and a terminal that reports no width gets plain lines.
    const { default: ora } = await import("ora");
    const spinner: Ora = ora({ stream: o.stream, text: "", isEnabled: true, discardStdin: false }).start();
    return {
      update(text) {
        spinner.text = text;
      },
      log,
      stop() {
        if (spinner.isSpinning) spinner.stop();
      },
    };
  }
  // Lines from a timer, not from updates, so a long wait between rounds still shows the run is alive.
  let latest: string | undefined;
  const timer = setInterval(() => {
    if (latest !== undefined) o.stream.write(latest + "\n");
  }, o.intervalMs ?? PLAIN_INTERVAL_MS);
  timer.unref();
  return {
    update(text) {
      latest = text;
    },
    log,
    stop() {
      clearInterval(timer);
    },
  };
}
