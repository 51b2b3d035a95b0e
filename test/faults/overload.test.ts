// Load past what the server holds, on the real CLI process: ten times the queue at once gets only
// 200 or 429 (each 429 at once, with Retry-After) and every refused request succeeds when retried;
// deadlines pass for requests still waiting for batch room, which answer 504 at their deadline rather
// than after the work ahead of them; a corrupt checkpoint stops the server at start, naming the file.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { cp, mkdtemp, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, startChildServer } from "../support/child-server.js";
import { waitForMetric } from "../support/metrics.js";

const fresh = () => `Which is larger, ${randomInt(10, 99)} or ${randomInt(100, 999)}? (${randomInt(1e9)})`;

function judge(url: string, body: unknown, signal?: AbortSignal) {
  const started = Date.now();
  return fetch(`${url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  }).then(async (r) => ({
    status: r.status,
    retryAfter: r.headers.get("retry-after"),
    ms: Date.now() - started,
    text: await r.text(),
  }));
}

test("10× the queue at once: only 200 and 429 (at once, with Retry-After); retried, every one succeeds", async () => {
  // Samples end only at max_new_tokens (--ignore-eos): each admitted request holds its slot for 300
  // decode steps, so the other 36 arrive while the queue is full on any machine.
  const server = await startChildServer({
    args: ["--max-queue", "4", "--max-new-tokens", "300"],
    env: { R1JUDGE_IGNORE_EOS: "true" },
  });
  try {
    const bodies = Array.from({ length: 40 }, () => ({
      question: fresh(),
      responses: ["a", "b"],
      samples: 2,
      max_new_tokens: 300,
    }));
    const first = await Promise.all(bodies.map((b) => judge(server.url, b)));
    const statuses = new Set(first.map((r) => r.status));
    assert.deepEqual(
      [...statuses].filter((s) => s !== 200 && s !== 429),
      [],
      JSON.stringify(first.find((r) => r.status !== 200 && r.status !== 429)),
    );
    const refused = first.filter((r) => r.status === 429);
    assert.ok(refused.length >= 30, `${refused.length} refused`);
    assert.ok(refused.every((r) => Number(r.retryAfter) >= 1));
    // Refused at once: a 429 never waits for the work ahead of it.
    assert.ok(
      Math.max(...refused.map((r) => r.ms)) <
        Math.max(...first.filter((r) => r.status === 200).map((r) => r.ms)),
    );
    let pending = bodies.filter((_, i) => first[i]?.status === 429);
    for (let round = 0; pending.length > 0 && round < 50; round++) {
      await sleep(200);
      const answers = await Promise.all(pending.map((b) => judge(server.url, b)));
      assert.ok(answers.every((a) => a.status === 200 || a.status === 429));
      pending = pending.filter((_, i) => answers[i]?.status === 429);
    }
    assert.equal(pending.length, 0, "every request got through on retry");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("requests waiting for batch room answer 504 at their deadline, not after the work ahead of them", async () => {
  // One row at a time, and samples that end only at max_new_tokens (--ignore-eos): ten requests of
  // 3,000 tokens each hold the batch until the test lets them go, so the short ones wait behind them in
  // the engine whatever the machine's speed.
  const server = await startChildServer({
    args: ["--max-batch", "1", "--max-new-tokens", "3000"],
    env: { R1JUDGE_IGNORE_EOS: "true" },
  });
  try {
    const leave = new AbortController();
    let longAnswered = 0;
    const long = Array.from({ length: 10 }, () =>
      judge(
        server.url,
        { question: fresh(), responses: ["a", "b"], max_new_tokens: 3000, timeout_ms: 600_000 },
        leave.signal,
      ).then(
        (r) => {
          longAnswered++;
          return r.status;
        },
        (err: Error) => err.name,
      ),
    );
    await waitForMetric(server.url, "r1judge_engine_requests_waiting", (n) => n >= 9);
    const short = await Promise.all(
      Array.from({ length: 4 }, () =>
        judge(server.url, { question: fresh(), responses: ["a", "b"], timeout_ms: 300 }),
      ),
    );
    for (const r of short) {
      assert.equal(r.status, 504, r.text);
      assert.ok(r.ms >= 300, `answered after ${r.ms} ms, before its deadline`);
    }
    assert.equal(longAnswered, 0, "the short ones were answered while the work ahead of them still ran");
    leave.abort();
    assert.deepEqual(new Set(await Promise.all(long)), new Set(["AbortError"]));
    // The long ones' work was cancelled with their clients: the batch is free again.
    const after = await judge(server.url, { question: fresh(), responses: ["a", "b"], max_new_tokens: 8 });
    assert.equal(after.status, 200, after.text);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("a corrupt checkpoint at start: the process exits 1 and the log names the file", async (t) => {
  const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
    [
      "a truncated decoder",
      (dir) => truncate(path.join(dir, "onnx/decoder_model_merged.onnx"), 1000),
      /decoder_model_merged\.onnx/,
    ],
    ["no manifest", (dir) => rm(path.join(dir, "r1judge.json")), /r1judge\.json/],
    ["no tokenizer", (dir) => rm(path.join(dir, "tokenizer.json")), /tokenizer\.json/],
  ];
  for (const [name, corrupt, file] of cases) {
    const dir = await mkdtemp(path.join(tmpdir(), "r1judge-corrupt-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await cp(path.join(ROOT, "models/demo"), dir, { recursive: true });
    await corrupt(dir);
    await assert.rejects(startChildServer({ args: ["--model", dir] }), (err: Error) => {
      assert.match(err.message, /exited \(1\)/, name);
      assert.match(err.message, file, name);
      return true;
    });
  }
});
