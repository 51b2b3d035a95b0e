// Our engine driven directly (as test/engine/golden.test.ts does): one request of K samples, a fixed
// number of new tokens (no eos ids, no stop strings), prefix cache off so every run prefills.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { Engine, type SampleOutput } from "../src/engine/engine.js";
import type { JudgeModel, PromptTensors } from "../src/engine/model.js";
import type { SamplingParams } from "../src/engine/sampling/sampler.js";
import { type DelayStats, delayStats, LOOP_RESOLUTION_MS } from "./stats.js";

export const SAMPLING: SamplingParams = { temperature: 1, topK: 0, topP: 1 };
export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1 };

export interface RunTiming {
  samples: number;
  newTokens: number;
  /** Submit → prompt prefilled (embed + decoder over the prompt). */
  prefillMs: number;
  /** Prompt prefilled → every sample has its newTokens. */
  decodeMs: number;
  latencyMs: number;
  /** Tokens produced by decode steps: K · (newTokens − 1) (the first comes from the prefill's logits). */
  decodeTokens: number;
  tokens: number[][];
}

export async function runOnce(
  model: JudgeModel,
  prompt: PromptTensors,
  samples: number,
  newTokens: number,
  seed: number,
  sampling: SamplingParams = SAMPLING,
): Promise<RunTiming> {
  const engine = new Engine(
    model,
    { kvBudgetBytes: Number.MAX_SAFE_INTEGER, maxRows: 1024, prefixCacheBytes: 0 },
    { eosIds: new Set(), stopStrings: [], decodeTail: () => "" },
  );
  const outputs: SampleOutput[] = [];
  let done = false;
  let failure: Error | undefined;
  let prefilledAt = 0;
  const t0 = performance.now();
  engine.submit(
    {
      id: "bench",
      prompt,
      samples,
      seed,
      sampling,
      maxNewTokens: newTokens,
    },
    {
      onStart: () => {
        prefilledAt = performance.now();
      },
      onSample: (s) => outputs.push(s),
      onDone: () => {
        done = true;
      },
      onError: (err) => {
        failure = err;
      },
    },
  );
  while (!done && !failure) await engine.iterate();
  const end = performance.now();
  if (failure) throw failure;
  for (const s of outputs) {
    if (s.tokens.length !== newTokens || s.finishReason !== "length")
      throw new Error(`sample ${s.index}: ${s.tokens.length} tokens, ${s.finishReason}`);
  }
  outputs.sort((a, b) => a.index - b.index);
  return {
    samples,
    newTokens,
    prefillMs: prefilledAt - t0,
    decodeMs: end - prefilledAt,
    latencyMs: end - t0,
    decodeTokens: samples * (newTokens - 1),
    tokens: outputs.map((s) => s.tokens),
  };
}

export interface KResult {
  samples: number;
  runs: number;
  /** Medians over the runs. */
  latencyMs: number;
  prefillMs: number;
  decodeMs: number;
  /** K · (newTokens − 1) / decode time. */
  decodeTokPerSec: number;
  /** K · newTokens / latency: end-to-end generated tokens per second. */
  e2eTokPerSec: number;
  latenciesMs: number[];
  /** Event-loop delay of the thread running the engine (this one) during these runs. */
  mainThreadLoopDelay: DelayStats;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function measureK(
  model: JudgeModel,
  prompt: PromptTensors,
  samples: number,
  newTokens: number,
  runs: number,
  seed: number,
): Promise<KResult> {
  // The event-loop delay of THIS thread while the engine runs on it: the contrast to the worker.
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const timings: RunTiming[] = [];
  histogram.enable();
  for (let r = 0; r < runs; r++)
    timings.push(await runOnce(model, prompt, samples, newTokens, seed + 1000 * r));
  histogram.disable();
  const latencyMs = median(timings.map((t) => t.latencyMs));
  const decodeMs = median(timings.map((t) => t.decodeMs));
  return {
    samples,
    runs,
    latencyMs,
    prefillMs: median(timings.map((t) => t.prefillMs)),
    decodeMs,
    decodeTokPerSec: (samples * (newTokens - 1)) / (decodeMs / 1000),
    e2eTokPerSec: (samples * newTokens) / (latencyMs / 1000),
    latenciesMs: timings.map((t) => t.latencyMs),
    mainThreadLoopDelay: delayStats(histogram),
  };
}
