/** Number and unit formatting shared by the summary and the progress line (fixed en-US so CI logs read the same everywhere). */

/**
 * A count with thousands separators, rounded to an integer as en-US Intl.NumberFormat would: 120000 → "120,000".
 * By hand: building an Intl.NumberFormat loads ICU's locale data, 30 ms of every run's start (issue 16).
 */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN" : n > 0 ? "∞" : "-∞";
  const rounded = Math.round(Math.abs(n));
  const digits = rounded >= 1e21 ? BigInt(rounded).toString() : String(rounded);
  const sign = n < 0 ? "-" : "";
  return sign + digits.replace(/\B(?=(\d{3})+$)/g, ",");
}

const BYTE_UNITS = ["B", "kB", "MB", "GB", "TB"] as const;

/** Bytes in decimal units, as the API counts its limits (1 kB = 1,000 bytes): 1234567 → "1.2 MB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A duration for people: "850 ms", "3.4 s", "1m 10s", "2h 05m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, "0")}m`;
  return `${minutes}m ${String(seconds).padStart(2, "0")}s`;
}
