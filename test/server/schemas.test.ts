// Request validation: limits, unknown fields, field paths in errors (`responses`, `items[3].samples`),
// per-item batch errors, and the error → problem mapping. Parsing fills no default
// (test/server/judge-inputs.test.ts tests each route's).

import assert from "node:assert/strict";
import { test } from "node:test";
import type { z } from "zod";
import { EngineError } from "../../src/engine/errors.js";
import { ImageDecodeError } from "../../src/engine/images/errors.js";
import { ApiError, formatPath } from "../../src/errors.js";
import { JudgeAbortedError, JudgeDeadlineError } from "../../src/judge/judge.js";
import { toProblem } from "../../src/server/problem.js";
import {
  imageBytes,
  judgeRequestSchema,
  parseBody,
  parseJudgeBatch,
  rankRequestSchema,
  rewardRequestSchema,
} from "../../src/server/schemas.js";

const pair = { question: "What is 2 + 2?", responses: ["4", "5"] };

/** The field errors a body produces (fails the test when it validates). */
function fieldsOf(schema: z.ZodType, body: unknown): { field: string; message: string }[] {
  try {
    parseBody(schema, body);
  } catch (err) {
    assert.ok(err instanceof ApiError);
    assert.equal(err.code, "invalid_request");
    assert.equal(err.status, 400);
    return [...err.errors];
  }
  assert.fail("expected the body to be rejected");
}

test("judge: parsing fills no default (judge-inputs.ts does, per route)", () => {
  const req = parseBody(judgeRequestSchema, pair);
  assert.deepEqual(req, pair);
  const given = parseBody(judgeRequestSchema, { ...pair, samples: 8, temperature: 0.6, order: "fixed" });
  assert.deepEqual(given, { ...pair, samples: 8, temperature: 0.6, order: "fixed" });
});

test("judge: responses must be exactly two", () => {
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, responses: ["a", "b", "c"] }).map((e) => e.field),
    ["responses"],
  );
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, responses: ["a"] }).map((e) => e.field),
    ["responses"],
  );
});

test("judge: wrong types name each field; a missing field says required", () => {
  const errors = fieldsOf(judgeRequestSchema, { responses: ["a", 2], samples: "4", early_stop: "yes" });
  assert.deepEqual(errors.map((e) => e.field).sort(), ["early_stop", "question", "responses[1]", "samples"]);
  assert.equal(errors.find((e) => e.field === "question")?.message, "required");
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, "not an object").map((e) => e.field),
    ["body"],
  );
});

test("judge: samples must be 1–64 and whole", () => {
  for (const samples of [0, 65, 2.5, -1]) {
    assert.deepEqual(
      fieldsOf(judgeRequestSchema, { ...pair, samples }).map((e) => e.field),
      ["samples"],
      `samples ${samples}`,
    );
  }
  assert.equal(parseBody(judgeRequestSchema, { ...pair, samples: 64 }).samples, 64);
});

test("judge: range limits on sampling fields", () => {
  const bad = { temperature: 2.5, top_p: 0, top_k: -1, max_new_tokens: 0, seed: 2 ** 32, timeout_ms: 0 };
  for (const [field, value] of Object.entries(bad)) {
    assert.deepEqual(
      fieldsOf(judgeRequestSchema, { ...pair, [field]: value }).map((e) => e.field),
      [field],
    );
  }
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, order: "random" }).map((e) => e.field),
    ["order"],
  );
});

test("judge: unknown fields are rejected by name", () => {
  const errors = fieldsOf(judgeRequestSchema, { ...pair, sample: 4, extra: true });
  assert.deepEqual(errors, [
    { field: "sample", message: "unknown field" },
    { field: "extra", message: "unknown field" },
  ]);
});

test("judge: question and response length limits", () => {
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, question: "" }).map((e) => e.field),
    ["question"],
  );
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, responses: ["ok", "x".repeat(100_001)] }).map((e) => e.field),
    ["responses[1]"],
  );
});

test("judge: images are data URLs or bare base64, at most 8", () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]).toString("base64");
  const req = parseBody(judgeRequestSchema, { ...pair, images: [`data:image/png;base64,${png}`, png] });
  const [dataUrl, bare] = req.images ?? [];
  assert.deepEqual([...imageBytes(dataUrl as string)], [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  assert.deepEqual(imageBytes(bare as string), imageBytes(dataUrl as string));
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, images: [png, "not base64!"] }).map((e) => e.field),
    ["images[1]"],
  );
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, images: ["data:text/plain;base64,AAAA"] }).map((e) => e.field),
    ["images[0]"],
  );
  assert.deepEqual(
    fieldsOf(judgeRequestSchema, { ...pair, images: Array(9).fill(png) }).map((e) => e.field),
    ["images"],
  );
});

test("batch: each item is validated alone, with paths under items[k]", () => {
  const results = parseJudgeBatch({
    items: [pair, { ...pair, samples: 0 }, pair, { ...pair, samples: 65, responses: ["a"] }],
  });
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, false, true, false],
  );
  const second = results[1];
  assert.ok(second && !second.ok);
  assert.equal(second.error.status, 400);
  assert.deepEqual(
    second.error.errors.map((e) => e.field),
    ["items[1].samples"],
  );
  const fourth = results[3];
  assert.ok(fourth && !fourth.ok);
  assert.deepEqual(fourth.error.errors.map((e) => e.field).sort(), [
    "items[3].responses",
    "items[3].samples",
  ]);
  const first = results[0];
  assert.ok(first?.ok);
  assert.deepEqual(first.value, pair);
});

test("batch: the envelope fails as a whole (missing items, over 256, unknown fields)", () => {
  assert.throws(
    () => parseJudgeBatch({}),
    (err: ApiError) => err.errors[0]?.field === "items",
  );
  assert.throws(
    () => parseJudgeBatch({ items: Array(257).fill(pair) }),
    (err: ApiError) => err.status === 400 && err.errors[0]?.field === "items",
  );
  assert.throws(
    () => parseJudgeBatch({ items: [], x: 1 }),
    (err: ApiError) => err.errors[0]?.field === "x",
  );
  assert.deepEqual(parseJudgeBatch({ items: [] }), []);
  assert.deepEqual(
    (parseJudgeBatch({ items: ["oops"] })[0] as { error: ApiError }).error.errors.map((e) => e.field),
    ["items[0]"],
  );
});

test("rank: candidate count 2–64", () => {
  const req = parseBody(rankRequestSchema, { question: "q", candidates: ["a", "b", "c"], samples: 3 });
  assert.deepEqual(req, { question: "q", candidates: ["a", "b", "c"], samples: 3 });
  assert.deepEqual(
    fieldsOf(rankRequestSchema, { question: "q", candidates: ["a"] }).map((e) => e.field),
    ["candidates"],
  );
  assert.deepEqual(
    fieldsOf(rankRequestSchema, { question: "q", candidates: Array(65).fill("a") }).map((e) => e.field),
    ["candidates"],
  );
  assert.deepEqual(
    fieldsOf(rankRequestSchema, { question: "q", candidates: ["a", "b"], strategy: "swiss" }).map(
      (e) => e.field,
    ),
    ["strategy"],
  );
});

test("get_reward: empty lists, unknown fields ignored", () => {
  const req = parseBody(rewardRequestSchema, {
    query: [],
    prompts: [],
    labels: [],
    metadata: { step: 3 },
  });
  assert.deepEqual(req, { query: [], prompts: [], labels: [] });
});

test("get_reward: labels are any JSON scalar, or absent; any number of items", () => {
  const req = parseBody(rewardRequestSchema, {
    query: ["a", "b", "c", "d"],
    prompts: ["", "", "", ""],
    labels: ["x", 72, true, null],
  });
  assert.deepEqual(req.labels, ["x", 72, true, null]);
  assert.deepEqual(
    fieldsOf(rewardRequestSchema, { query: ["a"], prompts: [""], labels: [{ x: 1 }] }).map((e) => e.field),
    ["labels[0]"],
  );
  const many = Array.from({ length: 1000 }, () => "q");
  assert.equal(
    parseBody(rewardRequestSchema, { query: many, prompts: many, labels: many }).query.length,
    1000,
  );
});

test("get_reward: lists of different lengths are 400 naming the list", () => {
  const errors = fieldsOf(rewardRequestSchema, {
    query: ["pa", "pb"],
    prompts: ["p"],
    labels: ["a", "b"],
  });
  assert.deepEqual(errors, [{ field: "prompts", message: "has 1 entries but query has 2" }]);
  assert.deepEqual(
    fieldsOf(rewardRequestSchema, { query: ["x"], labels: ["x"] }).map((e) => e.field),
    ["prompts"],
  );
  assert.equal(parseBody(rewardRequestSchema, { query: ["x"], prompts: ["x"] }).labels, undefined);
});

test("formatPath: numbers as indices, odd keys quoted, empty path is the body", () => {
  assert.equal(formatPath(["items", 3, "samples"]), "items[3].samples");
  assert.equal(formatPath(["votes", "1"]), 'votes["1"]');
  assert.equal(formatPath([]), "body");
});

test("problem: ZodError, body-parser and engine errors map to their statuses", () => {
  const zod = judgeRequestSchema.safeParse({ ...pair, samples: 0 });
  assert.ok(!zod.success);
  const p400 = toProblem(zod.error, { instance: "/judge", requestId: "r1" });
  assert.equal(p400.status, 400);
  assert.equal(p400.headers["Content-Type"], "application/problem+json");
  assert.deepEqual(
    p400.body.errors.map((e) => e.field),
    ["samples"],
  );
  assert.equal(p400.body.request_id, "r1");
  assert.equal(p400.body.instance, "/judge");

  const tooLarge = Object.assign(new Error("request entity too large"), {
    type: "entity.too.large",
    status: 413,
    limit: 100,
  });
  assert.equal(toProblem(tooLarge).body.code, "payload_too_large");
  const badJson = Object.assign(new SyntaxError("Unexpected token"), {
    type: "entity.parse.failed",
    status: 400,
  });
  assert.deepEqual(toProblem(badJson).body.errors, [{ field: "body", message: "not valid JSON" }]);
  const charset = Object.assign(new Error("unsupported charset"), {
    type: "charset.unsupported",
    status: 415,
    charset: "latin1",
  });
  assert.equal(toProblem(charset).status, 415);

  const p422 = toProblem(new ImageDecodeError("cannot decode", "images[1]"));
  assert.equal(p422.status, 422);
  assert.deepEqual(
    p422.body.errors.map((e) => e.field),
    ["images[1]"],
  );
  // Engine errors map by code, never by name: a look-alike plain Error is a bug (500).
  const lookAlike = Object.assign(new Error("images[1]: cannot decode"), {
    name: "ImageDecodeError",
    field: "images[1]",
  });
  assert.equal(toProblem(lookAlike).status, 500);
  const broken = toProblem(new EngineError("engine_failed", "the engine worker exited with code 1"));
  assert.equal(broken.status, 503);
  assert.ok(Number(broken.headers["Retry-After"]) >= 1);
  assert.equal(toProblem(new EngineError("cancelled", "released")).status, 499);
  assert.equal(toProblem(new EngineError("load_failed", "tokenizer.json: bad")).status, 500);
  assert.equal(toProblem(new JudgeDeadlineError()).status, 504);
  assert.equal(toProblem(new JudgeAbortedError()).status, 499);

  const full = toProblem(new ApiError("queue_full", "64 judgements pending", { retryAfter: 1.2 }));
  assert.equal(full.status, 429);
  assert.equal(full.headers["Retry-After"], "2");
  assert.equal(toProblem(new ApiError("unauthorized", "no key")).headers["WWW-Authenticate"], "Bearer");

  const bug = toProblem(new TypeError("secret internals"), { requestId: "r2" });
  assert.equal(bug.status, 500);
  assert.equal(bug.internal, true);
  assert.ok(!bug.body.detail?.includes("secret"));
});

test("ApiError.within prefixes field paths for batch items", () => {
  const err = new ApiError("unprocessable", "bad image", {
    errors: [{ field: "images[0]", message: "x" }],
  }).within("items[2]");
  assert.equal(err.status, 422);
  assert.deepEqual(
    err.errors.map((e) => e.field),
    ["items[2].images[0]"],
  );
});

test("judge: a blank response is refused, naming it; /rank candidates and /get_reward are not judged by this rule", () => {
  for (const blank of ["", "   ", "\n\t", "\u200b"]) {
    assert.deepEqual(
      fieldsOf(judgeRequestSchema, { question: "Q?", responses: ["fine", blank] }).map((e) => e.field),
      ["responses[1]"],
    );
    assert.deepEqual(
      fieldsOf(judgeRequestSchema, { question: "Q?", responses: [blank, "fine"] })[0]?.field,
      "responses[0]",
    );
  }
  assert.match(
    fieldsOf(judgeRequestSchema, { question: "Q?", responses: ["", "x"] })[0]?.message ?? "",
    /empty/,
  );
  const [item] = parseJudgeBatch({ items: [{ question: "Q?", responses: [" ", "x"] }] });
  assert.ok(item && !item.ok);
  assert.deepEqual(
    item.error.errors.map((e) => e.field),
    ["items[0].responses[0]"],
  );
  parseBody(rankRequestSchema, { question: "Q?", candidates: ["", "x"] });
});
