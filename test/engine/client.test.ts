// The engine in its worker thread, driven from the main thread as the HTTP server drives it.

import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { EngineClient, type EngineError } from "../../src/engine/client.js";
import type { EngineOptions, SampleMessage } from "../../src/engine/protocol.js";
import { judgeMessages } from "../../src/judge/prompt.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECKPOINT = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");

const options = (checkpoint: string): EngineOptions => ({
  checkpoint,
  variant: "fp32",
  device: "cpu",
  allowCpuFallback: false,
  kvBudgetBytes: 256 * 1024 * 1024,
  maxRows: 64,
  prefixCacheBytes: 32 * 1024 * 1024,
  encoderCacheBytes: 32 * 1024 * 1024,
  maxImagePixels: 50_000_000,
  maxRequestPixels: 100_000_000,
  imageMemoryBytes: 1024 * 1024 * 1024,
  imageWorkers: 1,
  maxPromptTokens: 8192,
});

let client: EngineClient;

before(async () => {
  client = await EngineClient.start(options(CHECKPOINT));
});

after(async () => {
  await client?.close();
});

function generate(samples: number, seed: number, images: Uint8Array[] = []) {
  return new Promise<{ samples: SampleMessage[]; promptTokens: number }>((resolve, reject) => {
    const out: SampleMessage[] = [];
    let promptTokens = 0;
    client.generate(
      {
        messages: judgeMessages("What is 7 + 5?", "12", "13", images.length),
        ...(images.length ? { images: client.putImages(images).id } : {}),
        samples,
        seed,
        sampling: { temperature: 1, topK: 0, topP: 1 },
        maxNewTokens: 32,
      },
      {
        onStarted: (info) => {
          promptTokens = info.promptTokens;
        },
        onSample: (s) => out.push(s),
        onDone: () => resolve({ samples: out.sort((a, b) => a.index - b.index), promptTokens }),
        onError: reject,
      },
    );
  });
}

test("reports the model it serves", () => {
  assert.equal(client.model.variant, "fp32");
  assert.equal(client.model.device, "cpu");
  assert.ok(client.model.id.length > 0);
});

test("K samples come back with seeds seed+i, text and finish reasons", async () => {
  const { samples, promptTokens } = await generate(4, 100);
  assert.deepEqual(
    samples.map((s) => s.seed),
    [100, 101, 102, 103],
  );
  assert.ok(promptTokens > 100);
  for (const s of samples) {
    assert.ok(["stop", "length"].includes(s.finishReason));
    assert.ok(s.tokens > 0 && s.tokens <= 32);
    assert.equal(typeof s.text, "string");
  }
  const again = await generate(4, 100);
  assert.deepEqual(again.samples, samples);
});

test("undecodable image bytes fail the request with the image's field, and the worker keeps serving", async () => {
  await assert.rejects(generate(1, 0, [new Uint8Array([1, 2, 3, 4])]), (err: EngineError) => {
    assert.equal(err.field, "images[0]");
    return true;
  });
  const { samples } = await generate(1, 0);
  assert.equal(samples.length, 1);
});

test("a broken checkpoint fails start() with the file and field", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-client-"));
  try {
    await cp(CHECKPOINT, dir, { recursive: true });
    await writeFile(path.join(dir, "tokenizer.json"), "{}");
    await assert.rejects(EngineClient.start(options(dir)), (err: EngineError) => {
      assert.match(err.message, /tokenizer\.json/);
      assert.equal(err.code, "load_failed");
      assert.equal(err.file, "tokenizer.json");
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A copy of the checkpoint with `drop` removed from disk and from the manifest (files and variants). */
async function without(t: TestContext, drop: string[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-client-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(CHECKPOINT, dir, { recursive: true });
  const manifestPath = path.join(dir, "r1judge.json");
  const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as {
    files: Record<string, unknown>;
    variants: Record<string, Record<string, string>>;
  };
  for (const name of drop) {
    await rm(path.join(dir, name));
    delete manifest.files[name];
    for (const graphs of Object.values(manifest.variants)) {
      for (const [graph, file] of Object.entries(graphs)) if (file === name) delete graphs[graph];
    }
  }
  await writeFile(manifestPath, JSON.stringify(manifest));
  return dir;
}

const VISION = ["onnx/vision_encoder.onnx", "onnx/vision_encoder_fp16.onnx"];

test("a text-only checkpoint without preprocessor_config.json judges text and refuses images", async (t) => {
  const dir = await without(t, [...VISION, "preprocessor_config.json"]);
  const textOnly = await EngineClient.start(options(dir));
  t.after(() => textOnly.close());
  assert.equal(textOnly.model.vision, false);
  const run = (images: Uint8Array[]) =>
    new Promise<SampleMessage[]>((resolve, reject) => {
      const out: SampleMessage[] = [];
      textOnly.generate(
        {
          messages: judgeMessages("Which is larger, 47 or 74?", "74", "47", images.length),
          ...(images.length ? { images: textOnly.putImages(images).id } : {}),
          samples: 2,
          seed: 0,
          sampling: { temperature: 1, topK: 0, topP: 1 },
          maxNewTokens: 8,
        },
        { onStarted: () => {}, onSample: (s) => out.push(s), onDone: () => resolve(out), onError: reject },
      );
    });
  assert.equal((await run([])).length, 2);
  await assert.rejects(run([new Uint8Array([1, 2, 3])]), (err: EngineError) => {
    assert.equal(err.field, "images");
    assert.match(err.message, /no vision encoder/);
    return true;
  });
});

test("a checkpoint with a vision encoder but no preprocessor_config.json fails start() naming the file", async (t) => {
  const dir = await without(t, ["preprocessor_config.json"]);
  await assert.rejects(EngineClient.start(options(dir)), (err: EngineError) => {
    assert.equal(err.code, "load_failed");
    assert.equal(err.file, "preprocessor_config.json");
    return true;
  });
});

test("stats report the engine's counters", async () => {
  const stats = await client.stats();
  assert.ok(stats);
  assert.ok(stats.tokensGenerated > 0);
  assert.equal(stats.runningRows, 0);
  assert.equal(stats.waiting, 0);
});
