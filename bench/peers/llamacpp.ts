// The llama.cpp peer (node-llama-cpp, CPU build): one round of bench/peers/protocol.ts on a GGUF file.
//
//   node --import tsx bench/peers/llamacpp.ts --model GGUF_DIR_OR_FILE --prompt FILE
//        --precision fp32|int8|int4 --new-tokens N --samples K --threads T --seed S
//
// The prompt's token ids go in as they are (no chat template, no tokenizer). Every sample runs to
// exactly N tokens: EOS is yielded and decoding goes on, as our engine does when measuring.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  getLlama,
  type LlamaContext,
  type LlamaContextSequence,
  LlamaLogLevel,
  type SequenceEvaluateOptions,
  type Token,
} from "node-llama-cpp";
import { GGUF_FORMAT, ggufFile } from "./llamacpp-setup.js";
import type { PeerRound, Precision } from "./protocol.js";

const progress = (message: string) => process.stderr.write(`[llamacpp] ${message}\n`);

interface Args {
  model: string;
  inputIds: Token[];
  precision: Precision;
  newTokens: number;
  samples: number;
  threads: number;
  seed: number;
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(
      ["model", "prompt", "precision", "new-tokens", "samples", "threads", "seed"].map((k) => [
        k,
        { type: "string" },
      ]),
    ) as Record<string, { type: "string" }>,
  });
  const need = (k: string): string => {
    const v = values[k];
    if (typeof v !== "string") throw new Error(`--${k} is required`);
    return v;
  };
  const int = (k: string, min: number): number => {
    const n = Number(need(k));
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${k} must be an integer ≥ ${min}, got ${values[k]}`);
    return n;
  };
  const precision = need("precision");
  if (!(precision in GGUF_FORMAT))
    throw new Error(`--precision must be fp32, int8 or int4, got ${precision}`);
  const prompt = JSON.parse(readFileSync(need("prompt"), "utf8")) as { inputIds?: unknown };
  const ids = prompt.inputIds;
  if (!Array.isArray(ids) || ids.length < 2 || !ids.every((t) => Number.isInteger(t) && t >= 0)) {
    throw new Error(`${values.prompt}: field 'inputIds' must be an array of at least 2 token ids`);
  }
  const model = need("model");
  return {
    model: statSync(model).isDirectory() ? ggufFile(model, precision as Precision) : model,
    inputIds: ids as Token[],
    precision: precision as Precision,
    newTokens: int("new-tokens", 2),
    samples: int("samples", 1),
    threads: int("threads", 1),
    seed: int("seed", 0),
  };
}

function peakRssBytes(): number {
  const kb = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** Greedy and pure temperature-1 sampling: node-llama-cpp's defaults (top-k 40, top-p 0.95) are off. */
const GREEDY: SequenceEvaluateOptions = { temperature: 0, yieldEogToken: true };
const sampling = (seed: number): SequenceEvaluateOptions => ({
  temperature: 1,
  // null, not 0: node-llama-cpp drops null fields, so the sampler chain has no top-k stage at all;
  // topK 0 means top-k over the whole vocabulary, a full sort of 151,936 logits per token per sample.
  topK: null as unknown as number,
  topP: 1,
  minP: 0,
  seed,
  yieldEogToken: true,
});

/** The warm-up: a greedy run that also reads each step's top-1 − top-2 logit (log p1 − log p2). */
async function greedyWithMargins(seq: LlamaContextSequence, args: Args) {
  const tokens: Token[] = [];
  const margins: number[] = [];
  const gen = seq.evaluateWithMetadata(args.inputIds, { probabilities: true }, GREEDY);
  for await (const { token, probabilities } of gen) {
    const [p1 = 0, p2 = 0] = [...probabilities.values()];
    tokens.push(token);
    margins.push(Math.log(p1) - Math.log(p2));
    if (tokens.length === args.newTokens) break;
  }
  await seq.clearHistory();
  return { tokens, margins };
}

/** The timed one-sample greedy judgement. */
async function greedy(seq: LlamaContextSequence, args: Args) {
  const tokens: Token[] = [];
  const t0 = performance.now();
  let first = t0;
  for await (const token of seq.evaluate(args.inputIds, GREEDY)) {
    if (tokens.length === 0) first = performance.now();
    tokens.push(token);
    if (tokens.length === args.newTokens) break;
  }
  const end = performance.now();
  await seq.clearHistory();
  if (tokens.length !== args.newTokens) throw new Error(`greedy run gave ${tokens.length} tokens`);
  return {
    tokens,
    prefillMs: first - t0,
    k1Ms: end - t0,
    decodeTokPerSec: (tokens.length - 1) / ((end - first) / 1000),
  };
}

/**
 * The K-sample judgement. node-llama-cpp 3.21.1 exposes no llama_memory_seq_cp, so the prompt's KV is
 * shared by copy: sequence 0 evaluates all but the last prompt token once, its KV is saved to a file
 * and loaded into sequences 1..K−1 (no recompute); then the K sequences step in lockstep, each step one
 * llama_decode of K tokens (the first step evaluates the last prompt token for each of them).
 */
async function kSamples(seqs: LlamaContextSequence[], args: Args, dispatches: () => number) {
  const [first, ...rest] = seqs;
  if (first === undefined) throw new Error("no sequence");
  const dir = mkdtempSync(path.join(os.tmpdir(), "llamacpp-kv-"));
  const t0 = performance.now();
  try {
    await first.evaluateWithoutGeneratingNewTokens(args.inputIds.slice(0, -1));
    if (rest.length > 0) {
      const file = path.join(dir, "prompt.kv");
      await first.saveStateToFile(file);
      for (const seq of rest) await seq.loadStateFromFile(file, { acceptRisk: true });
    }
    const before = dispatches();
    const last = args.inputIds.slice(-1);
    const gens = seqs.map((seq, i) => seq.evaluate(last, sampling(args.seed + i)));
    const out: Token[][] = seqs.map(() => []);
    for (let step = 0; step < args.newTokens; step++) {
      // All K next() calls are made in one turn, so all K decodes are queued before the batch dispatches.
      const results = await Promise.all(gens.map((g) => g.next()));
      results.forEach((r, i) => {
        if (r.done) throw new Error(`sample ${i} ended after ${step} tokens`);
        out[i]?.push(r.value);
      });
    }
    const kMs = performance.now() - t0;
    await Promise.all(gens.map((g) => g.return()));
    const batches = dispatches() - before;
    // One dispatch per step: more means a step's K decodes were split into several llama_decode calls.
    if (batches !== args.newTokens)
      throw new Error(`K sequences were not batched per step: ${batches} dispatches`);
    for (const [i, s] of out.entries()) {
      if (s.length !== args.newTokens)
        throw new Error(`sample ${i}: ${s.length} tokens, want ${args.newTokens}`);
    }
    for (const seq of seqs) await seq.clearHistory();
    return { kMs, samples: out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function round(args: Args): Promise<PeerRound> {
  const fmt = GGUF_FORMAT[args.precision];
  const t0 = performance.now();
  const llama = await getLlama({
    gpu: false,
    maxThreads: args.threads,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => process.stderr.write(`[llama.cpp ${level}] ${message}\n`),
  });
  let context: LlamaContext | undefined;
  const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
  try {
    let dispatches = 0;
    context = await model.createContext({
      sequences: args.samples,
      contextSize: args.inputIds.length + args.newTokens + 1,
      threads: { ideal: args.threads, min: args.threads },
      batching: {
        dispatchSchedule: (dispatch) => {
          dispatches++;
          setImmediate(dispatch);
        },
      },
    });
    const ctx = context;
    const seqs = Array.from({ length: args.samples }, () => ctx.getSequence());
    const loadMs = performance.now() - t0;
    const seq0 = seqs[0];
    if (seq0 === undefined) throw new Error("no sequence");
    progress(`${path.basename(args.model)} loaded in ${Math.round(loadMs)} ms; warm-up`);
    const warm = await greedyWithMargins(seq0, args);
    progress("greedy");
    const g = await greedy(seq0, args);
    progress(`${args.samples} samples`);
    const k = await kSamples(seqs, args, () => dispatches);
    // Same logits and the same seed would give K identical samples: each sequence has its own seed.
    progress(`${new Set(k.samples.map((s) => s.join())).size} distinct samples of ${args.samples}`);
    const same = g.tokens.every((t, i) => t === warm.tokens[i]);
    return {
      engine: "llama.cpp",
      precision: args.precision,
      format: `${fmt} GGUF`,
      threads: args.threads,
      promptTokens: args.inputIds.length,
      newTokens: args.newTokens,
      samples: args.samples,
      loadMs,
      prefillMs: g.prefillMs,
      decodeTokPerSec: g.decodeTokPerSec,
      k1Ms: g.k1Ms,
      kMs: k.kMs,
      greedyTokens: g.tokens,
      greedyMargins: warm.margins,
      peakRssBytes: peakRssBytes(),
      note:
        `node-llama-cpp 3.21.1 (CPU), flash attention ${ctx.flashAttention}; K samples share the prompt's KV ` +
        "by a state copy (no seq_cp in its API): prompt[:-1] once, its KV loaded into the other sequences, " +
        "then one K-token decode per step" +
        (same ? "" : "; warm-up greedy tokens differed from the timed run's"),
    };
  } finally {
    await context?.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

try {
  const result = await round(parse(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  progress(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
