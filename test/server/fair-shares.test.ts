// Fair shares over HTTP, on the real CLI process: while one client's /judge/batch runs through a
// queue far smaller than the batch, another client's /judge calls (up to its share, several at
// once) are never refused; the batch still gets every answer. A bad X-Client-Id is a 400 naming the
// header. Samples end only at max_new_tokens (R1JUDGE_IGNORE_EOS), so the batch is still running
// when the other client calls, on any machine.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { test } from "node:test";
import { startChildServer } from "../support/child-server.js";
import { waitForMetric } from "../support/metrics.js";

const fresh = () => `Which is larger, ${randomInt(10, 99)} or ${randomInt(100, 999)}? (${randomInt(1e9)})`;

function post(url: string, path: string, client: string, body: unknown) {
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-client-id": client },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
}

test("a batch runs through its share: another client's /judge calls are never refused", async () => {
  const server = await startChildServer({
    args: ["--max-queue", "8", "--max-new-tokens", "48", "--client-idle-ms", "600000"],
    env: { R1JUDGE_IGNORE_EOS: "true" },
  });
  try {
    const single = () => ({ question: fresh(), responses: ["a", "b"], max_new_tokens: 8 });
    // The evaluator has been here: its share (4 of 8) is reserved from now on.
    assert.equal((await post(server.url, "/judge", "eval", single())).status, 200);
    const items = Array.from({ length: 40 }, () => ({
      question: fresh(),
      responses: ["a", "b"],
      max_new_tokens: 48,
    }));
    const batch = post(server.url, "/judge/batch", "trainer", { items });
    await waitForMetric(server.url, "r1judge_num_requests_waiting", (n) => n >= 4);
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: 4 }, () => post(server.url, "/judge", "eval", single())),
      );
      statuses.push(...answers.map((a) => a.status));
    }
    assert.deepEqual(statuses, Array(12).fill(200));
    const result = await batch;
    assert.equal(result.status, 200);
    const results = result.body.results as { winner?: unknown }[];
    assert.equal(results.length, 40);
    assert.ok(
      results.every((r) => "winner" in r),
      "every item of the batch was judged",
    );
    // The batch was held to its share: had it taken the queue, the singles would have been refused.
    const refused = await (await fetch(`${server.url}/metrics`)).text();
    assert.doesNotMatch(refused, /r1judge_http_requests_total\{route="\/judge",status="429"\}/);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("a malformed X-Client-Id is a 400 naming the header", async () => {
  const server = await startChildServer();
  try {
    const answer = await post(server.url, "/judge", "not a valid id!", {
      question: "1+1?",
      responses: ["2", "3"],
    });
    assert.equal(answer.status, 400);
    assert.equal((answer.body.errors as { field: string }[])[0]?.field, "X-Client-Id");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
