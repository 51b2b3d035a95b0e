// `npm run bench:levers`: each speed lever of issue 22 measured on its own against the defaults, on the
// 0.5B-shaped model: a one-sample greedy judgement and a K = 8 judgement (32 new tokens, the peer
// table's work), the lever's engine and the default one alternating run by run in one process so the
// machine's drift hits both alike. A ratio below 1 is faster than the default.
//
//   npm run bench:levers -- [--model DIR] [--precisions fp32,int4] [--runs N] [--new-tokens N]
//                           [--only NAME,NAME]

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";
import type { Variant } from "../src/engine/checkpoint.js";
import { loadCheckpoint } from "../src/engine/checkpoint.js";
import { JudgeModel, type ModelOptions } from "../src/engine/model.js";
import type { SessionSettings } from "../src/engine/runtime/onnx.js";
import { GREEDY, median, runOnce, SAMPLING } from "./ours.js";
import { promptFor } from "./prompt.js";
import { fmt, table } from "./stats.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: path.join(ROOT, "bench/out/qwen2.5-0.5b") },
    precisions: { type: "string", default: "fp32,int4" },
    runs: { type: "string", default: "3" },
    "new-tokens": { type: "string", default: "32" },
    only: { type: "string" },
  },
});
const progress = (message: string) => process.stderr.write(`[levers] ${message}\n`);
const SAMPLES = 8;

interface Lever {
  name: string;
  /** Which precisions it applies to (all when absent). */
  precisions?: readonly Variant[];
  settings?: Partial<SessionSettings>;
  options?: ModelOptions;
  /** A rebuilt decoder (bench/levers/variant_checkpoint.py): MatMulNBits settings, fused RMSNorms. */
  rebuild?: { blockSize?: number; accuracyLevel?: number; fuseRmsNorm?: boolean };
}

const cores = os.availableParallelism();
const LEVERS: Lever[] = [
  { name: `threads ${cores - 1}`, settings: { intraOpThreads: Math.max(1, cores - 1) } },
  { name: "no intra-op spinning", settings: { spinning: false } },
  { name: "graph optimization: extended", settings: { optimizationLevel: "extended" } },
  { name: "graph optimization: basic", settings: { optimizationLevel: "basic" } },
  { name: "no memory pattern", settings: { memPattern: false } },
  { name: "no CPU arena", settings: { cpuMemArena: false } },
  { name: "prefill chunk 128", options: { prefillChunk: 128 } },
  { name: "prefill chunk 512", options: { prefillChunk: 512 } },
  {
    name: "accuracy_level 1 (fp32 compute)",
    precisions: ["int4", "int8"],
    rebuild: { blockSize: 128, accuracyLevel: 1 },
  },
  // The default is 128 (training/…/export/quantize.py); 32 was, until issue 22's measurements.
  {
    name: "block 32",
    precisions: ["int4", "int8"],
    rebuild: { blockSize: 32, accuracyLevel: 4 },
  },
  {
    name: "block 64",
    precisions: ["int4", "int8"],
    rebuild: { blockSize: 64, accuracyLevel: 4 },
  },
  { name: "RMSNorm fused", rebuild: { fuseRmsNorm: true } },
];

interface Engine {
  model: JudgeModel;
}

async function open(dir: string, variant: Variant, lever?: Lever): Promise<Engine> {
  const checkpoint = await loadCheckpoint(dir, { hashCheck: "size" });
  const model = await JudgeModel.open(
    checkpoint,
    variant,
    { device: { kind: "cpu" }, allowCpuFallback: false, intraOpThreads: cores, ...lever?.settings },
    { warn: (fields, message) => progress(`${message} ${JSON.stringify(fields)}`) },
    lever?.options ?? {},
  );
  return { model };
}

async function leverCheckpoint(dir: string, variant: Variant, lever: Lever): Promise<string> {
  const q = lever.rebuild;
  if (!q) return dir;
  const name = [
    variant,
    ...(q.blockSize ? [`b${q.blockSize}`, `acc${q.accuracyLevel ?? 4}`] : []),
    ...(q.fuseRmsNorm ? ["rmsnorm"] : []),
  ].join("-");
  const out = path.join(ROOT, "bench/out/levers", name);
  if (!existsSync(path.join(out, "r1judge.json"))) {
    progress(`writing ${out}`);
    await promisify(execFile)(
      path.join(ROOT, "training/.venv/bin/python"),
      [
        path.join(ROOT, "bench/levers/variant_checkpoint.py"),
        dir,
        out,
        "--variant",
        variant,
        ...(q.blockSize
          ? ["--block-size", String(q.blockSize), "--accuracy-level", String(q.accuracyLevel ?? 4)]
          : []),
        ...(q.fuseRmsNorm ? ["--fuse-rms-norm"] : []),
      ],
      { maxBuffer: 64 << 20 },
    );
  }
  return out;
}

interface Pair {
  k1: number[];
  k8: number[];
  prefill: number[];
  step1: number[];
}

const emptyPair = (): Pair => ({ k1: [], k8: [], prefill: [], step1: [] });

async function measure(
  engine: Engine,
  prompt: Awaited<ReturnType<typeof promptFor>>,
  newTokens: number,
  into: Pair,
  seed: number,
) {
  const one = await runOnce(engine.model, prompt, 1, newTokens, seed, GREEDY);
  const many = await runOnce(engine.model, prompt, SAMPLES, newTokens, seed, SAMPLING);
  into.k1.push(one.latencyMs);
  into.k8.push(many.latencyMs);
  into.prefill.push(one.prefillMs);
  into.step1.push(one.decodeMs / (newTokens - 1));
}

async function main(): Promise<void> {
  const dir = path.resolve(args.model);
  const prompt = await promptFor(dir);
  const newTokens = Number(args["new-tokens"]);
  const runs = Number(args.runs);
  const only = args.only?.split(",");
  const rows: (string | number)[][] = [];
  for (const variant of args.precisions.split(",") as Variant[]) {
    const base = await open(dir, variant);
    await runOnce(base.model, prompt, SAMPLES, 4, 1);
    for (const lever of LEVERS) {
      if (lever.precisions && !lever.precisions.includes(variant)) continue;
      if (only && !only.includes(lever.name)) continue;
      progress(`${variant}: ${lever.name}`);
      const leverEngine = await open(await leverCheckpoint(dir, variant, lever), variant, lever);
      try {
        await runOnce(leverEngine.model, prompt, SAMPLES, 4, 1);
        const a = emptyPair();
        const b = emptyPair();
        for (let r = 0; r < runs; r++) {
          // Alternating which goes first, so neither always runs on a just-warmed cache.
          const first = r % 2 ? leverEngine : base;
          const second = r % 2 ? base : leverEngine;
          await measure(first, prompt, newTokens, first === base ? a : b, 100 + r);
          await measure(second, prompt, newTokens, second === base ? a : b, 100 + r);
        }
        const ratio = (x: number[], y: number[]) => fmt(median(x) / median(y), 3);
        rows.push([
          variant,
          lever.name,
          `${fmt(median(b.k1), 0)} / ${fmt(median(a.k1), 0)}`,
          ratio(b.k1, a.k1),
          `${fmt(median(b.k8), 0)} / ${fmt(median(a.k8), 0)}`,
          ratio(b.k8, a.k8),
          ratio(b.prefill, a.prefill),
          ratio(b.step1, a.step1),
        ]);
        process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
      } finally {
        await leverEngine.model.release();
      }
    }
    await base.model.release();
  }
  process.stdout.write(
    `${table(
      [
        "precision",
        "lever",
        "K=1 ms, lever / default",
        "× default",
        `K=${SAMPLES} ms, lever / default`,
        "× default",
        "prefill × default",
        "batch-1 step × default",
      ],
      rows,
    )}\n`,
  );
}

await main();
