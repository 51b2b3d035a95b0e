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

// Tokens whose probability is below e^-30 (~1e-13) of the best one are never drawn in practice: every
// sampling mode leaves them out and bins the rest by logit over this range.
const NEGLIGIBLE_LOGIT_GAP = 30;

/** Why `params` cannot be sampled with, or undefined when they can. */
export function samplingProblem(params: SamplingParams): string | undefined {
  if (!(Number.isFinite(params.temperature) && params.temperature >= 0))
    return `temperature must be a finite number >= 0, got ${params.temperature}`;
  if (!(Number.isSafeInteger(params.topK) && params.topK >= 0))
    return `top_k must be a whole number >= 0, got ${params.topK}`;
  if (!(params.topP > 0 && params.topP <= 1)) return `top_p must be in (0, 1], got ${params.topP}`;
  return undefined;
}

export function sampleToken(logits: ArrayLike<number>, params: SamplingParams, rng: Prng): number {
  if (params.temperature <= 0) return argmax(logits);
  const best = logits[argmax(logits)] as number;
  const t = params.temperature;
  if (params.topK <= 0 && params.topP >= 1) return drawTemperature(logits, best, t, rng);
  if (params.topK <= 0) return drawNucleus(logits, best, t, params.topP, rng);
  const candidates = topK(logits, best, t, params.topK);
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

/**
 * Plain temperature sampling without an exp per token: tokens are binned by logit (as for top-k/top-p
 * below), a bin is drawn by its upper-bound weight (count × the weight of its top edge), a token
 * uniformly within it, and the token is kept with probability weight / upper bound (≥ e^-30/BUCKETS,
 * > 99 %), else drawn again. Each token is thus drawn with probability exactly ∝ its softmax weight;
 * only tokens under 1e-13 of the best (NEGLIGIBLE_LOGIT_GAP) are left out. On a 152k vocabulary this
 * is ~4× cheaper than an exp per token, which dominated sampling at batch 8.
 */
function drawTemperature(logits: ArrayLike<number>, best: number, t: number, rng: Prng): number {
  const n = logits.length;
  binLogits(logits, best, t, false);
  let bound = 0;
  for (let b = 0; b < BUCKETS; b++) bound += (bucketCount[b] as number) * (BUCKET_TOP_WEIGHT[b] as number);
  // Each attempt is accepted with probability > 99 %: running out of attempts means broken numbers.
  for (let attempt = 0; attempt < MAX_REJECTIONS; attempt++) {
    let pick = rng.next() * bound;
    let bucket = 0;
    while (bucket < BUCKETS - 1) {
      pick -= (bucketCount[bucket] as number) * (BUCKET_TOP_WEIGHT[bucket] as number);
      if (pick < 0) break;
      bucket++;
    }
    while (bucket > 0 && (bucketCount[bucket] as number) === 0) bucket--; // rounding at the end of the walk
    let member = Math.floor(rng.next() * (bucketCount[bucket] as number));
    let token = -1;
    for (let i = 0; i < n; i++) {
      if (bucketOf[i] === bucket && member-- === 0) {
        token = i;
        break;
      }
    }
    if (token < 0) break;
    const weight = Math.exp(((logits[token] as number) - best) / t);
    if (rng.next() * (BUCKET_TOP_WEIGHT[bucket] as number) < weight) return token;
  }
  return drawExact(logits, best, t, rng);
}

/** One exp per token: the plain inverse-CDF draw, used only if rejection sampling cannot finish. */
function drawExact(logits: ArrayLike<number>, best: number, t: number, rng: Prng): number {
  const total = binLogits(logits, best, t, true);
  const u = rng.next() * total;
  let acc = 0;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    if ((bucketOf[i] as number) < 0) continue;
    last = i;
    acc += scratch[i] as number;
    if (u < acc) return i;
  }
  return last;
}

// Sampling without sorting the vocabulary: one pass bins every token within NEGLIGIBLE_LOGIT_GAP of
// the best logit into BUCKETS bins by logit (equal logits share a bin), with each bin's count (and,
// for top-p, weight). Top-k and top-p keep whole bins from the top and sort only the bin where the cut
// falls (by logit, then index): the kept set is exactly what a full descending sort would keep. A flat
// 150k-token distribution took ~59 ms per top-p draw with a full sort, ~3 ms so.
const BUCKETS = 4096;
const MAX_REJECTIONS = 64;
const OUTSIDE = -1;
const CHOSEN = -2;
let bucketOf = new Int32Array(0);
const bucketMass = new Float64Array(BUCKETS);
const bucketCount = new Int32Array(BUCKETS);
/** Weight of the best logit a bin can hold, relative to the best token: bin b starts b·GAP/BUCKETS below it. */
const BUCKET_TOP_WEIGHT = Float64Array.from({ length: BUCKETS }, (_, b) =>
  Math.exp((-b * NEGLIGIBLE_LOGIT_GAP) / BUCKETS),
);

/**
 * Fills bucketOf and bucketCount, and with `weights` also scratch (each token's weight) and bucketMass;
 * returns the total weight (0 without `weights`).
 */
function binLogits(logits: ArrayLike<number>, best: number, t: number, weights: boolean): number {
  const n = logits.length;
  if (weights && scratch.length < n) scratch = new Float64Array(n);
  if (bucketOf.length < n) bucketOf = new Int32Array(n);
  bucketMass.fill(0);
  bucketCount.fill(0);
  // Divide by the gap rather than multiply by its inverse: for temperatures near the smallest double
  // BUCKETS / gap overflows to Infinity, and 0 · Infinity (the best token) is NaN.
  const gap = NEGLIGIBLE_LOGIT_GAP * t;
  const floor = best - gap;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const logit = logits[i] as number;
    if (!(logit >= floor)) {
      bucketOf[i] = OUTSIDE;
      continue;
    }
    const bucket = Math.min(BUCKETS - 1, Math.floor(((best - logit) / gap) * BUCKETS));
    bucketOf[i] = bucket;
    bucketCount[bucket] = (bucketCount[bucket] as number) + 1;
    if (!weights) continue;
    const w = Math.exp((logit - best) / t);
    scratch[i] = w;
    bucketMass[bucket] = (bucketMass[bucket] as number) + w;
    total += w;
  }
  return total;
}

/** The first bin whose `amount` takes the running sum from the top to `limit`, and the sum before it. */
function cutBucket(amount: Float64Array | Int32Array, limit: number): { bucket: number; before: number } {
  let before = 0;
  for (let b = 0; b < BUCKETS; b++) {
    if (before + (amount[b] as number) >= limit) return { bucket: b, before };
    before += amount[b] as number;
  }
  return { bucket: BUCKETS - 1, before: before - (amount[BUCKETS - 1] as number) };
}

/** Tokens of bin `bucket`, best logit first, ties by lower index. */
function bucketMembers(logits: ArrayLike<number>, bucket: number): number[] {
  const members: number[] = [];
  for (let i = 0; i < logits.length; i++) if (bucketOf[i] === bucket) members.push(i);
  return members.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
}

function drawNucleus(logits: ArrayLike<number>, best: number, t: number, topP: number, rng: Prng): number {
  const target = topP * binLogits(logits, best, t, true);
  const cut = cutBucket(bucketMass, target);
  let kept = cut.before;
  for (const i of bucketMembers(logits, cut.bucket)) {
    bucketOf[i] = CHOSEN;
    kept += scratch[i] as number;
    if (kept >= target) break;
  }
  const u = rng.next() * kept;
  let acc = 0;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    const bucket = bucketOf[i] as number;
    if (bucket === CHOSEN || (bucket >= 0 && bucket < cut.bucket)) {
      last = i;
      acc += scratch[i] as number;
      if (u < acc) return i;
    }
  }
  return last;
}

/** The `k` best tokens (only those within NEGLIGIBLE_LOGIT_GAP of the best), best first, ties by index. */
function topK(logits: ArrayLike<number>, best: number, t: number, k: number): number[] {
  binLogits(logits, best, t, false);
  const cut = cutBucket(bucketCount, k);
  const chosen: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const bucket = bucketOf[i] as number;
    if (bucket >= 0 && bucket < cut.bucket) chosen.push(i);
  }
  chosen.push(...bucketMembers(logits, cut.bucket).slice(0, k - cut.before));
  return chosen.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
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
