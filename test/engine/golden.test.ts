// The TypeScript engine against the Python reference (golden fixtures made by `r1judge-train fixtures`
// from models/demo): token ids, rendered prompts, M-RoPE ids, first-step logits, greedy continuations.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { loadCheckpoint } from "../../src/engine/checkpoint.js";
import { Engine, type SampleOutput } from "../../src/engine/engine.js";
import { parsePreprocessorConfig } from "../../src/engine/images/config.js";
import { ImageSet } from "../../src/engine/images/image-set.js";
import { JudgeModel } from "../../src/engine/model.js";
import { preparePrompt } from "../../src/engine/prompt-inputs.js";
import { TextCodec } from "../../src/engine/tokenizer.js";
import { judgeMessages } from "../../src/judge/prompt.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECKPOINT = process.env.R1JUDGE_GOLDEN_CHECKPOINT ?? path.join(ROOT, "models/demo");
const GOLDEN = process.env.R1JUDGE_GOLDEN_DIR ?? path.join(ROOT, "test/fixtures/golden");

interface PromptCase {
  name: string;
  question: string;
  responses: [string, string];
  images: string[];
  rendered: string;
  prompt_text: string;
  input_ids: number[];
  position_ids: number[][];
  rope_delta: number;
  first_step_top_k: { ids: number[]; logits: number[] };
  greedy: { tokens: number[]; text: string; finish_reason: string; max_new_tokens: number };
}

const json = async <T>(name: string): Promise<T> =>
  JSON.parse(await readFile(path.join(GOLDEN, name), "utf8")) as T;

let codec: TextCodec;
let model: JudgeModel;
let cases: PromptCase[];
const log = { warn: () => {} };

before(async () => {
  const checkpoint = await loadCheckpoint(CHECKPOINT);
  codec = await TextCodec.load(CHECKPOINT);
  model = await JudgeModel.open(
    checkpoint,
    "fp32",
    { device: { kind: "cpu" }, allowCpuFallback: false },
    log,
  );
  cases = (await json<{ cases: PromptCase[] }>("prompts.json")).cases;
});

after(async () => {
  await model?.release();
});

async function prepare(c: PromptCase) {
  const preprocessor = parsePreprocessorConfig(
    JSON.parse(await readFile(path.join(CHECKPOINT, "preprocessor_config.json"), "utf8")),
  );
  const bytes = await Promise.all(c.images.map((p) => readFile(path.join(GOLDEN, p))));
  const images = bytes.length ? ImageSet.of(bytes, preprocessor) : undefined;
  const messages = judgeMessages(c.question, c.responses[0], c.responses[1], bytes.length);
  return preparePrompt(codec, messages, images, preprocessor.mergeSize, { maxPromptTokens: 1e6 });
}

test("tokenizer ids equal the Python tokenizer's", async () => {
  const { cases: tokenizerCases } = await json<{ cases: { text: string; ids: number[] }[] }>(
    "tokenizer.json",
  );
  for (const c of tokenizerCases) {
    assert.deepEqual(codec.encode(c.text), c.ids, JSON.stringify(c.text));
    assert.equal(codec.decode(c.ids), c.text);
  }
});

test("prompts render, tokenize and get M-RoPE ids exactly as in Python", async () => {
  for (const c of cases) {
    const prepared = await prepare(c);
    const messages = judgeMessages(c.question, c.responses[0], c.responses[1], c.images.length);
    assert.equal(codec.renderChat(messages), c.rendered, c.name);
    assert.equal(prepared.text, c.prompt_text, c.name);
    assert.deepEqual(prepared.tensors.inputIds, c.input_ids, c.name);
    assert.deepEqual(Array.from(prepared.tensors.positions), c.position_ids.flat(), c.name);
    assert.equal(prepared.tensors.ropeDelta, c.rope_delta, c.name);
  }
});

test("first-step logits match within 1e-4 and greedy continuations are identical", async () => {
  let worst = 0;
  for (const c of cases) {
    const prepared = await prepare(c);
    const { logits } = await model.prefill(prepared.tensors, undefined);
    c.first_step_top_k.ids.forEach((id, i) => {
      worst = Math.max(worst, Math.abs((logits[id] as number) - (c.first_step_top_k.logits[i] as number)));
    });
    const engine = new Engine(
      model,
      { kvBudgetBytes: 1e9, maxRows: 64, prefixCacheBytes: 0 },
      {
        eosIds: new Set(model.checkpoint.eosTokenIds),
        stopStrings: model.checkpoint.verdict.stopStrings,
        decodeTail: (t) => codec.decode(t),
      },
    );
    const samples: SampleOutput[] = [];
    engine.submit(
      {
        id: c.name,
        prompt: prepared.tensors,
        samples: 1,
        seed: 0,
        sampling: { temperature: 0, topK: 0, topP: 1 },
        maxNewTokens: c.greedy.max_new_tokens,
      },
      { onSample: (s) => samples.push(s), onDone: () => {}, onError: (e) => assert.fail(e) },
    );
    while (samples.length === 0) await engine.iterate();
    assert.deepEqual(samples[0]?.tokens, c.greedy.tokens, c.name);
    assert.equal(samples[0]?.finishReason, c.greedy.finish_reason, c.name);
  }
  console.log(`worst first-step |Δ| over top-10 logits: ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `worst |Δ| ${worst}`);
});
