// The real server on the real demo checkpoint, over real HTTP: every route, errors as problem+json,
// reproducible seeded votes, the judgement cache, and 429 at once when the queue is full.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";
import { httpCall } from "../support/http.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECKPOINT = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");
const KEY = "test-key-123";

let server: RunningServer;

before(async () => {
  const config = loadConfig(["--model", CHECKPOINT, "--port", "0", "--max-queue", "8"], {
    R1JUDGE_API_KEYS: KEY,
  });
  server = await startServer(config, pino({ level: "silent" }));
  await server.ready;
});

after(async () => {
  await server?.stop();
});

const call = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  httpCall(server.url, route, { method, body, apiKey: KEY, headers });

const pair = { question: "What is 7 + 5?", responses: ["It equals 12.", "It equals 13."] };

test("health, readiness, models, metrics and the spec are served", async () => {
  assert.deepEqual((await call("GET", "/healthz")).json, { status: "ok" });
  assert.deepEqual((await call("GET", "/readyz")).json, { status: "ready" });
  const models = await call("GET", "/models");
  assert.equal(models.json.models[0].device, "cpu");
  assert.equal(models.json.models[0].manifest.format, "r1judge-checkpoint");
  const spec = await call("GET", "/openapi.yaml");
  assert.match(spec.text, /^openapi: 3\.1/m);
  const metrics = await call("GET", "/metrics");
  assert.match(metrics.text, /r1judge_num_requests_running/);
  assert.match(metrics.text, /r1judge_kv_cache_bytes/);
});

test("POST /judge: one greedy verdict, consistent with its sample, with request ids echoed", async () => {
  const res = await call("POST", "/judge", pair, { "x-request-id": "abc-123" });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get("x-request-id"), "abc-123");
  assert.equal(res.json.samples.length, 1);
  const [sample] = res.json.samples;
  assert.equal(sample.order, "original");
  assert.equal(res.json.winner, sample.verdict);
  assert.equal(res.json.votes["1"] + res.json.votes["2"] + res.json.votes.invalid, 1);
  assert.equal(res.json.model, "r1judge-demo");
  assert.ok(res.json.usage.prompt_tokens > 100);
  assert.equal(res.json.usage.completion_tokens, sample.tokens);
});

test("voting: alternate order, seeds seed+i, counts add up, same seeded request gives the same body", async () => {
  const body = { ...pair, samples: 8, seed: 77, early_stop: false, return_reasoning: true };
  const first = await call("POST", "/judge", body);
  assert.equal(first.status, 200, first.text);
  const { votes, samples } = first.json;
  assert.equal(votes["1"] + votes["2"] + votes.invalid, 8);
  assert.deepEqual(
    samples.map((s: { seed: number }) => s.seed),
    [77, 78, 79, 80, 81, 82, 83, 84],
  );
  assert.deepEqual(
    samples.map((s: { order: string }) => s.order),
    ["original", "swapped", "original", "swapped", "original", "swapped", "original", "swapped"],
  );
  assert.equal(typeof samples[0].reasoning, "string");
  const second = await call("POST", "/judge", body);
  assert.equal(second.json.cached, true);
  assert.deepEqual({ ...second.json, cached: false }, first.json);
});

test("every valid sample carries its verdict probabilities; aggregation confidence (the default) weighs them", async () => {
  const body = { ...pair, samples: 6, seed: 90, early_stop: false, aggregation: "majority" };
  const majority = await call("POST", "/judge", body);
  assert.equal(majority.status, 200, majority.text);
  type Sample = { verdict: 1 | 2 | null; probabilities?: [number, number] };
  const samples: Sample[] = majority.json.samples;
  for (const s of samples) {
    if (s.verdict === null) continue;
    const [p1, p2] = s.probabilities ?? [];
    assert.ok(p1 !== undefined && p2 !== undefined && Math.abs(p1 + p2 - 1) < 1e-9);
    // The probabilities are the model's at the very token it sampled: the verdict is the likelier
    // side unless a sample at temperature 1 took the less likely one.
    assert.ok((s.verdict === 1 ? p1 : p2) > 0);
  }
  const confident = await call("POST", "/judge", { ...body, aggregation: "confidence" });
  assert.equal(confident.status, 200, confident.text);
  assert.deepEqual(confident.json.votes, majority.json.votes, "the same samples");
  const sums = [0, 1].map((i) =>
    samples.reduce((sum, s) => sum + (s.probabilities?.[i] ?? (s.verdict === i + 1 ? 1 : 0)), 0),
  );
  const share = (sums[0] as number) / ((sums[0] as number) + (sums[1] as number));
  assert.ok(Math.abs(confident.json.preference[0] - share) < 1e-9);
  assert.equal(confident.json.winner, share > 0.5 ? 1 : share < 0.5 ? 2 : null);
  const { aggregation: _, ...byDefault } = body;
  const fallback = await call("POST", "/judge", byDefault);
  assert.deepEqual(fallback.json.preference, confident.json.preference, "confidence is the default");
});

test("early stop: votes + stopped samples = K", async () => {
  const res = await call("POST", "/judge", { ...pair, samples: 15, seed: 5 });
  assert.equal(res.status, 200, res.text);
  const { votes, samples } = res.json;
  assert.equal(votes["1"] + votes["2"] + votes.invalid, samples.length);
  assert.ok(samples.length <= 15);
});

test("POST /judge with an image", async () => {
  const png = await readFile(path.join(ROOT, "test/fixtures/golden/images/square-70.png"));
  const res = await call("POST", "/judge", {
    question: "What colour is the shape?",
    responses: ["red", "blue"],
    images: [`data:image/png;base64,${png.toString("base64")}`],
  });
  assert.equal(res.status, 200, res.text);
  assert.ok(res.json.usage.prompt_tokens > 100);
});

test("POST /judge/batch: results in order, each as /judge answers it; a bad item fails alone", async () => {
  const swapped = { ...pair, responses: [pair.responses[1], pair.responses[0]] };
  const res = await call("POST", "/judge/batch", {
    items: [pair, { question: "x", responses: ["a"] }, swapped],
  });
  assert.equal(res.status, 200, res.text);
  const [a, bad, c] = res.json.results;
  assert.equal(bad.status, 400);
  assert.equal(bad.errors[0].field, "items[1].responses");
  assert.equal(a.winner, (await call("POST", "/judge", pair)).json.winner);
  assert.equal(c.winner, (await call("POST", "/judge", swapped)).json.winner);
});

test("POST /rank: knockout plays N-1 comparisons and its champion won its last one; round robin plays every ordered pair", async () => {
  const candidates = ["It equals 11.", "It equals 13.", "It equals 12.", "It equals 22."];
  const knockout = await call("POST", "/rank", { question: "What is 7 + 5?", candidates, seed: 3 });
  assert.equal(knockout.status, 200, knockout.text);
  const { best, ranking, comparisons, scores } = knockout.json;
  assert.equal(comparisons.length, 3);
  assert.equal(ranking[0], best);
  assert.deepEqual([...ranking].sort(), [0, 1, 2, 3]);
  const final = comparisons.find((c: { a: number; b: number }) => c.a === best || c.b === best);
  assert.ok(final && [final.a, final.b].includes(best));
  assert.equal(scores.length, 4);
  const rr = await call("POST", "/rank", {
    question: "What is 7 + 5?",
    candidates: candidates.slice(0, 3),
    strategy: "round_robin",
  });
  assert.equal(rr.status, 200, rr.text);
  assert.equal(rr.json.comparisons.length, 6);
  assert.equal(rr.json.ranking.length, 3);
});

test("POST /get_reward: OpenRLHF's protocol; the reward is the judge's p(policy) over both orders", async () => {
  const prompt = "<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n";
  const res = await call("POST", "/get_reward", {
    query: [`${prompt}It equals 12.<|im_end|>`, `${prompt}It equals 13.<|im_end|>`],
    prompts: [prompt, prompt],
    labels: ["It equals 13.", "It equals 12."],
  });
  assert.equal(res.status, 200, res.text);
  // The default: one greedy sample with the responses as given, one swapped; the reward is the mean
  // of the two samples' probability of the policy's response.
  const given = await call("POST", "/judge", {
    question: "What is 7 + 5?",
    responses: ["It equals 12.", "It equals 13."],
  });
  const swapped = await call("POST", "/judge", {
    question: "What is 7 + 5?",
    responses: ["It equals 13.", "It equals 12."],
  });
  const p12 = (given.json.preference[0] + swapped.json.preference[1]) / 2;
  assert.ok(Math.abs(res.json.rewards[0] - p12) < 1e-6, `${res.json.rewards[0]} vs ${p12}`);
  assert.ok(Math.abs(res.json.rewards[1] - (1 - p12)) < 1e-6, `${res.json.rewards[1]} vs ${1 - p12}`);
  assert.deepEqual(res.json.scores, res.json.rewards);
  assert.equal(
    res.json.extra_logs.votes_for[0] + res.json.extra_logs.votes_against[0] + res.json.extra_logs.invalid[0],
    2,
  );
  assert.deepEqual(res.json.extra_logs.empty_response, [0, 0]);
  const empty = await call("POST", "/get_reward", { query: [], prompts: [], labels: [] });
  assert.deepEqual(empty.json, {
    rewards: [],
    scores: [],
    extra_logs: { votes_for: [], votes_against: [], invalid: [], empty_response: [] },
  });
  const mismatch = await call("POST", "/get_reward", { query: ["a"], prompts: ["b"], labels: ["c"] });
  assert.equal(mismatch.status, 422);
  assert.equal(mismatch.json.errors[0].field, "query[0]");
});

test("errors are problem+json with the failing field", async () => {
  const cases: [string, unknown, number, string | undefined][] = [
    ["three responses", { question: "q", responses: ["a", "b", "c"] }, 400, "responses"],
    ["missing question", { responses: ["a", "b"] }, 400, "question"],
    ["wrong type", { question: 5, responses: ["a", "b"] }, 400, "question"],
    ["samples 0", { ...pair, samples: 0 }, 400, "samples"],
    ["unknown field", { ...pair, colour: "red" }, 400, "colour"],
    ["broken JSON", "{not json", 400, undefined],
    ["undecodable image", { ...pair, images: ["aGVsbG8="] }, 422, "images[0]"],
    ["max_new_tokens over the cap", { ...pair, max_new_tokens: 30000 }, 422, "max_new_tokens"],
  ];
  for (const [name, body, status, field] of cases) {
    const res = await call("POST", "/judge", body);
    assert.equal(res.status, status, `${name}: ${res.text}`);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/, name);
    assert.equal(res.json.status, status, name);
    if (field)
      assert.ok(
        res.json.errors.some((e: { field: string }) => e.field === field),
        `${name}: ${res.text}`,
      );
  }
  assert.equal((await call("POST", "/judge", "x", { "content-type": "text/plain" })).status, 415);
  assert.equal((await call("POST", "/judge", pair, { authorization: "Bearer wrong" })).status, 401);
  assert.equal((await call("POST", "/judge", pair, { authorization: "" })).status, 401);
  assert.equal((await call("GET", "/nope")).status, 404);
  const wrongMethod = await call("GET", "/judge");
  assert.equal(wrongMethod.status, 405, wrongMethod.text);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  assert.equal((await call("DELETE", "/healthz")).headers.get("allow"), "GET, HEAD");
  const scalar = await call("POST", "/judge", "null");
  assert.equal(scalar.status, 400);
  assert.equal(scalar.json.detail, "the body must be a JSON object, not null");
  const huge = await call("POST", "/judge", { ...pair, question: "x".repeat(21 * 1024 * 1024) });
  assert.equal(huge.status, 413);
  const long = await call("POST", "/judge", { ...pair, question: "x".repeat(100_001) });
  assert.equal(long.status, 400);
  const deep = await call("POST", "/judge", `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
  assert.equal(deep.status, 400, deep.text);
  const invalidUtf8 = await fetch(`${server.url}/judge`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: Buffer.concat([
      Buffer.from('{"question":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","responses":["a","b"]}'),
    ]),
  });
  assert.equal(invalidUtf8.status, 400);
  assert.match(await invalidUtf8.text(), /UTF-8/);
});
