// Loads and validates an r1-judge checkpoint directory (docs/checkpoint-format.md): the manifest,
// every file's size and sha256, and the Qwen2.5-VL config. Every error names the file and the field.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { EngineError } from "./errors.js";
import { parseVerdictSpec, type VerdictSpec, VerdictSpecError } from "./verdict-spec.js";

export const MANIFEST_NAME = "r1judge.json";
export const FORMAT_NAME = "r1judge-checkpoint";
export const FORMAT_VERSION = 1;
export const GRAPH_NAMES = ["vision_encoder", "embed_tokens", "decoder_model_merged"] as const;
export const KNOWN_PROMPT_TEMPLATES = ["r1-reward-v1"] as const;
const REQUIRED_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"];

export type GraphName = (typeof GRAPH_NAMES)[number];
/** Graph variants: float types, and weight-only quantized decoders (int4/int8: fp32 in and out). */
export const VARIANTS = ["fp32", "fp16", "int4", "int8"] as const;
export type Variant = (typeof VARIANTS)[number];
export type HashCheck = "sha256" | "size";

export class CheckpointError extends EngineError {
  declare readonly file: string;
  declare readonly field: string;

  constructor(file: string, field: string, message: string) {
    super("load_failed", `${file}: field '${field}': ${message}`, { file, field });
    this.name = "CheckpointError";
  }
}

export interface DecoderShape {
  numLayers: number;
  numKeyValueHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  logits: "last" | "all";
}

export interface Checkpoint {
  root: string;
  modelId: string;
  promptTemplate: string;
  eosTokenIds: number[];
  padTokenId: number;
  imagePadTokenId: number;
  /** The manifest's verdict block, checked: vote parsing, the choice probe and stop strings. */
  verdict: VerdictSpec;
  decoder: DecoderShape;
  /** variant → graph → absolute path; vision_encoder is absent for text-only checkpoints. */
  graphs: Partial<Record<Variant, Partial<Record<GraphName, string>>>>;
  spatialMergeSize: number;
  manifest: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** A checkpoint file holding a JSON object; a missing or malformed file is a CheckpointError naming it. */
export async function readJson(root: string, name: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path.join(root, name), "utf8");
  } catch {
    throw new CheckpointError(name, "(file)", `missing from ${root}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(name, "(file)", `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CheckpointError(name, "(file)", "must hold a JSON object");
  }
  return value as Json;
}

function field(obj: Json, dotted: string, file: string): unknown {
  let value: unknown = obj;
  for (const key of dotted.split(".")) {
    if (typeof value !== "object" || value === null || !(key in value)) {
      throw new CheckpointError(file, dotted, "missing");
    }
    value = (value as Json)[key];
  }
  return value;
}

function int(obj: Json, dotted: string, file = MANIFEST_NAME): number {
  const value = field(obj, dotted, file);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new CheckpointError(file, dotted, `expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function str(obj: Json, dotted: string, file = MANIFEST_NAME): string {
  const value = field(obj, dotted, file);
  if (typeof value !== "string") throw new CheckpointError(file, dotted, "expected a string");
  return value;
}

function object(obj: Json, dotted: string, file = MANIFEST_NAME): Json {
  const value = field(obj, dotted, file);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CheckpointError(file, dotted, "expected an object");
  }
  return value as Json;
}

function intList(obj: Json, dotted: string): number[] {
  const value = field(obj, dotted, MANIFEST_NAME);
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new CheckpointError(MANIFEST_NAME, dotted, "expected a non-empty list of token ids");
  }
  return value as number[];
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function checkFiles(root: string, files: Json, hashCheck: HashCheck): Promise<void> {
  for (const name of REQUIRED_FILES) {
    if (!(name in files))
      throw new CheckpointError(MANIFEST_NAME, `files.${name}`, "required file not listed");
  }
  for (const [name, entry] of Object.entries(files)) {
    const file = path.join(root, name);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) throw new CheckpointError(name, "(file)", `listed in ${MANIFEST_NAME} but missing`);
    const expectedHash = (entry as Json | null)?.sha256;
    if (typeof expectedHash !== "string")
      throw new CheckpointError(MANIFEST_NAME, `files.${name}.sha256`, "missing");
    const expectedBytes = (entry as Json).bytes;
    if (info.size !== expectedBytes) {
      throw new CheckpointError(
        name,
        "(file)",
        `${info.size} bytes, ${MANIFEST_NAME} says ${String(expectedBytes)}`,
      );
    }
    if (hashCheck === "sha256" && (await sha256File(file)) !== expectedHash) {
      throw new CheckpointError(name, "(file)", `sha256 differs from ${MANIFEST_NAME} files.${name}.sha256`);
    }
  }
}

/** The Qwen2.5-VL constraints the engine relies on, read from config.json. */
function checkConfig(config: Json, decoder: DecoderShape): number {
  const file = "config.json";
  const modelType = config.model_type;
  if (modelType !== "qwen2_5_vl") {
    throw new CheckpointError(file, "model_type", `expected 'qwen2_5_vl', got ${JSON.stringify(modelType)}`);
  }
  const text = object(config, "text_config", file);
  const hidden = int(text, "hidden_size", file);
  const heads = int(text, "num_attention_heads", file);
  const layers = int(text, "num_hidden_layers", file);
  const vocab = int(text, "vocab_size", file);
  const kvHeads = int(text, "num_key_value_heads", file);
  const rope = (text.rope_parameters ?? text.rope_scaling) as Json | undefined;
  const section = rope?.mrope_section;
  const headDim = hidden / heads;
  if (
    !Array.isArray(section) ||
    section.length !== 3 ||
    section.reduce((a: number, b) => a + Number(b), 0) !== headDim / 2
  ) {
    throw new CheckpointError(
      file,
      "text_config.rope_parameters.mrope_section",
      `must have 3 entries summing to head_dim/2 = ${headDim / 2}`,
    );
  }
  const agree: [keyof DecoderShape, number, string][] = [
    ["numLayers", layers, "num_layers"],
    ["hiddenSize", hidden, "hidden_size"],
    ["vocabSize", vocab, "vocab_size"],
    ["numKeyValueHeads", kvHeads, "num_key_value_heads"],
    ["headDim", headDim, "head_dim"],
  ];
  for (const [key, value, name] of agree) {
    if (decoder[key] !== value) {
      throw new CheckpointError(
        MANIFEST_NAME,
        `decoder.${name}`,
        `${decoder[key]} but config.json says ${value}`,
      );
    }
  }
  const vision = object(config, "vision_config", file);
  return int(vision, "spatial_merge_size", file);
}

export interface LoadOptions {
  /** "sha256" (default) verifies every byte; "size" only sizes, for fast restarts of trusted files. */
  hashCheck?: HashCheck;
}

export async function loadCheckpoint(root: string, options: LoadOptions = {}): Promise<Checkpoint> {
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) throw new CheckpointError(root, "(directory)", "not a directory");
  const manifest = await readJson(root, MANIFEST_NAME);
  if (str(manifest, "format") !== FORMAT_NAME)
    throw new CheckpointError(MANIFEST_NAME, "format", `expected '${FORMAT_NAME}'`);
  const version = int(manifest, "format_version");
  if (version !== FORMAT_VERSION) {
    throw new CheckpointError(
      MANIFEST_NAME,
      "format_version",
      `${version} is not supported (expected ${FORMAT_VERSION})`,
    );
  }
  const promptTemplate = str(manifest, "prompt_template");
  if (!(KNOWN_PROMPT_TEMPLATES as readonly string[]).includes(promptTemplate)) {
    throw new CheckpointError(
      MANIFEST_NAME,
      "prompt_template",
      `unknown template '${promptTemplate}' (known: ${KNOWN_PROMPT_TEMPLATES.join(", ")})`,
    );
  }
  const logits = manifest.decoder && (manifest.decoder as Json).logits;
  if (logits !== undefined && logits !== "last" && logits !== "all") {
    throw new CheckpointError(MANIFEST_NAME, "decoder.logits", "expected 'last' or 'all'");
  }
  const decoder: DecoderShape = {
    numLayers: int(manifest, "decoder.num_layers"),
    numKeyValueHeads: int(manifest, "decoder.num_key_value_heads"),
    headDim: int(manifest, "decoder.head_dim"),
    hiddenSize: int(manifest, "decoder.hidden_size"),
    vocabSize: int(manifest, "decoder.vocab_size"),
    logits: (logits as "last" | "all" | undefined) ?? "all",
  };
  const files = object(manifest, "files");
  const variants = object(manifest, "variants");
  const graphs: Checkpoint["graphs"] = {};
  if (Object.keys(variants).length === 0)
    throw new CheckpointError(MANIFEST_NAME, "variants", "no variant listed");
  for (const variant of Object.keys(variants)) {
    if (!(VARIANTS as readonly string[]).includes(variant)) {
      throw new CheckpointError(
        MANIFEST_NAME,
        `variants.${variant}`,
        `unknown variant (known: ${VARIANTS.join(", ")})`,
      );
    }
    const entry: Partial<Record<GraphName, string>> = {};
    for (const graph of ["embed_tokens", "decoder_model_merged"] as const)
      str(manifest, `variants.${variant}.${graph}`);
    for (const [graph, rel] of Object.entries(object(manifest, `variants.${variant}`))) {
      if (!(GRAPH_NAMES as readonly string[]).includes(graph)) {
        throw new CheckpointError(MANIFEST_NAME, `variants.${variant}.${graph}`, "unknown graph");
      }
      if (typeof rel !== "string" || !(rel in files)) {
        throw new CheckpointError(
          MANIFEST_NAME,
          `variants.${variant}.${graph}`,
          `${String(rel)} is not in 'files'`,
        );
      }
      entry[graph as GraphName] = path.join(root, rel);
    }
    graphs[variant as Variant] = entry;
  }
  const eosTokenIds = intList(manifest, "tokens.eos_token_ids");
  const padTokenId = int(manifest, "tokens.pad_token_id");
  const imagePadTokenId = int(manifest, "tokens.image_pad_token_id");
  const verdict = verdictOf(manifest);
  await checkFiles(root, files, options.hashCheck ?? "sha256");
  const spatialMergeSize = checkConfig(await readJson(root, "config.json"), decoder);
  return {
    root,
    modelId: typeof manifest.model_id === "string" ? manifest.model_id : path.basename(root),
    promptTemplate,
    eosTokenIds,
    padTokenId,
    imagePadTokenId,
    verdict,
    decoder,
    graphs,
    spatialMergeSize,
    manifest,
  };
}

/** The manifest's verdict block, or a CheckpointError naming r1judge.json and the field at fault. */
function verdictOf(manifest: Json): VerdictSpec {
  try {
    return parseVerdictSpec(manifest.verdict);
  } catch (err) {
    if (err instanceof VerdictSpecError) throw new CheckpointError(MANIFEST_NAME, err.field, err.message);
    throw err;
  }
}
