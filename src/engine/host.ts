// Everything the engine needs, loaded from a checkpoint: validated files, text codec, image settings,
// ONNX sessions and the generation loop. Runs inside the worker thread (see worker.ts).

import { stat } from "node:fs/promises";
import path from "node:path";
import { loadCheckpoint, readJson } from "./checkpoint.js";
import { Engine, type RequestListener } from "./engine.js";
import {
  PREPROCESSOR_CONFIG_NAME,
  type PreprocessorConfig,
  parsePreprocessorConfig,
} from "./images/config.js";
import { JudgeModel } from "./model.js";
import { preparePrompt } from "./prompt-inputs.js";
import type { EngineOptions, GenerateMessage, ModelInfo } from "./protocol.js";
import { parseDevice, type SessionLog } from "./runtime/onnx.js";
import { TextCodec } from "./tokenizer.js";

export class EngineHost {
  private constructor(
    readonly info: ModelInfo,
    readonly engine: Engine,
    readonly codec: TextCodec,
    private readonly model: JudgeModel,
    private readonly preprocessor: PreprocessorConfig | undefined,
    private readonly options: EngineOptions,
  ) {}

  static async load(options: EngineOptions, log: SessionLog): Promise<EngineHost> {
    const checkpoint = await loadCheckpoint(options.checkpoint, { hashCheck: options.hashCheck ?? "sha256" });
    const codec = await TextCodec.load(checkpoint.root);
    const model = await JudgeModel.open(
      checkpoint,
      options.variant,
      {
        device: parseDevice(options.device),
        allowCpuFallback: options.allowCpuFallback,
        ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
        ...(options.interOpThreads ? { interOpThreads: options.interOpThreads } : {}),
        ...(options.optimizationLevel ? { optimizationLevel: options.optimizationLevel } : {}),
      },
      log,
    );
    const preprocessor = await readPreprocessor(checkpoint.root, model.hasVision).catch(async (err) => {
      await model.release();
      throw err;
    });
    const eosIds = new Set(checkpoint.eosTokenIds);
    const engine = new Engine(
      model,
      {
        kvBudgetBytes: options.kvBudgetBytes,
        maxRows: options.maxRows,
        prefixCacheBytes: options.prefixCacheBytes,
      },
      { eosIds, stopStrings: checkpoint.stopStrings, decodeTail: (tokens) => codec.decode(tokens) },
    );
    const info: ModelInfo = {
      id: checkpoint.modelId,
      checkpoint: checkpoint.root,
      variant: options.variant,
      device: model.device,
      dtype: model.kvShape.dtype,
      vision: model.hasVision,
      manifest: checkpoint.manifest,
      eosTokenIds: checkpoint.eosTokenIds,
    };
    return new EngineHost(info, engine, codec, model, preprocessor, options);
  }

  /** Tokenises and preprocesses, then queues the request; errors reach the listener. */
  async generate(message: GenerateMessage, listener: RequestListener): Promise<void> {
    if (message.images.length && !this.model.hasVision) {
      const err = new Error("this checkpoint has no vision encoder: it cannot take images") as Error & {
        field: string;
      };
      err.field = "images";
      throw err;
    }
    const prepared = await preparePrompt(this.codec, this.preprocessor, message.messages, message.images, {
      maxImagePixels: this.options.maxImagePixels,
      maxPromptTokens: this.options.maxPromptTokens,
    });
    this.engine.submit(
      {
        id: message.id,
        prompt: prepared.tensors,
        imageDigests: prepared.imageDigests,
        samples: message.samples,
        seed: message.seed,
        ...(message.seedStride ? { seedStride: message.seedStride } : {}),
        sampling: message.sampling,
        maxNewTokens: message.maxNewTokens,
        ...(message.deadline !== undefined ? { deadline: message.deadline } : {}),
      },
      listener,
    );
  }

  async close(): Promise<void> {
    this.engine.shutdown();
    await this.model.release();
  }
}

/** The image settings; a text-only checkpoint (no vision encoder) may leave the file out. */
async function readPreprocessor(root: string, vision: boolean): Promise<PreprocessorConfig | undefined> {
  const present = await stat(path.join(root, PREPROCESSOR_CONFIG_NAME)).catch(() => null);
  if (!present && !vision) return undefined;
  return parsePreprocessorConfig(await readJson(root, PREPROCESSOR_CONFIG_NAME));
}
