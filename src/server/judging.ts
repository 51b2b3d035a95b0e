// The server's judging service: validated requests → judgements. Owns admission (a bounded count of
// accepted judgements; beyond it 429 at once), seeds, deadlines, the judgement cache and vote metrics.

import { randomInt } from "node:crypto";
import { ApiError } from "../errors.js";
import { JudgementCache } from "../judge/cache.js";
import { type GenerationPort, type JudgeInput, type Judgement, judgePair } from "../judge/judge.js";
import { knockout, type Ranking, roundRobin } from "../judge/rank.js";
import { rewardFromVotes, rewardItems } from "../judge/reward.js";
import type { components } from "./generated/api.js";
import type { Metrics } from "./metrics.js";
import { imageBytes, type JudgeRequest, type RankRequest, type RewardRequest } from "./schemas.js";

type JudgeResponse = components["schemas"]["Judgement"];
type RankResponse = components["schemas"]["RankResult"];
type RewardResponse = components["schemas"]["RewardResponse"];

export interface JudgingSettings {
  modelId: string;
  maxQueue: number;
  maxNewTokens: number;
  defaultTimeoutMs: number;
  cacheEntries: number;
}

/** Sampling fields shared by /judge, /rank and /get_reward after validation and defaults. */
interface Sampling {
  samples: number;
  temperature: number;
  top_p: number;
  top_k: number;
  early_stop: boolean;
  max_new_tokens?: number | undefined;
  seed?: number | undefined;
  timeout_ms?: number | undefined;
}

export class JudgingService {
  private pending = 0;
  readonly cache: JudgementCache;

  constructor(
    private readonly port: GenerationPort,
    private settings: JudgingSettings,
    private readonly metrics: Metrics,
  ) {
    this.cache = new JudgementCache(settings.cacheEntries);
  }

  /** The model id answers carry (known once the engine has loaded). */
  setModelId(id: string): void {
    this.settings = { ...this.settings, modelId: id };
  }

  get queueDepth(): number {
    return this.pending;
  }

  /** Reserves room for `count` judgements or refuses at once with 429 (never waits). */
  admit(count: number): () => void {
    if (this.pending + count > this.settings.maxQueue) {
      throw new ApiError(
        "queue_full",
        `the server holds ${this.pending} judgements; the limit is ${this.settings.maxQueue}`,
        {
          retryAfter: 1,
        },
      );
    }
    this.pending += count;
    this.metrics.queueDepth.set(this.pending);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending -= count;
      this.metrics.queueDepth.set(this.pending);
    };
  }

  private input(
    body: Sampling,
    question: string,
    responses: [string, string],
    images: Uint8Array[],
    signal?: AbortSignal,
  ) {
    const maxNewTokens = body.max_new_tokens ?? this.settings.maxNewTokens;
    if (maxNewTokens > this.settings.maxNewTokens) {
      throw new ApiError(
        "unprocessable",
        `max_new_tokens ${maxNewTokens} is over this server's cap of ${this.settings.maxNewTokens}`,
        {
          errors: [{ field: "max_new_tokens", message: `at most ${this.settings.maxNewTokens}` }],
        },
      );
    }
    const timeout = body.timeout_ms ?? this.settings.defaultTimeoutMs;
    return {
      question,
      responses,
      images,
      samples: body.samples,
      temperature: body.temperature,
      topP: body.top_p,
      topK: body.top_k,
      maxNewTokens,
      seed: body.seed ?? randomInt(0, 2 ** 31),
      earlyStop: body.early_stop,
      deadline: Date.now() + timeout,
      ...(signal ? { signal } : {}),
    };
  }

  private async judgeInput(
    input: JudgeInput,
    seeded: boolean,
  ): Promise<{ judgement: Judgement; cached: boolean }> {
    const key = this.cache.key(this.settings.modelId, input, seeded);
    const hit = this.cache.get(key);
    if (key !== undefined) this.metrics.judgementCache.inc({ result: hit ? "hit" : "miss" });
    if (hit) return { judgement: hit, cached: true };
    const judgement = await judgePair(this.port, input);
    if (judgement.deadlineHit) {
      throw new ApiError("deadline_exceeded", "the deadline passed before every vote was in");
    }
    this.metrics.votes.inc({ kind: "1" }, judgement.votes[1]);
    this.metrics.votes.inc({ kind: "2" }, judgement.votes[2]);
    this.metrics.votes.inc({ kind: "invalid" }, judgement.votes.invalid);
    this.cache.set(key, judgement);
    return { judgement, cached: false };
  }

  async judge(body: JudgeRequest, signal?: AbortSignal): Promise<JudgeResponse> {
    const images = body.images.map(imageBytes);
    const input: JudgeInput = {
      ...this.input(body, body.question, body.responses, images, signal),
      order: body.order,
      returnReasoning: body.return_reasoning,
    };
    const { judgement, cached } = await this.judgeInput(input, body.seed !== undefined);
    return this.judgeResponse(judgement, cached);
  }

  judgeResponse(j: Judgement, cached: boolean): JudgeResponse {
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
          finish_reason: s.finishReason as JudgeResponse["samples"][number]["finish_reason"],
          tokens: s.tokens,
          ...(s.reasoning !== undefined ? { reasoning: s.reasoning } : {}),
        })),
      model: this.settings.modelId,
      cached,
      usage: { prompt_tokens: j.usage.promptTokens, completion_tokens: j.usage.completionTokens },
    };
  }

  async rank(body: RankRequest, signal?: AbortSignal): Promise<RankResponse> {
    const images = body.images.map(imageBytes);
    const base = this.input(body, body.question, ["", ""], images, signal);
    let comparison = 0;
    const compare = async (a: number, b: number) => {
      // Comparison c gets seeds seed + c·samples + i: no two votes of a ranking share a seed.
      const seed = base.seed + comparison++ * body.samples;
      const responses: [string, string] = [body.candidates[a] as string, body.candidates[b] as string];
      const order = body.strategy === "round_robin" ? "fixed" : body.samples > 1 ? "alternate" : "fixed";
      return (
        await this.judgeInput(
          { ...base, seed, responses, order, returnReasoning: false },
          body.seed !== undefined,
        )
      ).judgement;
    };
    const result: Ranking =
      body.strategy === "round_robin"
        ? await roundRobin(body.candidates.length, compare)
        : await knockout(body.candidates.length, compare);
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

  async reward(body: RewardRequest, signal?: AbortSignal): Promise<RewardResponse> {
    const items = rewardItems(body.query, body.prompts, body.labels);
    body.query.forEach((query, k) => {
      if (!query.startsWith(body.prompts[k] as string)) {
        throw new ApiError("unprocessable", `query[${k}] does not start with prompts[${k}]`, {
          errors: [{ field: `query[${k}]`, message: "must start with the matching prompts entry" }],
        });
      }
    });
    const judgements = await Promise.all(
      items.map(async (item) => {
        const input: JudgeInput = {
          ...this.input(body, item.question, [item.response, item.reference], [], signal),
          order: body.order,
          returnReasoning: false,
        };
        return (await this.judgeInput(input, body.seed !== undefined)).judgement;
      }),
    );
    const rewards = judgements.map((j) => rewardFromVotes(j.votes[1], j.votes[2]));
    return {
      rewards,
      scores: rewards,
      extra_logs: {
        votes_for: judgements.map((j) => j.votes[1]),
        votes_against: judgements.map((j) => j.votes[2]),
        invalid: judgements.map((j) => j.votes.invalid),
      },
    };
  }
}
