// Plain data crossing the worker boundary (structured clone): requests in, samples and stats out.

import type { Variant } from "./checkpoint.js";
import type { EngineStats, FinishReason, SampleSpec } from "./engine.js";
import type { OptimizationLevel } from "./runtime/onnx.js";
import type { ChatMessage } from "./tokenizer.js";

export interface EngineOptions {
  checkpoint: string;
  variant: Variant;
  /** "cpu", "cuda" or "cuda:N". */
  device: string;
  allowCpuFallback: boolean;
  intraOpThreads?: number;
  interOpThreads?: number;
  optimizationLevel?: OptimizationLevel;
  hashCheck?: "sha256" | "size";
  kvBudgetBytes: number;
  maxRows: number;
  prefixCacheBytes: number;
  maxImagePixels: number;
  maxPromptTokens: number;
}

export interface GenerateMessage extends SampleSpec {
  type: "generate";
  id: string;
  messages: ChatMessage[];
  images: Uint8Array[];
}

/** A generation as the main thread asks for it (the worker adds the message type and id). */
export type GenerationRequest = Omit<GenerateMessage, "type" | "id">;

export type ToWorker =
  | GenerateMessage
  | { type: "cancel"; id: string; samples?: number[] }
  | { type: "stats"; id: string }
  | { type: "shutdown" };

export interface ModelInfo {
  id: string;
  checkpoint: string;
  variant: Variant;
  device: string;
  dtype: "float32" | "float16";
  vision: boolean;
  manifest: Record<string, unknown>;
  eosTokenIds: number[];
}

export interface WireError {
  name: string;
  message: string;
  /** Which input was at fault, when known (e.g. "images[1]"). */
  field?: string;
  file?: string;
}

export interface SampleMessage {
  index: number;
  seed: number;
  tokens: number;
  text: string;
  finishReason: FinishReason;
  error?: string;
}

export type FromWorker =
  | { type: "ready"; model: ModelInfo }
  | { type: "failed"; error: WireError }
  | { type: "started"; id: string; promptTokens: number; cachedPromptTokens: number }
  | { type: "sample"; id: string; sample: SampleMessage }
  | { type: "done"; id: string }
  | { type: "error"; id: string; error: WireError }
  | { type: "stats"; id: string; stats: EngineStats };

export function toWireError(err: unknown): WireError {
  const e = err as Error & { field?: string; file?: string; imageIndex?: number };
  return {
    name: e?.name ?? "Error",
    message: e?.message ?? String(err),
    ...(e?.imageIndex !== undefined
      ? { field: `images[${e.imageIndex}]` }
      : e?.field
        ? { field: e.field }
        : {}),
    ...(e?.file ? { file: e.file } : {}),
  };
}
