// OpenRLHF rollouts as they arrive: the question is the prompt's last user turn and the response is
// the policy's text after its prompt, up to its end-of-turn marker, whatever common chat markup the
// policy uses; labels are dataset values; rewards are floats on the wire.

import assert from "node:assert/strict";
import { test } from "node:test";
import { detectMarkup, questionOf, responseOf } from "../../src/judge/chat-markup.js";
import {
  contentSeed,
  isBlankText,
  isEmptyResponse,
  labelText,
  NoVerdictError,
  rewardItem,
  rewardOf,
} from "../../src/judge/reward.js";
import { floatJson } from "../../src/server/float-json.js";

const ROLLOUTS: { markup: string; prompt: string; completion: string }[] = [
  {
    markup: "chatml",
    prompt:
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    completion: "It is 4.<|im_end|><|endoftext|><|endoftext|>",
  },
  {
    markup: "llama3",
    prompt:
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    completion: "It is 4.<|eot_id|>",
  },
  { markup: "mistral", prompt: "<s>[INST] Be brief.\n\nWhat is 2+2? [/INST]", completion: " It is 4.</s>" },
  {
    markup: "gemma",
    prompt: "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    completion: "It is 4.<end_of_turn>\n<eos>",
  },
  {
    markup: "phi3",
    prompt: "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
    completion: "It is 4.<|end|><|endoftext|>",
  },
  {
    markup: "deepseek",
    prompt: "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 2+2?<｜Assistant｜>",
    completion: "It is 4.<｜end▁of▁sentence｜>",
  },
];

test("each markup: the question is the last user turn, the response ends at the end-of-turn marker", () => {
  for (const { markup, prompt, completion } of ROLLOUTS) {
    assert.equal(detectMarkup(prompt)?.name, markup);
    const expectedQuestion = markup === "mistral" ? "Be brief.\n\nWhat is 2+2?" : "What is 2+2?";
    assert.equal(questionOf(prompt), expectedQuestion, markup);
    assert.equal(responseOf(prompt + completion, prompt), "It is 4.", markup);
  }
});

test("the last of several user turns is the question", () => {
  const prompt =
    "<|im_start|>user\nFirst question?<|im_end|>\n<|im_start|>assistant\nAn answer.<|im_end|>\n<|im_start|>user\nSecond question?<|im_end|>\n<|im_start|>assistant\n";
  assert.equal(questionOf(prompt), "Second question?");
});

test("the response is found behind left padding or a second BOS, or after the assistant header", () => {
  const { prompt } = ROLLOUTS[1] as { prompt: string };
  assert.equal(responseOf(`<|end_of_text|><|end_of_text|>${prompt}It is 4.<|eot_id|>`, prompt), "It is 4.");
  assert.equal(responseOf(`<|begin_of_text|>${prompt}It is 4.<|eot_id|>`, prompt), "It is 4.");
  // The prompt as sent does not occur in the query (it was re-rendered differently): the header does.
  const query = `${prompt.replace("Be brief.", "Be short.")}It is 4.<|eot_id|>`;
  assert.equal(responseOf(query, prompt), "It is 4.");
  // A prompt without the generation prompt leaves the assistant header in the tail.
  const bare = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n";
  assert.equal(responseOf(`${bare}<|im_start|>assistant\nIt is 4.<|im_end|>`, bare), "It is 4.");
});

test("text that merely looks like markup of another template is kept", () => {
  const { prompt } = ROLLOUTS[0] as { prompt: string };
  assert.equal(
    responseOf(`${prompt}Use <s>strike</s> and [INST] tags.<|im_end|>`, prompt),
    "Use <s>strike</s> and [INST] tags.",
  );
});

test("unknown markup: the response ends at a configured end marker; no prompt and no header is not found", () => {
  assert.equal(
    responseOf("### User: hi\n### Bot: hello<END>junk", "### User: hi\n### Bot: ", ["<END>"]),
    "hello",
  );
  assert.equal(responseOf("a query", "a different prompt"), undefined);
  const item = rewardItem("a query", "a different prompt", "ref", []);
  assert.equal(item.ok, false);
});

test("labels are dataset values: numbers and booleans as JSON writes them, null and absent as empty", () => {
  assert.equal(labelText("72"), "72");
  assert.equal(labelText(72), "72");
  assert.equal(labelText(0.5), "0.5");
  assert.equal(labelText(true), "true");
  assert.equal(labelText(null), "");
  assert.equal(labelText(undefined), "");
  const item = rewardItem(
    `${(ROLLOUTS[0] as { prompt: string }).prompt}72<|im_end|>`,
    (ROLLOUTS[0] as { prompt: string }).prompt,
    72,
    [],
  );
  assert.deepEqual(item, { ok: true, item: { question: "What is 2+2?", response: "72", reference: "72" } });
});

test("rewards are floats on the wire", () => {
  assert.equal(
    floatJson({ rewards: [1, 0, 0.5, -0], scores: [1], extra_logs: { votes_for: [8, 0], skip: undefined } }),
    '{"rewards":[1.0,0.0,0.5,0.0],"scores":[1.0],"extra_logs":{"votes_for":[8.0,0.0]}}',
  );
  assert.equal(floatJson(1e21), "1e+21");
  assert.equal(floatJson(Number.NaN), "null");
  assert.deepEqual(JSON.parse(floatJson({ a: "text", b: [true, null] })), { a: "text", b: [true, null] });
});

test("empty responses: blank, invisible-only, or only chat markup once the response is cut out", () => {
  for (const text of ["", " ", "\n\t ", "\u00a0\u3000", "\u200b\u200d\ufeff", "\u2060 \u00ad"]) {
    assert.ok(isBlankText(text), JSON.stringify(text));
    assert.ok(isEmptyResponse(text), JSON.stringify(text));
  }
  for (const text of [
    "<|im_end|>",
    " <|endoftext|>\n",
    "<|eot_id|>",
    "</s>",
    "<end_of_turn>\n<eos>",
    "<｜end▁of▁sentence｜>",
  ]) {
    assert.ok(!isBlankText(text), JSON.stringify(text));
    assert.ok(isEmptyResponse(text), JSON.stringify(text));
  }
  assert.ok(isEmptyResponse("<END> ", ["<END>"]));
  assert.ok(!isEmptyResponse("<END> ", []));
  for (const text of ["0", ".", "no", "<b>", "<|im_end|>x"]) assert.ok(!isEmptyResponse(text), text);
  // Every markup: a rollout whose policy wrote nothing but its end marker has an empty response.
  for (const { prompt, completion } of ROLLOUTS) {
    const end = completion.slice(completion.indexOf("It is 4.") + "It is 4.".length);
    const found = rewardItem(prompt + end, prompt, "4", []);
    assert.ok(found.ok);
    assert.ok(isEmptyResponse(found.item.response), JSON.stringify(prompt + end));
  }
});

test("rewardOf: the policy's share of the aggregation; no valid vote is no reward (NoVerdictError)", () => {
  assert.equal(rewardOf({ votes: { 1: 1, 2: 1, invalid: 0 }, preference: [0.65, 0.35] }), 0.65);
  assert.equal(rewardOf({ votes: { 1: 0, 2: 1, invalid: 3 }, preference: [0.2, 0.8] }), 0.2);
  assert.throws(
    () => rewardOf({ votes: { 1: 0, 2: 0, invalid: 2 }, preference: [0, 0] }),
    (err) => err instanceof NoVerdictError && err.invalid === 2,
  );
});

test("contentSeed: 31 bits, the same for the same content, different when anything judged differs", () => {
  const seed = contentSeed("Q?", ["a", "b"]);
  assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 31);
  assert.equal(contentSeed("Q?", ["a", "b"]), seed);
  for (const other of [
    contentSeed("Q!", ["a", "b"]),
    contentSeed("Q?", ["b", "a"]),
    contentSeed("Q?", ["a", "b"], ["digest"]),
    contentSeed("Q?a", ["", "b"]),
  ]) {
    assert.notEqual(other, seed);
  }
});
