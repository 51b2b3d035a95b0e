// NeMo-Gym /compare's judging defaults (docs/api.md) and JudgingService.compare on a fake engine:
// each judge is a sample of its comparison's judgement (greedy for one, temperature 1 in
// alternating orders for more, every judge run to its verdict), comparison c seeded
// seed + c·judges, one queue slot per comparison, and the request's images read once it holds
// slots and shared by every comparison.

import assert from "node:assert/strict";
import { test } from "node:test";
import { compareComparisonInputs, type RequestContext } from "../../src/server/judge-inputs.js";
import { JudgingService } from "../../src/server/judging.js";
import { Metrics } from "../../src/server/metrics.js";
import { FakePort, firstResponse } from "../judge/fake-port.js";
import { DEMO_RULE, JUDGING_SETTINGS } from "../judge/verdict-rules.js";

const settings = JUDGING_SETTINGS;
const ctx: RequestContext = { arrived: 1_000, drawSeed: () => 77 };
const Q = "Which is larger, 47 or 74?";

test("/compare: one judge is one greedy vote; more are samples at temperature 1 in both orders, none stopped early", () => {
  const one = compareComparisonInputs({ question: Q, responses: ["a", "b", "c"], judges: 1 }, settings, ctx);
  assert.deepEqual(one([1, 2], 3), {
    question: Q,
    responses: ["b", "c"],
    samples: 1,
    temperature: 0,
    topP: 1,
    topK: 0,
    maxNewTokens: 256,
    seed: 77 + 3,
    earlyStop: false,
    deadline: 61_000,
    order: "fixed",
    aggregation: "majority",
    returnReasoning: false,
  });
  const three = compareComparisonInputs(
    { question: Q, responses: ["a", "b"], judges: 3, seed: 5, timeout_ms: 10 },
    settings,
    ctx,
  )([1, 0], 2);
  assert.deepEqual(
    [
      three.responses,
      three.samples,
      three.temperature,
      three.order,
      three.seed,
      three.earlyStop,
      three.deadline,
    ],
    [["b", "a"], 3, 1, "alternate", 5 + 2 * 3, false, 1_010],
  );
});

test("JudgingService.compare: a judgement per pair with every judge, images read once and released", async () => {
  const port = new FakePort((prompt) => ({
    text: "<answer>1</answer>",
    choiceProbabilities: firstResponse(prompt) === "74" ? [0.9, 0.1] : [0.2, 0.8],
  }));
  const service = new JudgingService(port, settings, new Metrics());
  service.setModel({ id: "fake", verdict: DEMO_RULE });
  let reads = 0;
  const judgements = await service.compare(
    { question: Q, responses: ["74", "47"], judges: 2, seed: 1 },
    [
      [0, 1],
      [1, 0],
    ],
    async () => {
      reads++;
      return [new Uint8Array([1, 2, 3])];
    },
  );
  assert.equal(reads, 1);
  assert.equal(judgements.length, 2);
  for (const j of judgements) assert.equal(j.samples.filter((s) => s.finishReason !== "cancelled").length, 2);
  // Both engine requests of each comparison (the two orders) carry the request's one image set.
  assert.equal(new Set(port.requests.map((r) => r.request.images)).size, 1);
  assert.equal(port.requests[0]?.request.images, "i0-1");
  assert.equal(port.imageSets.size, 0, "released when the request ends");
  assert.equal(service.queueDepth, 0);
});
