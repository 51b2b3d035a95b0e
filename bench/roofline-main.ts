// `npm run bench:roofline`: the roofline accounting (roofline.ts) alone (npm run bench prints it too):
//
//   npm run bench:roofline -- [--model DIR] [--new-tokens N (16)] [--runs N (3)]
//       [--gemm-runs N (15)] [--bandwidth-mib M (1024)] [--flush-mib M (128; 0 = GEMMs timed warm)]
//       [--precision fp32,int8,int4] [--ks 1,8,16] [--median (compare medians, not the fastest runs)]
//       [--gemm-passes N (2: GEMMs timed before and after the decode steps, merged; 1: before only)]
//
// DIR defaults to bench/out/qwen2.5-0.5b (it must exist: `npm run bench` generates it). Prints the
// tables, then one JSON line.

import path from "node:path";
import { parseArgs } from "node:util";
import { loadCheckpoint } from "../src/engine/checkpoint.js";
import { measureBandwidth } from "./bandwidth.js";
import { PRECISIONS, type Precision } from "./peers/protocol.js";
import { promptFor } from "./prompt.js";
import { benchRoofline } from "./roofline.js";

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

const dir = path.resolve(args.model ?? path.join(ROOT, "bench/out/qwen2.5-0.5b"));
const checkpoint = await loadCheckpoint(dir, { hashCheck: "size" });
const prompt = await promptFor(dir);
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
