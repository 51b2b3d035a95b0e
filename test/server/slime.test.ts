// POST /reward as slime's remote reward model calls it (slime/rollout/rm_hub/__init__.py,
// `remote_rm`), on the real server and demo model: one POST per sample with {prompt, response,
// label} as JSON, `raise_for_status`, then the field `--reward-key` names read from the JSON object;
// up to `max_retries` tries with backoff min(2^attempt, 30) s + jitter (scaled to milliseconds here),
// retrying connection errors, 5xx and 429 only (slime PR #1582). Prompts as text and as messages,
// images in message parts and referenced from the label (data URLs and paths under
// R1JUDGE_IMAGE_ROOT), slime's field names in errors, and a failed judgement as a retried 502 no_verdict.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";

const PNG = readFileSync(new URL("../../docs/examples/red-circle.png", import.meta.url));
const DATA_URL = `data:image/png;base64,${PNG.toString("base64")}`;
let root: string;
let server: RunningServer;
/** --max-new-tokens 1: no sample can reach a verdict, so every judgement fails. */
let broken: RunningServer;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "r1judge-slime-"));
  writeFileSync(join(root, "red.png"), PNG);
  writeFileSync(join(root, "notes.png"), "these bytes are not an image");
  const common = ["--port", "0", "--max-queue", "64"];
  server = await startServer(loadConfig([...common, "--image-root", root], {}), pino({ level: "silent" }));
  broken = await startServer(loadConfig([...common, "--max-new-tokens", "1"], {}), pino({ level: "silent" }));
  await Promise.all([server.ready, broken.ready]);
});

after(async () => {
  await Promise.all([server?.stop(), broken?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

/** slime's remote_rm, written as slime does it; `attempts` counts the POSTs. */
async function remoteRm(
  url: string,
  sample: { prompt: unknown; response: string; label: unknown },
  opts: { rewardKey?: string; maxRetries?: number; attempts?: { n: number } } = {},
): Promise<unknown> {
  const maxRetries = opts.maxRetries ?? 10;
  const payload = { prompt: sample.prompt, response: sample.response, label: sample.label };
  for (let attempt = 0; attempt < maxRetries; attempt++) {
    if (opts.attempts) opts.attempts.n++;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      if (!res.ok) throw new HttpError(res.status, text); // raise_for_status
      const reward = JSON.parse(text) as Record<string, unknown>;
      return opts.rewardKey ? reward[opts.rewardKey] : reward;
    } catch (err) {
      const retryable = !(err instanceof HttpError) || err.status >= 500 || err.status === 429;
      if (!retryable || attempt + 1 >= maxRetries) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2 ** attempt, 30) + Math.random()));
    }
  }
  throw new Error("unreachable");
}

const chatml = (q: string) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;
const fresh = () => `Which is larger, ${randomInt(10, 99)} or ${randomInt(100, 999)}? (${randomInt(1e9)})`;
const IMAGE_RUN = "<|vision_start|><|image_pad|><|vision_end|>";
const url = () => `${server.url}/reward`;

/** The default reward is the judge's probability for the policy's response (both orders): near 0 or 1 here. */
function assertNear(actual: unknown, expected: number, message?: string): void {
  assert.ok(
    typeof actual === "number" && Math.abs(actual - expected) < 1e-3,
    message ?? `${actual} is not ~${expected}`,
  );
}

async function refused(sample: { prompt: unknown; response: string; label: unknown }) {
  const attempts = { n: 0 };
  const err = await remoteRm(url(), sample, { attempts }).then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HttpError, String(err));
  // biome-ignore lint/suspicious/noExplicitAny: checked field by field
  return { status: err.status, attempts: attempts.n, problem: JSON.parse(err.body) as any };
}

test("a rendered prompt: `--reward-key reward` reads a float reward, with the vote counts beside it", async () => {
  const attempts = { n: 0 };
  const res = await fetch(url(), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: chatml("Which is larger, 36 or 63?"), response: "63", label: "36" }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(
    text,
    /^\{"reward":\d\.\d+(e-\d+)?,"score":\d\.\d+(e-\d+)?,"votes_for":\d\.0,"votes_against":\d\.0,"invalid":0\.0/,
  );
  const reward = await remoteRm(
    url(),
    { prompt: chatml("Which is larger, 47 or 74?"), response: "74", label: "47" },
    { rewardKey: "reward", attempts },
  );
  assertNear(reward, 1);
  assert.equal(attempts.n, 1);
});

test("chat messages: the last user message is the question; a number label is a reference", async () => {
  const reward = await remoteRm(
    url(),
    {
      prompt: [
        { role: "system", content: "Answer briefly." },
        { role: "user", content: "Which is larger, 47 or 74?" },
      ],
      response: "47",
      label: 74,
    },
    { rewardKey: "reward" },
  );
  assertNear(reward, 0);
});

test("images reach the judge: a message's image_url part, a label's data URL and a path under the root", async () => {
  // Fixed items: greedy judgements are deterministic (a random one might end without a verdict).
  const question = "What colour is the shape?";
  const parts = [
    { type: "image_url", image_url: { url: DATA_URL } },
    { type: "text", text: question },
  ];
  const viaParts = await remoteRm(url(), {
    prompt: [{ role: "user", content: parts }],
    response: "The shape is red.",
    label: "The shape is blue.",
  });
  assertNear((viaParts as { reward: number }).reward, 1, JSON.stringify(viaParts));
  for (const ref of [DATA_URL, "red.png", "./red.png"]) {
    const reward = await remoteRm(
      url(),
      {
        prompt: chatml(`${IMAGE_RUN}${question}`),
        response: "The shape is red.",
        label: { reference: "The shape is blue.", images: [ref] },
      },
      { rewardKey: "reward" },
    );
    assertNear(reward, 1, ref);
  }
  // The same convention as a JSON string (a dataset column of text).
  const asText = await remoteRm(
    url(),
    {
      prompt: chatml(`${IMAGE_RUN}${question}`),
      response: "The shape is red.",
      label: JSON.stringify({ reference: "The shape is blue.", images: ["red.png"] }),
    },
    { rewardKey: "reward" },
  );
  assertNear(asText, 1);
  // Bytes that are not an image fail in the engine's decoder: the file really was sent to the judge.
  const notImage = await refused({
    prompt: chatml(`${IMAGE_RUN}${question}`),
    response: "The shape is red.",
    label: { reference: "The shape is blue.", images: ["notes.png"] },
  });
  assert.equal(notImage.status, 422);
  assert.equal(notImage.problem.errors[0].field, "label.images[0]");
  assert.match(notImage.problem.detail, /cannot decode image/);
  assert.equal(notImage.attempts, 1, "a 4xx is not retried");
  const badPart = await refused({
    prompt: [
      {
        role: "user",
        content: [
          { type: "image_url", image_url: { url: "data:image/png;base64,bm90IGFuIGltYWdl" } },
          { type: "text", text: question },
        ],
      },
    ],
    response: "red",
    label: "blue",
  });
  assert.equal(badPart.problem.errors[0].field, "prompt.image[0]");
});

test("refusals name slime's fields: image counts, paths outside the root, empty labels, no user turn", async () => {
  const prompt = chatml(`${IMAGE_RUN}What colour is it?`);
  const cases: [unknown, unknown, string, RegExp][] = [
    [prompt, { reference: "blue", images: [] }, "label.images", /names 0 images but prompt holds 1/],
    [prompt, { reference: "blue", images: ["red.png", "red.png"] }, "label.images", /names 2 images/],
    [prompt, { reference: "blue", images: ["../etc/passwd"] }, "label.images[0]", /'\.\.'/],
    [prompt, { reference: "blue", images: ["/etc/passwd"] }, "label.images[0]", /relative/],
    [prompt, { reference: "blue", images: ["missing.png"] }, "label.images[0]", /no such file/],
    [chatml(fresh()), "", "label", /empty/],
    [[{ role: "system", content: "hi" }], "x", "prompt", /no message with role user/],
    // An image and no text: the question cannot fall back to the query (the response itself).
    [
      [{ role: "user", content: [{ type: "image_url", image_url: { url: DATA_URL } }] }],
      "blue",
      "prompt",
      /has no text/,
    ],
  ];
  for (const [p, label, field, message] of cases) {
    const r = await refused({ prompt: p, response: "red", label });
    assert.equal(r.status, 422, JSON.stringify(r.problem));
    assert.equal(r.problem.errors[0].field, field, JSON.stringify(r.problem));
    assert.match(r.problem.errors[0].message, message);
    assert.equal(r.attempts, 1);
  }
  const bad = await refused({ prompt: 3, response: "x", label: "y" });
  assert.equal(bad.status, 400);
  assert.equal(bad.problem.errors[0].field, "prompt");
});

test("a judgement without a valid vote is /get_reward's 502 no_verdict, retried by slime, never a reward", async () => {
  const res = await fetch(`${broken.url}/reward`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: chatml(fresh()), response: "A", label: "B" }),
  });
  const text = await res.text();
  assert.equal(res.status, 502, text);
  assert.equal(JSON.parse(text).code, "no_verdict");
  const attempts = { n: 0 };
  const err = await remoteRm(
    `${broken.url}/reward`,
    { prompt: chatml(fresh()), response: "A", label: "B" },
    { maxRetries: 3, attempts },
  ).then(
    () => assert.fail("a failed judgement must not give a reward"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HttpError && err.status === 502, String(err));
  assert.equal(attempts.n, 3);
});
