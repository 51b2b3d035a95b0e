// The main thread's event-loop delay while the engine worker generates under load: the engine runs in
// its worker thread (EngineClient, as the server uses it), the main thread only sends requests and
// receives samples, and perf_hooks.monitorEventLoopDelay samples the main loop every 5 ms.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { EngineClient } from "../src/engine/client.js";
import type { ChatMessage } from "../src/engine/tokenizer.js";
import { SAMPLING } from "./ours.js";
import { type DelayStats, delayStats, LOOP_RESOLUTION_MS } from "./stats.js";

export interface LoopDelayResult extends DelayStats {
  seconds: number;
  requests: number;
  samples: number;
  generatedTokens: number;
  /** Requests kept in flight at once. */
  concurrency: number;
}

export async function workerLoopDelay(
  checkpoint: string,
  messages: ChatMessage[],
  opts: { samples: number; newTokens: number; seconds: number; concurrency: number },
): Promise<LoopDelayResult> {
  const client = await EngineClient.start({
    checkpoint,
    variant: "fp32",
    device: "cpu",
    allowCpuFallback: false,
    hashCheck: "size",
    kvBudgetBytes: Number.MAX_SAFE_INTEGER,
    maxRows: 1024,
    prefixCacheBytes: 0,
    encoderCacheBytes: 0,
    maxImagePixels: 1e8,
    maxRequestPixels: 1e8,
    imageMemoryBytes: 2 ** 30,
    imageWorkers: 1,
    maxPromptTokens: 1e6,
  });
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  let requests = 0;
  let samples = 0;
  let generatedTokens = 0;
  const deadline = performance.now() + opts.seconds * 1000;
  const one = (seed: number) =>
    new Promise<void>((resolve, reject) => {
      client.generate(
        {
          messages,
          samples: opts.samples,
          seed,
          sampling: SAMPLING,
          maxNewTokens: opts.newTokens,
        },
        {
          onSample: (s) => {
            samples++;
            generatedTokens += s.tokens;
          },
          onDone: () => {
            requests++;
            resolve();
          },
          onError: reject,
        },
      );
    });
  const lane = async (lane: number) => {
    let seed = lane * 100_000;
    while (performance.now() < deadline) await one(seed++);
  };
  const t0 = performance.now();
  histogram.enable();
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => lane(i)));
  } finally {
    histogram.disable();
    await client.close();
  }
  return {
    ...delayStats(histogram),
    seconds: (performance.now() - t0) / 1000,
    requests,
    samples,
    generatedTokens,
    concurrency: opts.concurrency,
  };
}
