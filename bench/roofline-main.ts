// The roofline accounting (roofline.ts) on its own, for development:
//
//   node --import tsx bench/roofline-main.ts [--model DIR] [--new-tokens N (16)] [--runs N (3)]
//       [--gemm-runs N (15)] [--bandwidth-mib M (1024)] [--flush-mib M (128; 0 = GEMMs timed warm)]
//       [--precision fp32,int8,int4] [--ks 1,8,16] [--median (compare medians, not the fastest runs)]
//       [--gemm-passes N (2: GEMMs timed before and after the decode steps, merged; 1: before only)]
//
// DIR defaults to bench/out/qwen2.5-0.5b (it must exist: `npm run bench` generates it). Prints the
// tables, then one JSON line.

import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadCheckpoint } from "../src/engine/checkpoint.js";
import { parsePreprocessorConfig } from "../src/engine/images/config.js";
import { preparePrompt } from "../src/engine/prompt-inputs.js";
import { TextCodec } from "../src/engine/tokenizer.js";
import { judgeMessages } from "../src/judge/prompt.js";
import { measureBandwidth } from "./bandwidth.js";
import { benchRoofline, PRECISIONS, type Precision } from "./roofline.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    "new-tokens": { type: "string", default: "16" },
    runs: { type: "string", default: "3" },
    "gemm-runs": { type: "string", default: "15" },
    "bandwidth-mib": { type: "string", default: "1024" },
    "flush-mib": { type: "string", default: "128" },
    median: { type: "boolean", default: false },
    "gemm-passes": { type: "string", default: "2" },
    precision: { type: "string", default: PRECISIONS.join(",") },
    ks: { type: "string", default: "1,8,16" },
  },
});
const progress = (message: string) => process.stderr.write(`[roofline] ${message}\n`);

// The same judging prompt as engine.bench.ts (text only).
const MESSAGES = judgeMessages(
  "A train leaves at 14:10 and arrives at 16:45. How long is the journey, in minutes?",
  "From 14:10 to 16:10 is two hours, 120 minutes, and from 16:10 to 16:45 is 35 more minutes, " +
    "so the journey takes 155 minutes in total.",
  "The train travels from 14:10 to 16:45; subtracting gives 2 hours and 35 minutes, which is " +
    "2 × 60 + 35 = 145 minutes.",
);

const dir = path.resolve(args.model ?? path.join(ROOT, "bench/out/qwen2.5-0.5b"));
const checkpoint = await loadCheckpoint(dir, { hashCheck: "size" });
const codec = await TextCodec.load(dir);
const preprocessor = parsePreprocessorConfig(
  JSON.parse(readFileSync(path.join(dir, "preprocessor_config.json"), "utf8")),
);
const prompt = (
  await preparePrompt(codec, MESSAGES, undefined, preprocessor.mergeSize, { maxPromptTokens: 1e6 })
).tensors;
const mib = Number(args["bandwidth-mib"]);
progress(`read bandwidth (${mib} MiB buffers)`);
const bandwidth = await measureBandwidth(mib * 2 ** 20);
const precisions = (args.precision ?? "").split(",").filter(Boolean) as Precision[];
for (const p of precisions)
  if (!PRECISIONS.includes(p)) throw new Error(`--precision ${p}: expected ${PRECISIONS.join(", ")}`);
const summary = await benchRoofline({
  checkpointDir: dir,
  checkpoint,
  prompt,
  bandwidth,
  newTokens: Number(args["new-tokens"]),
  runs: Number(args.runs),
  outDir: path.join(ROOT, "bench/out/roofline"),
  python: path.join(ROOT, "training/.venv/bin/python"),
  precisions,
  ks: (args.ks ?? "").split(",").map(Number),
  gemmRuns: Number(args["gemm-runs"]),
  flushBytes: Number(args["flush-mib"]) * 2 ** 20,
  pick: args.median ? "median" : "best",
  gemmPasses: Number(args["gemm-passes"]),
  progress,
});
process.stdout.write(`${JSON.stringify(summary)}\n`);
