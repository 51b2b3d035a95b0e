// The judge model as three ONNX graphs (vision_encoder, embed_tokens, decoder_model_merged):
// prefill a prompt into a KV cache, and advance a batch of rows by one token each. On WebGPU the
// cache stays in device memory (DeviceKvBatch) and only embeddings, masks and positions go up and
// logits come down; elsewhere it lives on the host (KvBatch), which CUDA copies up and down each step.

import { availableParallelism } from "node:os";
import type { Checkpoint, Variant } from "./checkpoint.js";
import { DeviceKvBatch } from "./device-kv.js";
import { KvBatch, type KvCache, type KvShape } from "./kv.js";
import { KvGraphs } from "./kv-graphs.js";
import type { GridThw } from "./positions.js";
import { GraphThread } from "./runtime/graph-thread.js";
import {
  deviceName,
  type Graph,
  openGraph,
  type SessionLog,
  type SessionSettings,
  type Transfers,
} from "./runtime/onnx.js";
import {
  type AnyTensor,
  type DeviceTensor,
  type FloatData,
  type FloatDType,
  fromFloat32,
  type HostTensor,
  int64,
  toFloat32,
} from "./runtime/tensor.js";

/** One image's preprocessed patches: rows of 1176 values, held until `release()`. */
export interface ImagePatches {
  pixelValues: Float32Array;
  /** Gives the patches' memory back to the image budget; idempotent. */
  release(): void;
}

/** One image of a prompt: which image it is, its patch grid, and its patches when asked for. */
export interface PromptImage {
  /** sha256 of the image's bytes: caches tell images apart by it. */
  digest: string;
  grid: GridThw;
  /** Pad tokens the image takes in the prompt (its merged patches). */
  tokens: number;
  /** Decodes and preprocesses the image (off the engine's thread, under the image memory budget). */
  patches(): Promise<ImagePatches>;
}

export interface PromptTensors {
  inputIds: number[];
  /** (3, S) M-RoPE ids, row-major. */
  positions: Int32Array;
  ropeDelta: number;
  /** Every image in prompt order; absent for text. Pixels are decoded only when a prefill needs them. */
  images?: PromptImage[];
}

export interface StepResult {
  /** [rows, vocab] float32 logits of each row's last position. */
  logits: Float32Array;
  kv: KvCache;
}

export interface ModelOptions {
  /** Prompt tokens a prefill runs at once (R1JUDGE_PREFILL_CHUNK_TOKENS). */
  prefillChunk?: number;
  /** Keep the KV cache in device memory when the decoder runs on WebGPU (default true). */
  kvOnDevice?: boolean;
}

/**
 * `<prefix>.<i>.key`, `<prefix>.<i>.value` for every layer: the decoder's `past_key_values` inputs,
 * `present` outputs and optional `new_key_values` outputs (only the new tokens' columns of `present`,
 * see docs/checkpoint-format.md).
 */
function kvNames(prefix: string, layers: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < layers; i++) names.push(`${prefix}.${i}.key`, `${prefix}.${i}.value`);
  return names;
}

/** Prompt tokens prefilled at once by default (R1JUDGE_PREFILL_CHUNK_TOKENS). */
export const DEFAULT_PREFILL_CHUNK = 256;

/** Values per pixel_values row: 3 channels · temporal patch 2 · 14 · 14 (Qwen2-VL). */
const PATCH_VALUES = 1176;

export class JudgeModel {
  readonly kvShape: KvShape;
  readonly vocabSize: number;
  private readonly pastNames: string[];
  private readonly presentNames: string[];
  /**
   * When the decoder has `new_key_values.*`, runs fetch only `logits` and those, and the cache is
   * extended here: onnxruntime-node copies every fetched output into a new buffer, and the whole
   * present cache was the bulk of a batch-8 step's cost on CPU.
   */
  private readonly newKvNames: string[] | undefined;

  private constructor(
    readonly checkpoint: Checkpoint,
    readonly variant: Variant,
    private readonly embed: Graph,
    private readonly decoder: Graph,
    private readonly vision: Graph | undefined,
    /** Prompt tokens a prefill runs at once (see prefillRange). */
    readonly prefillChunkTokens: number,
    /** Present when the KV cache lives on the device. */
    private readonly kvGraphs: KvGraphs | undefined,
  ) {
    const d = checkpoint.decoder;
    this.kvShape = JudgeModel.shapeOf(checkpoint, decoder);
    this.vocabSize = d.vocabSize;
    this.pastNames = kvNames("past_key_values", d.numLayers);
    this.presentNames = kvNames("present", d.numLayers);
    const newKv = kvNames("new_key_values", d.numLayers);
    this.newKvNames = newKv.every((name) => decoder.outputNames.includes(name)) ? newKv : undefined;
  }

  static async open(
    checkpoint: Checkpoint,
    variant: Variant,
    settings: SessionSettings,
    log: SessionLog,
    options: ModelOptions = {},
  ): Promise<JudgeModel> {
    const files = checkpoint.graphs[variant];
    if (!files?.embed_tokens || !files.decoder_model_merged) {
      throw new Error(
        `checkpoint ${checkpoint.root} has no '${variant}' variant (has: ${Object.keys(checkpoint.graphs).join(", ")})`,
      );
    }
    const layers = checkpoint.decoder.numLayers;
    const embed = await openGraph(
      files.embed_tokens,
      settings,
      { inputs: ["input_ids"], outputs: ["inputs_embeds"] },
      log,
    );
    const presentNames = kvNames("present", layers);
    const decoder = await openGraph(
      files.decoder_model_merged,
      { ...settings, ...(options.kvOnDevice === false ? {} : { deviceOutputs: presentNames }) },
      {
        inputs: ["inputs_embeds", "attention_mask", "position_ids", ...kvNames("past_key_values", layers)],
        outputs: ["logits", ...presentNames],
      },
      log,
    );
    const vision = files.vision_encoder
      ? await openVision(files.vision_encoder, { ...settings, cpuMemArena: false }, log)
      : undefined;
    const kvOnDevice = decoder.device.kind === "webgpu" && options.kvOnDevice !== false;
    const kvGraphs = kvOnDevice
      ? await KvGraphs.open(
          JudgeModel.shapeOf(checkpoint, decoder),
          { ...settings, device: decoder.device },
          log,
        )
      : undefined;
    const chunk = options.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
    return new JudgeModel(checkpoint, variant, embed, decoder, vision, chunk, kvGraphs);
  }

  private static shapeOf(checkpoint: Checkpoint, decoder: Graph): KvShape {
    const d = checkpoint.decoder;
    const dtype: FloatDType = decoder.inputType("inputs_embeds") === "float16" ? "float16" : "float32";
    return { layers: d.numLayers, heads: d.numKeyValueHeads, headDim: d.headDim, dtype };
  }

  /** Where the KV cache lives while decoding. */
  get kvLocation(): KvCache["location"] {
    return this.kvGraphs ? "device" : "host";
  }

  /** An empty cache of `rows` rows where this model keeps its cache. */
  emptyKv(rows: number): KvCache {
    return this.kvGraphs
      ? DeviceKvBatch.empty(this.kvShape, this.kvGraphs, rows)
      : KvBatch.empty(this.kvShape, rows);
  }

  /** Bytes moved between host and device memory so far (all zero on CPU). */
  transfers(): Transfers {
    const total: Transfers = { toDevice: 0, toHost: 0 };
    const parts = [
      this.embed.transfers,
      this.decoder.transfers,
      this.vision?.transfers,
      this.kvGraphs?.transfers(),
    ];
    for (const t of parts) {
      if (!t) continue;
      total.toDevice += t.toDevice;
      total.toHost += t.toHost;
    }
    return total;
  }

  get cacheNamespace(): string {
    return `${this.checkpoint.modelId}:${this.variant}`;
  }

  get imagePadTokenId(): number {
    return this.checkpoint.imagePadTokenId;
  }

  get hasVision(): boolean {
    return this.vision !== undefined;
  }

  get device(): string {
    return deviceName(this.decoder.device);
  }

  async release(): Promise<void> {
    await Promise.all([
      this.embed.release(),
      this.decoder.release(),
      this.vision?.release(),
      this.kvGraphs?.release(),
    ]);
  }

  private async embedTokens(ids: readonly number[], rows: number): Promise<HostTensor> {
    const out = await this.embed.run({ input_ids: int64(ids, [rows, ids.length / rows]) });
    return out.inputs_embeds as HostTensor;
  }

  /**
   * One image's features: [merged patches, hidden]. One run per image: attention never crosses
   * images, and the graph's full-attention layers are quadratic in the patches of a run, so eight
   * images at once would take 64 times one image's attention memory.
   */
  async encodeImage(pixelValues: Float32Array, grid: GridThw): Promise<FloatData> {
    if (!this.vision) throw new Error("this checkpoint has no vision encoder: it cannot take images");
    const merge = this.checkpoint.spatialMergeSize;
    const rows = grid[0] * grid[1] * grid[2];
    if (pixelValues.length !== rows * PATCH_VALUES)
      throw new Error(
        `an image of grid ${grid.join("×")} needs ${rows} patch rows, got ${pixelValues.length / PATCH_VALUES}`,
      );
    const out = await this.vision.run({
      pixel_values: {
        dtype: this.kvShape.dtype,
        data: fromFloat32(pixelValues, this.kvShape.dtype),
        dims: [rows, PATCH_VALUES],
      },
      image_grid_thw: int64(grid, [1, 3]),
    });
    const features = (out.image_features as HostTensor).data as FloatData;
    if (features.length !== (rows / (merge * merge)) * this.checkpoint.decoder.hiddenSize)
      throw new Error("the vision encoder returned the wrong number of features");
    return features;
  }

  /**
   * The whole prompt from `start` on (tokens before it are already in `past`, a one-row cache of
   * exactly `start` columns) in chunks of `prefillChunkTokens` tokens, its images encoded first: the
   * last position's logits and the prompt's cache. The engine runs the same pieces (encodeImage,
   * prefillRange) one slice at a time between decode steps; this is them in one go, for tools.
   */
  async prefill(prompt: PromptTensors, past: KvCache | undefined, start = 0): Promise<StepResult> {
    const images = prompt.images ?? [];
    const features: (FloatData | undefined)[] = [];
    for (const [i, image] of images.entries()) {
      if (!imageNeeded(prompt, i, start, this.imagePadTokenId)) continue;
      const patches = await image.patches();
      try {
        features[i] = await this.encodeImage(patches.pixelValues, image.grid);
      } finally {
        patches.release();
      }
    }
    let kv = past;
    let result: StepResult | undefined;
    for (let from = start; from < prompt.inputIds.length; from += this.prefillChunkTokens) {
      const to = Math.min(prompt.inputIds.length, from + this.prefillChunkTokens);
      try {
        result = await this.prefillRange(prompt, kv, from, to, features);
      } finally {
        // A chunk's cache is the next chunk's past only: free it (never `past`, which others hold).
        if (kv && kv !== past) freeIfUnheld(kv);
      }
      kv = result.kv;
    }
    if (!result) throw new Error("nothing to prefill: the prompt is empty or wholly cached");
    return result;
  }

  /**
   * Prompt tokens [from, to) on top of `past` (a one-row cache of exactly `from` columns, or none
   * when `from` is 0), each image pad taking its row of `features[image]`. Long prompts run in
   * pieces like this so that attention memory grows with chunk × prompt instead of prompt².
   * `past` is left as it is (it may be the prefix cache's own entry).
   */
  async prefillRange(
    prompt: PromptTensors,
    past: KvCache | undefined,
    from: number,
    to: number,
    features: readonly (FloatData | undefined)[],
  ): Promise<StepResult> {
    const ids = prompt.inputIds.slice(from, to);
    const embeds = await this.embedTokens(ids, 1);
    const pads = padRows(prompt, from, to, this.imagePadTokenId);
    if (pads.length) {
      const hidden = this.checkpoint.decoder.hiddenSize;
      const data = embeds.data as FloatData;
      for (const { offset, image, row } of pads) {
        const source = features[image];
        if (!source || (row + 1) * hidden > source.length)
          throw new Error(`image ${image} has no features for its pad row ${row}`);
        data.set(source.subarray(row * hidden, (row + 1) * hidden), offset * hidden);
      }
    }
    const s = ids.length;
    const total = prompt.inputIds.length;
    const positions = new BigInt64Array(3 * s);
    for (let axis = 0; axis < 3; axis++) {
      for (let i = 0; i < s; i++)
        positions[axis * s + i] = BigInt(prompt.positions[axis * total + from + i] as number);
    }
    return this.run(
      embeds,
      past ?? this.emptyKv(1),
      s,
      { dtype: "int64", data: positions, dims: [3, 1, s] },
      false,
    );
  }

  /**
   * One decode step: row r feeds `tokens[r]` at position realLength(r) + ropeDeltas[r] on every axis.
   * `kv` is consumed: its buffers may be reused for the result, so the caller must drop it.
   */
  async step(tokens: readonly number[], ropeDeltas: readonly number[], kv: KvCache): Promise<StepResult> {
    const rows = tokens.length;
    const embeds = await this.embedTokens(tokens, rows);
    const positions = new BigInt64Array(3 * rows);
    for (let r = 0; r < rows; r++) {
      const p = BigInt(kv.realLength(r) + (ropeDeltas[r] as number));
      positions[r] = positions[rows + r] = positions[2 * rows + r] = p;
    }
    return this.run(embeds, kv, 1, { dtype: "int64", data: positions, dims: [3, rows, 1] }, true);
  }

  private async run(
    embeds: HostTensor,
    kv: KvCache,
    newTokens: number,
    positions: HostTensor,
    reuseKv: boolean,
  ): Promise<StepResult> {
    if (kv instanceof DeviceKvBatch) return this.runOnDevice(embeds, kv, newTokens, positions);
    if (!(kv instanceof KvBatch)) throw new Error("a device KV cache given to a host-cache model");
    // Without new_key_values the present cache is what comes back: its columns must be past's, no room.
    const batch = this.newKvNames ? kv : kv.compact();
    const { heads, headDim, dtype } = this.kvShape;
    const feeds: Record<string, HostTensor> = {
      inputs_embeds: embeds,
      attention_mask: {
        dtype: "int64",
        data: batch.mask(newTokens),
        dims: [batch.rows, batch.capacity + newTokens],
      },
      position_ids: positions,
    };
    this.pastNames.forEach((name, i) => {
      feeds[name] = {
        dtype,
        data: batch.tensors[i] as FloatData,
        dims: [batch.rows, heads, batch.capacity, headDim],
      };
    });
    const out = await this.decoder.run(feeds, this.newKvNames && ["logits", ...this.newKvNames]);
    const logits = lastPositionLogits(out.logits as HostTensor, this.vocabSize);
    if (this.newKvNames) {
      const fresh = this.newKvNames.map((name) => (out[name] as HostTensor).data as FloatData);
      return { logits, kv: batch.append(fresh, newTokens, reuseKv) };
    }
    const present = this.presentNames.map((name) => (out[name] as HostTensor).data as FloatData);
    return { logits, kv: batch.advance(present, newTokens) };
  }

  /** A run whose past is fed from device memory and whose present stays there. */
  private async runOnDevice(
    embeds: HostTensor,
    kv: DeviceKvBatch,
    newTokens: number,
    positions: HostTensor,
  ): Promise<StepResult> {
    const kvGraphs = this.kvGraphs;
    if (!kvGraphs) throw new Error("a host KV cache model given a device KV cache");
    const feeds: Record<string, AnyTensor> = {
      inputs_embeds: embeds,
      attention_mask: { dtype: "int64", data: kv.mask(newTokens), dims: [kv.rows, kv.length + newTokens] },
      position_ids: positions,
    };
    const past = await kv.materialize();
    let out: Record<string, AnyTensor>;
    try {
      this.pastNames.forEach((name, i) => {
        feeds[name] = past.tensors[i] as AnyTensor;
      });
      out = await this.decoder.run(feeds, ["logits", ...this.presentNames]);
    } finally {
      for (const t of past.temporary) t.dispose();
    }
    const present = this.presentNames.map((name) => out[name] as DeviceTensor);
    const logits = lastPositionLogits(out.logits as HostTensor, this.vocabSize);
    return {
      logits,
      kv: DeviceKvBatch.fromTensors(this.kvShape, kvGraphs, present, kv.pad, kv.length + newTokens),
    };
  }
}

/**
 * Whether image `index` has pads at or after `start`: an image wholly inside a cached prefix is
 * already in the cache, and its features are not needed.
 */
export function imageNeeded(prompt: PromptTensors, index: number, start: number, padId: number): boolean {
  let image = -1;
  const ids = prompt.inputIds;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== padId) continue;
    if (ids[i - 1] !== padId) image++;
    if (image === index) {
      const end = i + (prompt.images?.[index]?.tokens ?? 0);
      return end > start;
    }
  }
  return false;
}

/** For each image pad in [from, to): its offset in the range, its image and its row of that image's features. */
function padRows(
  prompt: PromptTensors,
  from: number,
  to: number,
  padId: number,
): { offset: number; image: number; row: number }[] {
  const ids = prompt.inputIds;
  const out: { offset: number; image: number; row: number }[] = [];
  let image = -1;
  let row = 0;
  for (let i = 0; i < to; i++) {
    if (ids[i] !== padId) continue;
    if (ids[i - 1] !== padId) {
      image++;
      row = 0;
    }
    if (i >= from) out.push({ offset: i - from, image, row });
    row++;
  }
  return out;
}

/**
 * The vision encoder. On the CPU it runs in a thread of its own, so that a large image's encoding (a
 * second or more) overlaps the running rows' decode steps instead of holding them; on a GPU it runs
 * here, its device's queue being where the overlap happens.
 */
async function openVision(file: string, settings: SessionSettings, log: SessionLog): Promise<Graph> {
  const expected = { inputs: ["pixel_values", "image_grid_thw"], outputs: ["image_features"] };
  if (settings.device.kind === "cpu") {
    // It shares the cores with the decoder: half of them (the decoder's steps are what running
    // requests wait for), and no spinning between runs.
    const threads = settings.intraOpThreads ?? Math.max(1, Math.floor(availableParallelism() / 2));
    return GraphThread.open(
      { file, settings: { ...settings, intraOpThreads: threads, spinning: false }, expected },
      log,
    );
  }
  return openGraph(file, settings, expected, log);
}

function freeIfUnheld(kv: KvCache): void {
  if (kv instanceof DeviceKvBatch) kv.freeIfUnheld();
}

/** [B, S', V] logits (S' = 1 or S) → [B, V] float32 of the last position. */
function lastPositionLogits(logits: HostTensor, vocab: number): Float32Array {
  const [rows = 1, positions = 1] = logits.dims;
  const data = logits.data as FloatData;
  if (positions === 1) return toFloat32(data);
  const out = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const src = (r * positions + positions - 1) * vocab;
    out.set(toFloat32(data.subarray(src, src + vocab)), r * vocab);
  }
  return out;
}
