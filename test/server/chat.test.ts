// /v1/chat/completions below HTTP, on a scripted engine and a clock moved by hand: what the engine is
// asked for (OpenAI's defaults, the server's cap, roles, images, stop strings), the deadline and a
// client leaving (samples cancelled, images released), engine errors in request terms, and every
// error code in OpenAI's shape.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { GenerationHandlers, ImageSetRef } from "../../src/engine/client.js";
import { EngineError } from "../../src/engine/errors.js";
import type { GenerationRequest, SampleMessage } from "../../src/engine/protocol.js";
import { ApiError } from "../../src/errors.js";
import { type GenerationPort, JudgeAbortedError } from "../../src/judge/judge.js";
import { type ChatSettings, chatCompletion } from "../../src/server/chat.js";
import { chatCompletionRequestSchema } from "../../src/server/openai-schemas.js";
import { toOpenAIError } from "../../src/server/problem.js";
import { parseBody } from "../../src/server/schemas.js";

const SETTINGS: ChatSettings = { modelId: "judge-x", maxNewTokens: 100, defaultTimeoutMs: 1000 };

import { ManualClock } from "../support/clock.js";

const PNG =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/** An engine whose answers the test gives by hand. */
class ScriptedPort implements GenerationPort {
  readonly requests: GenerationRequest[] = [];
  readonly handlers: GenerationHandlers[] = [];
  readonly cancelled: string[] = [];
  readonly images = new Set<string>();
  generate(request: GenerationRequest, handlers: GenerationHandlers): string {
    this.requests.push(request);
    this.handlers.push(handlers);
    return `g${this.requests.length - 1}`;
  }
  cancel(id: string): void {
    this.cancelled.push(id);
  }
  putImages(bytes: readonly Uint8Array[]): ImageSetRef {
    const id = `set${this.images.size}`;
    this.images.add(id);
    return { id, count: bytes.length, digests: bytes.map(() => "d") };
  }
  releaseImages(ref: ImageSetRef): void {
    this.images.delete(ref.id);
  }
}

const body = (over: Record<string, unknown> = {}) =>
  parseBody(chatCompletionRequestSchema, { messages: [{ role: "user", content: "Hi" }], ...over });
const sample = (index: number, text: string, finishReason: SampleMessage["finishReason"] = "stop") => ({
  index,
  seed: index,
  tokens: text.length,
  text,
  finishReason,
});
const tick = () => new Promise((r) => setImmediate(r));

test("the engine gets OpenAI's defaults, the cap, system for developer, images in order and the stop list", async () => {
  const port = new ScriptedPort();
  const clock = new ManualClock();
  const answer = chatCompletion(
    port,
    body({
      messages: [
        { role: "developer", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: PNG } },
            { type: "text", text: "What is it?" },
          ],
        },
      ],
      n: 2,
      top_k: -1,
      stop: "END",
    }),
    SETTINGS,
    { arrived: clock.now(), clock, requestId: "abc" },
  );
  await tick();
  const [request] = port.requests;
  assert.ok(request);
  assert.deepEqual(request.messages, [
    { role: "system", content: "Be brief." },
    {
      role: "user",
      content: [{ type: "image" }, { type: "text", text: "What is it?" }],
    },
  ]);
  assert.equal(request.samples, 2);
  assert.deepEqual(request.sampling, { temperature: 1, topP: 1, topK: 0 });
  assert.equal(request.maxNewTokens, 100);
  assert.equal(request.deadline, clock.now() + 1000);
  assert.deepEqual(request.stopStrings, ["END"]);
  assert.ok(Number.isSafeInteger(request.seed) && request.seed >= 0);
  assert.equal(request.images, "set0");
  const [handlers] = port.handlers;
  handlers?.onStarted?.({ promptTokens: 40, cachedPromptTokens: 0 });
  handlers?.onSample(sample(1, "second", "length"));
  handlers?.onSample(sample(0, "first answer END and more"));
  handlers?.onDone();
  const done = await answer;
  assert.equal(done.id, "chatcmpl-abc");
  assert.deepEqual(done.choices, [
    { index: 0, message: { role: "assistant", content: "first answer " }, finish_reason: "stop" },
    { index: 1, message: { role: "assistant", content: "second" }, finish_reason: "length" },
  ]);
  assert.deepEqual(done.usage, { prompt_tokens: 40, completion_tokens: 31, total_tokens: 71 });
  assert.equal(port.images.size, 0, "the image set is released");
});

test("max_completion_tokens wins over max_tokens; over the cap is 400 naming the field given", async () => {
  const port = new ScriptedPort();
  const clock = new ManualClock();
  const ctx = { arrived: clock.now(), clock };
  void chatCompletion(port, body({ max_tokens: 50, max_completion_tokens: 7 }), SETTINGS, ctx);
  await tick();
  assert.equal(port.requests[0]?.maxNewTokens, 7);
  for (const field of ["max_tokens", "max_completion_tokens"]) {
    const err = await chatCompletion(port, body({ [field]: 101 }), SETTINGS, ctx).catch((e: unknown) => e);
    const answer = toOpenAIError(err);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error.param, field);
    assert.match(answer.body.error.message, /cap of 100/);
  }
  const unknown = await chatCompletion(port, body({ model: "other" }), SETTINGS, ctx).catch(
    (e: unknown) => e,
  );
  assert.deepEqual(toOpenAIError(unknown).body.error, {
    message: "The model `other` does not exist: this server serves `judge-x` (GET /v1/models)",
    type: "not_found_error",
    param: "model",
    code: "model_not_found",
  });
});

test("the deadline answers 504 at once, cancels the samples and releases the images", async () => {
  const port = new ScriptedPort();
  const clock = new ManualClock();
  const answer = chatCompletion(
    port,
    body({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: PNG } }] }] }),
    SETTINGS,
    { arrived: clock.now(), clock },
  ).catch((e: unknown) => e);
  await tick();
  clock.advance(999);
  await tick();
  assert.deepEqual(port.cancelled, []);
  clock.advance(1);
  const err = await answer;
  assert.ok(err instanceof ApiError && err.code === "deadline_exceeded", String(err));
  assert.deepEqual(port.cancelled, ["g0"]);
  assert.equal(port.images.size, 0);
  const { status, body: shown } = toOpenAIError(err);
  assert.equal(status, 504);
  assert.deepEqual(shown.error, {
    message: "the deadline passed before every choice was finished",
    type: "server_error",
    param: null,
    code: "deadline_exceeded",
  });
});

test("a client that leaves cancels the samples", async () => {
  const port = new ScriptedPort();
  const clock = new ManualClock();
  const controller = new AbortController();
  const answer = chatCompletion(port, body(), SETTINGS, {
    arrived: clock.now(),
    clock,
    signal: controller.signal,
  }).catch((e: unknown) => e);
  await tick();
  controller.abort(new JudgeAbortedError());
  assert.ok((await answer) instanceof JudgeAbortedError);
  assert.deepEqual(port.cancelled, ["g0"]);
});

test("engine errors in request terms: a bad image names its message part, unusable logits are 503", async () => {
  const port = new ScriptedPort();
  const clock = new ManualClock();
  const ctx = { arrived: clock.now(), clock };
  const image = { type: "image_url", image_url: { url: PNG } };
  const bad = chatCompletion(
    port,
    body({ messages: [{ role: "user", content: [image, { type: "text", text: "x" }, image] }] }),
    SETTINGS,
    ctx,
  ).catch((e: unknown) => e);
  await tick();
  port.handlers[0]?.onError(
    new EngineError("invalid_image", "images[1]: cannot decode image", { field: "images[1]" }),
  );
  const imageError = toOpenAIError(await bad);
  assert.equal(imageError.status, 400);
  assert.deepEqual(imageError.body.error, {
    message: "messages[0].content[2].image_url.url: cannot decode image",
    type: "invalid_request_error",
    param: "messages[0].content[2].image_url.url",
    code: "unprocessable",
  });

  const nan = chatCompletion(port, body(), SETTINGS, ctx).catch((e: unknown) => e);
  await tick();
  port.handlers[1]?.onSample({ ...sample(0, ""), finishReason: "invalid", error: "NaN logits" });
  const unusable = toOpenAIError(await nan);
  assert.equal(unusable.status, 503);
  assert.equal(unusable.body.error.type, "server_error");
  assert.equal(unusable.headers["Retry-After"], "5");
  // Every failure cancels what may still run (a no-op for a request the engine already ended).
  assert.deepEqual(port.cancelled, ["g0", "g1"]);
});

test("every error code in OpenAI's shape: status, type, code and headers", () => {
  const cases: [ApiError, number, string, string][] = [
    [
      new ApiError("invalid_request", "bad", { errors: [{ field: "n", message: "x" }] }),
      400,
      "invalid_request_error",
      "invalid_request",
    ],
    [new ApiError("unprocessable", "too long"), 400, "invalid_request_error", "unprocessable"],
    [new ApiError("unauthorized", "no key"), 401, "authentication_error", "invalid_api_key"],
    [new ApiError("not_found", "no route"), 404, "not_found_error", "not_found"],
    [new ApiError("payload_too_large", "big"), 413, "invalid_request_error", "payload_too_large"],
    [new ApiError("unsupported_media_type", "text"), 415, "invalid_request_error", "unsupported_media_type"],
    [new ApiError("queue_full", "full", { retryAfter: 1 }), 429, "rate_limit_error", "rate_limit_exceeded"],
    [new ApiError("not_ready", "loading", { retryAfter: 5 }), 503, "server_error", "not_ready"],
    [new ApiError("draining", "bye", { retryAfter: 5 }), 503, "server_error", "draining"],
    [new ApiError("internal", "secret"), 500, "server_error", "internal"],
  ];
  for (const [err, status, type, code] of cases) {
    const answer = toOpenAIError(err, { requestId: "rid" });
    assert.equal(answer.status, status, err.code);
    assert.equal(answer.headers["Content-Type"], "application/json");
    assert.equal(answer.body.error.type, type, err.code);
    assert.equal(answer.body.error.code, code, err.code);
  }
  assert.equal(toOpenAIError(cases[0]?.[0]).body.error.param, "n");
  assert.equal(toOpenAIError(cases[1]?.[0]).body.error.param, null);
  assert.equal(toOpenAIError(cases[6]?.[0]).headers["Retry-After"], "1");
  assert.equal(toOpenAIError(cases[2]?.[0]).headers["WWW-Authenticate"], "Bearer");
  // A 500 reveals nothing but the request id.
  assert.doesNotMatch(toOpenAIError(cases[9]?.[0], { requestId: "rid" }).body.error.message, /secret/);
});
