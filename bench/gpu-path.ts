// The GPU path and the quantized variants, for `npm run bench`:
// - WebGPU on the demo model (SwiftShader here: correctness and transfers, not speed): a K = 4
//   judgement with the KV cache on the device and copied each step as CUDA must, its tokens against
//   CPU's, and the bytes moved host↔device per decode step as the engine counts them;
// - fp32 / int8 / int4 decoders of one checkpoint on the CPU: file size, prefill and batch-1 decode;
// - the host's own cost per sample: a decode step at K = 8 against K = 1, split into onnxruntime's
//   runs and everything the engine does around them (sampling, stop checks, KV bookkeeping).

import type { Checkpoint, Variant } from "../src/engine/checkpoint.js";
import { Engine } from "../src/engine/engine.js";
import { JudgeModel, type PromptTensors } from "../src/engine/model.js";
import type { Device } from "../src/engine/runtime/onnx.js";
import { runOnce } from "./ours.js";

const log = { warn() {} };
const CPU: Device = { kind: "cpu" };

export interface TransferRow {
  mode: string;
  steps: number;
  bytesPerStep: number;
  msPerStep: number;
  tokensEqualCpu: boolean;
}

export type WebgpuOutcome = { ok: true; rows: TransferRow[] } | { ok: false; reason: string };

/** One K-sample judgement driven step by step; bytes and time counted from the second step on. */
async function judgeSteps(model: JudgeModel, prompt: PromptTensors, samples: number, newTokens: number) {
  const engine = new Engine(
    model,
    { kvBudgetBytes: Number.MAX_SAFE_INTEGER, maxRows: 1024, prefixCacheBytes: 0 },
    { eosIds: new Set(), stopStrings: [], decodeTail: () => "" },
  );
  const tokens: number[][] = [];
  let done = false;
  engine.submit(
    {
      id: "bench",
      prompt,
      samples,
      seed: 7,
      sampling: { temperature: 1, topK: 0, topP: 1 },
      maxNewTokens: newTokens,
    },
    {
      onSample: (s) => (tokens[s.index] = s.tokens),
      onDone: () => (done = true),
      onError: (e) => {
        throw e;
      },
    },
  );
  await engine.iterate(); // prefill and the first step: the same for every mode
  const first = engine.stats();
  const t0 = performance.now();
  while (!done) await engine.iterate();
  const ms = performance.now() - t0;
  const last = engine.stats();
  const steps = last.steps - first.steps;
  const bytes = last.bytesToDevice + last.bytesToHost - first.bytesToDevice - first.bytesToHost;
  return { tokens, steps, bytesPerStep: bytes / steps, msPerStep: ms / steps };
}

export async function benchWebgpu(
  checkpoint: Checkpoint,
  prompt: PromptTensors,
  newTokens: number,
): Promise<WebgpuOutcome> {
  const open = (device: Device, kvOnDevice = true) =>
    JudgeModel.open(checkpoint, "fp32", { device, allowCpuFallback: false }, log, { kvOnDevice });
  let onDevice: JudgeModel;
  try {
    onDevice = await open({ kind: "webgpu" });
  } catch (err) {
    return { ok: false, reason: `no WebGPU adapter: ${(err as Error).message.split("\n")[0]?.slice(-120)}` };
  }
  const copying = await open({ kind: "webgpu" }, false);
  const cpu = await open(CPU);
  try {
    const reference = await judgeSteps(cpu, prompt, 4, newTokens);
    const rows: TransferRow[] = [];
    for (const [mode, model] of [
      ["cpu (no transfers)", cpu],
      ["webgpu, KV cache on the device", onDevice],
      ["webgpu, KV copied each step (as CUDA)", copying],
    ] as const) {
      const r = model === cpu ? reference : await judgeSteps(model, prompt, 4, newTokens);
      rows.push({
        mode,
        steps: r.steps,
        bytesPerStep: r.bytesPerStep,
        msPerStep: r.msPerStep,
        tokensEqualCpu: JSON.stringify(r.tokens) === JSON.stringify(reference.tokens),
      });
    }
    return { ok: true, rows };
  } finally {
    await Promise.all([onDevice.release(), copying.release(), cpu.release()]);
  }
}

export interface VariantRow {
  variant: Variant;
  decoderBytes: number;
  prefillTokPerSec: number;
  decodeTokPerSec: number;
  /** Greedy tokens equal fp32's for this many leading tokens (of newTokens). */
  greedyAgreement: number;
}

export async function benchVariants(
  checkpoint: Checkpoint,
  prompt: PromptTensors,
  newTokens: number,
  runs: number,
  decoderBytes: (file: string) => Promise<number>,
): Promise<VariantRow[]> {
  const rows: VariantRow[] = [];
  let fp32Greedy: number[] | undefined;
  for (const variant of ["fp32", "int8", "int4"] as const) {
    const file = checkpoint.graphs[variant]?.decoder_model_merged;
    if (!file) continue;
    const model = await JudgeModel.open(checkpoint, variant, { device: CPU, allowCpuFallback: false }, log);
    try {
      await runOnce(model, prompt, 1, 3, 1);
      const greedy =
        (await runOnce(model, prompt, 1, newTokens, 0, { temperature: 0, topK: 0, topP: 1 })).tokens[0] ?? [];
      fp32Greedy ??= greedy;
      let agree = 0;
      while (agree < greedy.length && greedy[agree] === fp32Greedy[agree]) agree++;
      const timings = [];
      for (let r = 0; r < runs; r++) timings.push(await runOnce(model, prompt, 1, newTokens, 42 + r));
      const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1] as number;
      rows.push({
        variant,
        decoderBytes: await decoderBytes(file),
        prefillTokPerSec: prompt.inputIds.length / (median(timings.map((t) => t.prefillMs)) / 1000),
        decodeTokPerSec: (newTokens - 1) / (median(timings.map((t) => t.decodeMs)) / 1000),
        greedyAgreement: agree,
      });
    } finally {
      await model.release();
    }
  }
  return rows;
}

export interface HostCostRow {
  variant: Variant;
  samples: number;
  msPerStep: number;
  /** Inside onnxruntime's runs (embed_tokens and the decoder). */
  ortMsPerStep: number;
  /** Everything else: sampling, stop checks, KV bookkeeping, engine messages. */
  hostMsPerStep: number;
  /** The same from the fastest run (on a shared machine, the least disturbed). */
  best: { msPerStep: number; ortMsPerStep: number; hostMsPerStep: number };
}

/**
 * Decode-step cost at each K (default 1 and 8) of one decoder variant (default fp32), split by wrapping
 * the model's graph runs with a timer: onnxruntime's runs (embed_tokens and the decoder) against the
 * rest (sampling, stop checks, KV moves and bookkeeping). Median over `runs` of the per-step mean;
 * `best` is the fastest run. Only the decode steps' runs count (the prefill runs through prefillRange).
 */
export async function benchHostCost(
  checkpoint: Checkpoint,
  prompt: PromptTensors,
  newTokens: number,
  runs: number,
  ks: readonly number[] = [1, 8],
  variant: Variant = "fp32",
): Promise<HostCostRow[]> {
  const model = await JudgeModel.open(checkpoint, variant, { device: CPU, allowCpuFallback: false }, log);
  let ortMs = 0;
  // The bench may look inside: the graphs are private to JudgeModel.
  const graphs = model as unknown as Record<string, { run: (...a: unknown[]) => Promise<unknown> }>;
  for (const name of ["embed", "decoder"]) {
    const graph = graphs[name];
    if (!graph) throw new Error(`JudgeModel has no '${name}' graph to time`);
    const run = graph.run.bind(graph);
    graph.run = async (...a: unknown[]) => {
      const t0 = performance.now();
      try {
        return await run(...a);
      } finally {
        ortMs += performance.now() - t0;
      }
    };
  }
  // Only the runs inside decode steps count (the prefill's, through prefillRange, do not); the steps
  // are counted too.
  let stepOrtMs = 0;
  let steps = 0;
  const step = model.step.bind(model);
  model.step = async (...a: Parameters<JudgeModel["step"]>) => {
    const before = ortMs;
    try {
      return await step(...a);
    } finally {
      stepOrtMs += ortMs - before;
      steps++;
    }
  };
  try {
    await runOnce(model, prompt, Math.max(8, ...ks), 3, 1);
    const rows: HostCostRow[] = [];
    for (const samples of ks) {
      const per: { total: number; ort: number }[] = [];
      for (let r = 0; r < runs; r++) {
        stepOrtMs = 0;
        steps = 0;
        const t = await runOnce(model, prompt, samples, newTokens, 11 + r);
        if (steps !== newTokens - 1) throw new Error(`${steps} decode steps for ${newTokens} new tokens`);
        per.push({ total: t.decodeMs / steps, ort: stepOrtMs / steps });
      }
      per.sort((a, b) => a.total - b.total);
      const mid = per[per.length >> 1] as { total: number; ort: number };
      const best = per[0] as { total: number; ort: number };
      rows.push({
        variant,
        samples,
        msPerStep: mid.total,
        ortMsPerStep: mid.ort,
        hostMsPerStep: mid.total - mid.ort,
        best: { msPerStep: best.total, ortMsPerStep: best.ort, hostMsPerStep: best.total - best.ort },
      });
    }
    return rows;
  } finally {
    await model.release();
  }
}
