// Everything the engine needs, loaded from a checkpoint: validated files, text codec, image settings,
// ONNX sessions and the generation loop; and the requests' image sets. Runs inside the worker thread
// (see worker.ts).

import { stat } from "node:fs/promises";
import path from "node:path";
import { loadCheckpoint, readJson } from "./checkpoint.js";
import { type ChoiceProbe, Engine, type RequestListener } from "./engine.js";
import { EngineError } from "./errors.js";
import {
  PREPROCESSOR_CONFIG_NAME,
  type PreprocessorConfig,
  parsePreprocessorConfig,
} from "./images/config.js";
import { ImageBudget } from "./images/image-budget.js";
import { ImageSet } from "./images/image-set.js";
import { ImagePool } from "./images/pool.js";
import { JudgeModel } from "./model.js";
import { preparePrompt } from "./prompt-inputs.js";
import type { EngineOptions, GenerateMessage, ImagesMessage, ModelInfo, WorkerStats } from "./protocol.js";
import { parseDevice, type SessionLog } from "./runtime/onnx.js";
import { TextCodec } from "./tokenizer.js";

export class EngineHost {
  private readonly imageSets = new Map<string, ImageSet>();
  private readonly imageBudget: ImageBudget;
  /** Decodes and preprocesses images off this thread (whose steps must not wait for them). */
  private readonly imagePool: ImagePool;
  /** Requests still being prepared (image headers read, prompt encoded): a cancel marks them, and they never start. */
  private readonly preparing = new Map<string, { cancelled: boolean }>();
  private readonly inPreparation = new Set<Promise<void>>();
  /**
   * The checkpoint's verdict choices as single tokens after the answer pattern's literal prefix;
   * absent when a choice is several tokens or the pattern has no such prefix.
   */
  private readonly verdictProbe: ChoiceProbe | undefined;

  private constructor(
    readonly info: ModelInfo,
    readonly engine: Engine,
    readonly codec: TextCodec,
    private readonly model: JudgeModel,
    private readonly preprocessor: PreprocessorConfig | undefined,
    private readonly options: EngineOptions,
  ) {
    this.imageBudget = new ImageBudget(options.imageMemoryBytes);
    this.imagePool = new ImagePool(options.imageWorkers);
    const { answerPrefix, choices } = model.checkpoint.verdict;
    const ids = choices.map((c) => codec.encode(c));
    this.verdictProbe =
      answerPrefix && ids.every((t) => t.length === 1)
        ? { after: answerPrefix, tokenIds: ids.map((t) => t[0] as number) }
        : undefined;
  }

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
      { prefillChunk: options.prefillChunkTokens, kvOnDevice: options.kvOnDevice },
    );
    const preprocessor = await readPreprocessor(checkpoint.root, model.hasVision).catch(async (err) => {
      await model.release();
      throw err;
    });
    const eosIds = new Set(options.ignoreEos ? [] : checkpoint.eosTokenIds);
    const engine = new Engine(
      model,
      {
        kvBudgetBytes: options.kvBudgetBytes,
        maxRows: options.maxRows,
        prefixCacheBytes: options.prefixCacheBytes,
        encoderCacheBytes: options.encoderCacheBytes,
      },
      {
        eosIds,
        stopStrings: options.ignoreEos ? [] : checkpoint.verdict.stopStrings,
        decodeTail: (tokens) => codec.decode(tokens),
      },
    );
    const info: ModelInfo = {
      id: checkpoint.modelId,
      variant: options.variant,
      device: model.device,
      dtype: model.kvShape.dtype,
      vision: model.hasVision,
      manifest: checkpoint.manifest,
      eosTokenIds: checkpoint.eosTokenIds,
      verdict: checkpoint.verdict,
    };
    return new EngineHost(info, engine, codec, model, preprocessor, options);
  }

  /** Keeps a request's images until `releaseImages`; a text-only checkpoint keeps nothing. */
  putImages(message: ImagesMessage): void {
    if (!this.preprocessor) return;
    this.imageSets.set(
      message.id,
      new ImageSet(
        message.images,
        message.digests,
        this.preprocessor,
        { maxImagePixels: this.options.maxImagePixels, maxRequestPixels: this.options.maxRequestPixels },
        this.imageBudget,
        this.imagePool,
      ),
    );
  }

  releaseImages(id: string): void {
    this.imageSets.get(id)?.release();
    this.imageSets.delete(id);
  }

  /** Tokenises and preprocesses, then queues the request; errors reject (the caller reports them). */
  generate(message: GenerateMessage, listener: RequestListener): Promise<void> {
    const work = this.prepareAndSubmit(message, listener);
    this.inPreparation.add(work);
    const forget = () => this.inPreparation.delete(work);
    work.then(forget, forget);
    return work;
  }

  private async prepareAndSubmit(message: GenerateMessage, listener: RequestListener): Promise<void> {
    const state = { cancelled: false };
    this.preparing.set(message.id, state);
    try {
      const images = this.imagesOf(message);
      const prepared = await preparePrompt(this.codec, message.messages, images, this.mergeSize, {
        maxPromptTokens: this.options.maxPromptTokens,
      });
      if (state.cancelled) {
        this.engine.finishCancelled(message, listener);
        return;
      }
      this.engine.submit(
        {
          id: message.id,
          prompt: prepared.tensors,
          samples: message.samples,
          seed: message.seed,
          ...(message.seedStride ? { seedStride: message.seedStride } : {}),
          sampling: message.sampling,
          maxNewTokens: message.maxNewTokens,
          ...(message.deadline !== undefined ? { deadline: message.deadline } : {}),
          // R1JUDGE_IGNORE_EOS: only max_new_tokens ends a sample, a request's stop strings included.
          ...(message.stopStrings?.length && !this.options.ignoreEos
            ? { stopStrings: message.stopStrings }
            : {}),
          ...(message.choiceProbabilities && this.verdictProbe ? { probe: this.verdictProbe } : {}),
          client: message.client,
          weight: message.weight,
        },
        listener,
      );
    } finally {
      this.preparing.delete(message.id);
    }
  }

  /** Cancels a request whether it is still being prepared, waiting or running. */
  cancel(id: string, samples?: number[]): void {
    const preparing = this.preparing.get(id);
    if (preparing && !samples) preparing.cancelled = true;
    else this.engine.cancel(id, samples);
  }

  stats(): WorkerStats {
    return {
      ...this.engine.stats(),
      imageSets: this.imageSets.size,
      imageBytes: this.imageBudget.inUse,
      imageWaiting: this.imageBudget.waiting,
    };
  }

  /**
   * Releases everything. Call only once the engine loop has ended: a session released (or a thread
   * torn down) under a running model aborts the whole process, so nothing may be in flight.
   */
  async close(): Promise<void> {
    for (const id of [...this.imageSets.keys()]) this.releaseImages(id);
    // Preparations stop once their set is released, and the pool fails the images it still holds or
    // runs; let them get there.
    await this.imagePool.close();
    await Promise.allSettled([...this.inPreparation]);
    await this.model.release();
  }

  private get mergeSize(): number {
    // Without images there are no pads to expand or place, so the merge size never matters then.
    return this.preprocessor?.mergeSize ?? 1;
  }

  private imagesOf(message: GenerateMessage): ImageSet | undefined {
    const wanted = message.messages.reduce(
      (n, m) => n + (typeof m.content === "string" ? 0 : m.content.filter((c) => c.type === "image").length),
      0,
    );
    if (wanted === 0 && message.images === undefined) return undefined;
    if (!this.model.hasVision)
      throw new EngineError(
        "unsupported_input",
        "this checkpoint has no vision encoder: it cannot take images",
        {
          field: "images",
        },
      );
    const images = message.images === undefined ? undefined : this.imageSets.get(message.images);
    if (!images)
      throw new EngineError("cancelled", "the request's images are gone (released, or the engine restarted)");
    if (images.count !== wanted)
      throw new EngineError(
        "internal",
        `the messages show ${wanted} images but the request has ${images.count}`,
      );
    return images;
  }
}

/** The image settings; a text-only checkpoint (no vision encoder) may leave the file out. */
async function readPreprocessor(root: string, vision: boolean): Promise<PreprocessorConfig | undefined> {
  const present = await stat(path.join(root, PREPROCESSOR_CONFIG_NAME)).catch(() => null);
  if (!present && !vision) return undefined;
  return parsePreprocessorConfig(await readJson(root, PREPROCESSOR_CONFIG_NAME));
}
