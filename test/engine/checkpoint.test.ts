// Loading a checkpoint that is broken in one way at a time (each test breaks its own copy): every
// failure is a CheckpointError / SessionLoadError naming the file and field a user has to fix. Also
// ONNX-level failures through JudgeModel.open / openGraph, device parsing and the CUDA → CPU fallback.
// The checkpoint is models/demo, or R1JUDGE_TEST_CHECKPOINT when set.

import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { before, type TestContext, test } from "node:test";
import { CheckpointError, loadCheckpoint, MANIFEST_NAME, sha256File } from "../../src/engine/checkpoint.js";
import { JudgeModel } from "../../src/engine/model.js";
import {
  openGraph,
  parseDevice,
  SessionLoadError,
  type SessionSettings,
} from "../../src/engine/runtime/onnx.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SOURCE = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");
const DECODER = "onnx/decoder_model_merged.onnx";
const EMBED = "onnx/embed_tokens.onnx";
const CPU: SessionSettings = { device: { kind: "cpu" }, allowCpuFallback: false, intraOpThreads: 1 };
const quiet = { warn: () => {} };

// biome-ignore lint/suspicious/noExplicitAny: tests edit arbitrary JSON fields in place
type Json = Record<string, any>;

before(async () => {
  const info = await stat(path.join(SOURCE, MANIFEST_NAME)).catch(() => null);
  assert.ok(info, `no checkpoint at ${SOURCE} (set R1JUDGE_TEST_CHECKPOINT)`);
});

/** A private copy of the checkpoint, removed after the test. */
async function copy(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-ckpt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(SOURCE, dir, { recursive: true });
  return dir;
}

async function readJson(dir: string, name: string): Promise<Json> {
  return JSON.parse(await readFile(path.join(dir, name), "utf8")) as Json;
}

async function editJson(dir: string, name: string, edit: (json: Json) => void): Promise<void> {
  const json = await readJson(dir, name);
  edit(json);
  await writeFile(path.join(dir, name), JSON.stringify(json, null, 2));
}

/** Updates files[name].sha256 and .bytes in the manifest to match the file as it is now. */
async function rehash(dir: string, name: string): Promise<void> {
  const file = path.join(dir, name);
  const sha256 = await sha256File(file);
  const bytes = (await stat(file)).size;
  await editJson(dir, MANIFEST_NAME, (m) => {
    m.files[name] = { sha256, bytes };
  });
}

async function flipByte(file: string, at?: number): Promise<void> {
  const data = await readFile(file);
  const i = at ?? Math.floor(data.length / 2);
  data[i] = (data[i] as number) ^ 0xff;
  await writeFile(file, data);
}

async function rejectsWith(
  promise: Promise<unknown>,
  expected: { file?: string | RegExp; field?: string; message?: RegExp },
  type: typeof CheckpointError | typeof SessionLoadError = CheckpointError,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    const e = err as CheckpointError | SessionLoadError;
    if (typeof expected.file === "string") assert.equal(e.file, expected.file, e.message);
    else if (expected.file) assert.match(e.file, expected.file, e.message);
    if (expected.field !== undefined) assert.equal(e.field, expected.field, e.message);
    if (expected.message) assert.match(e.message, expected.message);
    return true;
  });
}

test("the unbroken checkpoint loads", async (t) => {
  const dir = await copy(t);
  const ckpt = await loadCheckpoint(dir);
  assert.equal(ckpt.promptTemplate, "r1-reward-v1");
  assert.ok(ckpt.decoder.numLayers > 0);
  assert.equal(ckpt.graphs.fp32?.decoder_model_merged, path.join(dir, DECODER));
});

test("a missing r1judge.json is named", async (t) => {
  const dir = await copy(t);
  await unlink(path.join(dir, MANIFEST_NAME));
  await rejectsWith(loadCheckpoint(dir), { file: MANIFEST_NAME, message: /missing/ });
  await rejectsWith(loadCheckpoint(path.join(dir, "nope")), { field: "(directory)" });
});

test("format_version 99 is refused by field", async (t) => {
  const dir = await copy(t);
  await editJson(dir, MANIFEST_NAME, (m) => {
    m.format_version = 99;
  });
  await rejectsWith(loadCheckpoint(dir), { file: MANIFEST_NAME, field: "format_version", message: /99/ });
});

test("an unknown prompt_template is refused by field", async (t) => {
  const dir = await copy(t);
  await editJson(dir, MANIFEST_NAME, (m) => {
    m.prompt_template = "llava-v9";
  });
  await rejectsWith(loadCheckpoint(dir), {
    file: MANIFEST_NAME,
    field: "prompt_template",
    message: /llava-v9.*r1-reward-v1/,
  });
});

test("the verdict block is the server's rule: a \\boxed{…} checkpoint loads with its own pattern, choices and stops", async (t) => {
  const dir = await copy(t);
  // r1judge.json is not in its own `files` table: editing it needs no re-hashing.
  await editJson(dir, MANIFEST_NAME, (m) => {
    m.verdict = { answer_pattern: "\\\\boxed\\{(.*?)\\}", choices: ["A", "B"], stop_strings: ["}"] };
  });
  const ckpt = await loadCheckpoint(dir);
  assert.deepEqual(ckpt.verdict, {
    answerPattern: "\\\\boxed\\{(.*?)\\}",
    choices: ["A", "B"],
    stopStrings: ["}"],
    answerPrefix: "\\boxed{",
  });
  const demo = await loadCheckpoint(SOURCE, { hashCheck: "size" });
  assert.deepEqual(demo.verdict, {
    answerPattern: "<answer>(.*?)</answer>",
    choices: ["1", "2"],
    stopStrings: ["</answer>"],
    answerPrefix: "<answer>",
  });
});

test("a verdict block the server cannot honour is refused, naming r1judge.json and the field", async (t) => {
  const dir = await copy(t);
  const original = await readJson(dir, MANIFEST_NAME);
  const good = original.verdict as Json;
  const cases: [string, unknown, string, RegExp][] = [
    ["no block", undefined, "verdict", /missing/],
    ["not an object", ["<answer>(.*?)</answer>"], "verdict", /object/],
    ["no pattern", { ...good, answer_pattern: undefined }, "verdict.answer_pattern", /missing/],
    ["pattern not a string", { ...good, answer_pattern: 7 }, "verdict.answer_pattern", /string/],
    [
      "invalid regex",
      { ...good, answer_pattern: "<answer>(.*?</answer>" },
      "verdict.answer_pattern",
      /regular expression/,
    ],
    [
      "no group",
      { ...good, answer_pattern: "<answer>.*?</answer>" },
      "verdict.answer_pattern",
      /exactly one capture group.*has 0/,
    ],
    [
      "two groups",
      { ...good, answer_pattern: "<(answer)>(.*?)</answer>" },
      "verdict.answer_pattern",
      /has 2/,
    ],
    ["matches empty text", { ...good, answer_pattern: "(.*?)" }, "verdict.answer_pattern", /empty text/],
    ["one choice", { ...good, choices: ["1"] }, "verdict.choices", /exactly two/],
    ["three choices", { ...good, choices: ["1", "2", "3"] }, "verdict.choices", /exactly two/],
    ["a number choice", { ...good, choices: [1, 2] }, "verdict.choices", /strings/],
    ["an empty choice", { ...good, choices: ["1", " "] }, "verdict.choices", /non-empty/],
    ["the same choice twice", { ...good, choices: ["1", "1"] }, "verdict.choices", /both choices/],
    ["a padded choice", { ...good, choices: [" 1", "2"] }, "verdict.choices", /whitespace/],
    ["no stop strings", { ...good, stop_strings: undefined }, "verdict.stop_strings", /missing/],
    ["stop strings not a list", { ...good, stop_strings: "</answer>" }, "verdict.stop_strings", /list/],
    [
      "an empty stop string",
      { ...good, stop_strings: ["</answer>", ""] },
      "verdict.stop_strings",
      /non-empty/,
    ],
  ];
  for (const [name, verdict, field, message] of cases) {
    await writeFile(path.join(dir, MANIFEST_NAME), JSON.stringify({ ...original, verdict }));
    await rejectsWith(loadCheckpoint(dir), { file: MANIFEST_NAME, field, message }).catch((err: Error) => {
      throw new Error(`${name}: ${err.message}`);
    });
  }
  await writeFile(
    path.join(dir, MANIFEST_NAME),
    JSON.stringify({ ...original, verdict: { ...good, stop_strings: [] } }),
  );
  assert.deepEqual(
    (await loadCheckpoint(dir)).verdict.stopStrings,
    [],
    "no stop strings (EOS only) is allowed",
  );
});

test("a flipped byte in the decoder fails its sha256 check, naming the file", async (t) => {
  const dir = await copy(t);
  await flipByte(path.join(dir, DECODER));
  await rejectsWith(loadCheckpoint(dir), { file: DECODER, field: "(file)", message: /sha256/ });
});

test("a truncated file fails the size check", async (t) => {
  const dir = await copy(t);
  const size = (await stat(path.join(dir, DECODER))).size;
  await truncate(path.join(dir, DECODER), size - 100);
  await rejectsWith(loadCheckpoint(dir), {
    file: DECODER,
    message: new RegExp(`${size - 100} bytes.*says ${size}`),
  });
});

test("a missing tokenizer.json is named", async (t) => {
  const dir = await copy(t);
  await unlink(path.join(dir, "tokenizer.json"));
  await rejectsWith(loadCheckpoint(dir), { file: "tokenizer.json", message: /missing/ });
});

test("config.json with model_type 'llama' is refused by field (after re-hashing)", async (t) => {
  const dir = await copy(t);
  await editJson(dir, "config.json", (c) => {
    c.model_type = "llama";
  });
  await rejectsWith(loadCheckpoint(dir), { file: "config.json", field: "(file)" }); // not re-hashed yet
  await rehash(dir, "config.json");
  await rejectsWith(loadCheckpoint(dir), { file: "config.json", field: "model_type", message: /llama/ });
});

test("a wrong mrope_section is refused by field", async (t) => {
  const dir = await copy(t);
  await editJson(dir, "config.json", (c) => {
    const section = c.text_config.rope_parameters.mrope_section as number[];
    section[2] = (section[2] as number) + 1;
  });
  await rehash(dir, "config.json");
  await rejectsWith(loadCheckpoint(dir), {
    file: "config.json",
    field: "text_config.rope_parameters.mrope_section",
  });
});

test("decoder.num_layers disagreeing with config.json is refused by field", async (t) => {
  const dir = await copy(t);
  const layers = (await readJson(dir, MANIFEST_NAME)).decoder.num_layers as number;
  await editJson(dir, MANIFEST_NAME, (m) => {
    m.decoder.num_layers = layers + 1;
  });
  await rejectsWith(loadCheckpoint(dir), {
    file: MANIFEST_NAME,
    field: "decoder.num_layers",
    message: new RegExp(`${layers + 1} but config.json says ${layers}`),
  });
});

test("hashCheck 'size' skips hashing: a same-size corruption then loads", async (t) => {
  const dir = await copy(t);
  await flipByte(path.join(dir, "tokenizer_config.json"), 0);
  await rejectsWith(loadCheckpoint(dir), { file: "tokenizer_config.json", message: /sha256/ });
  const ckpt = await loadCheckpoint(dir, { hashCheck: "size" });
  assert.equal(ckpt.root, dir);
  // Sizes are still checked.
  await truncate(path.join(dir, "tokenizer_config.json"), 10);
  await rejectsWith(loadCheckpoint(dir, { hashCheck: "size" }), { file: "tokenizer_config.json" });
});

test("JudgeModel.open: a corrupt ONNX file with a matching manifest → SessionLoadError naming it", async (t) => {
  const dir = await copy(t);
  await writeFile(path.join(dir, DECODER), Buffer.from("this is not an ONNX model".repeat(40)));
  await rehash(dir, DECODER);
  const ckpt = await loadCheckpoint(dir);
  await rejectsWith(
    JudgeModel.open(ckpt, "fp32", CPU, quiet),
    { file: path.join(dir, DECODER), field: "(file)", message: /could not load/ },
    SessionLoadError,
  );
});

test("JudgeModel.open: a graph with the wrong inputs → SessionLoadError with field 'inputs'", async (t) => {
  const dir = await copy(t);
  await editJson(dir, MANIFEST_NAME, (m) => {
    m.variants.fp32.decoder_model_merged = EMBED;
  });
  const ckpt = await loadCheckpoint(dir);
  await rejectsWith(
    JudgeModel.open(ckpt, "fp32", CPU, quiet),
    { file: path.join(dir, EMBED), field: "inputs", message: /inputs_embeds/ },
    SessionLoadError,
  );
});

test("JudgeModel.open: a variant the checkpoint does not list is refused by name", async (t) => {
  const dir = await copy(t);
  await editJson(dir, MANIFEST_NAME, (m) => {
    delete m.variants.fp16;
  });
  const ckpt = await loadCheckpoint(dir);
  await assert.rejects(JudgeModel.open(ckpt, "fp16", CPU, quiet), /no 'fp16' variant/);
});

test("parseDevice accepts cpu, webgpu, cuda and cuda:N only", () => {
  assert.deepEqual(parseDevice("cpu"), { kind: "cpu" });
  assert.deepEqual(parseDevice("webgpu"), { kind: "webgpu" });
  assert.deepEqual(parseDevice("cuda"), { kind: "cuda", deviceId: 0 });
  assert.deepEqual(parseDevice("cuda:1"), { kind: "cuda", deviceId: 1 });
  for (const bad of ["gpu", "cuda:", "cuda:x", "CPU", "cuda:1:2", "webgpu:0", ""])
    assert.throws(() => parseDevice(bad), /expected 'cpu', 'webgpu', 'cuda' or 'cuda:N'/, bad);
});

test("CUDA without its libraries: an error unless CPU fallback is allowed, then a warning", async (t) => {
  const file = path.join(SOURCE, EMBED);
  const expected = { inputs: ["input_ids"], outputs: ["inputs_embeds"] };
  const cuda = { device: { kind: "cuda", deviceId: 0 }, intraOpThreads: 1 } as const;
  let cudaWorks = false;
  try {
    const graph = await openGraph(file, { ...cuda, allowCpuFallback: false }, expected, quiet);
    await graph.release();
    assert.equal(graph.device.kind, "cuda", "fell back to CPU although allowCpuFallback is false");
    cudaWorks = true;
  } catch (err) {
    assert.ok(err instanceof SessionLoadError, String(err));
    assert.equal(err.file, file);
    assert.match(err.message, /cuda:0/);
  }
  if (cudaWorks) {
    t.skip("CUDA is available here: the no-CUDA fallback cannot be observed");
    return;
  }
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
  };
  const graph = await openGraph(file, { ...cuda, allowCpuFallback: true }, expected, log);
  assert.equal(graph.device.kind, "cpu");
  await graph.release();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]?.message ?? "", /falling back to CPU/);
  assert.equal(warnings[0]?.fields.file, file);
  assert.equal(warnings[0]?.fields.device, "cuda:0");
  // The whole model falls back too and reports it.
  const model = await JudgeModel.open(
    await loadCheckpoint(SOURCE, { hashCheck: "size" }),
    "fp32",
    { ...cuda, allowCpuFallback: true },
    log,
  );
  assert.equal(model.device, "cpu");
  await model.release();
  assert.ok(warnings.length >= 3, `one warning per graph, got ${warnings.length}`);
});
