// NeMo-Gym genrm_compare on our judgements (src/judge/compare.ts): its pair strategies, each judge's
// verdict as {score_1, score_2, ranking}, and its simple_tiebreaker aggregate.

import assert from "node:assert/strict";
import { test } from "node:test";
import { aggregate, comparisonPairs, judgeScores } from "../../src/judge/compare.js";
import type { JudgedSample, Judgement } from "../../src/judge/judge.js";

function judgement(samples: Partial<JudgedSample>[]): Judgement {
  return {
    winner: null,
    preference: [0.5, 0.5],
    votes: { 1: 0, 2: 0, invalid: 0 },
    weights: { 1: 0, 2: 0 },
    samples: samples.map((s, index) => ({
      index,
      seed: index,
      order: "original",
      verdict: null,
      finishReason: "stop",
      tokens: 1,
      ...s,
    })),
    usage: { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 },
    earlyStopped: 0,
  };
}

test("circular compares i with i+1 mod N; all_pairs every i < j, as NeMo-Gym", () => {
  assert.deepEqual(comparisonPairs("circular", 3), [
    [0, 1],
    [1, 2],
    [2, 0],
  ]);
  assert.deepEqual(comparisonPairs("circular", 2), [
    [0, 1],
    [1, 0],
  ]);
  assert.deepEqual(comparisonPairs("all_pairs", 4), [
    [0, 1],
    [0, 2],
    [0, 3],
    [1, 2],
    [1, 3],
    [2, 3],
  ]);
  assert.deepEqual(comparisonPairs("circular", 1), []);
});

test("a judge's probabilities become NeMo-Gym's scores; no readable verdict gives nulls", () => {
  const scores = judgeScores(
    2,
    0,
    judgement([
      { verdict: 1, probabilities: [0.75, 0.25] },
      { verdict: 2 },
      { verdict: null },
      { verdict: 1, finishReason: "cancelled" },
    ]),
  );
  assert.deepEqual(scores, [
    { response_i: 2, response_j: 0, judge_idx: 0, score_1: 4, score_2: 2, ranking: 2.25 },
    { response_i: 2, response_j: 0, judge_idx: 1, score_1: 1, score_2: 5, ranking: 6 },
    { response_i: 2, response_j: 0, judge_idx: 2, score_1: null, score_2: null, ranking: null },
  ]);
});

test("rewards are each response's mean score over valid judges; unscored responses are named", () => {
  const a = aggregate(3, [
    { response_i: 0, response_j: 1, judge_idx: 0, score_1: 5, score_2: 1, ranking: 1 },
    { response_i: 1, response_j: 2, judge_idx: 0, score_1: 3, score_2: 3, ranking: 2.5 }, // tie: 1 wins by 1
    { response_i: 2, response_j: 0, judge_idx: 0, score_1: null, score_2: null, ranking: null },
  ]);
  assert.deepEqual(a.rewards, [5, (1 + 4) / 2, 2]);
  assert.deepEqual(a.unscored, []);
  assert.equal(a.metrics.tiebreak_usage_rate, 0.5);
  assert.equal(a.metrics.invalid_judgements, 1);
  assert.equal(a.metrics.mean_individual_score, 3);
  const failed = aggregate(2, [
    { response_i: 0, response_j: 1, judge_idx: 0, score_1: null, score_2: null, ranking: null },
  ]);
  assert.deepEqual(failed.unscored, [0, 1]);
});
