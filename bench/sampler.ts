// The sampler's cost per row per decode step on a real vocabulary (Qwen2.5's 151,936 tokens), for
// `npm run bench`. On the demo's 661 tokens it is noise; on a real model it is the host work each extra
// sample adds to a step, which a GPU does not hide. Rows are drawn from a fixed PRNG so runs compare.

import { Prng } from "../src/engine/sampling/prng.js";
import { type SamplingParams, sampleToken } from "../src/engine/sampling/sampler.js";

export const QWEN_VOCAB = 151_936;

export interface SamplerRow {
  mode: string;
  /** Median over the rows, each timed over `draws` draws. */
  msPerDraw: number;
}

const MODES: readonly { mode: string; params: SamplingParams }[] = [
  { mode: "greedy", params: { temperature: 0, topK: 0, topP: 1 } },
  { mode: "temperature 1 (the server's default for K > 1)", params: { temperature: 1, topK: 0, topP: 1 } },
  { mode: "temperature 1, top_p 0.9", params: { temperature: 1, topK: 0, topP: 0.9 } },
  { mode: "temperature 1, top_k 50", params: { temperature: 1, topK: 50, topP: 1 } },
];

/** Language-model-like rows: logits ~ N(0, 3²) with a few strong candidates, as after a prompt. */
function rows(count: number, vocab: number): Float32Array[] {
  const rng = new Prng(2024);
  const normal = () => Math.sqrt(-2 * Math.log(rng.next() || 1e-12)) * Math.cos(2 * Math.PI * rng.next());
  return Array.from({ length: count }, () => {
    const row = new Float32Array(vocab).map(() => 3 * normal());
    for (let i = 0; i < 5; i++) row[Math.floor(rng.next() * vocab)] = 12 + 3 * rng.next();
    return row;
  });
}

export function benchSampler(vocab = QWEN_VOCAB, draws = 200): SamplerRow[] {
  const data = rows(5, vocab);
  return MODES.map(({ mode, params }) => {
    const rng = new Prng(7);
    const per: number[] = [];
    for (const row of data) {
      for (let i = 0; i < 20; i++) sampleToken(row, params, rng);
      const t0 = performance.now();
      for (let i = 0; i < draws; i++) sampleToken(row, params, rng);
      per.push((performance.now() - t0) / draws);
    }
    per.sort((a, b) => a - b);
    return { mode, msPerDraw: per[per.length >> 1] as number };
  });
}
