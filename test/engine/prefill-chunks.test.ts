// Long prompts prefill in chunks (R1JUDGE_PREFILL_CHUNK_TOKENS) to bound attention memory; a chunked
// prefill must give what one pass gives: the same first-step logits (within float noise) and the
// same greedy continuation, with image pads falling across chunk boundaries.

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
const CHECKPOINT = path.join(ROOT, "models/demo");
const IMAGES = ["square-70.png", "odd-333x127.png"].map((f) =>
  path.join(ROOT, "test/fixtures/golden/images", f),
);
const log = { warn: () => {} };

let codec: TextCodec;
let whole: JudgeModel;
let chunked: JudgeModel;

before(async () => {
  const checkpoint = await loadCheckpoint(CHECKPOINT);
  codec = await TextCodec.load(CHECKPOINT);
  const settings = { device: { kind: "cpu" as const }, allowCpuFallback: false };
  whole = await JudgeModel.open(checkpoint, "fp32", settings, log, { prefillChunk: 1_000_000 });
  chunked = await JudgeModel.open(checkpoint, "fp32", settings, log, { prefillChunk: 29 });
});

after(async () => {
  await whole?.release();
  await chunked?.release();
});

async function greedy(
  model: JudgeModel,
  prompt: Awaited<ReturnType<typeof preparePrompt>>,
): Promise<number[]> {
  const engine = new Engine(
    model,
    { kvBudgetBytes: 1e9, maxRows: 8, prefixCacheBytes: 0 },
    { eosIds: new Set(model.checkpoint.eosTokenIds), stopStrings: [], decodeTail: (t) => codec.decode(t) },
  );
  const samples: SampleOutput[] = [];
  engine.submit(
    {
      id: "g",
      prompt: prompt.tensors,
      samples: 1,
      seed: 0,
      sampling: { temperature: 0, topK: 0, topP: 1 },
      maxNewTokens: 24,
    },
    { onSample: (s) => samples.push(s), onDone: () => {}, onError: (e) => assert.fail(e) },
  );
  while (samples.length === 0) await engine.iterate();
  return samples[0]?.tokens ?? [];
}

test("a prefill in chunks of 29 tokens matches one pass: logits within 1e-4, same greedy tokens", async () => {
  const preprocessor = parsePreprocessorConfig(
    JSON.parse(await readFile(path.join(CHECKPOINT, "preprocessor_config.json"), "utf8")),
  );
  const images = ImageSet.of(await Promise.all(IMAGES.map((f) => readFile(f))), preprocessor);
  const prompt = await preparePrompt(
    codec,
    judgeMessages(
      "Which shape is larger, and what colour is it? ".repeat(6),
      "The square.",
      "The circle.",
      2,
    ),
    images,
    preprocessor.mergeSize,
    { maxPromptTokens: 100_000 },
  );
  const pads = prompt.tensors.inputIds.filter((id) => id === codec.imagePadId).length;
  assert.ok(
    prompt.tensors.inputIds.length > 10 * 29 && pads > 29,
    `${prompt.tensors.inputIds.length} tokens, ${pads} pads`,
  );
  const a = await whole.prefill(prompt.tensors, undefined);
  const b = await chunked.prefill(prompt.tensors, undefined);
  assert.equal(b.kv.length, prompt.tensors.inputIds.length);
  let worst = 0;
  for (let i = 0; i < a.logits.length; i++)
    worst = Math.max(worst, Math.abs((a.logits[i] as number) - (b.logits[i] as number)));
  console.log(`chunked vs one-pass prefill: worst |Δ logit| ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `worst |Δ| ${worst}`);
  assert.deepEqual(await greedy(chunked, prompt), await greedy(whole, prompt));
});
