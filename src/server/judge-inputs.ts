// Every judging default, in one place: one function per route turns its validated body into complete
// JudgeInputs, so judge/ never fills an option in and no route picks up another's default by
// accident. docs/api.md tables them per route, and openapi.yaml describes each field's.
// /rank and /get_reward count votes (majority): a comparison's preference and a reward are vote
// shares, so their verdicts (and early stop) follow the same count; /judge takes `aggregation`.

import type { ImageSetRef } from "../engine/client.js";
import { ApiError } from "../errors.js";
import type { JudgeInput } from "../judge/judge.js";
import type { RewardItem } from "../judge/reward.js";
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
  /** R1JUDGE_REWARD_SAMPLES: /get_reward's votes when the body gives none (OpenRLHF never does). */
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
    aggregation: RANK_AND_REWARD_AGGREGATION,
    returnReasoning: false,
  });
}

/** /get_reward: one item, the policy's response as Response 1 against the reference as Response 2. */
export function rewardItemInput(
  body: RewardRequest,
  item: RewardItem,
  settings: DefaultSettings,
  ctx: RequestContext,
): JudgeOptions {
  const samples = body.samples ?? settings.rewardSamples;
  return {
    question: item.question,
    responses: [item.response, item.reference],
    ...sampling(body, samples, settings, ctx),
    order: body.order ?? votingOrder(samples),
    aggregation: RANK_AND_REWARD_AGGREGATION,
    returnReasoning: false,
  };
}

/** Their scores are vote shares, so their verdicts count votes too. */
const RANK_AND_REWARD_AGGREGATION: Aggregation = "majority";

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
    aggregation: RANK_AND_REWARD_AGGREGATION,
    returnReasoning: false,
  });
}
