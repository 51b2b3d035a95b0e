// /get_reward as OpenRLHF's remote reward client uses it, on the real server and demo model: one item
// per request (today's client) or a whole rollout batch far past the queue (older clients), float
// rewards on the wire, labels as dataset values, empty labels refused or neutral per the config,
// the server's default number of votes, and Llama-3 markup read as markup.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";

let strict: RunningServer;
let lenient: RunningServer;

before(async () => {
  const common = ["--port", "0", "--max-queue", "64", "--max-new-tokens", "48"];
  strict = await startServer(loadConfig(common, {}), pino({ level: "silent" }));
  lenient = await startServer(
    loadConfig([...common, "--reward-samples", "4", "--reward-empty-label", "neutral"], {}),
    pino({ level: "silent" }),
  );
  await Promise.all([strict.ready, lenient.ready]);
});

after(async () => {
  await Promise.all([strict?.stop(), lenient?.stop()]);
});

const chatml = (q: string) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;
const fresh = () => `Which is larger, ${randomInt(10, 99)} or ${randomInt(100, 999)}? (${randomInt(1e9)})`;

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

test("one item per request: rewards, scores and logs are JSON floats (1.0, never 1)", async () => {
  const p = chatml(fresh());
  const res = await reward(strict, {
    query: [`${p}The larger one.<|im_end|>`],
    prompts: [p],
    labels: ["The smaller one."],
  });
  assert.equal(res.status, 200, res.text);
  assert.match(
    res.text,
    /^\{"rewards":\[(0\.0|0\.5|1\.0)\],"scores":\[(0\.0|0\.5|1\.0)\],"extra_logs":\{"votes_for":\[\d\.0\]/,
  );
  assert.ok(!/[[,:]\d+[,\]}]/.test(res.text.replace(/\d+\.\d+/g, "")), `an integer in ${res.text}`);
});

test("a rollout batch of 300 items (over the old 256 limit) through a queue of 64 gets 300 rewards in order", async () => {
  const questions = Array.from({ length: 300 }, () => fresh());
  const prompts = questions.map(chatml);
  const res = await reward(strict, {
    query: prompts.map((p, i) => `${p}Answer ${i}.<|im_end|>`),
    prompts,
    labels: questions.map((_, i) => `Reference ${i}.`),
    max_new_tokens: 8,
  });
  assert.equal(res.status, 200, res.text.slice(0, 300));
  assert.equal(res.json.rewards.length, 300);
  assert.ok(res.json.rewards.every((r: number) => r >= 0 && r <= 1));
  assert.equal(res.json.extra_logs.votes_for.length, 300);
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
  }).then((r) => r.json() as Promise<{ winner: number | null }>);
  assert.equal(res.json.rewards[0], direct.winner === 1 ? 1 : direct.winner === 2 ? 0 : 0.5);
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
