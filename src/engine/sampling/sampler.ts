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

// Tokens whose probability is below e^-30 (~1e-13) of the best one are never drawn in practice: top-k
// and top-p leave them out and bin the rest by logit over this range.
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
  const t = params.temperature;
  if (params.topK <= 0 && params.topP >= 1) return drawTemperature(logits, t, rng);
  const best = logits[argmax(logits)] as number;
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
 * Plain temperature sampling with one read of the row and an exp per 64 tokens, not per token: the
 * row is cut into chunks of CHUNK tokens and each chunk gets an upper bound on its weight (its size ×
 * the weight of its best logit). A chunk is drawn by that bound, a token uniformly within it, and the
 * token is kept with probability weight / the chunk's best weight, else drawn again. Each token is thus
 * drawn with probability exactly ∝ its softmax weight, with nothing cut off, and an attempt succeeds
 * with probability ≥ 1/CHUNK (the best chunk alone passes that), so a draw takes a few attempts. On a
 * 152k vocabulary this replaced binning every token: ~3 ms a draw then, ~0.5 ms now (`npm run bench`),
 * which was most of what a sample cost on the host per decode step.
 */
function drawTemperature(logits: ArrayLike<number>, t: number, rng: Prng): number {
  const n = logits.length;
  const chunks = Math.ceil(n / CHUNK);
  if (chunkBound.length < chunks) {
    chunkBound = new Float64Array(chunks);
    chunkBest = new Float64Array(chunks);
  }
  // One read of the row: each chunk's best logit, and a sum that only NaN or ±Infinity make non-finite
  // (then argmax names the bad logit, or finds the row usable: -Infinity is a token never drawn).
  let sum = 0;
  let best = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < chunks; c++) {
    const end = Math.min(n, (c + 1) * CHUNK);
    let top = Number.NEGATIVE_INFINITY;
    for (let i = c * CHUNK; i < end; i++) {
      const logit = logits[i] as number;
      sum += logit;
      if (logit > top) top = logit;
    }
    chunkBest[c] = top;
    if (top > best) best = top;
  }
  if (!Number.isFinite(sum)) best = logits[argmax(logits)] as number;
  let bound = 0;
  for (let c = 0; c < chunks; c++) {
    const start = c * CHUNK;
    // Cumulative, so a draw finds its chunk by bisection.
    bound += (Math.min(n, start + CHUNK) - start) * Math.exp(((chunkBest[c] as number) - best) / t);
    chunkBound[c] = bound;
  }
  for (let attempt = 0; attempt < MAX_CHUNK_ATTEMPTS; attempt++) {
    const pick = rng.next() * bound;
    let lo = 0;
    let hi = chunks - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((chunkBound[mid] as number) > pick) hi = mid;
      else lo = mid + 1;
    }
    const start = lo * CHUNK;
    const token = start + Math.floor(rng.next() * (Math.min(n, start + CHUNK) - start));
    const weight = Math.exp(((logits[token] as number) - (chunkBest[lo] as number)) / t);
    if (rng.next() < weight) return token;
  }
  return drawExact(logits, best, t, rng);
}

const CHUNK = 64;
// An attempt succeeds with probability ≥ 1/CHUNK: all of these fail with probability < e^-30.
const MAX_CHUNK_ATTEMPTS = 30 * CHUNK;
let chunkBound = new Float64Array(0);
let chunkBest = new Float64Array(0);

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
const OUTSIDE = -1;
const CHOSEN = -2;
let bucketOf = new Int32Array(0);
const bucketMass = new Float64Array(BUCKETS);
const bucketCount = new Int32Array(BUCKETS);

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
