// The server's judging service: validated requests → judgements, for HTTP and `r1judge judge` alike.
// Owns admission (queue slots; 429 when none is free), the request's images (handed to the engine
// once, released when it ends), the judgement cache, vote metrics and the API's answer shapes; each
// route's defaults (seeds and deadlines included) come from judge-inputs.ts.

import { randomInt } from "node:crypto";
import { setMaxListeners } from "node:events";
import type { components } from "../api/api.js";
import type { ImageSetRef } from "../engine/client.js";
import { ApiError } from "../errors.js";
import { JudgementCache } from "../judge/cache.js";
import { type Clock, systemClock } from "../judge/clock.js";
import { type GenerationPort, type JudgeInput, type Judgement, judgePair } from "../judge/judge.js";
import { knockout, type Ranking, roundRobin } from "../judge/rank.js";
import { isEmptyResponse, NoVerdictError, rewardItem, rewardOf } from "../judge/reward.js";
import { VerdictReader, type VerdictRule } from "../judge/verdict.js";
import { Admission, ANONYMOUS, type Slots } from "./admission.js";
import { type ChatCompletion, chatCompletion } from "./chat.js";
import { type ImageLoader, renameFields } from "./image-refs.js";
import {
  type CompareBody,
  compareComparisonInputs,
  type DefaultSettings,
  judgeRequestInput,
  type RequestContext,
  rankComparisonInputs,
  rankStrategy,
  rewardItemInput,
} from "./judge-inputs.js";
import type { Metrics } from "./metrics.js";
import type { ChatCompletionRequest } from "./openai-schemas.js";
import { toApiError } from "./problem.js";
import {
  type BatchItem,
  imageBytes,
  type JudgeRequest,
  type RankRequest,
  type RewardRequest,
} from "./schemas.js";

type JudgeResponse = components["schemas"]["Judgement"];
/** /judge's answer (what `r1judge judge` prints too). */
export type JudgeAnswer = JudgeResponse;
type RankResponse = components["schemas"]["RankResult"];
type RewardResponse = components["schemas"]["RewardResponse"];

export interface JudgingSettings extends DefaultSettings {
  modelId: string;
  maxQueue: number;
  cacheEntries: number;
  /** /get_reward: what an empty reference gets (a 422, or the neutral reward 0.5). */
  rewardEmptyLabel: "reject" | "neutral";
  /** Rewards: what an empty (blank) policy response gets, without judging (R1JUDGE_REWARD_EMPTY_FLOOR). */
  rewardEmptyFloor: number;
  /**
   * Rewards: a judgement with no valid vote is an error the client retries (`error`: 502
   * no_verdict), or the neutral 0.5 flagged in extra_logs.no_verdict (`neutral`).
   */
  rewardNoVerdict: "error" | "neutral";
  /** /get_reward: end-of-turn markers of the policy's template beyond the known ones. */
  rewardEndMarkers: readonly string[];
  /** Clients' weights for their share of the queue and the engine (R1JUDGE_CLIENT_WEIGHTS; else 1). */
  clientWeights?: ReadonlyMap<string, number>;
  /** How long an idle client's share stays reserved (R1JUDGE_CLIENT_IDLE_MS). */
  clientIdleMs?: number;
}

export type BatchResult = { ok: true; value: JudgeResponse } | { ok: false; error: ApiError };

export class JudgingService {
  readonly cache: JudgementCache;
  private readonly admission: Admission;

  constructor(
    private readonly port: GenerationPort,
    private settings: JudgingSettings,
    private readonly metrics: Metrics,
    /** Arrival times and deadline timers (the system clock; deadline tests pass their own). */
    private readonly clock: Clock = systemClock,
  ) {
    this.cache = new JudgementCache(settings.cacheEntries);
    this.admission = new Admission({
      limit: settings.maxQueue,
      weightOf: (client) => this.weightOf(client),
      idleMs: settings.clientIdleMs ?? 60_000,
      now: () => clock.now(),
      onChange: (held) => metrics.queueDepth.set(held),
      onRefuse: (reason) => metrics.refused.inc({ reason }),
    });
  }

  private weightOf(client: string): number {
    return this.settings.clientWeights?.get(client) ?? 1;
  }

  /** The port as one client's judgements use it: the engine orders its queue fairly by client. */
  private portFor(client: string): GenerationPort {
    const port = this.port;
    const weight = this.weightOf(client);
    return {
      generate: (request, handlers) => port.generate({ ...request, client, weight }, handlers),
      cancel: (id, samples) => port.cancel(id, samples),
      putImages: (bytes) => port.putImages(bytes),
      releaseImages: (ref) => port.releaseImages(ref),
    };
  }

  /** Read by the checkpoint's rule once the engine has loaded it (ModelInfo.verdict). */
  private verdict: VerdictReader | undefined;

  /** The loaded model: the id answers carry and the verdict rule votes are read by. */
  setModel(model: { id: string; verdict: VerdictRule }): void {
    this.settings = { ...this.settings, modelId: model.id };
    this.verdict = new VerdictReader(model.verdict);
  }

  /** The loaded model's id (what answers carry in `model`). */
  get modelId(): string {
    return this.settings.modelId;
  }

  get queueDepth(): number {
    return this.admission.depth;
  }

  async judge(body: JudgeRequest, signal?: AbortSignal, client = ANONYMOUS): Promise<JudgeResponse> {
    const slots = this.admission.admit(client, 1);
    try {
      return await this.judgeOne(body, this.clock.now(), signal, client);
    } finally {
      slots.release();
    }
  }

  /** Each valid item judged on its own through the request's slots; a failure stays in its place. */
  async judgeBatch(
    items: readonly BatchItem[],
    signal?: AbortSignal,
    client = ANONYMOUS,
  ): Promise<BatchResult[]> {
    const arrived = this.clock.now();
    const slots = this.admission.admit(client, items.filter((i) => i.ok).length);
    try {
      return await Promise.all(
        items.map(async (item, k): Promise<BatchResult> => {
          if (!item.ok) return item;
          try {
            return {
              ok: true,
              value: await slots.run(() => this.judgeOne(item.value, arrived, signal, client)),
            };
          } catch (err) {
            return { ok: false, error: toApiError(err).within(`items[${k}]`) };
          }
        }),
      );
    } finally {
      slots.release();
    }
  }

  async rank(body: RankRequest, signal?: AbortSignal, client = ANONYMOUS): Promise<RankResponse> {
    const n = body.candidates.length;
    const slots = this.admission.admit(
      client,
      rankStrategy(body) === "round_robin" ? n * (n - 1) : Math.ceil(n / 2),
    );
    try {
      const arrived = this.clock.now();
      return await this.withImages(body.images, (images) =>
        this.rankWith(body, this.context(arrived, images, signal), slots, client),
      );
    } finally {
      slots.release();
    }
  }

  /**
   * `images[k]` loads item k's images, named by its label (image-refs.ts; the protocols that use
   * this path send no pixels of their own), once the item has a queue slot.
   */
  async reward(
    body: RewardRequest,
    signal?: AbortSignal,
    images: readonly (ImageLoader | undefined)[] = [],
    client = ANONYMOUS,
  ): Promise<RewardResponse> {
    const arrived = this.clock.now();
    const neutral = this.settings.rewardEmptyLabel === "neutral";
    const items = body.query.map((query, k) => {
      const found = rewardItem(
        query,
        body.prompts[k] as string,
        body.labels?.[k],
        this.settings.rewardEndMarkers,
      );
      if (!found.ok) throw unprocessable(`${found.field}[${k}]`, `query[${k}] ${found.message}`);
      if (found.item.reference === "" && !neutral) {
        throw unprocessable(
          `labels[${k}]`,
          `labels[${k}] is empty: there is no reference answer to judge the response against ` +
            "(start OpenRLHF with --label_key naming the reference column)",
        );
      }
      return found.item;
    });
    // Rewards without a judgement: an empty response gets the floor, an empty reference (neutral) 0.5.
    const empty = items.map((item) => isEmptyResponse(item.response, this.settings.rewardEndMarkers));
    const judge = items.map((item, k) => !empty[k] && item.reference !== "");
    const slots = this.admission.admit(client, judge.filter(Boolean).length);
    // One failed item fails the call: stop judging the others.
    const stop = new AbortController();
    const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    // Each item's judgement listens while it runs: as many at once as the batch has slots.
    setMaxListeners(0, combined);
    try {
      const judgements = await Promise.all(
        items.map(async (item, k) => {
          if (!judge[k]) return undefined;
          try {
            return await slots.run(async () => {
              combined.throwIfAborted();
              // Reward inputs are reproducible (a client seed, or one derived from the content and images).
              return this.withImageBytes(await images[k]?.(), async (ref) => {
                const { judgement } = await this.judgeInput(
                  rewardItemInput(body, item, this.settings, this.context(arrived, ref, combined)),
                  true,
                  client,
                );
                return { judgement, reward: this.rewardOrNeutral(judgement) };
              });
            });
          } catch (err) {
            stop.abort(err);
            const failed = itemError(err, `query[${k}]`);
            // The engine names an image `images[j]`: for /get_reward it is the label's.
            throw images[k]
              ? renameFields(failed, (f) => f.replace(/^images(?=\[|$)/, `labels[${k}].images`))
              : failed;
          }
        }),
      );
      const rewards = judgements.map((j, k) =>
        empty[k] ? this.settings.rewardEmptyFloor : j ? (j.reward ?? 0.5) : 0.5,
      );
      const noVerdict = this.settings.rewardNoVerdict === "neutral";
      return {
        rewards,
        scores: rewards,
        extra_logs: {
          votes_for: judgements.map((j) => j?.judgement.votes[1] ?? 0),
          votes_against: judgements.map((j) => j?.judgement.votes[2] ?? 0),
          invalid: judgements.map((j) => j?.judgement.votes.invalid ?? 0),
          empty_response: empty.map((e) => (e ? 1 : 0)),
          ...(neutral
            ? { empty_label: items.map((item, k) => (!empty[k] && item.reference === "" ? 1 : 0)) }
            : {}),
          ...(noVerdict ? { no_verdict: judgements.map((j) => (j && j.reward === undefined ? 1 : 0)) } : {}),
        },
      };
    } finally {
      slots.release();
    }
  }

  /** POST /v1/chat/completions: one slot, the engine path and deadline of the judging routes (chat.ts). */
  async chat(
    body: ChatCompletionRequest,
    signal?: AbortSignal,
    requestId?: string,
    client = ANONYMOUS,
  ): Promise<ChatCompletion> {
    const slots = this.admission.admit(client, 1);
    try {
      return await chatCompletion(this.portFor(client), body, this.settings, {
        arrived: this.clock.now(),
        clock: this.clock,
        signal,
        requestId,
      });
    } finally {
      slots.release();
    }
  }

  /**
   * NeMo-Gym /compare: one judgement per pair (its samples are the judges), through one queue slot
   * per comparison; `images` (named by the request, read here) are shared by every comparison. One failed
   * comparison fails the call and stops the others.
   */
  async compare(
    body: CompareBody,
    pairs: readonly (readonly [number, number])[],
    images: ImageLoader | undefined,
    signal?: AbortSignal,
    client = ANONYMOUS,
  ): Promise<Judgement[]> {
    const arrived = this.clock.now();
    const slots = this.admission.admit(client, pairs.length);
    const stop = new AbortController();
    const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    setMaxListeners(0, combined);
    try {
      // Read once the request holds queue slots (a 429 reads nothing).
      return await this.withImageBytes(await images?.(), (ref) => {
        const inputFor = compareComparisonInputs(body, this.settings, this.context(arrived, ref, combined));
        return Promise.all(
          pairs.map(async (pair, c) => {
            try {
              return await slots.run(async () => {
                combined.throwIfAborted();
                return (await this.judgeInput(inputFor(pair, c), body.seed !== undefined, client)).judgement;
              });
            } catch (err) {
              stop.abort(err);
              throw toApiError(err);
            }
          }),
        );
      });
    } finally {
      slots.release();
    }
  }

  /** A judged reward; with R1JUDGE_REWARD_NO_VERDICT=neutral, undefined (0.5, flagged) for no verdict. */
  private rewardOrNeutral(judgement: Judgement): number | undefined {
    try {
      return rewardOf(judgement);
    } catch (err) {
      if (err instanceof NoVerdictError && this.settings.rewardNoVerdict === "neutral") return undefined;
      throw err;
    }
  }

  private async judgeOne(
    body: JudgeRequest,
    arrived: number,
    signal: AbortSignal | undefined,
    client: string,
  ): Promise<JudgeResponse> {
    return this.withImages(body.images, async (images) => {
      const { judgement, cached } = await this.judgeInput(
        judgeRequestInput(body, this.settings, this.context(arrived, images, signal)),
        body.seed !== undefined,
        client,
      );
      return this.judgeResponse(judgement, cached);
    });
  }

  private async rankWith(
    body: RankRequest,
    ctx: RequestContext,
    slots: Slots,
    client: string,
  ): Promise<RankResponse> {
    const inputFor = rankComparisonInputs(body, this.settings, ctx);
    let comparison = 0;
    const compare = (a: number, b: number) => {
      const input = inputFor([body.candidates[a] as string, body.candidates[b] as string], comparison++);
      return slots.run(async () => (await this.judgeInput(input, body.seed !== undefined, client)).judgement);
    };
    const n = body.candidates.length;
    const result: Ranking =
      rankStrategy(body) === "round_robin" ? await roundRobin(n, compare) : await knockout(n, compare);
    return {
      best: result.best,
      ranking: result.ranking,
      scores: result.scores,
      comparisons: result.comparisons.map((c) => ({
        a: c.a,
        b: c.b,
        winner: c.winner,
        preference: c.judgement.preference,
        votes: { "1": c.judgement.votes[1], "2": c.judgement.votes[2], invalid: c.judgement.votes.invalid },
      })),
      model: this.settings.modelId,
      usage: {
        prompt_tokens: result.comparisons.reduce((n, c) => n + c.judgement.usage.promptTokens, 0),
        completion_tokens: result.comparisons.reduce((n, c) => n + c.judgement.usage.completionTokens, 0),
      },
    };
  }

  /** A request's images go to the engine once and are released when the request is done. */
  private async withImages<T>(
    images: readonly string[] | undefined,
    use: (ref: ImageSetRef | undefined) => Promise<T>,
  ): Promise<T> {
    return this.withImageBytes(images?.map(imageBytes), use);
  }

  private async withImageBytes<T>(
    images: readonly Uint8Array[] | undefined,
    use: (ref: ImageSetRef | undefined) => Promise<T>,
  ): Promise<T> {
    if (images === undefined || images.length === 0) return use(undefined);
    const ref = this.port.putImages(images);
    try {
      return await use(ref);
    } finally {
      this.port.releaseImages(ref);
    }
  }

  /** One request's part of its judge inputs. */
  private context(
    arrived: number,
    images: ImageSetRef | undefined,
    signal: AbortSignal | undefined,
  ): RequestContext {
    return { arrived, images, signal, drawSeed: () => randomInt(0, 2 ** 31) };
  }

  private async judgeInput(
    request: Omit<JudgeInput, "verdict">,
    seeded: boolean,
    client: string,
  ): Promise<{ judgement: Judgement; cached: boolean }> {
    if (!this.verdict) throw new ApiError("not_ready", "the model is loading", { retryAfter: 5 });
    const input: JudgeInput = { ...request, verdict: this.verdict };
    const key = this.cache.key(this.settings.modelId, input, seeded);
    const hit = this.cache.get(key);
    if (key !== undefined) this.metrics.judgementCache.inc({ result: hit ? "hit" : "miss" });
    if (hit) return { judgement: hit, cached: true };
    const judgement = await judgePair(this.portFor(client), input, this.clock);
    this.metrics.votes.inc({ kind: "1" }, judgement.votes[1]);
    this.metrics.votes.inc({ kind: "2" }, judgement.votes[2]);
    this.metrics.votes.inc({ kind: "invalid" }, judgement.votes.invalid);
    this.cache.set(key, judgement);
    return { judgement, cached: false };
  }

  private judgeResponse(j: Judgement, cached: boolean): JudgeResponse {
    return {
      winner: j.winner,
      preference: j.preference,
      votes: { "1": j.votes[1], "2": j.votes[2], invalid: j.votes.invalid },
      // Early-stopped samples were never drawn to the end: they are not part of the answer.
      samples: j.samples
        .filter((s) => s.finishReason !== "cancelled")
        .map((s) => ({
          seed: s.seed,
          order: s.order,
          verdict: s.verdict,
          ...(s.probabilities ? { probabilities: s.probabilities } : {}),
          finish_reason: s.finishReason as JudgeResponse["samples"][number]["finish_reason"],
          tokens: s.tokens,
          ...(s.reasoning !== undefined ? { reasoning: s.reasoning } : {}),
        })),
      model: this.settings.modelId,
      cached,
      usage: { prompt_tokens: j.usage.promptTokens, completion_tokens: j.usage.completionTokens },
    };
  }
}

function unprocessable(field: string, detail: string, message = detail): ApiError {
  return new ApiError("unprocessable", detail, { errors: [{ field, message }] });
}

/**
 * An item's failure as the call's: a request-side problem, or an item without a verdict, names the
 * item when it names no field.
 */
function itemError(err: unknown, field: string): ApiError {
  const api = toApiError(err);
  if ((api.code !== "unprocessable" && api.code !== "no_verdict") || api.errors.length > 0) return api;
  return new ApiError(api.code, api.detail, { errors: [{ field, message: api.detail }], cause: api });
}
