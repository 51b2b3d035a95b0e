// Judging as a user sees it: verdict parsing, vote tallies, alternating order, early stop, ranking,
// and the judgement cache — on a fake engine.

import assert from "node:assert/strict";
import { test } from "node:test";
import { JudgementCache } from "../../src/judge/cache.js";
import { judgePair } from "../../src/judge/judge.js";
import { judgeText } from "../../src/judge/prompt.js";
import { knockout, roundRobin } from "../../src/judge/rank.js";
import { FakePort, firstResponse } from "./fake-port.js";
import { judgeInput } from "./verdict-rules.js";

const input = judgeInput;

/** A judge that prefers the response "12" wherever it is shown. */
const prefers12 = (prompt: string) =>
  `<think>checked</think><answer>${firstResponse(prompt) === "12" ? 1 : 2}</answer>`;

test("the prompt is filled in one pass: user text cannot inject a placeholder", () => {
  assert.match(judgeText("{answer1}", "x", "y"), /\[Question\]:\n\{answer1\} {2}\n/);
});

test("alternate order: votes add up to K, seeds are seed+i, odd samples see the pair swapped and are mapped back", async () => {
  const port = new FakePort(prefers12);
  const j = await judgePair(port, input());
  assert.deepEqual(j.votes, { 1: 8, 2: 0, invalid: 0 });
  assert.equal(j.winner, 1);
  assert.deepEqual(j.preference, [1, 0]);
  assert.deepEqual(
    j.samples.map((s) => s.seed),
    [40, 41, 42, 43, 44, 45, 46, 47],
  );
  assert.deepEqual(
    j.samples.map((s) => s.order),
    ["original", "swapped", "original", "swapped", "original", "swapped", "original", "swapped"],
  );
  assert.equal(j.samples[1]?.reasoning, "checked");
  assert.equal(port.requests.length, 2);
});

test("fixed order with a position-biased judge shows the bias; alternate cancels it into a tie", async () => {
  const alwaysFirst = () => "<answer>1</answer>";
  const fixed = await judgePair(new FakePort(alwaysFirst), input({ order: "fixed" }));
  assert.equal(fixed.winner, 1);
  const alternate = await judgePair(new FakePort(alwaysFirst), input());
  assert.equal(alternate.winner, null);
  assert.deepEqual(alternate.preference, [0.5, 0.5]);
});

test("unparseable samples are invalid votes, never votes for a side", async () => {
  const j = await judgePair(
    new FakePort((_, seed) => (seed % 4 === 0 ? "no verdict" : "<answer>2</answer>")),
    input({ order: "fixed" }),
  );
  assert.deepEqual(j.votes, { 1: 0, 2: 6, invalid: 2 });
  assert.equal(j.samples.filter((s) => s.verdict === null).length, 2);
});

test("confidence aggregation sums the samples' probabilities in the request's order and settles a 2-2 tie", async () => {
  // Position-biased and unsure when "12" is first (votes 1 at 0.6), sure when it is second (votes
  // for the first shown, "13", at 0.95): majority ties 2-2; the probabilities favour "13".
  const respond = (prompt: string) =>
    firstResponse(prompt) === "12"
      ? { text: "<answer>1</answer>", choiceProbabilities: [0.6, 0.4] }
      : { text: "<answer>1</answer>", choiceProbabilities: [0.95, 0.05] };
  const majority = await judgePair(new FakePort(respond), input({ samples: 4 }));
  assert.equal(majority.winner, null);
  assert.deepEqual(majority.votes, { 1: 2, 2: 2, invalid: 0 });
  const confident = await judgePair(new FakePort(respond), input({ samples: 4, aggregation: "confidence" }));
  assert.equal(confident.winner, 2);
  assert.deepEqual(confident.votes, majority.votes, "the vote counts are the same");
  assert.deepEqual(
    confident.samples.map((s) => s.probabilities?.map((p) => Number(p.toFixed(2)))),
    [
      [0.6, 0.4],
      [0.05, 0.95],
      [0.6, 0.4],
      [0.05, 0.95],
    ],
  );
  assert.deepEqual(
    confident.preference.map((p) => Number(p.toFixed(3))),
    [0.325, 0.675],
  );
});

test("confidence aggregation counts a sample without probabilities as a hard vote, an invalid one not at all", async () => {
  let n = 0;
  const respond = () => {
    n++;
    if (n === 1) return { text: "<answer>2</answer>", choiceProbabilities: [0.45, 0.55] };
    if (n === 2) return "<answer>1</answer>";
    return "no verdict";
  };
  const j = await judgePair(
    new FakePort(respond),
    input({ samples: 3, order: "fixed", aggregation: "confidence" }),
  );
  assert.deepEqual(j.votes, { 1: 1, 2: 1, invalid: 1 });
  assert.equal(j.winner, 1, "1.45 against 0.55");
  assert.equal(j.samples[1]?.probabilities, undefined);
});

test("early stop under confidence aggregation waits until the summed probabilities are out of reach", async () => {
  const respond = () => ({ text: "<answer>1</answer>", choiceProbabilities: [0.55, 0.45] });
  const j = await judgePair(
    new FakePort(respond),
    input({ samples: 8, order: "fixed", aggregation: "confidence", earlyStop: true }),
  );
  // After k samples the margin is 0.1·k; the rest (8 − k) could add 8 − k: decided only at k = 8.
  assert.equal(j.earlyStopped, 0);
  const sure = await judgePair(
    new FakePort(() => ({ text: "<answer>1</answer>", choiceProbabilities: [1, 0] })),
    input({ samples: 8, order: "fixed", aggregation: "confidence", earlyStop: true }),
  );
  assert.ok(sure.earlyStopped > 0);
});

test("early stop: sampling stops once the majority cannot change; counts add up to K minus the stopped", async () => {
  const j = await judgePair(new FakePort(prefers12), input({ samples: 9, earlyStop: true }));
  const counted = j.votes[1] + j.votes[2] + j.votes.invalid;
  assert.ok(j.earlyStopped > 0, "some samples were stopped");
  assert.equal(counted + j.earlyStopped, 9);
  assert.equal(j.winner, 1);
  assert.ok(j.votes[1] >= 5);
});

test("no valid vote: winner null, preference [0, 0]", async () => {
  const j = await judgePair(new FakePort(() => "?"), input({ samples: 3 }));
  assert.equal(j.winner, null);
  assert.deepEqual(j.preference, [0, 0]);
});

test("knockout uses N-1 comparisons and finds the candidate every judge prefers", async () => {
  const best = "the best";
  const compare = (a: number, b: number) =>
    judgePair(
      new FakePort((p) => `<answer>${firstResponse(p) === best ? 1 : 2}</answer>`),
      input({ responses: [names[a] as string, names[b] as string], order: "fixed", samples: 1 }),
    );
  const names = ["a", "b", "c", best, "e"];
  const r = await knockout(names.length, compare);
  assert.equal(r.best, 3);
  assert.equal(r.comparisons.length, names.length - 1);
  assert.equal(r.ranking[0], 3);
});

test("round robin compares every pair in both orders and ranks by win rate", async () => {
  const strength = [1, 3, 2];
  const compare = (a: number, b: number) =>
    judgePair(
      new FakePort(() => `<answer>${(strength[a] as number) > (strength[b] as number) ? 1 : 2}</answer>`),
      input({ order: "fixed", samples: 1 }),
    );
  const r = await roundRobin(3, compare);
  assert.equal(r.comparisons.length, 6);
  assert.deepEqual(r.ranking, [1, 2, 0]);
  assert.deepEqual(r.scores, [0, 1, 0.5]);
});

test("the judgement cache keeps reproducible requests only", async () => {
  const cache = new JudgementCache(10);
  const seeded = input();
  assert.ok(cache.key("m", seeded, true));
  assert.equal(cache.key("m", seeded, false), undefined, "unseeded sampling is not reproducible");
  const greedy = input({ temperature: 0, samples: 1 });
  assert.equal(cache.key("m", greedy, false), cache.key("m", { ...greedy, seed: 999 }, false));
  assert.notEqual(cache.key("m", seeded, true), cache.key("other-model", seeded, true));
  const j = await judgePair(new FakePort(prefers12), seeded);
  const key = cache.key("m", seeded, true);
  cache.set(key, j);
  assert.deepEqual(cache.get(key), j);
  const withImage = input({ images: { id: "i0", count: 1, digests: ["aa"] } });
  const otherImage = input({ images: { id: "i1", count: 1, digests: ["bb"] } });
  assert.notEqual(
    cache.key("m", withImage, true),
    cache.key("m", otherImage, true),
    "images are part of the key",
  );
  assert.equal(
    cache.key("m", withImage, true),
    cache.key("m", { ...withImage, images: { id: "i9", count: 1, digests: ["aa"] } }, true),
    "the same image bytes in another request hit",
  );
});
