// Every judging default, per route (docs/api.md): the functions that turn a validated body into a
// complete JudgeInput, and the same defaults seen through JudgingService on a fake engine. Each
// route's judgement is found in the judgement cache under the key of the documented input, whose
// key covers every judging option (aggregation, order, early stop, reasoning, sampling, seed).

import assert from "node:assert/strict";
import { test } from "node:test";
import { contentSeed } from "../../src/judge/reward.js";
import {
  type JudgeOptions,
  judgeRequestInput,
  type RequestContext,
  rankComparisonInputs,
  rankStrategy,
  rewardItemInput,
} from "../../src/server/judge-inputs.js";
import { JudgingService } from "../../src/server/judging.js";
import { Metrics } from "../../src/server/metrics.js";
import {
  judgeRequestSchema,
  parseBody,
  parseJudgeBatch,
  rankRequestSchema,
  rewardRequestSchema,
} from "../../src/server/schemas.js";
import { FakePort, firstResponse } from "../judge/fake-port.js";
import { DEMO_RULE, JUDGING_SETTINGS } from "../judge/verdict-rules.js";

const settings = JUDGING_SETTINGS;

const ctx: RequestContext = { arrived: 1_000, drawSeed: () => 77 };
const Q = "What is 7 + 5?";
const A = "It is 12.";
const B = "It is 13.";

/** What every route does with a body that names only its content, `samples` aside. */
const shared = { topP: 1, topK: 0, maxNewTokens: 256, earlyStop: true, deadline: 61_000 };

test("/judge (and each /judge/batch item, and r1judge judge): one greedy vote in fixed order, else alternate at temperature 1, by confidence", () => {
  const body = parseBody(judgeRequestSchema, { question: Q, responses: [A, B] });
  const one: JudgeOptions = {
    question: Q,
    responses: [A, B],
    samples: 1,
    temperature: 0,
    ...shared,
    seed: 77,
    order: "fixed",
    aggregation: "confidence",
    returnReasoning: false,
  };
  assert.deepEqual(judgeRequestInput(body, settings, ctx), one);
  assert.deepEqual(judgeRequestInput({ ...body, samples: 8 }, settings, ctx), {
    ...one,
    samples: 8,
    temperature: 1,
    order: "alternate",
  });
  const given = parseBody(judgeRequestSchema, {
    question: Q,
    responses: [A, B],
    samples: 8,
    temperature: 0.6,
    top_p: 0.9,
    top_k: 40,
    max_new_tokens: 64,
    seed: 5,
    order: "fixed",
    aggregation: "majority",
    early_stop: false,
    return_reasoning: true,
    timeout_ms: 10,
  });
  assert.deepEqual(judgeRequestInput(given, settings, ctx), {
    question: Q,
    responses: [A, B],
    samples: 8,
    temperature: 0.6,
    topP: 0.9,
    topK: 40,
    maxNewTokens: 64,
    earlyStop: false,
    deadline: 1_010,
    seed: 5,
    order: "fixed",
    aggregation: "majority",
    returnReasoning: true,
  });
});

test("/rank: knockout, the /judge sampling defaults, majority; round robin in fixed order; seeds per comparison", () => {
  const body = parseBody(rankRequestSchema, { question: Q, candidates: [A, B, "x"], samples: 3 });
  assert.equal(rankStrategy(body), "knockout");
  const inputFor = rankComparisonInputs(body, settings, ctx);
  assert.deepEqual(inputFor([A, B], 0), {
    question: Q,
    responses: [A, B],
    samples: 3,
    temperature: 1,
    ...shared,
    seed: 77,
    order: "alternate",
    aggregation: "majority",
    returnReasoning: false,
  });
  assert.equal(inputFor([B, A], 2).seed, 77 + 2 * 3, "comparison c starts at seed + c·samples");
  const roundRobin = { ...body, strategy: "round_robin" as const };
  assert.equal(rankStrategy(roundRobin), "round_robin");
  assert.equal(rankComparisonInputs(roundRobin, settings, ctx)([A, B], 0).order, "fixed");
  const greedy = rankComparisonInputs({ ...body, samples: undefined }, settings, ctx)([A, B], 1);
  assert.deepEqual([greedy.samples, greedy.temperature, greedy.order, greedy.seed], [1, 0, "fixed", 78]);
});

test("/get_reward: R1JUDGE_REWARD_SAMPLES samples alternating, confidence, a seed from the content, policy as Response 1", () => {
  const body = parseBody(rewardRequestSchema, { query: ["q"], prompts: ["p"] });
  const item = { question: Q, response: A, reference: B };
  assert.deepEqual(rewardItemInput(body, item, settings, ctx), {
    question: Q,
    responses: [A, B],
    samples: 4,
    temperature: 1,
    ...shared,
    earlyStop: false, // every sample drawn: both orders weigh the same, and a retry draws the same
    seed: contentSeed(Q, [A, B]),
    order: "alternate",
    aggregation: "confidence",
    returnReasoning: false,
  });
  // The default R1JUDGE_REWARD_SAMPLES=2: one greedy sample in each order.
  const two = rewardItemInput(body, item, { ...settings, rewardSamples: 2 }, ctx);
  assert.deepEqual([two.samples, two.temperature, two.order], [2, 0, "alternate"]);
  const one = rewardItemInput({ ...body, samples: 1 }, item, settings, ctx);
  assert.deepEqual([one.samples, one.temperature, one.order], [1, 0, "fixed"]);
  const fixed = rewardItemInput({ ...body, samples: 2, order: "fixed" }, item, settings, ctx);
  assert.equal(fixed.temperature, 1, "two samples in one order: sampled, not the same greedy one twice");
  assert.equal(rewardItemInput({ ...body, seed: 5 }, item, settings, ctx).seed, 5);
  // The content seed: the same item, the same seed; another response, another one; 31 bits.
  const again = rewardItemInput(body, { ...item }, settings, { ...ctx, drawSeed: () => 1 });
  assert.equal(again.seed, contentSeed(Q, [A, B]));
  assert.notEqual(contentSeed(Q, [B, A]), contentSeed(Q, [A, B]));
  assert.ok(Number.isInteger(again.seed) && again.seed >= 0 && again.seed < 2 ** 31);
});

test("max_new_tokens over the server's cap is 422 naming the field, on every route", () => {
  const over = { max_new_tokens: 257 };
  const check = (run: () => unknown) =>
    assert.throws(run, (err: { code?: string; errors?: { field: string }[] }) => {
      assert.equal(err.code, "unprocessable");
      assert.deepEqual(
        err.errors?.map((e) => e.field),
        ["max_new_tokens"],
      );
      return true;
    });
  check(() => judgeRequestInput({ question: Q, responses: [A, B], ...over }, settings, ctx));
  check(() => rankComparisonInputs({ question: Q, candidates: [A, B], ...over }, settings, ctx));
  check(() =>
    rewardItemInput(
      { query: [], prompts: [], ...over },
      { question: Q, response: A, reference: B },
      settings,
      ctx,
    ),
  );
});

/**
 * A position-biased judge that always answers 1, surer when the responses are shown as given: a
 * 2-sample alternate judgement is a 1–1 vote that confidence settles for Response 1 (0.9 + 0.4
 * against 0.1 + 0.6) and majority leaves a tie.
 */
/** A JudgingService on `port` with the demo checkpoint's verdict rule, as the server sets it once loaded. */
function serviceOn(port: FakePort): JudgingService {
  const service = new JudgingService(port, settings, new Metrics());
  service.setModel({ id: settings.modelId, verdict: DEMO_RULE });
  return service;
}

function biasedPort(): FakePort {
  return new FakePort((prompt) => ({
    text: "<answer>1</answer>",
    choiceProbabilities: firstResponse(prompt) === A ? [0.9, 0.1] : [0.6, 0.4],
  }));
}

test("every route applies its documented defaults: what reaches the engine, the answer, and the cache key", async () => {
  const port = biasedPort();
  const service = serviceOn(port);
  const cachedUnder = (input: Omit<JudgeOptions, "deadline">) =>
    service.cache.get(service.cache.key(settings.modelId, input, true)) !== undefined;
  const judging = {
    question: Q,
    responses: [A, B] as [string, string],
    samples: 2,
    temperature: 1,
    topP: 1,
    topK: 0,
    maxNewTokens: 256,
    seed: 10,
    order: "alternate" as const,
    earlyStop: true,
    returnReasoning: false,
  };

  // /judge: confidence settles the 1–1 vote.
  const judged = await service.judge(
    parseBody(judgeRequestSchema, { question: Q, responses: [A, B], samples: 2, seed: 10 }),
  );
  assert.equal(judged.winner, 1);
  assert.deepEqual(judged.votes, { "1": 1, "2": 1, invalid: 0 });
  assert.ok(cachedUnder({ ...judging, aggregation: "confidence" }));
  assert.ok(!cachedUnder({ ...judging, aggregation: "majority" }));
  for (const r of port.requests) {
    assert.deepEqual(r.request.sampling, { temperature: 1, topK: 0, topP: 1 });
    assert.equal(r.request.maxNewTokens, 256);
  }

  // /judge/batch: the same item, the same input (answered from the cache).
  const [item] = await service.judgeBatch(
    parseJudgeBatch({ items: [{ question: Q, responses: [A, B], samples: 2, seed: 10 }] }),
  );
  assert.ok(item?.ok);
  assert.equal(item.value.winner, 1);
  assert.equal(item.value.cached, true);

  // /rank: majority: the 1–1 comparison is a tie, its preference the vote shares.
  const fresh = serviceOn(biasedPort());
  const ranked = await fresh.rank(
    parseBody(rankRequestSchema, { question: Q, candidates: [A, B], samples: 2, seed: 10 }),
  );
  assert.equal(ranked.comparisons[0]?.winner, null);
  assert.deepEqual(ranked.comparisons[0]?.preference, [0.5, 0.5]);
  assert.ok(fresh.cache.get(fresh.cache.key("fake", { ...judging, aggregation: "majority" }, true)));

  // /get_reward: R1JUDGE_REWARD_SAMPLES (4) samples at temperature 1, alternate, confidence: the
  // reward is the policy's share of the summed probabilities, under the content seed's cache key.
  const rewarding = serviceOn(biasedPort());
  const prompt = `<|im_start|>user\n${Q}<|im_end|>\n<|im_start|>assistant\n`;
  const reward = await rewarding.reward(
    parseBody(rewardRequestSchema, {
      query: [`${prompt}${A}<|im_end|>`],
      prompts: [prompt],
      labels: [B],
    }),
  );
  const rewarded = rewarding.cache.get(
    rewarding.cache.key(
      "fake",
      { ...judging, samples: 4, seed: contentSeed(Q, [A, B]), aggregation: "confidence", earlyStop: false },
      true,
    ),
  );
  assert.ok(rewarded);
  assert.deepEqual(reward.rewards, [rewarded.preference[0]]);
  assert.deepEqual(reward.extra_logs.empty_response, [0]);
});

test("rewards by default: one greedy sample per order, the mean p(policy); the same body again comes from the cache", async () => {
  const port = biasedPort();
  const service = new JudgingService(port, { ...settings, rewardSamples: 2 }, new Metrics());
  service.setModel({ id: settings.modelId, verdict: DEMO_RULE });
  const prompt = `<|im_start|>user\n${Q}<|im_end|>\n<|im_start|>assistant\n`;
  const body = parseBody(rewardRequestSchema, {
    query: [`${prompt}${A}<|im_end|>`],
    prompts: [prompt],
    labels: [B],
  });
  const first = await service.reward(body);
  // As given, p(A) = 0.9; swapped, the judge's p(1) = 0.6 is p(B), so p(A) = 0.4: (0.9 + 0.4) / 2.
  assert.ok(Math.abs((first.rewards[0] as number) - 0.65) < 1e-12, String(first.rewards[0]));
  assert.equal(port.requests.length, 2);
  assert.deepEqual(
    port.requests.map((r) => [r.samples, r.request.sampling.temperature]),
    [
      [1, 0],
      [1, 0],
    ],
  );
  const second = await service.reward(body);
  assert.deepEqual(second, first);
  assert.equal(port.requests.length, 2, "the retry was answered from the judgement cache");
});
