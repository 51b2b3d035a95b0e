// Our engine as a peer runner (bench/peers/protocol.ts): the engine driven directly, as the server's
// worker drives it, in a process of its own so its peak memory is its own. One round: load the
// variant, warm up, a one-sample greedy judgement, a K-sample judgement at temperature 1 (one request:
// the prompt prefilled once, its KV shared by the K rows).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadCheckpoint } from "../../src/engine/checkpoint.js";
import { JudgeModel, type PromptTensors } from "../../src/engine/model.js";
import { mropePositions } from "../../src/engine/positions.js";
import { GREEDY, runOnce, SAMPLING } from "../ours.js";
import { type PeerRound, type Precision, peakRssBytes } from "./protocol.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    prompt: { type: "string" },
    precision: { type: "string", default: "fp32" },
    "new-tokens": { type: "string", default: "32" },
    samples: { type: "string", default: "8" },
    threads: { type: "string", default: "2" },
    seed: { type: "string", default: "0" },
  },
});

async function main(): Promise<void> {
  if (!args.model || !args.prompt) throw new Error("--model and --prompt are required");
  const precision = args.precision as Precision;
  const newTokens = Number(args["new-tokens"]);
  const samples = Number(args.samples);
  const threads = Number(args.threads);
  const seed = Number(args.seed);
  const inputIds = (JSON.parse(readFileSync(args.prompt, "utf8")) as { inputIds: number[] }).inputIds;

  const t0 = performance.now();
  const checkpoint = await loadCheckpoint(args.model, { hashCheck: "size" });
  const model = await JudgeModel.open(
    checkpoint,
    precision,
    { device: { kind: "cpu" }, allowCpuFallback: false, intraOpThreads: threads },
    { warn: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`) },
  );
  const loadMs = performance.now() - t0;
  const positions = mropePositions(inputIds, [], -1); // text only: no image pads
  const prompt: PromptTensors = { inputIds, positions: positions.ids, ropeDelta: positions.ropeDelta };
  try {
    await runOnce(model, prompt, samples, 4, seed + 1);
    const one = await runOnce(model, prompt, 1, newTokens, seed, GREEDY);
    const many = await runOnce(model, prompt, samples, newTokens, seed + 2, SAMPLING);
    const round: PeerRound = {
      engine: "r1-judge",
      precision,
      format: `${precision} ONNX`,
      threads,
      promptTokens: inputIds.length,
      newTokens,
      samples,
      loadMs,
      prefillMs: one.prefillMs,
      decodeTokPerSec: (newTokens - 1) / (one.decodeMs / 1000),
      k1Ms: one.latencyMs,
      kMs: many.latencyMs,
      greedyTokens: one.tokens[0] ?? [],
      peakRssBytes: peakRssBytes(),
    };
    process.stdout.write(`${JSON.stringify(round)}\n`);
  } finally {
    await model.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
