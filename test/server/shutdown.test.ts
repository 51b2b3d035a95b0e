// SIGTERM under load, on the real CLI process: it stops accepting work but keeps its listener open,
// so new connections during the drain get 503 (not a refused connection); it reports not ready,
// finishes every request it had accepted, and exits 0. A drain whose grace runs out answers the
// requests still running with 503 rather than cutting their connections.

import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startChildServer } from "../support/child-server.js";
import { waitForMetric } from "../support/metrics.js";

// Samples end only at max_new_tokens (R1JUDGE_IGNORE_EOS): the work accepted before the signal has a
// known length, so the drain is still under way when the test looks at it, on any machine.
const HOLD = { env: { R1JUDGE_IGNORE_EOS: "true" } };

const heavy = (seed: number) =>
  JSON.stringify({
    question: `What is ${seed} + 5?`,
    responses: ["12", "13"],
    samples: 16,
    max_new_tokens: 200,
    early_stop: false,
    seed,
  });

/** Waits (bounded) until the server has accepted `n` judgements. */
const accepted = (url: string, n: number) =>
  waitForMetric(url, "r1judge_num_requests_waiting", (v) => v >= n);

type Answer = { status: number; body: { votes?: Record<string, number>; code?: string } };

function post(url: string, body: string): Promise<Answer> {
  return fetch(`${url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  }).then(
    async (r) => ({
      status: r.status,
      body: (await r.json()) as { votes?: Record<string, number>; code?: string },
    }),
    (err: Error) => ({ status: 0, body: { code: `connection failed: ${err.message}` } }),
  );
}

test("SIGTERM under load loses no accepted request, answers newcomers 503, and exits 0", async () => {
  const server = await startChildServer(HOLD);
  const requests = Array.from({ length: 8 }, (_, i) => post(server.url, heavy(i)));
  await accepted(server.url, 8);
  server.child.kill("SIGTERM");
  for (let i = 0; i < 600 && !server.logs.some((l) => l.includes('"msg":"draining"')); i++) await sleep(10);
  const during = await Promise.all([
    fetch(`${server.url}/readyz`).then((r) => r.status),
    post(server.url, heavy(99)),
    fetch(`${server.url}/healthz`).then((r) => r.status),
  ]);
  const results = await Promise.all(requests);
  const code = await server.exited;

  for (const r of results) {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const votes = r.body.votes as Record<string, number>;
    assert.equal((votes["1"] ?? 0) + (votes["2"] ?? 0) + (votes.invalid ?? 0), 16);
  }
  assert.equal(during[0], 503, "readyz during the drain");
  assert.equal(during[1].status, 503, JSON.stringify(during[1].body));
  assert.equal(during[1].body.code, "draining");
  assert.equal(during[2], 200, "still alive while draining");
  assert.equal(code, 0, server.logs.slice(-5).join("\n"));
  assert.ok(server.logs.some((l) => l.includes('"msg":"draining"')));
});

test("a drain whose grace runs out answers what still runs with 503 and exits 0", async () => {
  const server = await startChildServer({ ...HOLD, args: ["--shutdown-grace-ms", "200"] });
  const long = JSON.stringify({
    question: "Count slowly.",
    responses: ["a", "b"],
    samples: 64,
    max_new_tokens: 1024,
    early_stop: false,
    temperature: 2,
    seed: 1,
  });
  const requests = Array.from({ length: 4 }, () => post(server.url, long));
  await accepted(server.url, 4);
  server.child.kill("SIGTERM");
  const results = await Promise.all(requests);
  assert.equal(await server.exited, 0);
  for (const r of results)
    assert.ok(r.status === 200 || (r.status === 503 && r.body.code === "draining"), JSON.stringify(r));
  assert.ok(
    results.some((r) => r.status === 503),
    "at least one was still running when the grace ran out",
  );
});
