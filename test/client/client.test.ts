// The TypeScript client (src/client) against the real server on the demo model, and its retry rules
// against a scripted fetch: 429/503 wait for Retry-After, other 4xx throw at once with the fields.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { BATCH_LIMIT, ProblemError, R1JudgeClient, retryDelay } from "../../src/client/client.js";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";

let server: RunningServer;
let client: R1JudgeClient;

before(async () => {
  server = await startServer(
    loadConfig(["--port", "0", "--max-new-tokens", "64"]),
    pino({ level: "silent" }),
  );
  await server.ready;
  client = new R1JudgeClient(server.url);
});

after(async () => {
  await server?.stop();
});

test("every judging route, typed, against the live server", async () => {
  assert.equal((await client.health()).status, "ok");
  assert.equal(await client.ready(), true);
  const j = await client.judge({
    question: "Which is larger, 37 or 52?",
    responses: ["52", "37"],
    samples: 3,
    seed: 1,
  });
  assert.ok(j.votes["1"] + j.votes["2"] + j.votes.invalid >= 1);
  const r = await client.rank({ question: "Which is larger?", candidates: ["12", "97", "45"], seed: 2 });
  assert.deepEqual([...r.ranking].sort(), [0, 1, 2]);
  const prompt = "<|im_start|>user\nWhich is larger, 47 or 74?<|im_end|>\n<|im_start|>assistant\n";
  const reward = await client.getReward({
    query: [`${prompt}74<|im_end|>`],
    prompts: [prompt],
    labels: ["74"],
  });
  assert.equal(reward.rewards.length, 1);
});

test("a batch past the item limit is chunked and answered in order; a bad item fails alone", async () => {
  const item = {
    question: "Which is larger, 61 or 16?",
    responses: ["61", "16"] as [string, string],
    seed: 4,
  };
  const items = [
    ...Array.from({ length: BATCH_LIMIT + 3 }, () => item),
    { question: "", responses: ["a", "b"] as [string, string] },
  ];
  const results = await client.judgeBatch(items);
  assert.equal(results.length, BATCH_LIMIT + 4);
  assert.ok(results.slice(0, -1).every((r) => "winner" in r));
  assert.equal((results.at(-1) as { status: number }).status, 400);
});

test("a refused request throws ProblemError with the field, without retrying", async () => {
  await assert.rejects(client.judge({ question: "q", responses: ["a", "b"], samples: 0 }), (err) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.status, 400);
    assert.deepEqual(err.fields, ["samples"]);
    return true;
  });
});

test("429 and 503 are retried after Retry-After; 422 is not", async () => {
  const answers = [
    new Response("{}", {
      status: 429,
      headers: { "retry-after": "3", "content-type": "application/problem+json" },
    }),
    new Response("{}", { status: 503, headers: { "retry-after": "1" } }),
    new Response('{"winner":1}', { status: 200, headers: { "content-type": "application/json" } }),
    new Response('{"errors":[{"field":"images[0]","message":"x"}]}', {
      status: 422,
      headers: { "content-type": "application/problem+json" },
    }),
  ];
  let calls = 0;
  const waits: number[] = [];
  const scripted = new R1JudgeClient("http://judge.invalid", {
    fetch: async () => answers[calls++] as Response,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  assert.deepEqual(await scripted.request("POST", "/judge", {}), { winner: 1 });
  assert.deepEqual(waits, [3000, 1000]);
  await assert.rejects(
    scripted.request("POST", "/judge", {}),
    (err) => err instanceof ProblemError && err.fields[0] === "images[0]",
  );
  assert.equal(calls, 4, "the 422 was asked once");
  assert.ok(retryDelay(0, null, 30_000) <= 500 && retryDelay(10, null, 30_000) <= 30_000);
  assert.equal(retryDelay(0, new Date(Date.now() - 1000).toUTCString(), 30_000), 0);
});
