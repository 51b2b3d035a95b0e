// Roofline accounting of a decode step (issue 22): for fp32, int8 and int4 decoders at K = 1, 8, 16
// rows, the measured step (onnxruntime's runs and our host work, from gpu-path.ts's benchHostCost)
// against max(weight bytes ÷ read bandwidth, FLOPs ÷ GEMM peak).
//
// - Read bandwidth: bandwidth.ts's bound (the caller measures it once and passes it in).
// - GEMM peak per precision: onnxruntime MatMul (fp32) or MatMulNBits (int8/int4, our own
//   quantize_graph with the checkpoint's block size, symmetric, accuracy_level 4) at the decoder's matmul shapes (one graph per
//   shape holding all the decoder's matmuls of that shape, each its own weight), in sessions
//   opened exactly as the engine opens its CPU decoder (runtime/onnx.ts openGraph, same settings, so the
//   same threads), at M = 1, 8, 16 and a large M, each run started with the caches flushed (as in a
//   decode step, where the other weights stream through in between); the peak is the best
//   2·M·K·N / time seen.
// - Weight bytes: fp32 from config.json (weights.ts; equal to the files); int8/int4 the quantized
//   decoder's file bytes (the packed weights + scales + the fp32 norms and biases; the computed figure
//   is reported beside it).
// - FLOPs of a step at K rows: 2 · matmul params · K + attention (QKᵀ and AV: 4 · layers · heads ·
//   head_dim · past · K) at the mean past length of the measured steps (prompt + N/2).
// - "GEMMs alone": those graphs at M = K rows, summed (layers × q, k, v, o, gate, up, down + the
//   lm_head): how much of onnxruntime's time is the weight GEMMs, the rest being attention, norms,
//   RoPE, biases, KV concatenation and the graph's overhead.

import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { Checkpoint } from "../src/engine/checkpoint.js";
import type { PromptTensors } from "../src/engine/model.js";
import { openGraph, type SessionSettings } from "../src/engine/runtime/onnx.js";
import type { BandwidthResult } from "./bandwidth.js";
import { benchHostCost, type HostCostRow } from "./gpu-path.js";
import { median } from "./ours.js";
import { PRECISIONS, type Precision } from "./peers/protocol.js";
import { fmt, round, table } from "./stats.js";
import { readTextConfig, weightBytes } from "./weights.js";

export const ROOFLINE_KS = [1, 8, 16] as const;
/** Rows of the large GEMM that finds each precision's peak. */
export const PEAK_M = 256;
const DEFAULT_FLUSH_BYTES = 128 * 2 ** 20;

/**
 * The settings bench/gpu-path.ts and bench/engine.bench.ts open the CPU decoder with (the server's
 * default when `threads` is not configured: onnxruntime picks the intra-op threads). Every GEMM
 * session here is opened through the engine's own openGraph with these, so its options (threads,
 * spinning, arena, optimization level) are the decoder's.
 */
export const DECODER_CPU_SETTINGS: SessionSettings = { device: { kind: "cpu" }, allowCpuFallback: false };

const QUANT_BITS: Record<Exclude<Precision, "fp32">, number> = { int8: 8, int4: 4 };

export interface DecoderDims {
  layers: number;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
}

export async function decoderDims(checkpointDir: string): Promise<DecoderDims> {
  const t = await readTextConfig(checkpointDir);
  return {
    layers: t.num_hidden_layers,
    hidden: t.hidden_size,
    intermediate: t.intermediate_size,
    heads: t.num_attention_heads,
    kvHeads: t.num_key_value_heads,
    headDim: t.head_dim ?? t.hidden_size / t.num_attention_heads,
    vocab: t.vocab_size,
  };
}

export interface GemmShape {
  /** Graph name: the matmuls of this shape, e.g. q_o = q_proj and o_proj. */
  name: string;
  /** Input features (the weight's rows). */
  k: number;
  /** Output features. */
  n: number;
  /** How many matmuls of this shape one decode step runs (all layers). */
  count: number;
}

/** The decoder's distinct weight-matmul shapes (Qwen2: q/o, k/v, gate/up, down, the tied lm_head). */
export function gemmShapes(d: DecoderDims): GemmShape[] {
  const kv = d.kvHeads * d.headDim;
  const q = d.heads * d.headDim;
  const shapes: GemmShape[] = [];
  if (q === d.hidden) shapes.push({ name: "q_o", k: d.hidden, n: d.hidden, count: 2 * d.layers });
  else
    shapes.push(
      { name: "q", k: d.hidden, n: q, count: d.layers },
      { name: "o", k: q, n: d.hidden, count: d.layers },
    );
  shapes.push(
    { name: "k_v", k: d.hidden, n: kv, count: 2 * d.layers },
    { name: "gate_up", k: d.hidden, n: d.intermediate, count: 2 * d.layers },
    { name: "down", k: d.intermediate, n: d.hidden, count: d.layers },
    { name: "lm_head", k: d.hidden, n: d.vocab, count: 1 },
  );
  return shapes;
}

/** Weight-matmul parameters of one decode step (every shape × its count). */
export function matmulParams(shapes: readonly GemmShape[]): number {
  return shapes.reduce((sum, s) => sum + s.k * s.n * s.count, 0);
}

const graphFile = (dir: string, s: GemmShape, p: Precision, blockSize: number) =>
  path.join(dir, `${s.name}_${s.k}x${s.n}x${s.count}_${p}${p === "fp32" ? "" : `_b${blockSize}`}.onnx`);

/** The block size the checkpoint's `precision` decoder was quantized with (its manifest says). */
export function quantizedBlockSize(checkpointDir: string, precision: Precision): number {
  const manifest = JSON.parse(readFileSync(path.join(checkpointDir, "r1judge.json"), "utf8")) as {
    quantization?: Record<string, { block_size?: number }>;
  };
  const block = manifest.quantization?.[precision]?.block_size;
  if (precision !== "fp32" && !block)
    throw new Error(`${checkpointDir}/r1judge.json: field 'quantization.${precision}.block_size' is missing`);
  return block ?? 0;
}

/**
 * Writes the GEMM graphs missing from `dir` (bench/roofline/gemm_graphs.py, our quantize_graph) and
 * returns each one's path by `${shape}/${precision}`.
 */
export async function ensureGemmGraphs(
  dir: string,
  shapes: readonly GemmShape[],
  precisions: readonly Precision[],
  blockSizes: Readonly<Partial<Record<Precision, number>>>,
  python: string,
  progress: (message: string) => void = () => {},
): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const p of precisions) {
    const block = blockSizes[p] ?? 0;
    const mine = new Map(shapes.map((s) => [`${s.name}/${p}`, graphFile(dir, s, p, block)] as const));
    for (const [key, file] of mine) files.set(key, file);
    const missing = [...mine.values()].filter((f) => !existsSync(f));
    if (!missing.length) continue;
    progress(`writing ${missing.length} ${p} GEMM graph(s) into ${dir} (a quantized lm_head takes a minute)`);
    await promisify(execFile)(
      python,
      [
        path.join(import.meta.dirname, "roofline/gemm_graphs.py"),
        dir,
        ...shapes.flatMap((s) => ["--shape", `${s.name}:${s.k}:${s.n}:${s.count}`]),
        "--precision",
        p,
        ...(p === "fp32" ? [] : ["--block-size", String(block)]),
      ],
      { maxBuffer: 16 << 20 },
    );
  }
  return files;
}

/** One run of a shape's graph: all `count` matmuls of the shape (the decoder's share of it). */
export interface GemmTiming {
  shape: string;
  precision: Precision;
  m: number;
  runs: number;
  medianMs: number;
  bestMs: number;
  /** 2·M·K·N·count / bestMs, FLOP/s. */
  bestFlops: number;
}

export interface GemmResult {
  settings: string;
  /** Bytes read between timed runs to push the weights out of the caches (0: timed warm). */
  flushBytes: number;
  /** Timing passes merged into this one (see mergeGemm). */
  passes: number;
  timings: GemmTiming[];
  /** Best FLOP/s seen per precision, and where. */
  peak: Record<string, { flops: number; shape: string; m: number }>;
}

export interface GemmOptions {
  shapes: readonly GemmShape[];
  files: Map<string, string>;
  precisions: readonly Precision[];
  /** Row counts to time (the decode Ks); PEAK_M is added for the peak. */
  ms?: readonly number[];
  peakM?: number;
  /** Timed runs per (graph, M) at most; fewer once `budgetMs` of runs is spent (at least 3). */
  runs?: number;
  budgetMs?: number;
  settings?: SessionSettings;
  /**
   * Bytes read (memchr) before each timed run so that it starts with its weights out of the caches,
   * as in a decode step, where the rest of the decoder's weights stream through in between (default
   * 128 MiB, 4 × a 32 MiB L3; 0 times them warm: a small weight then stays in L2/L3 and reads far
   * faster than DRAM).
   */
  flushBytes?: number;
  progress?: (message: string) => void;
}

/** Times every GEMM graph at each M in sessions opened as the engine's CPU decoder is. */
export async function measureGemm(options: GemmOptions): Promise<GemmResult> {
  const settings = options.settings ?? DECODER_CPU_SETTINGS;
  const peakM = options.peakM ?? PEAK_M;
  const ms = [...new Set([...(options.ms ?? ROOFLINE_KS), peakM])].sort((a, b) => a - b);
  const maxRuns = options.runs ?? 15;
  const budgetMs = options.budgetMs ?? 1500;
  const flushBytes = options.flushBytes ?? DEFAULT_FLUSH_BYTES;
  const flush = flushBytes > 0 ? Buffer.alloc(flushBytes, 1) : undefined;
  const timings: GemmTiming[] = [];
  const peak: GemmResult["peak"] = {};
  for (const p of options.precisions) {
    for (const s of options.shapes) {
      const file = options.files.get(`${s.name}/${p}`);
      if (!file) throw new Error(`no GEMM graph for ${s.name}/${p}`);
      options.progress?.(`GEMM ${path.basename(file)}: M = ${ms.join(", ")}`);
      const graph = await openGraph(file, settings, { inputs: ["x"], outputs: ["y0"] }, { warn() {} });
      try {
        for (const m of ms) {
          const data = new Float32Array(m * s.k);
          for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
          const feeds = { x: { dtype: "float32" as const, data, dims: [m, s.k] } };
          await graph.run(feeds); // warm: the arena and prepacked weights
          const times: number[] = [];
          let spent = 0;
          while (times.length < maxRuns && (times.length < 3 || spent < budgetMs)) {
            if (flush && flush.indexOf(0) !== -1) throw new Error("unexpected zero byte");
            const t0 = performance.now();
            await graph.run(feeds);
            const t = performance.now() - t0;
            times.push(t);
            spent += t;
          }
          const bestMs = Math.min(...times);
          const bestFlops = (2 * m * s.k * s.n * s.count) / (bestMs / 1000);
          timings.push({
            shape: s.name,
            precision: p,
            m,
            runs: times.length,
            medianMs: median(times),
            bestMs,
            bestFlops,
          });
          if (bestFlops > (peak[p]?.flops ?? 0)) peak[p] = { flops: bestFlops, shape: s.name, m };
        }
      } finally {
        await graph.release();
      }
    }
  }
  return { settings: JSON.stringify(settings), flushBytes, passes: 1, timings, peak };
}

/** Which run statistic the roofline compares: the fastest run (default) or the median. */
export type RunPick = "best" | "median";

/** Two passes of the same GEMM timings: each from the pass with the faster fastest run; peaks again. */
export function mergeGemm(a: GemmResult, b: GemmResult): GemmResult {
  const timings = a.timings.map((t) => {
    const other = b.timings.find((u) => u.shape === t.shape && u.precision === t.precision && u.m === t.m);
    return other && other.bestMs < t.bestMs ? other : t;
  });
  const peak: GemmResult["peak"] = {};
  for (const t of timings)
    if (t.bestFlops > (peak[t.precision]?.flops ?? 0))
      peak[t.precision] = { flops: t.bestFlops, shape: t.shape, m: t.m };
  return { ...a, timings, peak, passes: a.passes + b.passes };
}

/** The GEMMs alone at M rows: Σ best (or median) time of each shape's graph (undefined if unmeasured). */
export function gemmsAloneMs(
  gemm: GemmResult,
  shapes: readonly GemmShape[],
  precision: Precision,
  m: number,
  pick: RunPick = "best",
): number | undefined {
  let sum = 0;
  for (const s of shapes) {
    const t = gemm.timings.find((g) => g.shape === s.name && g.precision === precision && g.m === m);
    if (!t) return undefined;
    sum += pick === "best" ? t.bestMs : t.medianMs;
  }
  return sum;
}

export interface RooflineRow {
  precision: Precision;
  samples: number;
  stepMs: number;
  ortMs: number;
  hostMs: number;
  /** The weight matmuls alone at M = K, summed over the decoder. */
  gemmsMs: number | undefined;
  weightBytes: number;
  /** KV cache bytes the step reads at the mean past (K rows; for information: not in the bytes bound). */
  kvBytes: number;
  bytesBoundMs: number;
  flops: number;
  flopsBoundMs: number;
  rooflineMs: number;
  bound: "bytes" | "flops";
  /** roofline / step, percent. */
  pctOfRoofline: number;
}

export interface RooflineResult {
  checkpoint: string;
  promptTokens: number;
  newTokens: number;
  runs: number;
  pick: RunPick;
  /** Mean past length of the measured steps (prompt + newTokens / 2), for the attention FLOPs. */
  meanPast: number;
  bandwidth: { bytesPerSec: number; source: string };
  dims: DecoderDims;
  matmulParams: number;
  attentionFlopsPerRow: number;
  weights: Record<string, { bytes: number; source: string; computedBytes: number }>;
  gemm: GemmResult;
  rows: RooflineRow[];
}

export interface RooflineOptions {
  checkpointDir: string;
  checkpoint: Checkpoint;
  prompt: PromptTensors;
  bandwidth: Pick<BandwidthResult, "bound">;
  gemm: GemmResult;
  /**
   * A second GEMM pass, run after the decode steps and merged with `gemm` (each timing from the pass
   * whose fastest run was faster): on a shared machine the two passes see different contention.
   */
  gemmAfter?: () => Promise<GemmResult>;
  shapes: readonly GemmShape[];
  dims: DecoderDims;
  newTokens: number;
  runs: number;
  precisions?: readonly Precision[];
  ks?: readonly number[];
  /**
   * The fastest run of each measurement (default; on a shared machine the least disturbed, as the
   * bandwidth and the GEMM peak are best-of too) or the median.
   */
  pick?: RunPick;
  progress?: (message: string) => void;
}

/** Bytes of the quantized decoder by computation: packed weights + one fp32 scale per block + fp32 rest. */
function computedBytes(
  precision: Precision,
  blockSize: number,
  params: number,
  fp32DecoderParams: number,
): number {
  if (precision === "fp32") return 4 * fp32DecoderParams;
  const packed = params * (QUANT_BITS[precision] / 8 + 4 / blockSize);
  return packed + 4 * (fp32DecoderParams - params);
}

/** Decode steps of each precision at each K against its roofline. */
export async function measureRoofline(o: RooflineOptions): Promise<RooflineResult> {
  const precisions = (o.precisions ?? PRECISIONS).filter((p) => o.checkpoint.graphs[p]?.decoder_model_merged);
  const ks = o.ks ?? ROOFLINE_KS;
  const pick = o.pick ?? "best";
  const d = o.dims;
  const params = matmulParams(o.shapes);
  const meanPast = o.prompt.inputIds.length + o.newTokens / 2;
  const attentionFlopsPerRow = 4 * d.layers * d.heads * d.headDim * meanPast;
  const bandwidth = o.bandwidth.bound.bytesPerSec;
  const fp32File = o.checkpoint.graphs.fp32?.decoder_model_merged ?? "";
  const fp32 = await weightBytes(o.checkpointDir, fp32File);
  const weights: RooflineResult["weights"] = {};
  const rows: RooflineRow[] = [];
  const hostRows = new Map<Precision, HostCostRow[]>();
  for (const p of precisions) {
    const file = o.checkpoint.graphs[p]?.decoder_model_merged as string;
    const computed = computedBytes(p, quantizedBlockSize(o.checkpointDir, p), params, fp32.decoderParams);
    weights[p] =
      p === "fp32"
        ? { bytes: fp32.bytesPerToken, source: "config.json params × 4", computedBytes: computed }
        : {
            bytes: (await weightBytes(o.checkpointDir, file)).decoderFileBytes,
            source: `${path.basename(file)} file bytes`,
            computedBytes: computed,
          };
    o.progress?.(`decode steps, ${p}: K = ${ks.join(", ")}, ${o.newTokens} new tokens, ${o.runs} run(s)`);
    hostRows.set(p, await benchHostCost(o.checkpoint, o.prompt, o.newTokens, o.runs, ks, p));
  }
  const gemm = o.gemmAfter ? mergeGemm(o.gemm, await o.gemmAfter()) : o.gemm;
  for (const p of precisions) {
    const peak = gemm.peak[p]?.flops;
    if (!peak) throw new Error(`no GEMM peak measured for ${p}`);
    for (const row of hostRows.get(p) ?? []) {
      const h = pick === "best" ? { samples: row.samples, ...row.best } : row;
      const bytesBoundMs = ((weights[p]?.bytes ?? 0) / bandwidth) * 1000;
      const flops = (2 * params + attentionFlopsPerRow) * h.samples;
      const flopsBoundMs = (flops / peak) * 1000;
      const rooflineMs = Math.max(bytesBoundMs, flopsBoundMs);
      rows.push({
        precision: p,
        samples: h.samples,
        stepMs: h.msPerStep,
        ortMs: h.ortMsPerStep,
        hostMs: h.hostMsPerStep,
        gemmsMs: gemmsAloneMs(gemm, o.shapes, p, h.samples, pick),
        weightBytes: weights[p]?.bytes ?? 0,
        kvBytes: fp32.kvBytesPerPastToken * meanPast * h.samples,
        bytesBoundMs,
        flops,
        flopsBoundMs,
        rooflineMs,
        bound: bytesBoundMs >= flopsBoundMs ? "bytes" : "flops",
        pctOfRoofline: (100 * rooflineMs) / h.msPerStep,
      });
    }
  }
  return {
    checkpoint: o.checkpointDir,
    promptTokens: o.prompt.inputIds.length,
    newTokens: o.newTokens,
    runs: o.runs,
    pick,
    meanPast,
    bandwidth: o.bandwidth.bound,
    dims: d,
    matmulParams: params,
    attentionFlopsPerRow,
    weights,
    gemm,
    rows,
  };
}

const gb = (bytes: number) => bytes / 1e9;

/** Prints the roofline tables to stdout; returns the numbers as one JSON-able object. */
export function reportRoofline(
  r: RooflineResult,
  write: (text: string) => void = (t) => process.stdout.write(t),
) {
  const out: string[] = [];
  out.push(
    `== roofline per decode step (${r.checkpoint}; prompt ${r.promptTokens} tokens, ${r.newTokens} new tokens, ` +
      `mean past ${fmt(r.meanPast, 0)}; ${r.pick === "best" ? "fastest" : "median"} of ${r.runs} run(s), ` +
      `GEMMs alone likewise; CPU, the engine's decoder session settings)`,
  );
  out.push(
    `read bandwidth ${fmt(gb(r.bandwidth.bytesPerSec), 2)} GB/s (${r.bandwidth.source}); weight matmuls ` +
      `${(r.matmulParams / 1e6).toFixed(1)} M params (2·params·K FLOPs) + attention ` +
      `${fmt(r.attentionFlopsPerRow / 1e6, 1)} MFLOP per row`,
  );
  out.push(
    table(
      ["precision", "weight GB", "bytes from", "computed GB", "GEMM peak GFLOP/s", "peak at"],
      Object.entries(r.weights).map(([p, w]) => {
        const peak = r.gemm.peak[p];
        return [
          p,
          fmt(gb(w.bytes), 3),
          w.source,
          fmt(gb(w.computedBytes), 3),
          fmt((peak?.flops ?? Number.NaN) / 1e9, 1),
          peak ? `${peak.shape}, M=${peak.m}` : "–",
        ];
      }),
    ),
  );
  out.push("");
  out.push(
    table(
      [
        "precision",
        "K",
        "step ms",
        "ort ms",
        "host ms",
        "GEMMs alone ms",
        "ort − GEMMs ms",
        "KV MB",
        "bytes bound ms",
        "FLOPs bound ms",
        "roofline ms",
        "bound",
        "% of roofline",
      ],
      r.rows.map((x) => [
        x.precision,
        x.samples,
        fmt(x.stepMs, 1),
        fmt(x.ortMs, 1),
        fmt(x.hostMs, 2),
        fmt(x.gemmsMs, 1),
        fmt(x.gemmsMs === undefined ? undefined : x.ortMs - x.gemmsMs, 1),
        fmt(x.kvBytes / 1e6, 0),
        fmt(x.bytesBoundMs, 1),
        fmt(x.flopsBoundMs, 1),
        fmt(x.rooflineMs, 1),
        x.bound,
        `${fmt(x.pctOfRoofline, 0)} %`,
      ]),
    ),
  );
  out.push(
    "(bytes bound = weight bytes ÷ read bandwidth; the KV cache the step also reads (KV MB, fp32 in every " +
      "variant) is not in it. goal: ≥ 80 % of roofline at K = 1 and K = 8 on fp32 and int4)",
  );
  out.push("");
  const ms = [...new Set(r.gemm.timings.map((t) => t.m))];
  const labels = new Map(gemmShapes(r.dims).map((s) => [s.name, `${s.name} ${s.k}×${s.n} × ${s.count}`]));
  out.push(
    `== GEMMs alone: fastest / median ms of each shape's graph (all its matmuls in the decoder, each its ` +
      `own weight) at M rows, best GFLOP/s in brackets; ${r.gemm.passes} pass(es) merged; ` +
      (r.gemm.flushBytes
        ? `caches flushed before each run (${fmt(r.gemm.flushBytes / 2 ** 20, 0)} MiB read)`
        : "warm caches"),
  );
  out.push(
    table(
      ["precision", "shape (K×N) × count", ...ms.map((m) => `M=${m}`)],
      [...new Set(r.gemm.timings.map((t) => `${t.precision}/${t.shape}`))].map((key) => {
        const [p, name] = key.split("/") as [string, string];
        return [
          p,
          labels.get(name) ?? name,
          ...ms.map((m) => {
            const t = r.gemm.timings.find((g) => g.precision === p && g.shape === name && g.m === m);
            return t ? `${fmt(t.bestMs, 2)} / ${fmt(t.medianMs, 2)} (${fmt(t.bestFlops / 1e9, 0)})` : "–";
          }),
        ];
      }),
    ),
  );
  write(`${out.join("\n")}\n`);
  const v = (x: number | undefined, d = 3) => (x === undefined ? null : round(x, d));
  return {
    checkpoint: r.checkpoint,
    promptTokens: r.promptTokens,
    newTokens: r.newTokens,
    runs: r.runs,
    pick: r.pick,
    meanPast: r.meanPast,
    bandwidthGBps: round(gb(r.bandwidth.bytesPerSec)),
    bandwidthSource: r.bandwidth.source,
    matmulParams: r.matmulParams,
    attentionFlopsPerRow: r.attentionFlopsPerRow,
    weights: r.weights,
    gemmPeakGflops: Object.fromEntries(
      Object.entries(r.gemm.peak).map(([p, x]) => [
        p,
        { gflops: round(x.flops / 1e9, 2), shape: x.shape, m: x.m },
      ]),
    ),
    gemmSettings: r.gemm.settings,
    gemmFlushBytes: r.gemm.flushBytes,
    gemmPasses: r.gemm.passes,
    gemm: r.gemm.timings.map((t) => ({
      precision: t.precision,
      shape: t.shape,
      m: t.m,
      runs: t.runs,
      medianMs: round(t.medianMs, 4),
      bestMs: round(t.bestMs, 4),
      bestGflops: round(t.bestFlops / 1e9, 2),
    })),
    rows: r.rows.map((x) => ({
      precision: x.precision,
      samples: x.samples,
      stepMs: round(x.stepMs),
      ortMs: round(x.ortMs),
      hostMs: round(x.hostMs),
      gemmsAloneMs: v(x.gemmsMs),
      weightBytes: x.weightBytes,
      kvBytes: Math.round(x.kvBytes),
      bytesBoundMs: round(x.bytesBoundMs),
      flops: x.flops,
      flopsBoundMs: round(x.flopsBoundMs),
      rooflineMs: round(x.rooflineMs),
      bound: x.bound,
      pctOfRoofline: round(x.pctOfRoofline, 1),
    })),
  };
}

/** measureRoofline's options less what benchRoofline measures itself (the GEMMs, the shapes). */
export interface BenchRooflineOptions
  extends Omit<RooflineOptions, "gemm" | "gemmAfter" | "shapes" | "dims"> {
  /** GEMM graphs go here (bench/out/roofline); existing ones are reused. */
  outDir: string;
  /** training/.venv/bin/python (with onnx and r1judge_train). */
  python: string;
  gemmRuns?: number;
  /** 2 (default): GEMMs timed before and after the decode steps, merged; 1: before only. */
  gemmPasses?: number;
  /** See GemmOptions.flushBytes. */
  flushBytes?: number;
  write?: (text: string) => void;
}

/** GEMM graphs (made on first use), GEMM peaks, decode steps, the table; returns the JSON summary. */
export async function benchRoofline(o: BenchRooflineOptions): Promise<ReturnType<typeof reportRoofline>> {
  const progress = o.progress ?? (() => {});
  const ks = o.ks ?? ROOFLINE_KS;
  const precisions = (o.precisions ?? PRECISIONS).filter((p) => o.checkpoint.graphs[p]?.decoder_model_merged);
  const dims = await decoderDims(o.checkpointDir);
  const shapes = gemmShapes(dims);
  const blockSizes = Object.fromEntries(precisions.map((p) => [p, quantizedBlockSize(o.checkpointDir, p)]));
  const files = await ensureGemmGraphs(o.outDir, shapes, precisions, blockSizes, o.python, progress);
  const gemmOptions: GemmOptions = {
    shapes,
    files,
    precisions,
    ms: ks,
    progress,
    ...(o.gemmRuns ? { runs: o.gemmRuns } : {}),
    ...(o.flushBytes !== undefined ? { flushBytes: o.flushBytes } : {}),
  };
  const gemm = await measureGemm(gemmOptions);
  const result = await measureRoofline({
    checkpointDir: o.checkpointDir,
    checkpoint: o.checkpoint,
    prompt: o.prompt,
    bandwidth: o.bandwidth,
    gemm,
    ...((o.gemmPasses ?? 2) > 1 ? { gemmAfter: () => measureGemm(gemmOptions) } : {}),
    shapes,
    dims,
    newTokens: o.newTokens,
    runs: o.runs,
    precisions,
    ks,
    ...(o.pick ? { pick: o.pick } : {}),
    progress,
  });
  return reportRoofline(result, o.write);
}
