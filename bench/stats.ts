// Small shared helpers: event-loop delay summaries and number formatting.

import type { IntervalHistogram } from "node:perf_hooks";

export interface DelayStats {
  /** Milliseconds. */
  p50: number;
  p99: number;
  max: number;
  mean: number;
  samples: number;
}

/** Sampling interval of every event-loop delay histogram here, milliseconds. */
export const LOOP_RESOLUTION_MS = 5;

/**
 * monitorEventLoopDelay records the time between its timer's firings (nanoseconds), so an idle loop
 * reads about the resolution: subtract it to report the delay beyond the timer's due time.
 */
export function delayStats(h: IntervalHistogram): DelayStats {
  const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  return {
    p50: ms(h.percentile(50)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
    mean: ms(h.mean),
    samples: h.count,
  };
}

export function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return value.toFixed(digits);
}

export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padStart(widths[c] ?? 0)).join(" | ")} |`;
  return [
    line(headers),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...cells.slice(1).map(line),
  ].join("\n");
}
