// /get_reward as OpenRLHF's remote reward client uses it, on the real server and demo model: one item
// per request (0.11's SingleTurnAgentExecutor: aiohttp `session.post(url, json=payload)`, any non-2xx
// retried, 5 tries, then no reward) or a whole rollout batch far past the queue (older clients),
// float rewards on the wire, labels as dataset values, empty labels refused or neutral per the
// config, empty responses at the floor without judging, the order-balanced default (one greedy
// sample per order), reproducible rewards from the cache, a judgement without a verdict as an
// error status OpenRLHF retries, and Llama-3 markup read as markup.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";

let strict: RunningServer;
let lenient: RunningServer;

before(async () => {
  // Room for the demo judge's whole trace (about 40 tokens): a cut-off trace has no verdict.
  const common = ["--port", "0", "--max-queue", "64", "--max-new-tokens", "128"];
  strict = await startServer(loadConfig(common, {}), pino({ level: "silent" }));
  lenient = await startServer(
    loadConfig(
      [
        ...common,
        "--reward-samples",
        "4",
        "--reward-empty-label",
        "neutral",
        "--reward-empty-floor",
        "0.1",
        "--reward-no-verdict",
        "neutral",
      ],
      {},
    ),
    pino({ level: "silent" }),
  );
  await Promise.all([strict.ready, lenient.ready]);
});

after(async () => {
  await Promise.all([strict?.stop(), lenient?.stop()]);
});

const chatml = (q: string) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;
// Fixed questions, each new to this run's servers: the demo judge's greedy traces on them are
// deterministic (a random question may draw one whose both orders end without a verdict: a 502).
let asked = 0;
const fresh = () => `Which is larger, ${31 + asked} or ${407 + 13 * asked++}?`;

/**
 * One rollout's reward as OpenRLHF 0.11 asks for it (openrlhf/utils/agent.py, `_post_request`): a
 * JSON POST of `{query, prompts, labels}` with one item and nothing else, `raise_for_status()`, up to
 * 5 tries (1 s apart there; no wait here), then no reward at all. Reads `rewards`, `scores or
 * rewards` and `extra_logs`.
 */
async function openrlhf(server: RunningServer, query: string, prompt: string, label: unknown) {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const res = await fetch(`${server.url}/get_reward`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: [query], prompts: [prompt], labels: [label] }),
    });
    statuses.push(res.status);
    const text = await res.text();
    if (res.ok) {
      // biome-ignore lint/suspicious/noExplicitAny: checked field by field
      const info = JSON.parse(text) as any;
      return {
        statuses,
        text,
        reward: info.rewards,
        scores: info.scores ?? info.rewards,
        extraLogs: info.extra_logs,
      };
    }
  }
  return { statuses, text: "", reward: null, scores: null, extraLogs: {} };
}

async function metric(server: RunningServer, line: RegExp): Promise<number> {
  const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
  const found = text.split("\n").find((l) => line.test(l));
  return found ? Number(found.split(" ").pop()) : 0;
}

async function reward(server: RunningServer, body: unknown) {
  const res = await fetch(`${server.url}/get_reward`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: checked field by field
  return { status: res.status, text, json: JSON.parse(text) as any };
}

test("OpenRLHF 0.11's call: one item, rewards and scores in [0, 1], extra_logs {k: [v]}, every number a float", async () => {
  const p = chatml(fresh());
  const res = await openrlhf(strict, `${p}The larger one.<|im_end|>`, p, "The smaller one.");
  assert.deepEqual(res.statuses, [200]);
  assert.match(res.text, /^\{"rewards":\[[01]\.\d+(e-\d+)?\],"scores":\[[01]\.\d+(e-\d+)?\],"extra_logs":\{/);
  assert.ok(!/[[,:]\d+[,\]}]/.test(res.text.replace(/\d+\.\d+(e-\d+)?/g, "")), `an integer in ${res.text}`);
  assert.deepEqual(res.scores, res.reward);
  const [r] = res.reward as number[];
  assert.ok(r !== undefined && r >= 0 && r <= 1);
  assert.deepEqual(Object.keys(res.extraLogs).sort(), [
    "empty_response",
    "invalid",
    "votes_against",
    "votes_for",
  ]);
  for (const v of Object.values(res.extraLogs)) assert.equal((v as number[]).length, 1);
  // The default: two samples, one in each order.
  assert.equal(res.extraLogs.votes_for[0] + res.extraLogs.votes_against[0] + res.extraLogs.invalid[0], 2);
});

test("an empty or blank response gets the floor without judging, flagged in extra_logs.empty_response", async () => {
  const p = chatml(fresh());
  const before = await metric(strict, /^r1judge_votes_total\{kind="1"\}/);
  for (const tail of ["<|im_end|>", "   \n<|im_end|>", "\u200b<|im_end|><|endoftext|>", ""]) {
    const res = await openrlhf(strict, `${p}${tail}`, p, "The larger number is 99.");
    assert.deepEqual(res.statuses, [200], res.text);
    assert.deepEqual(res.reward, [0]);
    assert.deepEqual(res.extraLogs, {
      votes_for: [0],
      votes_against: [0],
      invalid: [0],
      empty_response: [1],
    });
  }
  assert.equal(await metric(strict, /^r1judge_votes_total\{kind="1"\}/), before, "no vote was drawn");
  // The floor is configurable (R1JUDGE_REWARD_EMPTY_FLOOR); in a batch only the empty item skips judging.
  const mixed = await reward(lenient, {
    query: [`${p} <|im_end|>`, `${p}Fine.<|im_end|>`],
    prompts: [p, p],
    labels: ["A.", "B."],
  });
  assert.equal(mixed.status, 200, mixed.text);
  assert.equal(mixed.json.rewards[0], 0.1);
  assert.deepEqual(mixed.json.extra_logs.empty_response, [1, 0]);
  assert.equal(mixed.json.extra_logs.votes_for[0] + mixed.json.extra_logs.votes_against[0], 0);
  assert.ok(mixed.json.extra_logs.votes_for[1] + mixed.json.extra_logs.votes_against[1] > 0);
});

test("identical policy and reference: the default (one greedy sample per order) gives 0.5, whatever the judge's position bias", async () => {
  for (const answer of ["74", "The answer is 12.", "It is blue."]) {
    const p = chatml(fresh());
    const res = await openrlhf(strict, `${p}${answer}<|im_end|>`, p, answer);
    assert.deepEqual(res.statuses, [200], res.text);
    // Both orders show the judge the same prompt, so p(Response 1) is the same in both, and the
    // policy is Response 1 in one and Response 2 in the other: p + (1 − p) over 2.
    const [r] = res.reward as number[];
    assert.ok(Math.abs((r as number) - 0.5) < 1e-3, `${answer}: ${r}`);
  }
});

test("a retried request gets the same rewards from the judgement cache (seed derived from the content)", async () => {
  const p = chatml(fresh());
  const body = {
    query: [`${p}The larger one.<|im_end|>`, `${p}The smaller one.<|im_end|>`],
    prompts: [p, p],
    labels: ["Neither.", "Both."],
    // Sampled votes (temperature 1) with no seed: reproducible only through the content seed.
    samples: 4,
    early_stop: false,
  };
  const hits = () => metric(strict, /^r1judge_judgement_cache_total\{result="hit"\}/);
  const before = await hits();
  const first = await reward(strict, body);
  assert.equal(first.status, 200, first.text);
  const afterFirst = await hits();
  const second = await reward(strict, body);
  assert.equal(second.text, first.text);
  assert.equal((await hits()) - afterFirst, 2, "both items came from the cache");
  assert.equal(afterFirst, before);
  // The default (greedy in both orders) is cached as well.
  const q = `${p}Another one.<|im_end|>`;
  const once = await openrlhf(strict, q, p, "Neither.");
  const twice = await openrlhf(strict, q, p, "Neither.");
  assert.equal(twice.text, once.text);
});

test("a judgement without a valid vote is no reward: 502 no_verdict, which OpenRLHF retries, or a flagged 0.5", async () => {
  const p = chatml(fresh());
  // Two new tokens cannot hold a verdict: every sample is invalid.
  const failing = { query: [`${p}Fine.<|im_end|>`], prompts: [p], labels: ["Other."], max_new_tokens: 2 };
  const res = await reward(strict, failing);
  assert.equal(res.status, 502, res.text);
  assert.equal(res.json.code, "no_verdict");
  assert.equal(res.json.errors[0].field, "query[0]");
  // Every try answers the same (the judgement is reproducible), so OpenRLHF gives up on the rollout's
  // reward instead of training on a made-up one.
  const again = await reward(strict, failing);
  assert.equal(again.status, 502);
  const neutral = await reward(lenient, failing);
  assert.equal(neutral.status, 200, neutral.text);
  assert.deepEqual(neutral.json.rewards, [0.5]);
  assert.deepEqual(neutral.json.extra_logs.no_verdict, [1]);
});

test("a rollout batch of 300 items (over the old 256 limit) through a queue of 64 gets 300 rewards in order", async () => {
  const questions = Array.from({ length: 300 }, () => fresh());
  const prompts = questions.map(chatml);
  // Eight tokens hold no verdict: the lenient server (R1JUDGE_REWARD_NO_VERDICT=neutral) answers
  // each with 0.5 flagged in extra_logs.no_verdict, the strict one would fail the batch with 502.
  const res = await reward(lenient, {
    query: prompts.map((p, i) => `${p}Answer ${i}.<|im_end|>`),
    prompts,
    labels: questions.map((_, i) => `Reference ${i}.`),
    samples: 1,
    max_new_tokens: 8,
  });
  assert.equal(res.status, 200, res.text.slice(0, 300));
  assert.equal(res.json.rewards.length, 300);
  assert.ok(res.json.rewards.every((r: number) => r >= 0 && r <= 1));
  assert.equal(res.json.extra_logs.votes_for.length, 300);
  assert.equal(res.json.extra_logs.no_verdict.length, 300);
});

test("numeric and boolean labels are references; an empty one is 422 naming it", async () => {
  const p = chatml(fresh());
  const ok = await reward(strict, {
    query: [`${p}72<|im_end|>`, `${p}yes<|im_end|>`],
    prompts: [p, p],
    labels: [72, true],
  });
  assert.equal(ok.status, 200, ok.text);
  for (const labels of [[""], [null], undefined]) {
    const res = await reward(strict, {
      query: [`${p}72<|im_end|>`],
      prompts: [p],
      ...(labels ? { labels } : {}),
    });
    assert.equal(res.status, 422, res.text);
    assert.equal(res.json.errors[0].field, "labels[0]");
    assert.match(res.json.detail, /--label_key/);
  }
});

test("neutral empty labels: 0.5 without judging, flagged; the server's default votes apply", async () => {
  const p = chatml(fresh());
  const res = await reward(lenient, {
    query: [`${p}A.<|im_end|>`, `${p}B.<|im_end|>`],
    prompts: [p, p],
    labels: ["", "C."],
    // Early stopping (on by default) may end a decided vote after 3 of the 4 samples: off, every
    // default sample is counted.
    early_stop: false,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.rewards[0], 0.5);
  assert.deepEqual(res.json.extra_logs.empty_label, [1, 0]);
  const logs = res.json.extra_logs;
  assert.equal(
    logs.votes_for[1] + logs.votes_against[1] + logs.invalid[1],
    4,
    "R1JUDGE_REWARD_SAMPLES=4 votes",
  );
  assert.equal(
    logs.votes_for[0] + logs.votes_against[0] + logs.invalid[0],
    0,
    "the empty one was not judged",
  );
});

test("Llama-3 markup: the reward is the judgement of the extracted question and response", async () => {
  const question = fresh();
  const prompt = `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`;
  const res = await reward(strict, {
    query: [`${prompt}The first.<|eot_id|>`],
    prompts: [prompt],
    labels: ["The second."],
  });
  assert.equal(res.status, 200, res.text);
  const direct = await fetch(`${strict.url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ question, responses: ["The first.", "The second."] }),
  }).then((r) => r.json() as Promise<{ preference: [number, number] }>);
  // /judge's default is one greedy sample as given; the reward's default adds the swapped order.
  const swapped = await fetch(`${strict.url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ question, responses: ["The second.", "The first."] }),
  }).then((r) => r.json() as Promise<{ preference: [number, number] }>);
  assert.ok(
    Math.abs(res.json.rewards[0] - (direct.preference[0] + swapped.preference[1]) / 2) < 1e-6,
    res.text,
  );
});

test("a query whose response cannot be found is 422 naming it; the batch fails as a whole", async () => {
  const p = chatml(fresh());
  const res = await reward(strict, {
    query: [`${p}fine<|im_end|>`, "no prompt in here"],
    prompts: [p, "a prompt"],
    labels: ["a", "b"],
  });
  assert.equal(res.status, 422, res.text);
  assert.equal(res.json.errors[0].field, "query[1]");
});
