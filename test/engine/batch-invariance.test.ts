// The promise users rely on for reproducible votes, on the real model: a seeded request gives the same
// samples whether it runs alone or shares the batch with other requests, joining at any step.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";
import { loadCheckpoint } from "../../src/engine/checkpoint.js";
import { Engine, type GenerateRequest, type SampleOutput } from "../../src/engine/engine.js";
import { parsePreprocessorConfig } from "../../src/engine/images/config.js";
import { ImageSet } from "../../src/engine/images/image-set.js";
import { JudgeModel } from "../../src/engine/model.js";
import { preparePrompt } from "../../src/engine/prompt-inputs.js";
import { TextCodec } from "../../src/engine/tokenizer.js";
import { judgeMessages } from "../../src/judge/prompt.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECKPOINT = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");
const IMAGE = path.join(ROOT, "test/fixtures/golden/images/square-70.png");

let model: JudgeModel;
let codec: TextCodec;

before(async () => {
  const checkpoint = await loadCheckpoint(CHECKPOINT);
  codec = await TextCodec.load(CHECKPOINT);
  model = await JudgeModel.open(
    checkpoint,
    "fp32",
    { device: { kind: "cpu" }, allowCpuFallback: false },
    { warn() {} },
  );
});

after(async () => {
  await model?.release();
});

async function request(
  id: string,
  question: string,
  seed: number,
  samples: number,
  image = false,
): Promise<GenerateRequest> {
  const preprocessor = parsePreprocessorConfig(
    JSON.parse(await readFile(path.join(CHECKPOINT, "preprocessor_config.json"), "utf8")),
  );
  const images = image ? ImageSet.of([await readFile(IMAGE)], preprocessor) : undefined;
  const prepared = await preparePrompt(
    codec,
    judgeMessages(question, "12", "13", images?.count ?? 0),
    images,
    preprocessor.mergeSize,
    { maxPromptTokens: 1e5 },
  );
  return {
    id,
    prompt: prepared.tensors,
    samples,
    seed,
    // Hot sampling: the trained demo is confident, and the samples must differ for the test to mean anything.
    sampling: { temperature: 2.5, topK: 0, topP: 1 },
    maxNewTokens: 48,
  };
}

function engine(prefixCacheBytes = 0): Engine {
  return new Engine(
    model,
    { kvBudgetBytes: 1e9, maxRows: 64, prefixCacheBytes },
    {
      eosIds: new Set(model.checkpoint.eosTokenIds),
      stopStrings: model.checkpoint.verdict.stopStrings,
      decodeTail: (t) => codec.decode(t),
    },
  );
}

/** Runs `requests`, submitting request i after `joinAt[i]` steps; returns samples by request id. */
async function run(
  e: Engine,
  requests: GenerateRequest[],
  joinAt: number[],
): Promise<Map<string, number[][]>> {
  const out = new Map<string, number[][]>();
  let open = requests.length;
  for (let step = 0; open > 0; step++) {
    requests.forEach((r, i) => {
      if (joinAt[i] !== step) return;
      const samples: number[][] = [];
      out.set(r.id, samples);
      e.submit(r, {
        onSample: (s: SampleOutput) => {
          samples[s.index] = s.tokens;
        },
        onDone: () => {
          open--;
        },
        onError: (err) => assert.fail(err),
      });
    });
    await e.iterate();
    assert.ok(step < 1000, "generation did not finish");
  }
  return out;
}

test("a seeded request gives the same samples alone and inside a busy batch", async () => {
  const target = await request("target", "What is 7 + 5?", 1234, 4);
  const alone = (await run(engine(), [target], [0])).get("target");
  const others = [
    await request("a", "Which is larger, 37 or 52?", 1, 3),
    await request("b", "What colour is the shape?", 99, 2, true),
  ];
  for (const joinAt of [
    [0, 0, 0],
    [3, 0, 1],
    [0, 5, 9],
  ]) {
    const busy = await run(engine(), [target, ...others], joinAt);
    assert.deepEqual(busy.get("target"), alone, `target joining at step ${joinAt[0]}`);
  }
  // The samples differ from each other: seed + i really gives each its own stream.
  assert.ok(new Set(alone?.map((s) => s.join(","))).size > 1);
});

test("a prefix-cache hit gives the same samples as a fresh prefill", async () => {
  const e = engine(64 * 1024 * 1024);
  const first = await run(e, [await request("first", "What is 7 + 5?", 7, 3, true)], [0]);
  const again = await run(e, [await request("again", "What is 7 + 5?", 7, 3, true)], [0]);
  assert.deepEqual(again.get("again"), first.get("first"));
});
