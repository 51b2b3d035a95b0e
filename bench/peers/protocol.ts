// What every peer runner (ours, llama.cpp, PyTorch eager) is asked and answers, so bench/peers/index.ts
// can run them side by side: each runner is a child process that does one round (load, warm-up, a
// one-sample greedy judgement, a K-sample judgement at temperature 1) on the same prompt token ids
// with the same threads, and prints one PeerRound as JSON on its last stdout line (progress: stderr).
//
//   <runner> --model PATH --prompt FILE --precision fp32|int8|int4 --new-tokens N --samples K
//            --threads T --seed S
//
// FILE holds {"inputIds": number[]}: the judge prompt rendered and tokenized once, by us, so every
// engine starts from the same tokens (no engine's tokenizer or chat template is measured).

import { readFileSync } from "node:fs";

/** The decoder variants every comparison covers (our names; each peer maps them to its own). */
export const PRECISIONS = ["fp32", "int8", "int4"] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface PeerRound {
  engine: "r1-judge" | "llama.cpp" | "pytorch";
  precision: Precision;
  /** What the engine ran, in its own words: "fp32 ONNX", "q4_0 GGUF", "fp32 eager". */
  format: string;
  threads: number;
  promptTokens: number;
  newTokens: number;
  samples: number;
  loadMs: number;
  /** The one-sample run: prompt in → first token out (the prompt's forward and one pick). */
  prefillMs: number;
  /** The one-sample run after its first token: (newTokens − 1) / time. */
  decodeTokPerSec: number;
  /** The whole one-sample greedy judgement: prompt in → newTokens tokens out. */
  k1Ms: number;
  /** The whole K-sample judgement: the prompt once, K samples of newTokens at temperature 1. */
  kMs: number;
  /** The one-sample run's tokens (greedy). */
  greedyTokens: number[];
  /** Per greedy step, top-1 minus top-2 logit, where the engine can say (ties explain disagreement). */
  greedyMargins?: number[];
  /** VmHWM of the runner's process at the end of the round. */
  peakRssBytes: number;
  note?: string;
}

/** The runner's answer: the last line of its stdout. */
export function parseRound(stdout: string): PeerRound {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as PeerRound;
}

/** The peak resident memory of this process so far (VmHWM), in bytes. */
export function peakRssBytes(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}
