// Deadlines on the judging service's clock: a test clock moved by hand decides when a request's
// deadline passes, so nothing here depends on how fast the machine is. The engine is a fake that
// never answers (work that holds the batch for as long as the test wants).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageSetRef } from "../../src/engine/client.js";
import { type GenerationPort, JudgeDeadlineError } from "../../src/judge/judge.js";
import { JudgingService, type JudgingSettings } from "../../src/server/judging.js";
import { Metrics } from "../../src/server/metrics.js";
import { judgeRequestSchema, parseBody } from "../../src/server/schemas.js";
import { DEMO_RULE, JUDGING_SETTINGS } from "../judge/verdict-rules.js";
import { ManualClock, turnsUntil } from "../support/clock.js";

/** An engine whose samples never come: it records what was asked and what was cancelled. */
class SilentPort implements GenerationPort {
  readonly generated: string[] = [];
  readonly cancelled: string[] = [];
  generate(): string {
    const id = `r${this.generated.length}`;
    this.generated.push(id);
    return id;
  }
  cancel(id: string): void {
    this.cancelled.push(id);
  }
  putImages(bytes: readonly Uint8Array[]): ImageSetRef {
    return { id: "images", count: bytes.length, digests: [] };
  }
  releaseImages(): void {}
}

// A small queue, a 64-token cap and no judgement cache (each request reaches the engine).
const settings: JudgingSettings = { ...JUDGING_SETTINGS, maxQueue: 4, maxNewTokens: 64, cacheEntries: 0 };

function setup() {
  const port = new SilentPort();
  const clock = new ManualClock();
  const service = new JudgingService(port, settings, new Metrics(), clock);
  service.setModel({ id: "fake", verdict: DEMO_RULE });
  return { port, clock, service };
}

test("timeout_ms counts from arrival on the service's clock: the judgement fails at its deadline, not before, and its engine work is cancelled", async () => {
  const { port, clock, service } = setup();
  const seen: { outcome?: unknown } = {};
  const judging = service
    .judge(
      parseBody(judgeRequestSchema, { question: "Q?", responses: ["a", "b"], samples: 2, timeout_ms: 500 }),
    )
    .then(
      () => "answered",
      (err: unknown) => err,
    )
    .then((o) => {
      seen.outcome = o;
    });
  await turnsUntil(() => port.generated.length === 2, 1000); // one request per order
  clock.advance(499);
  await turnsUntil(() => true, 50);
  assert.ok(seen.outcome === undefined, "still waiting 1 ms before the deadline");
  clock.advance(1);
  await judging;
  assert.ok((seen.outcome as unknown) instanceof JudgeDeadlineError, String(seen.outcome));
  assert.deepEqual(port.cancelled.sort(), ["r0", "r1"]);
  // The slot came back: a new request gets through admission to the engine.
  void service
    .judge(parseBody(judgeRequestSchema, { question: "Again?", responses: ["a", "b"] }))
    .catch(() => {});
  await turnsUntil(() => port.generated.length === 3, 1000);
});

test("without timeout_ms the server's default deadline applies, from arrival", async () => {
  const { port, clock, service } = setup();
  const seen: { outcome?: unknown } = {};
  const judging = service
    .judge(parseBody(judgeRequestSchema, { question: "Q?", responses: ["a", "b"] }))
    .catch((err: unknown) => {
      seen.outcome = err;
    });
  await turnsUntil(() => port.generated.length === 1, 1000);
  clock.advance(settings.defaultTimeoutMs - 1);
  await turnsUntil(() => true, 50);
  assert.ok(seen.outcome === undefined, "still waiting 1 ms before the deadline");
  clock.advance(1);
  await judging;
  assert.ok((seen.outcome as unknown) instanceof JudgeDeadlineError, String(seen.outcome));
});
