// The GPU benchmark's Node side, bundled by prepare.sh and run on the GPU machine by run.sh: for each
// device (cpu, webgpu; cuda where its provider is installed) and variant of one checkpoint, prefill
// tok/s, decode tok/s at batch 1, and a Voting@8 judgement's latency against Voting@1's; webgpu with
// the KV cache on the device. Prints one JSON line per measurement.
//
//   node bench.mjs --model DIR [--devices cpu,webgpu] [--variants fp32,fp16,int4] [--new-tokens 64] [--runs 3]

import { parseArgs } from "node:util";
import { loadCheckpoint, type Variant } from "../../src/engine/checkpoint.js";
import { JudgeModel } from "../../src/engine/model.js";
import { preparePrompt } from "../../src/engine/prompt-inputs.js";
import { parseDevice } from "../../src/engine/runtime/onnx.js";
import { TextCodec } from "../../src/engine/tokenizer.js";
import { judgeMessages } from "../../src/judge/prompt.js";
import { runOnce } from "../ours.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    devices: { type: "string", default: "cpu,webgpu" },
    variants: { type: "string", default: "fp32,fp16,int4" },
    "new-tokens": { type: "string", default: "64" },
    runs: { type: "string", default: "3" },
  },
});
if (!args.model) throw new Error("--model DIR is required");
const dir = args.model;
const newTokens = Number(args["new-tokens"]);
const runs = Number(args.runs);
const checkpoint = await loadCheckpoint(dir, { hashCheck: "size" });
const codec = await TextCodec.load(dir);
const messages = judgeMessages(
  "A train leaves at 14:10 and arrives at 16:45. How long is the journey, in minutes?",
  "From 14:10 to 16:10 is two hours, 120 minutes, and 35 more minutes to 16:45: 155 minutes in total.",
  "Subtracting gives 2 hours and 35 minutes, which is 2 × 60 + 35 = 145 minutes.",
);
const prompt = (await preparePrompt(codec, messages, undefined, 2, { maxPromptTokens: 1e6 })).tensors;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] as number;

for (const deviceName of (args.devices ?? "").split(",")) {
  for (const variant of (args.variants ?? "").split(",") as Variant[]) {
    if (!checkpoint.graphs[variant]) continue;
    const started = performance.now();
    let model: JudgeModel;
    try {
      model = await JudgeModel.open(
        checkpoint,
        variant,
        { device: parseDevice(deviceName), allowCpuFallback: false },
        {
          warn: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`),
        },
      );
    } catch (err) {
      console.log(
        JSON.stringify({ device: deviceName, variant, error: (err as Error).message.slice(0, 300) }),
      );
      continue;
    }
    try {
      const loadMs = performance.now() - started;
      await measure(model, variant, loadMs);
    } catch (err) {
      // fp16 needs the adapter's shader-f16 feature (SwiftShader has none): one row fails, not the run.
      console.log(
        JSON.stringify({ device: deviceName, variant, error: (err as Error).message.slice(0, 300) }),
      );
    } finally {
      await model.release();
    }
  }
}

async function measure(model: JudgeModel, variant: Variant, loadMs: number): Promise<void> {
  await runOnce(model, prompt, 8, 4, 1); // warm-up (shader compilation on WebGPU)
  const one = [];
  const eight = [];
  for (let r = 0; r < runs; r++) {
    one.push(await runOnce(model, prompt, 1, newTokens, 10 + r));
    eight.push(await runOnce(model, prompt, 8, newTokens, 20 + r));
  }
  const latency1 = median(one.map((t) => t.latencyMs));
  const latency8 = median(eight.map((t) => t.latencyMs));
  console.log(
    JSON.stringify({
      device: model.device,
      variant,
      kv: model.kvLocation,
      loadMs: Math.round(loadMs),
      promptTokens: prompt.inputIds.length,
      newTokens,
      prefillTokPerSec: prompt.inputIds.length / (median(one.map((t) => t.prefillMs)) / 1000),
      decodeTokPerSecBatch1: (newTokens - 1) / (median(one.map((t) => t.decodeMs)) / 1000),
      voting1Ms: latency1,
      voting8Ms: latency8,
      voting8OverVoting1: latency8 / latency1,
      transfers: model.transfers(),
    }),
  );
}
