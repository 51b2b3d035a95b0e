// transformers.js (@huggingface/transformers) generating from the same ONNX files, as a peer.
//
// It loads Qwen2.5-VL natively (model_type qwen2_5_vl, onnx/{embed_tokens,decoder_model_merged,
// vision_encoder}.onnx, fp32 = no suffix; external data is found by onnxruntime from the graph's own
// `location`). One thing differs: it builds the first step's empty KV cache from the decoder's input
// metadata and knows only the symbolic dimension `batch_size` (others become 0), while our exporter
// names it `batch`. The staging folder therefore holds a copy of decoder_model_merged.onnx (the graph
// only, a few MB) with that dimension renamed (bench/tjs_stage.py); everything else, the weights
// included, is hard-linked (or copied) from the checkpoint unchanged.

import { execFile } from "node:child_process";
import { copyFile, link, mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { median } from "./ours.js";

const run = promisify(execFile);

type Tjs = typeof import("@huggingface/transformers");

export interface TjsRun {
  prefillMs: number;
  latencyMs: number;
}

export interface TjsResult {
  ok: true;
  version: string;
  /** What the bench changed on the loaded instance (see patchTextOnlyRopeDelta). */
  patch: string;
  stagedAt: string;
  stageNote: string;
  loadMs: number;
  newTokens: number;
  single: {
    runs: number;
    latencyMs: number;
    prefillMs: number;
    /** (newTokens − 1) / (latency − prefill). */
    decodeTokPerSec: number;
    /** newTokens / latency. */
    e2eTokPerSec: number;
  };
  /** K = 8 as 8 sequential generate() calls (it has no num_return_sequences for sampling). */
  k8Sequential: { latencyMs: number; judgmentsPerSec: number };
  /** K = 8 as one generate() over 8 copies of the prompt (batch 8: 8 prefills, batched decode). */
  k8Batched?: { latencyMs: number; judgmentsPerSec: number };
  /** Greedy tokens equal ours (checks that it runs the same model the same way). */
  greedyAgrees?: boolean;
}

export type TjsOutcome = TjsResult | { ok: false; reason: string };

async function linkOrCopy(src: string, dst: string): Promise<void> {
  try {
    await link(src, dst);
  } catch {
    await copyFile(src, dst);
  }
}

/** Builds the staging folder; returns it and what was changed. */
export async function stageForTjs(
  checkpoint: string,
  stagingRoot: string,
  python: string,
): Promise<{ dir: string; note: string }> {
  const dir = path.join(stagingRoot, path.basename(checkpoint));
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, "onnx"), { recursive: true });
  for (const name of await readdir(checkpoint)) {
    if ((await stat(path.join(checkpoint, name))).isFile())
      await copyFile(path.join(checkpoint, name), path.join(dir, name));
  }
  let note = "";
  for (const name of await readdir(path.join(checkpoint, "onnx"))) {
    if (name.includes("_fp16")) continue;
    const src = path.join(checkpoint, "onnx", name);
    const dst = path.join(dir, "onnx", name);
    if (name === "decoder_model_merged.onnx") {
      const { stdout } = await run(python, [path.join(import.meta.dirname, "tjs_stage.py"), src, dst]);
      note = stdout.trim();
    } else {
      await linkOrCopy(src, dst);
    }
  }
  return { dir, note };
}

/**
 * transformers.js 4.3.1 computes the M-RoPE delta of a text-only prompt as max(position) + 1 + S
 * (Qwen2VLForConditionalGeneration._get_text_only_rope_index), where Hugging Face's Python has
 * max(position) + 1 − S = 0; every decode step then runs at position past + 2S instead of past, and
 * the output differs from the Python reference (and ours). Same work, so speed is unaffected; the bench
 * corrects it on this instance so that the greedy check compares like with like.
 */
function patchTextOnlyRopeDelta(tjs: Tjs, model: object): void {
  type T = InstanceType<Tjs["Tensor"]>;
  const target = model as { _get_text_only_rope_index?: (ids: T, mask?: T) => [T, T] };
  const original = target._get_text_only_rope_index?.bind(model);
  if (!original) return;
  target._get_text_only_rope_index = (ids, mask) => {
    const [positions, deltas] = original(ids, mask);
    if (!mask) return [positions, deltas];
    const twiceS = 2n * BigInt(mask.dims[1] as number);
    const fixed = BigInt64Array.from(deltas.data as BigInt64Array, (d) => d - twiceS);
    return [positions, new tjs.Tensor("int64", fixed, deltas.dims)];
  };
}

export async function benchTjs(opts: {
  checkpoint: string;
  stagingRoot: string;
  python: string;
  inputIds: number[];
  newTokens: number;
  runs: number;
  batched: boolean;
  /** Our greedy tokens for the same prompt and newTokens, to compare with. */
  greedyReference?: number[];
}): Promise<TjsOutcome> {
  let tjs: Tjs;
  try {
    tjs = await import("@huggingface/transformers");
  } catch (err) {
    return { ok: false, reason: `@huggingface/transformers is not installed: ${(err as Error).message}` };
  }
  let staged: { dir: string; note: string };
  try {
    staged = await stageForTjs(opts.checkpoint, opts.stagingRoot, opts.python);
  } catch (err) {
    return { ok: false, reason: `staging failed: ${(err as Error).message}` };
  }
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = `${path.dirname(staged.dir)}/`;
  const t0 = performance.now();
  let model: Awaited<ReturnType<typeof tjs.Qwen2_5_VLForConditionalGeneration.from_pretrained>>;
  try {
    model = await tjs.Qwen2_5_VLForConditionalGeneration.from_pretrained(path.basename(staged.dir), {
      dtype: "fp32",
      device: "cpu",
    });
  } catch (err) {
    return { ok: false, reason: `from_pretrained failed: ${(err as Error).message}` };
  }
  const loadMs = performance.now() - t0;
  patchTextOnlyRopeDelta(tjs, model);

  class FirstToken extends tjs.BaseStreamer {
    puts = 0;
    firstAt = 0;
    override put(_value: bigint[][]): void {
      // The first put is the prompt; the second is the first sampled token (after the prefill).
      if (++this.puts === 2) this.firstAt = performance.now();
    }
    override end(): void {}
  }

  const S = opts.inputIds.length;
  const tensors = (rows: number) => ({
    input_ids: new tjs.Tensor(
      "int64",
      BigInt64Array.from({ length: rows * S }, (_, i) => BigInt(opts.inputIds[i % S] as number)),
      [rows, S],
    ),
    attention_mask: new tjs.Tensor("int64", new BigInt64Array(rows * S).fill(1n), [rows, S]),
  });
  /** `sample` false: greedy, and eos may end it early (to compare with our greedy tokens). */
  const generate = async (rows: number, newTokens: number, sample = true) => {
    const streamer = new FirstToken();
    const start = performance.now();
    // (The declared parameter type intersects two streamer types; a BaseStreamer is what generate() uses.)
    const params = {
      ...tensors(rows),
      max_new_tokens: newTokens,
      min_new_tokens: sample ? newTokens : 0,
      do_sample: sample,
      temperature: 1,
      top_k: 0,
      streamer,
    } as unknown as Parameters<typeof model.generate>[0];
    const out = (await model.generate(params)) as InstanceType<Tjs["Tensor"]>;
    const end = performance.now();
    if (sample && (out.dims[0] !== rows || out.dims[1] !== S + newTokens))
      throw new Error(
        `transformers.js returned dims [${out.dims.join(", ")}], expected [${rows}, ${S + newTokens}]`,
      );
    return { prefillMs: streamer.firstAt - start, latencyMs: end - start, out };
  };

  try {
    let greedyAgrees: boolean | undefined;
    if (opts.greedyReference) {
      const { out } = await generate(1, opts.greedyReference.length, false);
      // Ours ran without eos ids; transformers.js stops at the checkpoint's eos: compare its length.
      const ids = Array.from(out.data as BigInt64Array, Number).slice(S);
      greedyAgrees = ids.length > 0 && ids.every((id, i) => id === opts.greedyReference?.[i]);
    } else {
      await generate(1, 2); // warm-up
    }
    const singles: TjsRun[] = [];
    for (let r = 0; r < opts.runs; r++) singles.push(await generate(1, opts.newTokens));
    const latencyMs = median(singles.map((s) => s.latencyMs));
    const prefillMs = median(singles.map((s) => s.prefillMs));
    const k8Start = performance.now();
    for (let k = 0; k < 8; k++) await generate(1, opts.newTokens);
    const k8Ms = performance.now() - k8Start;
    let k8Batched: TjsResult["k8Batched"];
    if (opts.batched) {
      const { latencyMs: ms } = await generate(8, opts.newTokens);
      k8Batched = { latencyMs: ms, judgmentsPerSec: 1000 / ms };
    }
    return {
      ok: true,
      version: tjs.env.version,
      patch: "text-only M-RoPE delta corrected (+S → −S)",
      stagedAt: staged.dir,
      stageNote: staged.note,
      loadMs,
      newTokens: opts.newTokens,
      single: {
        runs: opts.runs,
        latencyMs,
        prefillMs,
        decodeTokPerSec: (opts.newTokens - 1) / ((latencyMs - prefillMs) / 1000),
        e2eTokPerSec: opts.newTokens / (latencyMs / 1000),
      },
      k8Sequential: { latencyMs: k8Ms, judgmentsPerSec: 1000 / k8Ms },
      ...(k8Batched ? { k8Batched } : {}),
      ...(greedyAgrees !== undefined ? { greedyAgrees } : {}),
    };
  } catch (err) {
    return { ok: false, reason: `generate failed: ${(err as Error).message}` };
  } finally {
    await model.dispose();
  }
}
