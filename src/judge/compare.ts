// NeMo-Gym's genrm_compare on pairwise R1-Reward judgements. NeMo-Gym compares a group's N responses
// in pairs ("circular": i against i+1 mod N, N comparisons; "all_pairs": every i < j) with
// `num_judges_per_comparison` judges each, and each judge answers {score_1, score_2, ranking}:
// helpfulness 1–5 per response and a ranking 1–6 (1: response 1 much better, 6: response 2 much
// better). Here a comparison is one judgement whose samples are the judges, and a judge's answer is
// read off its verdict probabilities [p1, p2] (the verdict as [1, 0] or [0, 1] when the engine
// reported none): score_1 = 1 + 4·p1, score_2 = 1 + 4·p2, ranking = 1 + 5·p2. A response's reward
// is NeMo-Gym's "simple_tiebreaker" aggregate: the mean of its scores over the valid judges of its
// comparisons (equal scores moved apart by 3.5 − ranking), on the same 1–5 scale (3 is neutral).

import type { Judgement } from "./judge.js";

export type CompareStrategy = "circular" | "all_pairs";

/** NeMo-Gym's neutral score (its `default_score`) and ranking midpoint. */
export const DEFAULT_SCORE = 3;
const RANKING_MIDPOINT = 3.5;

/** The pairs (i, j) compared, i shown as Response 1, in NeMo-Gym's order. */
export function comparisonPairs(strategy: CompareStrategy, n: number): [number, number][] {
  const pairs: [number, number][] = [];
  if (n < 2) return pairs;
  if (strategy === "all_pairs") {
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j]);
  } else {
    for (let i = 0; i < n; i++) pairs.push([i, (i + 1) % n]);
  }
  return pairs;
}

export interface JudgeScore {
  response_i: number;
  response_j: number;
  judge_idx: number;
  /** null: this judge gave no readable verdict (it counts for neither response). */
  score_1: number | null;
  score_2: number | null;
  ranking: number | null;
}

/** Each judge (sample) of comparison (i, j) as NeMo-Gym's score triple. */
export function judgeScores(i: number, j: number, judgement: Judgement): JudgeScore[] {
  return judgement.samples
    .filter((s) => s.finishReason !== "cancelled")
    .map((s) => {
      const p = s.probabilities ?? (s.verdict === 1 ? [1, 0] : s.verdict === 2 ? [0, 1] : undefined);
      if (s.verdict === null || p === undefined) {
        return {
          response_i: i,
          response_j: j,
          judge_idx: s.index,
          score_1: null,
          score_2: null,
          ranking: null,
        };
      }
      return {
        response_i: i,
        response_j: j,
        judge_idx: s.index,
        score_1: 1 + 4 * p[0],
        score_2: 1 + 4 * p[1],
        ranking: 1 + 5 * p[1],
      };
    });
}

export interface Aggregate {
  rewards: number[];
  /** Responses that no valid judge scored (their reward would be a made-up neutral 3). */
  unscored: number[];
  metrics: Record<string, number>;
}

/** NeMo-Gym's simple_tiebreaker over the valid judges, with its metrics and ours. */
export function aggregate(n: number, scores: readonly JudgeScore[]): Aggregate {
  const total = new Array<number>(n).fill(0);
  const count = new Array<number>(n).fill(0);
  const individual: number[] = [];
  let tiebreaks = 0;
  let valid = 0;
  for (const s of scores) {
    if (s.score_1 === null || s.score_2 === null || s.ranking === null) continue;
    valid++;
    let [a, b] = [s.score_1, s.score_2];
    individual.push(a, b);
    if (a === b) {
      tiebreaks++;
      const adjustment = RANKING_MIDPOINT - s.ranking;
      a += adjustment;
      b -= adjustment;
    }
    total[s.response_i] = (total[s.response_i] as number) + a;
    total[s.response_j] = (total[s.response_j] as number) + b;
    count[s.response_i] = (count[s.response_i] as number) + 1;
    count[s.response_j] = (count[s.response_j] as number) + 1;
  }
  const rewards = total.map((t, k) => ((count[k] as number) > 0 ? t / (count[k] as number) : DEFAULT_SCORE));
  const unscored = count.flatMap((c, k) => (c === 0 ? [k] : []));
  const metrics: Record<string, number> = {};
  if (individual.length > 0) {
    const mean = individual.reduce((x, y) => x + y, 0) / individual.length;
    metrics.mean_individual_score = mean;
    metrics.std_individual_score = Math.sqrt(
      individual.reduce((x, y) => x + (y - mean) ** 2, 0) / individual.length,
    );
  }
  if (valid > 0) metrics.tiebreak_usage_rate = tiebreaks / valid;
  metrics.num_judgements = scores.length;
  metrics.invalid_judgements = scores.length - valid;
  return { rewards, unscored, metrics };
}
