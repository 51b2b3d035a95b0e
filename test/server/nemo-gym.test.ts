// POST /compare as NeMo-Gym calls its genrm_compare resources server (GenRMStrategy.compare in
// resources_servers/genrm_compare/comparison_strategies.py: `principle` only when given), on the real
// server and demo model. The client is written as nemo_gym/server_utils.py's `request` does it: the body as JSON
// with `Content-Type: application/json`, connection errors retried (up to MAX_NUM_TRIES = 3, 0.5 s
// apart; scaled to milliseconds here), HTTP statuses never retried, then `raise_for_status` and
// `response.json()`. The request is genrm_compare's {conversation_history, response_objs,
// principle}, response_objs as Responses API objects; the answer is read as GenRMCompareResponse.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";

const PNG = readFileSync(new URL("../../docs/examples/red-circle.png", import.meta.url));
let server: RunningServer;
/** --max-new-tokens 1: no judge can reach a verdict. */
let broken: RunningServer;

before(async () => {
  const common = ["--port", "0", "--max-queue", "64"];
  server = await startServer(
    loadConfig([...common, "--compare-strategy", "circular"], {}),
    pino({ level: "silent" }),
  );
  broken = await startServer(loadConfig([...common, "--max-new-tokens", "1"], {}), pino({ level: "silent" }));
  await Promise.all([server.ready, broken.ready]);
});

after(async () => {
  await Promise.all([server?.stop(), broken?.stop()]);
});

class ClientResponseError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

/** nemo_gym.server_utils.request + raise_for_status + response.json(). */
async function nemoPost(
  url: string,
  json: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  const MAX_NUM_TRIES = 3;
  for (let tries = 1; ; tries++) {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(json),
      });
    } catch (err) {
      if (tries >= MAX_NUM_TRIES) throw err;
      await new Promise((r) => setTimeout(r, 5));
      continue;
    }
    const text = await res.text();
    if (!res.ok) throw new ClientResponseError(res.status, text);
    return { status: res.status, json: JSON.parse(text), text };
  }
}

/** A Responses API object as the policy model returns it (reasoning, then the final message). */
const responseObj = (text: string, reasoning = "thinking…") => ({
  id: `resp_${randomInt(1e9)}`,
  object: "response",
  model: "policy",
  output: [
    { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: reasoning }] },
    {
      type: "message",
      id: "msg_1",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text, annotations: [] }],
    },
  ],
});

interface CompareAnswer {
  rewards: number[];
  comparison_results: {
    response_i: number;
    response_j: number;
    judge_idx: number;
    score_1: number | null;
    score_2: number | null;
    ranking: number | null;
  }[];
  metrics: Record<string, number>;
  mask_sample?: boolean;
}

/** Fixed items (greedy judgements are deterministic); `fresh` for the failing server only. */
const item = (a: number, b: number) => ({ question: `Which is larger, ${a} or ${b}?`, a, b });
const fresh = () => item(randomInt(10, 50), randomInt(50, 99) + randomInt(1e6) * 100);

test("circular (the default): N comparisons i vs i+1 mod N, scores 1–5, rankings 1–6, float rewards", async () => {
  const { question, a, b } = item(58, 85);
  const { json, text } = await nemoPost(`${server.url}/compare`, {
    conversation_history: [
      { role: "system", content: "You are helpful." },
      { role: "user", content: question },
    ],
    response_objs: [responseObj(String(b)), responseObj(String(a)), responseObj(`It is ${a}.`)],
    principle: "The response should be correct and concise.",
  });
  const answer = json as CompareAnswer;
  assert.equal(answer.rewards.length, 3);
  assert.deepEqual(
    answer.comparison_results.map((r) => [r.response_i, r.response_j, r.judge_idx]),
    [
      [0, 1, 0],
      [1, 2, 0],
      [2, 0, 0],
    ],
  );
  for (const r of answer.comparison_results) {
    assert.ok((r.score_1 as number) >= 1 && (r.score_1 as number) <= 5);
    assert.ok((r.score_2 as number) >= 1 && (r.score_2 as number) <= 5);
    assert.ok((r.ranking as number) >= 1 && (r.ranking as number) <= 6);
  }
  for (const reward of answer.rewards) assert.ok(reward >= 1 && reward <= 5);
  assert.deepEqual(Object.keys(answer.metrics).sort(), [
    "invalid_judgements",
    "mean_individual_score",
    "num_judgements",
    "std_individual_score",
    "tiebreak_usage_rate",
  ]);
  // Indices stay integers (they index lists); rewards and scores are floats on the wire.
  assert.match(text, /"response_i":0,"response_j":1,"judge_idx":0,"score_1":\d\.\d/);
});

test("all_pairs with 2 judges: every i < j, judge by judge; judges vote in both orders", async () => {
  const { question, a, b } = item(29, 92);
  const { json } = await nemoPost(`${server.url}/compare`, {
    conversation_history: [{ role: "user", content: question }],
    response_objs: [responseObj(String(b)), responseObj(String(a)), responseObj(String(b))],
    comparison_strategy: "all_pairs",
    num_judges_per_comparison: 2,
    seed: 7,
  });
  const answer = json as CompareAnswer;
  assert.deepEqual(
    answer.comparison_results.map((r) => [r.response_i, r.response_j, r.judge_idx]),
    [
      [0, 1, 0],
      [0, 2, 0],
      [1, 2, 0],
      [0, 1, 1],
      [0, 2, 1],
      [1, 2, 1],
    ],
  );
  assert.equal(answer.metrics.num_judgements, 6);
  // Each reward is the mean of the response's scores over its comparisons' valid judges.
  const mine = (k: number) =>
    answer.comparison_results.flatMap((r) =>
      r.score_1 === null ? [] : r.response_i === k ? [r.score_1] : r.response_j === k ? [r.score_2] : [],
    ) as number[];
  for (const k of [0, 1, 2]) {
    const s = mine(k);
    assert.ok(Math.abs((answer.rewards[k] as number) - s.reduce((x, y) => x + y, 0) / s.length) < 1e-9);
  }
});

test("the correct answer gets the highest reward (a fixed item, greedy)", async () => {
  const { json } = await nemoPost(`${server.url}/compare`, {
    conversation_history: [{ role: "user", content: "Which is larger, 47 or 74?" }],
    response_objs: [responseObj("47"), responseObj("74")],
  });
  const answer = json as CompareAnswer;
  assert.ok((answer.rewards[1] as number) > (answer.rewards[0] as number), JSON.stringify(answer.rewards));
});

test("fewer than two responses: NeMo-Gym's neutral 3.0 and no comparisons", async () => {
  const { json, text } = await nemoPost(`${server.url}/compare`, {
    conversation_history: [{ role: "user", content: "Hi" }],
    response_objs: [responseObj("Hello")],
  });
  assert.deepEqual(json, { rewards: [3], comparison_results: null, metrics: null });
  assert.match(text, /"rewards":\[3\.0\]/);
});

test("an image in the user message reaches the judge (bytes that are not an image fail in its decoder)", async () => {
  const content = (url: string) => [
    { type: "input_text", text: "What colour is the shape?" },
    { type: "input_image", image_url: url },
  ];
  const ok = await nemoPost(`${server.url}/compare`, {
    conversation_history: [
      { role: "user", content: content(`data:image/png;base64,${PNG.toString("base64")}`) },
    ],
    response_objs: [responseObj("The shape is red."), responseObj("The shape is blue.")],
  });
  assert.equal((ok.json as CompareAnswer).rewards.length, 2);
  const err = await nemoPost(`${server.url}/compare`, {
    conversation_history: [{ role: "user", content: content("data:image/png;base64,bm90IGFuIGltYWdl") }],
    response_objs: [responseObj("red"), responseObj("blue")],
  }).then(
    () => assert.fail("expected 422"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ClientResponseError && err.status === 422, String(err));
  assert.match(err.body, /cannot decode image/);
});

test("a failed judgement: 503 (not retried by NeMo-Gym's client), or mask_sample", async () => {
  const body = {
    conversation_history: [{ role: "user", content: fresh().question }],
    response_objs: [responseObj("1"), responseObj("2")],
  };
  const err = await nemoPost(`${broken.url}/compare`, body).then(
    () => assert.fail("a failed judgement must not give rewards"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ClientResponseError && err.status === 503, String(err));
  assert.match(err.body, /the judgement failed/);
  const masked = await nemoPost(`${broken.url}/compare`, { ...body, on_failure: "mask" });
  const answer = masked.json as CompareAnswer & { failure: string };
  assert.equal(answer.mask_sample, true);
  assert.deepEqual(answer.rewards, [3, 3]);
  assert.match(answer.failure, /no valid judge/);
  assert.ok(answer.comparison_results.every((r) => r.score_1 === null));
});

test("bad requests are 4xx naming the field", async () => {
  const noUser = await nemoPost(`${server.url}/compare`, {
    conversation_history: [{ role: "system", content: "x" }],
    response_objs: [responseObj("a"), responseObj("b")],
  }).then(
    () => assert.fail("expected 422"),
    (e: unknown) => e,
  );
  assert.ok(noUser instanceof ClientResponseError && noUser.status === 422);
  assert.equal(JSON.parse(noUser.body).errors[0].field, "conversation_history");
  const badStrategy = await nemoPost(`${server.url}/compare`, {
    conversation_history: [],
    response_objs: [],
    comparison_strategy: "tournament",
  }).then(
    () => assert.fail("expected 400"),
    (e: unknown) => e,
  );
  assert.ok(badStrategy instanceof ClientResponseError && badStrategy.status === 400);
  assert.equal(JSON.parse(badStrategy.body).errors[0].field, "comparison_strategy");
});
