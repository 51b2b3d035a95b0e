// Honest accounting: a client that leaves before its answer is logged once with status 499 and
// counted in r1judge_http_requests_total (real HTTP, on the real CLI process; the judgement holds
// its slot for 2,000 decode steps with R1JUDGE_IGNORE_EOS, so the client leaves mid-judgement on any
// machine). Readiness and draining are one state: once a request can see `draining`, /readyz is 503,
// and a model that finishes loading after SIGTERM does not make the server ready again.

import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { startServer } from "../../src/main.js";
import { Lifecycle } from "../../src/server/lifecycle.js";
import { startChildServer } from "../support/child-server.js";
import { metric, waitForMetric } from "../support/metrics.js";

test("a client that leaves mid-judgement is logged once with 499 and counted", async () => {
  const server = await startChildServer({
    args: ["--max-new-tokens", "2000"],
    env: { R1JUDGE_IGNORE_EOS: "true" },
  });
  try {
    const leave = new AbortController();
    const requestId = "leaves-early-1";
    const answer = fetch(`${server.url}/judge`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ question: "Count to a thousand.", responses: ["a", "b"], max_new_tokens: 2000 }),
      signal: leave.signal,
    }).catch((err: Error) => err.name);
    await waitForMetric(server.url, "r1judge_num_requests_waiting", (n) => n >= 1);
    leave.abort();
    assert.equal(await answer, "AbortError");
    const counted = 'r1judge_http_requests_total\\{route="/judge",status="499"\\}';
    assert.equal(await waitForMetric(server.url, counted, (n) => n >= 1), 1);
    assert.ok(
      (await metric(server.url, 'r1judge_http_request_duration_seconds_count\\{route="/judge"\\}')) >= 1,
      "the departed request is in the duration histogram",
    );
    const lines = () => server.logs.filter((l) => l.includes(`"requestId":"${requestId}"`));
    for (let i = 0; i < 200 && lines().length === 0; i++) await sleep(10);
    assert.equal(lines().length, 1, lines().join("\n"));
    assert.match(lines()[0] as string, /"status":499/);
    // Its slot came back with it.
    await waitForMetric(server.url, "r1judge_num_requests_waiting", (n) => n === 0);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("readiness is the drain's state: draining is one-way, whatever finishes loading later", () => {
  const lifecycle = new Lifecycle(() => true);
  assert.equal(lifecycle.notReadyBecause, "loading");
  assert.ok(lifecycle.drain(), "SIGTERM while loading");
  assert.equal(lifecycle.markReady(), false, "the model loaded after SIGTERM");
  assert.equal(lifecycle.notReadyBecause, "draining");
  assert.equal(lifecycle.ready, false);
  assert.equal(lifecycle.drain(), false, "a second signal does not drain again");

  const serving = new Lifecycle(() => true);
  assert.ok(serving.markReady());
  assert.equal(serving.ready, true);
  serving.drain();
  assert.equal(serving.ready, false);
  assert.equal(serving.notReadyBecause, "draining");
});

test("SIGTERM while the model loads: the server never turns ready, and its engine is closed", async () => {
  const config = loadConfig(["--port", "0"], {});
  const server = await startServer(config, pino({ level: "silent" }));
  const readyz = await fetch(`${server.url}/readyz`);
  assert.equal(readyz.status, 503);
  await server.stop();
  await server.ready;
  assert.equal(server.lifecycle.notReadyBecause, "draining");
  assert.equal(server.engine()?.ready ?? false, false, "the engine loaded after the drain was closed");
});

test("once a request sees draining, /readyz is 503 on the very next request", async () => {
  const config = loadConfig(["--port", "0", "--shutdown-grace-ms", "60000"], {});
  const server = await startServer(config, pino({ level: "silent" }));
  await server.ready;
  // One request in flight keeps the drain (and the listener) open.
  const held = server.lifecycle.begin();
  const stopped = server.stop();
  const [judge, readyz] = await Promise.all([
    fetch(`${server.url}/judge`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ question: "1+1?", responses: ["2", "3"] }),
    }),
    fetch(`${server.url}/readyz`),
  ]);
  assert.equal(judge.status, 503);
  assert.equal(((await judge.json()) as { code: string }).code, "draining");
  assert.equal(readyz.status, 503);
  held();
  await stopped;
});
