// The generation loop: K samples of a prompt prefill once and decode as one batch (the KV cache is
// broadcast), and requests join the running batch at step boundaries (continuous batching). Rows
// leave when they finish, are cancelled or pass their deadline; NaN logits end only their own row.
// A prompt's tokens are prefilled in chunks between decode steps, at most the model's
// `prefillChunkTokens` of them per step, so running rows never wait for a long prompt; its images
// become features meanwhile, off the step loop (pixels decoded in the image pool, the vision encoder
// in its own thread on the CPU), once per image digest.
// Failures stay as small as they can: a request whose prefill, sampling or listener fails ends alone;
// a failed decode step fails the running batch (its rows share one KV cache); only repeated failed
// steps stop the loop (run() rejects: the engine is broken and its worker must be replaced).

import { EncoderCache } from "./encoder-cache.js";
import { EngineError } from "./errors.js";
import { type FairShare, fairOrder } from "./fair-queue.js";
import { type KvCache, type KvLocation, type KvShape, kvBytesPerToken, SPARE_COLUMNS } from "./kv.js";
import { imageNeeded, type PromptImage, type PromptTensors, type StepResult } from "./model.js";
import type { GridThw } from "./positions.js";
import { PrefixCache, type PrefixHit, type PrefixKeys, prefixKeys } from "./prefix-cache.js";
import type { FloatData } from "./runtime/tensor.js";
import { Prng } from "./sampling/prng.js";
import { InvalidLogitsError, type SamplingParams, sampleToken, samplingProblem } from "./sampling/sampler.js";
import { type Demand, type Limits, planAdmission } from "./scheduler.js";

export type FinishReason = "stop" | "length" | "invalid" | "cancelled" | "deadline";

/** How many samples of a prompt to draw, and how: shared by the engine and its worker messages. */
export interface SampleSpec {
  samples: number;
  /** Sample i draws from its own PRNG seeded `seed + i · seedStride`. */
  seed: number;
  /** 1 by default; 2 lets two requests interleave one seed sequence (votes in alternating order). */
  seedStride?: number;
  sampling: SamplingParams;
  maxNewTokens: number;
  /** Epoch milliseconds; rows still running then finish with "deadline". */
  deadline?: number;
  /**
   * This request's own stop strings, beside the checkpoint's (StopRule): a sample ends ("stop") once
   * its text contains one (the text still holds it; the caller trims what its protocol wants).
   */
  stopStrings?: readonly string[];
}

/**
 * Where a sample commits to one of a few choices (a verdict): once its text ends with `after`, the
 * next step's distribution gives each choice token's probability (temperature 1, the whole
 * vocabulary), reported with the sample.
 */
export interface ChoiceProbe {
  after: string;
  tokenIds: readonly number[];
}

export interface GenerateRequest extends SampleSpec, FairShare {
  id: string;
  prompt: PromptTensors;
  probe?: ChoiceProbe;
}

export interface SampleOutput {
  index: number;
  seed: number;
  tokens: number[];
  finishReason: FinishReason;
  error?: string;
  /** The probe's choice probabilities at the sample's first commitment point, when it reached one. */
  choiceProbabilities?: number[];
}

export interface RequestStats {
  promptTokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  cachedPromptTokens: number;
}

export interface RequestListener {
  onStart?(stats: RequestStats): void;
  onSample(sample: SampleOutput): void;
  /** Every sample has been reported. */
  onDone(): void;
  onError(error: Error): void;
}

export interface StopRule {
  eosIds: ReadonlySet<number>;
  stopStrings: readonly string[];
  /** Decodes a few trailing tokens to look for stop strings. */
  decodeTail(tokens: readonly number[]): string;
}

/** What the loop needs of a model (JudgeModel in production; unit tests may pass a fake). */
export interface GenerationModel {
  readonly kvShape: KvShape;
  readonly vocabSize: number;
  /** Distinguishes prefix-cache entries of different models and dtypes. */
  readonly cacheNamespace: string;
  readonly imagePadTokenId: number;
  /** Where the model keeps the KV cache (device memory on WebGPU). */
  readonly kvLocation: KvLocation;
  /**
   * Prompt tokens a prefill runs at once, and the prompt work (tokens prefilled plus image tokens
   * encoded) done between two decode steps; a slice bigger than this (one large image) runs alone.
   */
  readonly prefillChunkTokens: number;
  emptyKv(rows: number): KvCache;
  /** One image's features from its patches (the vision encoder). */
  encodeImage(pixelValues: Float32Array, grid: GridThw): Promise<FloatData>;
  /**
   * Prompt tokens [from, to) on top of `past` (one row of exactly `from` columns; none at 0), image
   * pads taking rows of `features[image]`; `past` is left as it is.
   */
  prefillRange(
    prompt: PromptTensors,
    past: KvCache | undefined,
    from: number,
    to: number,
    features: readonly (FloatData | undefined)[],
  ): Promise<StepResult>;
  step(tokens: readonly number[], ropeDeltas: readonly number[], kv: KvCache): Promise<StepResult>;
  /** Bytes moved between host and device memory so far (absent or zero on CPU). */
  transfers?(): { toDevice: number; toHost: number };
}

export interface EngineSettings extends Limits {
  prefixCacheBytes: number;
  /** Bytes of vision-encoder output kept by image digest (0: none kept). */
  encoderCacheBytes?: number;
  /** Epoch milliseconds, compared with requests' deadlines (Date.now; tests pass their own clock). */
  now?: () => number;
}

export interface EngineStats {
  waiting: number;
  /** Admitted requests whose images or prompt are still being worked through, slice by slice. */
  prefilling: number;
  /** Images whose pixels are being decoded for a prefill. */
  imagesDecoding: number;
  encoderCacheBytes: number;
  encoderHits: number;
  /** Vision-encoder runs. */
  encoderMisses: number;
  runningRequests: number;
  runningRows: number;
  /** Where the KV cache and prefix cache live: their bytes are host or device memory. */
  kvLocation: KvLocation;
  kvBytes: number;
  prefixCacheBytes: number;
  prefixHits: number;
  prefixPartialHits: number;
  prefixMisses: number;
  tokensGenerated: number;
  steps: number;
  /** Bytes the model moved host → device and device → host (0 on CPU). */
  bytesToDevice: number;
  bytesToHost: number;
}

interface Row {
  request: Active;
  index: number;
  prng: Prng;
  tokens: number[];
  /** The text so far ends with the probe's `after`: the next token is the choice. */
  atChoice?: boolean;
  choiceProbabilities?: number[];
}

interface Active {
  request: GenerateRequest;
  listener: RequestListener;
  remaining: number;
  cancelled: Set<number> | "all";
  /** Set once the request has failed: it reports nothing more. */
  failed: boolean;
  /** Tokens decoded each step to look for stop strings (tailTokens of the request's own). */
  tail: number;
}

/** An admitted request whose prompt is being worked through, one slice per call. */
interface Prefilling {
  active: Active;
  /** Set by the first slice: the prefix cache is consulted only then, after earlier prompts stored theirs. */
  keys?: PrefixKeys;
  /** Tokens already in the cache (`kv` holds `next` of them). */
  next: number;
  /** Tokens that came from the prefix cache. */
  cached: number;
  /** The cache so far (held while here); absent before the first chunk of an uncached prompt. */
  kv?: KvCache;
  /** Features of the images this prompt still needs (undefined until encoded or found). */
  features: (FloatData | undefined)[];
  needed: number[];
}

/**
 * One image on its way to features, for every prompt that needs it (shared by digest): its pixels
 * decoded off this thread, then the vision encoder (on the CPU in its own thread), then the patches
 * given back to the image budget.
 */
interface ImageJob {
  /** The prompt that started it: for it the features are the encoder's run, for others a hit. */
  owner: Prefilling;
  /** Set when the error is the owner's alone (its image set was released): others start again. */
  errorFor?: Prefilling;
  features?: FloatData;
  error?: Error;
}

const STOP_TAIL_TOKENS = 16;

/**
 * Tokens to decode to find a request's stop strings: every token is at least one byte, so a string of
 * B UTF-8 bytes that the newest token completes lies within the last B tokens (one more for a split
 * character at the start).
 */
function tailTokens(stopStrings: readonly string[]): number {
  let longest = 0;
  for (const s of stopStrings) longest = Math.max(longest, Buffer.byteLength(s, "utf8"));
  return Math.max(STOP_TAIL_TOKENS, longest + 1);
}
const EMPTY_PROMPT: PromptTensors = { inputIds: [], positions: new Int32Array(0), ropeDelta: 0 };
/** Consecutive failed decode steps after which the engine counts as broken (run() rejects). */
export const MAX_FAILED_STEPS = 3;

export class Engine {
  private readonly waiting: Active[] = [];
  private prefilling: Prefilling[] = [];
  private readonly imageJobs = new Map<string, ImageJob>();
  /** Image jobs still running (run() waits for them before it returns). */
  private readonly encoding = new Set<Promise<unknown>>();
  private readonly encoderCache: EncoderCache;
  private rows: Row[] = [];
  /** The running batch's cache; held (retained) until replaced. */
  private kv: KvCache;
  private readonly prefixCache: PrefixCache;
  private wake: (() => void) | undefined;
  private stopped = false;
  private stoppedBecause: EngineError | undefined;
  private tokensGenerated = 0;
  private steps = 0;
  private failedSteps = 0;

  private readonly now: () => number;

  constructor(
    private readonly model: GenerationModel,
    private readonly settings: EngineSettings,
    private readonly stopRule: StopRule,
  ) {
    this.kv = model.emptyKv(0);
    this.prefixCache = new PrefixCache(settings.prefixCacheBytes);
    this.encoderCache = new EncoderCache(settings.encoderCacheBytes ?? 0);
    this.now = settings.now ?? Date.now;
  }

  submit(request: GenerateRequest, listener: RequestListener): void {
    if (this.stopped)
      throw this.stoppedBecause ?? new EngineError("engine_unavailable", "the engine is shutting down");
    // Checked here: a bad value would otherwise throw (or spin) inside iterate() for the whole batch.
    const problem = requestProblem(request);
    if (problem) throw new EngineError("invalid_parameters", problem);
    this.waiting.push({
      request,
      listener,
      remaining: request.samples,
      cancelled: new Set(),
      failed: false,
      tail: tailTokens(request.stopStrings ?? []),
    });
    this.wake?.();
  }

  /** Cancels samples of a request (all when `samples` is absent); takes effect at the next step boundary. */
  cancel(id: string, samples?: readonly number[]): void {
    const waitingIndex = this.waiting.findIndex((a) => a.request.id === id);
    if (waitingIndex >= 0 && !samples) {
      const [active] = this.waiting.splice(waitingIndex, 1);
      if (active) this.finishUnstarted(active, "cancelled");
      return;
    }
    const active =
      this.waiting[waitingIndex] ??
      this.prefilling.find((p) => p.active.request.id === id)?.active ??
      this.rows.find((r) => r.request.request.id === id)?.request;
    if (!active || active.cancelled === "all") return;
    if (!samples) active.cancelled = "all";
    else for (const s of samples) active.cancelled.add(s);
    // A loop asleep while images decode must drop a cancelled prompt now, not when they arrive.
    this.wake?.();
  }

  stats(): EngineStats {
    const transfers = this.model.transfers?.();
    return {
      waiting: this.waiting.length,
      prefilling: this.prefilling.length,
      imagesDecoding: [...this.imageJobs.values()].filter((j) => !j.features && !j.error).length,
      encoderCacheBytes: this.encoderCache.bytes,
      encoderHits: this.encoderCache.hits,
      encoderMisses: this.encoderCache.misses,
      runningRequests: new Set(this.rows.map((r) => r.request)).size,
      runningRows: this.rows.length,
      kvLocation: this.model.kvLocation,
      kvBytes: this.kv.bytes(),
      prefixCacheBytes: this.prefixCache.bytes,
      prefixHits: this.prefixCache.hits,
      prefixPartialHits: this.prefixCache.partialHits,
      prefixMisses: this.prefixCache.misses,
      tokensGenerated: this.tokensGenerated,
      steps: this.steps,
      bytesToDevice: transfers?.toDevice ?? 0,
      bytesToHost: transfers?.toHost ?? 0,
    };
  }

  /** Makes `next` the running batch's cache: holds it, then lets go of the one it replaces. */
  private setKv(next: KvCache): void {
    next.retain();
    this.kv.release();
    this.kv = next;
  }

  /**
   * Runs until `stop()`; finishes nothing early on its own. A failed step fails the requests in
   * the batch and the loop goes on; MAX_FAILED_STEPS failures in a row reject (the engine is broken).
   */
  async run(): Promise<void> {
    while (!this.stopped) {
      if (this.rows.length === 0 && this.waiting.length === 0 && this.prefilling.length === 0) {
        await this.sleep();
        continue;
      }
      try {
        await this.iterate();
        this.failedSteps = 0;
      } catch (err) {
        this.failBatch(err);
        if (++this.failedSteps >= MAX_FAILED_STEPS) {
          this.stoppedBecause ??= engineFailed(err);
          this.stopped = true;
          this.failAll(err);
          throw err;
        }
      }
      // Let the worker's message handler run (new requests, cancellations) between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.stoppedBecause) this.failAll(this.stoppedBecause);
    // The vision session may be encoding for a job (in this thread on a GPU): the caller releases the
    // sessions once run() returns, and a session released under a run aborts the process.
    await Promise.allSettled(this.encoding);
  }

  /**
   * Waits for a submit, a cancel, a stop or a decoded image; or, when a prompt is waiting for its
   * pixels, until the earliest deadline among them (it must end then, pixels or not).
   */
  private async sleep(): Promise<void> {
    if (this.stopped) return;
    const deadlines = [...this.prefilling.map((p) => p.active), ...this.waiting].flatMap(
      (a) => a.request.deadline ?? [],
    );
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      if (deadlines.length) timer = setTimeout(resolve, Math.max(0, Math.min(...deadlines) - this.now()) + 1);
    });
    clearTimeout(timer);
    this.wake = undefined;
  }

  /** Ends every request, running or waiting, with `engine_failed` (the engine is going away). */
  failAll(cause: unknown): void {
    this.failBatch(cause);
    for (const p of this.prefilling.splice(0))
      this.endPrefill(p, () => this.fail(p.active, engineFailed(cause)));
    for (const active of this.waiting.splice(0)) this.fail(active, engineFailed(cause));
  }

  /** Why the loop stopped, when it stopped as broken or replaced rather than shut down. */
  get stopReason(): EngineError | undefined {
    return this.stoppedBecause;
  }

  /**
   * Ends run() at the next step boundary (never inside a model run); with a `reason`, every request
   * still held then fails with it.
   */
  stop(reason?: EngineError): void {
    this.stoppedBecause ??= reason;
    this.stopped = true;
    this.wake?.();
  }

  /**
   * One step boundary: drop dead rows, admit waiting requests, work through admitted prompts (a
   * bounded slice: see prefillChunkTokens), decode one token for every row.
   */
  async iterate(): Promise<void> {
    this.dropRows((row) => this.deadReason(row));
    this.expireWaiting();
    this.admit();
    await this.prefillSlices();
    this.releaseUnneededImages();
    if (this.rows.length > 0) await this.decode();
    // Nothing to decode and every admitted prompt waits for its pixels: wait for them (or a submit,
    // cancel, stop or deadline) instead of spinning.
    else if (this.prefilling.length > 0) {
      // Room a prompt gave back during the slices (failed, or every row ended at its first token)
      // goes to the waiting now, not after someone's pixels arrive.
      if (this.waiting.length > 0) this.admit();
      if (!this.prefillRunnable()) await this.sleep();
    }
  }

  /** Waiting and prefilling requests past their deadline (or cancelled) finish now. */
  private expireWaiting(): void {
    const now = this.now();
    for (const p of [...this.prefilling]) {
      const { request, cancelled } = p.active;
      const reason =
        cancelled === "all"
          ? "cancelled"
          : request.deadline !== undefined && now > request.deadline
            ? "deadline"
            : undefined;
      if (reason) this.endPrefill(p, () => this.finishUnstarted(p.active, reason));
    }
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const active = this.waiting[i] as Active;
      if (active.request.deadline !== undefined && now > active.request.deadline) {
        this.waiting.splice(i, 1);
        this.finishUnstarted(active, "deadline");
      }
    }
  }

  /** The running batch failed as a whole (a decode step or a KV operation threw): its requests end. */
  private failBatch(cause: unknown): void {
    const running = new Set(this.rows.map((r) => r.request));
    this.rows = [];
    this.setKv(this.model.emptyKv(0));
    for (const active of running) this.fail(active, engineFailed(cause));
  }

  /** Ends one request with an error: its rows leave the batch and it reports nothing more. */
  private failRequest(active: Active, error: Error): void {
    if (this.rows.some((r) => r.request === active))
      this.dropRows((row) => (row.request === active ? "done" : undefined));
    const waitingIndex = this.waiting.indexOf(active);
    if (waitingIndex >= 0) this.waiting.splice(waitingIndex, 1);
    const prefilling = this.prefilling.find((p) => p.active === active);
    if (prefilling) this.endPrefill(prefilling, () => {});
    this.fail(active, error);
  }

  private fail(active: Active, error: Error): void {
    if (active.failed) return;
    active.failed = true;
    try {
      active.listener.onError(error);
    } catch {
      // A listener that cannot even take its error has nobody left to tell.
    }
  }

  /**
   * Calls a listener; one that throws (a bug on the other side) fails its own request, never the loop.
   * Returns false when the request failed.
   */
  private notify(active: Active, call: (listener: RequestListener) => void): boolean {
    if (active.failed) return false;
    try {
      call(active.listener);
      return true;
    } catch (err) {
      this.failRequest(active, err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  }

  private deadReason(row: Row): FinishReason | undefined {
    const { cancelled, request } = row.request;
    if (cancelled === "all" || cancelled.has(row.index)) return "cancelled";
    if (request.deadline !== undefined && this.now() > request.deadline) return "deadline";
    return undefined;
  }

  private demand(active: Active, rows = active.remaining): Demand {
    const r = active.request;
    // A row's cache grows into buffers with SPARE_COLUMNS of room (KvBatch.append), so it can hold
    // that many columns more than it will ever use: the budget counts them.
    return { id: r.id, rows, tokensPerRow: r.prompt.inputIds.length + r.maxNewTokens + SPARE_COLUMNS };
  }

  /** Moves the waiting requests the KV budget has room for to `prefilling` (in fair order across clients). */
  private admit(): void {
    const held = new Map<Active, number>();
    for (const r of this.rows) held.set(r.request, (held.get(r.request) ?? 0) + 1);
    // A prompt being prefilled will need a row per sample: its room is taken from admission on.
    for (const p of this.prefilling) held.set(p.active, p.active.remaining);
    // Fair across clients: one client's single request does not wait behind another's batch.
    const order = fairOrder(
      this.waiting.map((a) => ({ ...this.demand(a), client: a.request.client, weight: a.request.weight })),
      [...held].flatMap(([a, rows]) => Array<FairShare>(rows).fill(a.request)),
    );
    // Only about a step's worth of prompt work is admitted ahead of time: what waits beyond it stays
    // in fair order here, rather than queueing first come first served among the admitted prompts.
    let ahead = this.prefilling.reduce((n, p) => n + this.tokensToPrefill(p), 0);
    let take = 0;
    const promptOf = new Map(this.waiting.map((a) => [a.request.id, a.request.prompt.inputIds.length]));
    while (take < order.length && ahead < this.model.prefillChunkTokens)
      ahead += promptOf.get((order[take++] as (typeof order)[number]).id) ?? 0;
    const plan = planAdmission(
      [...held].map(([a, rows]) => this.demand(a, rows)),
      order.slice(0, take),
      this.settings,
      kvBytesPerToken(this.model.kvShape),
    );
    for (const { id, reason } of plan.reject) {
      const index = this.waiting.findIndex((a) => a.request.id === id);
      const [active] = this.waiting.splice(index, 1);
      if (active) this.fail(active, new CapacityError(reason));
    }
    for (const id of plan.admit) {
      const index = this.waiting.findIndex((a) => a.request.id === id);
      const [active] = this.waiting.splice(index, 1);
      if (active) this.prefilling.push({ active, next: 0, cached: 0, features: [], needed: [] });
    }
  }

  /** Prompt tokens an admitted prompt can still prefill now (none while it waits for image features). */
  private tokensToPrefill(p: Prefilling): number {
    if (p.needed.some((i) => !p.features[i])) return 0;
    return p.active.request.prompt.inputIds.length - p.next;
  }

  /** Whether some admitted prompt has work it can do now (not only waiting for its pixels). */
  private prefillRunnable(): boolean {
    return this.prefilling.some((p) => this.nextSlice(p) !== "blocked");
  }

  /**
   * Prompt work in slices — an image encoded, a chunk prefilled — in admission order, until the
   * step's budget is spent (one slice at least, whatever its size). Returns once every admitted
   * prompt is done or waiting for its pixels, or the budget is spent.
   */
  private async prefillSlices(): Promise<void> {
    const budget = this.model.prefillChunkTokens;
    let spent = 0;
    let slices = 0;
    for (const p of [...this.prefilling]) {
      for (;;) {
        if (!this.prefilling.includes(p)) break;
        const slice = this.nextSlice(p);
        if (slice === "blocked") break;
        if (slices > 0 && spent + slice.cost > budget) return;
        slices++;
        spent += slice.cost;
        try {
          await slice.run();
        } catch (err) {
          // A prompt's own work touches no running row: only this request fails.
          this.failRequest(p.active, err instanceof Error ? err : new Error(String(err)));
        }
      }
    }
  }

  /** The next piece of a prompt's work, its cost in tokens, or "blocked" while its pixels decode. */
  private nextSlice(p: Prefilling): { cost: number; run: () => Promise<void> } | "blocked" {
    const { prompt } = p.active.request;
    if (!p.keys) return { cost: 0, run: async () => this.lookupPrefix(p) };
    // Every missing image is asked for at once (the image budget bounds how many decode at a time).
    let waiting = false;
    for (const index of p.needed) {
      if (p.features[index]) continue;
      const image = prompt.images?.[index] as PromptImage;
      const running = this.imageJobs.get(image.digest);
      if (running?.features) {
        // Encoded for this prompt, or for another while this one waited (or with the cache off).
        p.features[index] = running.features;
        if (running.owner !== p) this.encoderCache.hits++;
        continue;
      }
      const known = this.encoderCache.lookup(image.digest);
      if (known) {
        p.features[index] = known;
        continue;
      }
      if (running?.error && running.errorFor !== undefined && running.errorFor !== p)
        this.imageJobs.delete(image.digest); // the owner's own set was released: start from ours
      const job = this.imageJob(image, p);
      if (job.error) {
        const error = forImage(job.error, index);
        return { cost: 0, run: async () => this.failRequest(p.active, error) };
      }
      waiting = true;
    }
    if (waiting) return "blocked";
    const to = Math.min(prompt.inputIds.length, p.next + this.model.prefillChunkTokens);
    return { cost: to - p.next, run: () => this.prefillChunk(p, to) };
  }

  /** The first slice: what the prefix cache holds of the prompt, and which images are still needed. */
  private lookupPrefix(p: Prefilling): void {
    const { prompt } = p.active.request;
    const digests = prompt.images?.map((i) => i.digest) ?? [];
    p.keys = prefixKeys(this.model.cacheNamespace, prompt.inputIds, this.model.imagePadTokenId, digests);
    const hit: PrefixHit | undefined = this.prefixCache.lookup(p.keys, prompt.inputIds.length);
    if (hit) {
      hit.kv.retain();
      p.kv = hit.kv;
      p.next = p.cached = hit.tokens;
    }
    if (hit?.logits) {
      this.finishPrefill(p, hit.logits);
      return;
    }
    p.needed = (prompt.images ?? []).flatMap((_, i) =>
      imageNeeded(prompt, i, p.next, this.model.imagePadTokenId) ? [i] : [],
    );
  }

  /** The job that turns an image into features, started on first need and shared by digest. */
  private imageJob(image: PromptImage, owner: Prefilling): ImageJob {
    const running = this.imageJobs.get(image.digest);
    if (running) return running;
    const job: ImageJob = { owner };
    this.imageJobs.set(image.digest, job);
    const settled = this.encodeImage(image).then(
      (features) => {
        this.encoderCache.store(image.digest, features);
        job.features = features;
      },
      (err: unknown) => {
        job.error = err instanceof Error ? err : new Error(String(err));
        // A released image set is its owner's end, not the image's fault: another prompt that needs
        // the digest starts again from its own bytes.
        if (err instanceof EngineError && err.code === "cancelled") job.errorFor = owner;
      },
    );
    const tracked = settled.then(() => {
      this.encoding.delete(tracked);
      // Nobody waits for it any more (the loop may be idle): its features stay only in the cache.
      if (this.imageJobs.get(image.digest) === job && !this.wantedDigests().has(image.digest))
        this.imageJobs.delete(image.digest);
      this.wake?.();
    });
    this.encoding.add(tracked);
    return job;
  }

  private async encodeImage(image: PromptImage): Promise<FloatData> {
    const patches = await image.patches();
    try {
      // Every prompt that wanted it has gone (cancelled, past its deadline), or the engine is
      // stopping: no encoder time for it.
      if (this.stopped || !this.wantedDigests().has(image.digest))
        throw new EngineError("cancelled", "no request needs this image any more");
      return await this.model.encodeImage(patches.pixelValues, image.grid);
    } finally {
      patches.release();
    }
  }

  private async prefillChunk(p: Prefilling, to: number): Promise<void> {
    const result = await this.model.prefillRange(p.active.request.prompt, p.kv, p.next, to, p.features);
    result.kv.retain();
    p.kv?.release();
    p.kv = result.kv;
    p.next = to;
    if (to < p.active.request.prompt.inputIds.length) return;
    this.prefixCache.store(p.keys as PrefixKeys, result.kv, result.logits);
    this.finishPrefill(p, result.logits);
  }

  /** The prompt is in the cache: its rows join the running batch. */
  private finishPrefill(p: Prefilling, logits: Float32Array): void {
    this.endPrefill(p, () => {
      if (p.kv) this.startRows(p.active, { logits, kv: p.kv, cached: p.cached });
    });
  }

  /** Takes a prompt out of `prefilling`, runs `then` while its cache is still held, then lets go. */
  private endPrefill(p: Prefilling, then: () => void): void {
    const index = this.prefilling.indexOf(p);
    if (index >= 0) this.prefilling.splice(index, 1);
    try {
      then();
    } finally {
      p.kv?.release();
      p.kv = undefined;
    }
  }

  /** Digests of the images admitted prompts still wait for. */
  private wantedDigests(): Set<string> {
    const wanted = new Set<string>();
    for (const p of this.prefilling)
      for (const i of p.needed)
        if (!p.features[i]) wanted.add(p.active.request.prompt.images?.[i]?.digest ?? "");
    return wanted;
  }

  /** Finished image jobs no admitted prompt still waits for are dropped (their features stay cached). */
  private releaseUnneededImages(): void {
    if (this.imageJobs.size === 0) return;
    const wanted = this.wantedDigests();
    for (const [digest, job] of this.imageJobs)
      if (!wanted.has(digest) && (job.features || job.error)) this.imageJobs.delete(digest);
  }

  private startRows(active: Active, prompt: { logits: Float32Array; kv: KvCache; cached: number }): void {
    const { request } = active;
    if (request.deadline !== undefined && this.now() > request.deadline) {
      this.finishUnstarted(active, "deadline");
      return;
    }
    const stats = { promptTokens: request.prompt.inputIds.length, cachedPromptTokens: prompt.cached };
    if (!this.notify(active, (l) => l.onStart?.(stats))) return;
    const vocab = this.model.vocabSize;
    const fresh: Row[] = [];
    for (let index = 0; index < request.samples; index++) {
      const row: Row = { request: active, index, prng: new Prng(sampleSeed(request, index)), tokens: [] };
      if (this.appendToken(row, prompt.logits.subarray(0, vocab))) fresh.push(row);
      if (active.failed) return;
    }
    if (fresh.length === 0) return;
    this.setKv(this.kv.concat(prompt.kv.select(fresh.map(() => 0))));
    this.rows.push(...fresh);
  }

  private async decode(): Promise<void> {
    const last = this.rows.map((r) => r.tokens[r.tokens.length - 1] as number);
    const deltas = this.rows.map((r) => r.request.request.prompt.ropeDelta);
    const { logits, kv } = await this.model.step(last, deltas, this.kv);
    this.setKv(kv);
    this.steps++;
    const vocab = this.model.vocabSize;
    const finished = new Set<Row>();
    this.rows.forEach((row, r) => {
      if (row.request.failed) return;
      if (!this.appendToken(row, logits.subarray(r * vocab, (r + 1) * vocab))) finished.add(row);
    });
    if (finished.size || this.rows.some((r) => r.request.failed))
      this.dropRows((row) => (finished.has(row) || row.request.failed ? "done" : undefined));
  }

  /**
   * Samples the row's next token and reports it if that ends the row; returns whether it continues.
   * Unusable logits end the row as "invalid"; a sampler failure of any other kind (a bug) fails the
   * row's request alone.
   */
  private appendToken(row: Row, logits: Float32Array): boolean {
    const { request } = row.request;
    if (row.atChoice && request.probe) {
      const p = probabilities(logits, request.probe.tokenIds);
      if (p.every(Number.isFinite)) row.choiceProbabilities = p;
      row.atChoice = false;
    }
    let token: number;
    try {
      token = sampleToken(logits, request.sampling, row.prng);
    } catch (err) {
      if (err instanceof InvalidLogitsError) this.report(row, "invalid", err.message);
      else this.failRequest(row.request, err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    row.tokens.push(token);
    this.tokensGenerated++;
    const probe = request.probe && !row.choiceProbabilities ? request.probe : undefined;
    const own = request.stopStrings ?? [];
    const tail =
      this.stopRule.stopStrings.length || own.length || probe
        ? this.stopRule.decodeTail(row.tokens.slice(-row.request.tail))
        : "";
    if (probe && tail.endsWith(probe.after)) row.atChoice = true;
    if (
      this.stopRule.eosIds.has(token) ||
      this.stopRule.stopStrings.some((s) => tail.includes(s)) ||
      own.some((s) => tail.includes(s))
    ) {
      this.report(row, "stop");
      return false;
    }
    if (row.tokens.length >= request.maxNewTokens) {
      this.report(row, "length");
      return false;
    }
    return true;
  }

  /** Removes rows for which `reason` returns something; reports those not already reported. */
  private dropRows(reason: (row: Row) => FinishReason | "done" | undefined): void {
    const keep: number[] = [];
    const kept: Row[] = [];
    this.rows.forEach((row, i) => {
      const why = reason(row);
      if (why === undefined) {
        keep.push(i);
        kept.push(row);
      } else if (why !== "done") {
        this.report(row, why);
      }
    });
    if (kept.length === this.rows.length) return;
    this.rows = kept;
    this.setKv(this.kv.select(keep).trim());
  }

  private report(row: Row, finishReason: FinishReason, error?: string): void {
    const active = row.request;
    const sample: SampleOutput = {
      index: row.index,
      seed: sampleSeed(active.request, row.index),
      tokens: row.tokens,
      finishReason,
      ...(error ? { error } : {}),
      ...(row.choiceProbabilities ? { choiceProbabilities: row.choiceProbabilities } : {}),
    };
    if (!this.notify(active, (l) => l.onSample(sample))) return;
    if (--active.remaining === 0) this.notify(active, (l) => l.onDone());
  }

  private finishUnstarted(active: Active, finishReason: FinishReason): void {
    for (let index = 0; index < active.request.samples; index++) {
      const sample = { index, seed: sampleSeed(active.request, index), tokens: [], finishReason };
      if (!this.notify(active, (l) => l.onSample(sample))) return;
    }
    active.remaining = 0;
    this.notify(active, (l) => l.onDone());
  }

  /** Reports every sample of a request cancelled before it reached the engine (while being prepared). */
  finishCancelled(spec: SampleSpec, listener: RequestListener): void {
    const active: Active = {
      request: { ...spec, id: "", prompt: EMPTY_PROMPT },
      listener,
      remaining: spec.samples,
      cancelled: "all",
      failed: false,
      tail: STOP_TAIL_TOKENS,
    };
    this.finishUnstarted(active, "cancelled");
  }
}

/** Softmax probabilities (temperature 1) of `ids` in one row of logits. */
function probabilities(logits: Float32Array, ids: readonly number[]): number[] {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > max) max = logits[i] as number;
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += Math.exp((logits[i] as number) - max);
  return ids.map((id) => Math.exp((logits[id] ?? Number.NEGATIVE_INFINITY) - max) / total);
}

/**
 * A shared image job's error in this prompt's terms: the field names this prompt's image (the job
 * decoded another request's copy of the same bytes).
 */
function forImage(error: Error, index: number): Error {
  if (!(error instanceof EngineError) || !error.field?.startsWith("images[")) return error;
  const field = `images[${index}]`;
  if (error.field === field) return error;
  return new EngineError(error.code, error.message.replaceAll(error.field, field), { field });
}

function engineFailed(cause: unknown): EngineError {
  if (cause instanceof EngineError && cause.code === "engine_failed") return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EngineError("engine_failed", `the engine failed while running this request: ${reason}`);
}

function requestProblem(request: GenerateRequest): string | undefined {
  if (!(Number.isSafeInteger(request.samples) && request.samples >= 1))
    return `samples must be a whole number >= 1, got ${request.samples}`;
  if (!(Number.isSafeInteger(request.maxNewTokens) && request.maxNewTokens >= 1))
    return `max_new_tokens must be a whole number >= 1, got ${request.maxNewTokens}`;
  const stride = request.seedStride ?? 1;
  const lastSeed = request.seed + (request.samples - 1) * stride;
  if (
    !Number.isSafeInteger(request.seed) ||
    request.seed < 0 ||
    !Number.isSafeInteger(lastSeed) ||
    !Number.isSafeInteger(stride) ||
    stride < 1
  )
    return `seed must be an integer in [0, 2^53 - samples], got ${request.seed}`;
  if (request.stopStrings?.some((s) => s.length === 0)) return "a stop string must not be empty";
  return samplingProblem(request.sampling);
}

function sampleSeed(request: SampleSpec, index: number): number {
  return request.seed + index * (request.seedStride ?? 1);
}

export class CapacityError extends EngineError {
  constructor(message: string) {
    super("over_capacity", message);
    this.name = "CapacityError";
  }
}
