// Plain data crossing the worker boundary (structured clone): requests in, samples and stats out.
// Types only: nothing here runs.

import type { Variant } from "./checkpoint.js";
import type { EngineStats, FinishReason, SampleSpec } from "./engine.js";
import type { EngineFailure } from "./errors.js";
import type { FairShare } from "./fair-queue.js";
import type { OptimizationLevel } from "./runtime/onnx.js";
import type { ChatMessage } from "./tokenizer.js";
import type { VerdictSpec } from "./verdict-spec.js";

export interface EngineOptions {
  checkpoint: string;
  variant: Variant;
  /** "cpu", "webgpu", "cuda" or "cuda:N". */
  device: string;
  allowCpuFallback: boolean;
  /** Keep the KV cache in GPU memory on WebGPU (default true; false copies it each step, as CUDA does). */
  kvOnDevice?: boolean;
  intraOpThreads?: number;
  interOpThreads?: number;
  optimizationLevel?: OptimizationLevel;
  hashCheck?: "sha256" | "size";
  kvBudgetBytes: number;
  maxRows: number;
  prefixCacheBytes: number;
  /** Vision-encoder output kept by image digest (see EncoderCache). */
  encoderCacheBytes: number;
  /** Largest width·height of one image. */
  maxImagePixels: number;
  /** Largest width·height of one request's images together. */
  maxRequestPixels: number;
  /**
   * Bytes images may hold at once across requests (images/image-budget.ts): full-resolution decodes
   * and patch tensors until released; others wait.
   */
  imageMemoryBytes: number;
  /** Threads that decode and preprocess images (images/pool.ts), off the engine's thread. */
  imageWorkers: number;
  maxPromptTokens: number;
  /** Prompt tokens prefilled at once (long prompts run in chunks); default 1024. */
  prefillChunkTokens?: number;
  /**
   * Samples end only at their max_new_tokens, never at an end token or stop string (as vLLM's
   * ignore_eos): work of a known length for load tests and benchmarks. Verdicts still parse.
   */
  ignoreEos?: boolean;
}

export interface GenerateMessage extends SampleSpec, FairShare {
  type: "generate";
  id: string;
  messages: ChatMessage[];
  /** The image set (see ImagesMessage) whose images the messages' image entries stand for. */
  images?: string;
  /** Report each sample's probabilities of the checkpoint's verdict choices where it states one. */
  choiceProbabilities?: boolean;
}

/** A generation as the main thread asks for it (the worker adds the message type and id). */
export type GenerationRequest = Omit<GenerateMessage, "type" | "id">;

/** One request's images, sent once (their buffers transferred) and shared by its generations. */
export interface ImagesMessage {
  type: "images";
  id: string;
  images: Uint8Array[];
  /** sha256 of each image, hex. */
  digests: string[];
}

export type ToWorker =
  | GenerateMessage
  | ImagesMessage
  | { type: "release_images"; id: string }
  | { type: "cancel"; id: string; samples?: number[] }
  | { type: "stats"; id: string }
  /** Finish at the next step boundary, release everything, end the thread. */
  | { type: "shutdown" }
  /** The same, failing every request still held with `reason`: the worker is being replaced. */
  | { type: "exit"; reason: string };

export interface ModelInfo {
  id: string;
  variant: Variant;
  device: string;
  dtype: "float32" | "float16";
  vision: boolean;
  manifest: Record<string, unknown>;
  eosTokenIds: number[];
  /** The checkpoint's verdict rule: how judging reads a sample's vote. */
  verdict: VerdictSpec;
}

/** The engine's counters plus the worker's image memory. */
export interface WorkerStats extends EngineStats {
  imageSets: number;
  /** Bytes held under the image memory budget now, and images waiting for room. */
  imageBytes: number;
  imageWaiting: number;
}

export interface SampleMessage {
  index: number;
  seed: number;
  tokens: number;
  text: string;
  finishReason: FinishReason;
  error?: string;
  /** Probabilities of the verdict choices (the manifest's, in order) where the sample stated its verdict. */
  choiceProbabilities?: number[];
}

export type FromWorker =
  | { type: "ready"; model: ModelInfo }
  /** Loading failed; the worker exits. */
  | { type: "failed"; error: EngineFailure }
  /** The engine broke (repeated failed steps) or was told to exit; the worker exits. */
  | { type: "fatal"; error: EngineFailure }
  | { type: "started"; id: string; promptTokens: number; cachedPromptTokens: number }
  | { type: "sample"; id: string; sample: SampleMessage }
  | { type: "done"; id: string }
  | { type: "error"; id: string; error: EngineFailure }
  | { type: "stats"; id: string; stats: WorkerStats };
