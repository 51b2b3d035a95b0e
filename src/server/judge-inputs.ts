// Every judging default, in one place: one function per route turns its validated body into complete
// JudgeInputs, so judge/ never fills an option in and no route picks up another's default by
// accident. docs/api.md tables them per route, and openapi.yaml describes each field's.
// /rank counts votes (majority): a comparison's preference is a vote share, so its verdict (and early
// stop) follows the same count; /judge takes `aggregation`. Rewards (/get_reward, and any other
// reward protocol through rewardPairInput) are order-balanced and reproducible by default: one greedy
// sample in each order, the reward the mean of their p(policy) ("confidence"), the seed derived from
// the content when the request gives none.

import type { ImageSetRef } from "../engine/client.js";
import { ApiError } from "../errors.js";
import type { JudgeInput } from "../judge/judge.js";
import { contentSeed, type RewardItem } from "../judge/reward.js";
import type { Aggregation, Order } from "../judge/voting.js";
import type { JudgeRequest, RankRequest, RewardRequest } from "./schemas.js";

/** A judgement's options: everything but the verdict rule, which is the loaded model's (JudgingService adds it). */
export type JudgeOptions = Omit<JudgeInput, "verdict">;

/** The server settings the defaults come from. */
export interface DefaultSettings {
  /** R1JUDGE_MAX_NEW_TOKENS: the default and the cap. */
  maxNewTokens: number;
  /** R1JUDGE_DEFAULT_TIMEOUT_MS, counted from the request's arrival. */
  defaultTimeoutMs: number;
  /**
   * R1JUDGE_REWARD_SAMPLES: a reward's samples when the body gives none (OpenRLHF never does); 2 is
   * one greedy sample in each order.
   */
  rewardSamples: number;
}

/** What one request adds: when it arrived, its images and signal, and where a missing seed comes from. */
export interface RequestContext {
  arrived: number;
  images?: ImageSetRef | undefined;
  signal?: AbortSignal | undefined;
  /** A fresh random base seed (only called when the body has none). */
  drawSeed: () => number;
}

/** The sampling fields every route takes (snake_case, as validated). */
interface SamplingBody {
  samples?: number | undefined;
  temperature?: number | undefined;
  top_p?: number | undefined;
  top_k?: number | undefined;
  max_new_tokens?: number | undefined;
  seed?: number | undefined;
  early_stop?: boolean | undefined;
  timeout_ms?: number | undefined;
}

/** /judge, each /judge/batch item and `r1judge judge`: one pair. */
export function judgeRequestInput(
  body: JudgeRequest,
  settings: DefaultSettings,
  ctx: RequestContext,
): JudgeOptions {
  const samples = body.samples ?? 1;
  return {
    question: body.question,
    responses: body.responses,
    ...sampling(body, samples, settings, ctx),
    order: body.order ?? votingOrder(samples),
    aggregation: body.aggregation ?? "confidence",
    returnReasoning: body.return_reasoning ?? false,
  };
}

/** /rank's strategy when the body names none. */
export function rankStrategy(body: RankRequest): "knockout" | "round_robin" {
  return body.strategy ?? "knockout";
}

/**
 * /rank: the input of each comparison. Comparison c (its position in the answer) gets seeds
 * seed + c·samples + i, so no two votes of a ranking share a seed; the base seed is drawn once.
 */
export function rankComparisonInputs(
  body: RankRequest,
  settings: DefaultSettings,
  ctx: RequestContext,
): (responses: [string, string], comparison: number) => JudgeOptions {
  const samples = body.samples ?? 1;
  const base = sampling(body, samples, settings, ctx);
  // Round robin plays both orders as separate comparisons already.
  const order: Order = rankStrategy(body) === "round_robin" ? "fixed" : votingOrder(samples);
  return (responses, comparison) => ({
    question: body.question,
    responses,
    ...base,
    seed: base.seed + comparison * samples,
    order,
    aggregation: RANK_AGGREGATION,
    returnReasoning: false,
  });
}

/** The sampling fields a reward request may carry (all optional; reward protocols send none). */
export type RewardSamplingBody = SamplingBody & { order?: Order | undefined };

/**
 * Any reward route: the policy's response as Response 1 against the reference as Response 2, with
 * the reward defaults: R1JUDGE_REWARD_SAMPLES samples in alternating order, greedy while each order
 * gets at most one sample (rewardTemperature), "confidence" aggregation (the reward is the mean
 * p(policy), rewardOf in judge/reward.ts), every sample drawn (no early stop), and without a seed one derived from the content
 * (contentSeed: the request's images' digests included), which makes the judgement reproducible
 * (cache it: JudgingService passes `seeded` true for rewards).
 */
export function rewardPairInput(
  pair: { question: string; policy: string; reference: string },
  body: RewardSamplingBody,
  settings: DefaultSettings,
  ctx: RequestContext,
): JudgeOptions {
  const samples = body.samples ?? settings.rewardSamples;
  const order = body.order ?? votingOrder(samples);
  const responses: [string, string] = [pair.policy, pair.reference];
  const seeded: RequestContext = {
    ...ctx,
    drawSeed: () => contentSeed(pair.question, responses, ctx.images?.digests ?? []),
  };
  const base = sampling(body, samples, settings, seeded);
  return {
    question: pair.question,
    responses,
    ...base,
    temperature: body.temperature ?? rewardTemperature(samples, order),
    // Every sample is drawn: an early stop would weigh one order more, and which samples it cancels
    // depends on the engine's timing, so a cached, "reproducible" reward could differ on a retry.
    earlyStop: body.early_stop ?? false,
    order,
    aggregation: REWARD_AGGREGATION,
    returnReasoning: false,
  };
}

/** /get_reward: one item (OpenRLHF's query, prompt and label, read by rewardItem). */
export function rewardItemInput(
  body: RewardRequest,
  item: RewardItem,
  settings: DefaultSettings,
  ctx: RequestContext,
): JudgeOptions {
  return rewardPairInput(
    { question: item.question, policy: item.response, reference: item.reference },
    body,
    settings,
    ctx,
  );
}

/**
 * A reward's default temperature: greedy while no order gets more than one sample (one greedy
 * sample per order is the order-balanced reward; more greedy samples would only repeat it), else 1.
 */
export function rewardTemperature(samples: number, order: Order): number {
  const perOrder = order === "alternate" ? Math.ceil(samples / 2) : samples;
  return perOrder <= 1 ? 0 : 1;
}

/** A comparison's scores are vote shares, so its verdicts count votes too. */
const RANK_AGGREGATION: Aggregation = "majority";

/** A reward is the mean p(policy) over the samples: continuous, and balanced over both orders. */
const REWARD_AGGREGATION: Aggregation = "confidence";

/** NeMo-Gym counts its judges' votes (majority), as its genrm_compare does. */
const COMPARE_AGGREGATION: Aggregation = "majority";

/** Several votes see the responses in both orders (a position bias cancels); one vote sees them as given. */
function votingOrder(samples: number): Order {
  return samples > 1 ? "alternate" : "fixed";
}

/** The sampling part every route shares: greedy for one vote, the server's cap, a seed, the deadline. */
function sampling(body: SamplingBody, samples: number, settings: DefaultSettings, ctx: RequestContext) {
  const maxNewTokens = body.max_new_tokens ?? settings.maxNewTokens;
  if (maxNewTokens > settings.maxNewTokens) {
    throw new ApiError(
      "unprocessable",
      `max_new_tokens ${maxNewTokens} is over this server's cap of ${settings.maxNewTokens}`,
      { errors: [{ field: "max_new_tokens", message: `at most ${settings.maxNewTokens}` }] },
    );
  }
  return {
    samples,
    temperature: body.temperature ?? (samples === 1 ? 0 : 1),
    topP: body.top_p ?? 1,
    topK: body.top_k ?? 0,
    maxNewTokens,
    seed: body.seed ?? ctx.drawSeed(),
    earlyStop: body.early_stop ?? true,
    deadline: ctx.arrived + (body.timeout_ms ?? settings.defaultTimeoutMs),
    ...(ctx.images ? { images: ctx.images } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

/** NeMo-Gym /compare's body as the judging service takes it (routes/nemo-gym.ts builds it). */
export interface CompareBody {
  question: string;
  responses: readonly string[];
  /** NeMo-Gym's num_judges_per_comparison: the samples of each comparison. */
  judges: number;
  seed?: number | undefined;
  timeout_ms?: number | undefined;
}

/**
 * /compare: comparison c of pair (i, j) is responses[i] as Response 1 against responses[j]. Every
 * judge votes (no early stop: NeMo-Gym reports each judge), greedy for one judge, else temperature 1
 * with the orders alternating (a position bias cancels); comparison c gets seeds seed + c·judges + i
 * (the base seed drawn once per request, as /rank's); votes counted.
 */
export function compareComparisonInputs(
  body: CompareBody,
  settings: DefaultSettings,
  ctx: RequestContext,
): (pair: readonly [number, number], comparison: number) => JudgeOptions {
  const base = sampling({ seed: body.seed, timeout_ms: body.timeout_ms }, body.judges, settings, ctx);
  return ([i, j], comparison) => ({
    question: body.question,
    responses: [body.responses[i] as string, body.responses[j] as string],
    ...base,
    seed: base.seed + comparison * body.judges,
    earlyStop: false,
    order: votingOrder(body.judges),
    aggregation: COMPARE_AGGREGATION,
    returnReasoning: false,
  });
}
