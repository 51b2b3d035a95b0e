// Picks the next token from one row of logits: greedy at temperature 0; otherwise temperature,
// then top-k, then top-p (nucleus), then one draw from the row's own PRNG. Non-finite logits make
// the sample invalid rather than crash the batch.

import type { Prng } from "./prng.js";

export interface SamplingParams {
  temperature: number;
  topK: number; // 0 = off
  topP: number; // 1 = off
}

export class InvalidLogitsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidLogitsError";
  }
}

// Tokens whose probability is below e^-30 (~1e-13) of the best one are never drawn in practice; leaving them
// out of the top-p sort keeps a 150k-entry vocabulary from being sorted on every step.
const NEGLIGIBLE_LOGIT_GAP = 30;

export function sampleToken(logits: ArrayLike<number>, params: SamplingParams, rng: Prng): number {
  if (params.temperature <= 0) return argmax(logits);
  const best = logits[argmax(logits)] as number;
  const t = params.temperature;
  if (params.topK <= 0 && params.topP >= 1) return drawLinear(logits, best, t, rng);
  let candidates: number[];
  if (params.topK > 0) {
    candidates = topIndices(logits, Math.min(params.topK, logits.length));
  } else {
    const floor = best - NEGLIGIBLE_LOGIT_GAP * t;
    candidates = [];
    for (let i = 0; i < logits.length; i++) if ((logits[i] as number) >= floor) candidates.push(i);
    candidates.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
  }
  const weights = new Float64Array(candidates.length);
  let total = 0;
  for (let i = 0; i < candidates.length; i++) {
    const w = Math.exp(((logits[candidates[i] as number] as number) - best) / t);
    weights[i] = w;
    total += w;
  }
  let keep = candidates.length;
  if (params.topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < candidates.length; i++) {
      cumulative += (weights[i] as number) / total;
      if (cumulative >= params.topP) {
        keep = i + 1;
        break;
      }
    }
    total = 0;
    for (let i = 0; i < keep; i++) total += weights[i] as number;
  }
  const u = rng.next() * total;
  let acc = 0;
  for (let i = 0; i < keep; i++) {
    acc += weights[i] as number;
    if (u < acc) return candidates[i] as number;
  }
  return candidates[keep - 1] as number;
}

let scratch = new Float64Array(0);

/** Plain temperature sampling: exp once per logit into a reused buffer, then one draw; no sort. */
function drawLinear(logits: ArrayLike<number>, best: number, t: number, rng: Prng): number {
  if (scratch.length < logits.length) scratch = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const w = Math.exp(((logits[i] as number) - best) / t);
    scratch[i] = w;
    total += w;
  }
  const u = rng.next() * total;
  let acc = 0;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    const w = scratch[i] as number;
    if (w > 0) last = i;
    acc += w;
    if (u < acc) return i;
  }
  return last;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let value = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i] as number;
    if (Number.isNaN(v)) throw new InvalidLogitsError(`logit ${i} is NaN`);
    if (v > value) {
      value = v;
      best = i;
    }
  }
  if (value === Number.NEGATIVE_INFINITY) throw new InvalidLogitsError("every logit is -Infinity");
  if (value === Number.POSITIVE_INFINITY) throw new InvalidLogitsError(`logit ${best} is +Infinity`);
  return best;
}

/** Indices of the `k` largest logits, largest first, ties by lower index (a stable descending sort). */
export function topIndices(logits: ArrayLike<number>, k: number): number[] {
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i] as number)) {
      if (Number.isNaN(logits[i] as number) || (logits[i] as number) > 0) {
        throw new InvalidLogitsError(`logit ${i} is ${logits[i]}`);
      }
    }
  }
  const indices = Array.from({ length: logits.length }, (_, i) => i);
  const cmp = (a: number, b: number) => (logits[b] as number) - (logits[a] as number) || a - b;
  if (k >= logits.length) return indices.sort(cmp);
  // Keep a sorted window of the best k seen so far; fine for the k ≤ a few hundred used in sampling.
  const top: number[] = [];
  for (const i of indices) {
    if (top.length < k) {
      top.push(i);
      if (top.length === k) top.sort(cmp);
      continue;
    }
    if (cmp(i, top[k - 1] as number) < 0) {
      let j = k - 1;
      while (j > 0 && cmp(i, top[j - 1] as number) < 0) j--;
      top.splice(j, 0, i);
      top.pop();
    }
  }
  return top.length < k ? top.sort(cmp) : top;
}
