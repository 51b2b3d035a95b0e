// What one decode step must read: the decoder's weights. The decoder graph takes inputs_embeds, so the
// embedding table is not in it (embed_tokens gathers one row per token: negligible); the tied lm_head
// IS in it and is read in full every step (logits over the whole vocabulary). The KV cache adds
// 2 · layers · kv_heads · head_dim · bytes per past token, small next to the weights at judge lengths.

import { readFile, stat } from "node:fs/promises";
import path from "node:path";

export interface WeightBytes {
  /** Parameters of the decoder graph computed from config.json (layers + final norm + lm_head). */
  decoderParams: number;
  /** decoderParams · bytes per element: what one decode step reads. */
  bytesPerToken: number;
  lmHeadBytes: number;
  /** decoder_model_merged.onnx (+ .onnx.data) on disk, for comparison. */
  decoderFileBytes: number;
  /** KV bytes read per past token per step. */
  kvBytesPerPastToken: number;
}

export interface TextConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  head_dim?: number;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The language model's shape from a checkpoint's config.json (Qwen2.5-VL nests it in text_config). */
export async function readTextConfig(checkpoint: string): Promise<TextConfig> {
  const config = JSON.parse(await readFile(path.join(checkpoint, "config.json"), "utf8")) as {
    text_config?: TextConfig;
  } & TextConfig;
  return config.text_config ?? config;
}

export async function weightBytes(
  checkpoint: string,
  decoderFile: string,
  elementBytes = 4,
): Promise<WeightBytes> {
  const t = await readTextConfig(checkpoint);
  const h = t.hidden_size;
  const headDim = t.head_dim ?? h / t.num_attention_heads;
  const kv = t.num_key_value_heads * headDim;
  const perLayer =
    h * h +
    h + // q (Qwen2 has q/k/v biases)
    2 * (h * kv + kv) + // k, v
    h * h + // o
    3 * h * t.intermediate_size + // gate, up, down
    2 * h; // two RMS norms
  const lmHead = t.vocab_size * h;
  const decoderParams = t.num_hidden_layers * perLayer + h + lmHead;
  return {
    decoderParams,
    bytesPerToken: decoderParams * elementBytes,
    lmHeadBytes: lmHead * elementBytes,
    decoderFileBytes: (await sizeOf(decoderFile)) + (await sizeOf(`${decoderFile}.data`)),
    kvBytesPerPastToken: 2 * t.num_hidden_layers * kv * elementBytes,
  };
}
