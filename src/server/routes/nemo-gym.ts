// POST /compare: NeMo-Gym's genrm_compare resources server API, served by the judge itself.
// NeMo-Gym posts {conversation_history, response_objs, principle?} (response_objs: Responses API
// objects, their final answer in output[].content[] parts of type output_text) and reads
// {rewards, comparison_results: [{response_i, response_j, judge_idx, score_1, score_2, ranking}],
// metrics}. comparison_strategy and num_judges_per_comparison are server settings in NeMo-Gym
// (R1JUDGE_COMPARE_STRATEGY / R1JUDGE_COMPARE_JUDGES here), which a request may override. How a
// judge's verdict becomes NeMo-Gym's scores: src/judge/compare.ts. A response that no valid judge
// scored is never given a made-up reward: 503 (retry), or with "on_failure": "mask" a 200 with
// `mask_sample: true` (drop the sample from training).

import { Router as makeRouter, type RequestHandler, type Response, type Router } from "express";
import { z } from "zod";
import type { components } from "../../api/api.js";
import { ApiError } from "../../errors.js";
import {
  aggregate,
  type CompareStrategy,
  comparisonPairs,
  DEFAULT_SCORE,
  type JudgeScore,
  judgeScores,
} from "../../judge/compare.js";
import type { Judgement } from "../../judge/judge.js";
import { clientOf } from "../client-id.js";
import { floatJson } from "../float-json.js";
import { resolveImages } from "../image-refs.js";
import type { JudgingService } from "../judging.js";
import { toApiError } from "../problem.js";
import { LIMITS, parseBody } from "../schemas.js";
import { requestSignal } from "./signal.js";

const part = z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  image_url: z.union([z.string(), z.object({ url: z.string() })]).optional(),
});
const message = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(part), z.null()]).optional(),
});

export const compareRequestSchema = z.looseObject({
  conversation_history: z.array(message),
  response_objs: z.array(z.looseObject({})).max(LIMITS.candidatesMax),
  principle: z.string().nullable().optional(),
  comparison_strategy: z.enum(["circular", "all_pairs"]).optional(),
  num_judges_per_comparison: z.number().int().min(1).max(LIMITS.samples).optional(),
  on_failure: z.enum(["error", "mask"]).optional(),
  seed: z.number().int().min(0).max(LIMITS.seed).optional(),
  timeout_ms: z.number().int().min(1).max(LIMITS.timeoutMs).optional(),
});

export type CompareRequest = z.output<typeof compareRequestSchema>;
type CompareResponse = components["schemas"]["CompareResponse"];

type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : false;
type Assert<T extends true> = T;
export type CompareDriftCheck = Assert<
  SameKeys<{ [K in keyof typeof compareRequestSchema.shape]: 0 }, components["schemas"]["CompareRequest"]>
>;

/** NeMo-Gym's placeholder for a response with no output text (its EMPTY_OUTPUT_PLACEHOLDER). */
const EMPTY_OUTPUT = "None";

/** The final answer of a Responses API object, as NeMo-Gym's extract_output_text reads it. */
export function outputText(obj: Record<string, unknown>): string {
  let text = "";
  const output = obj.output;
  if (Array.isArray(output)) {
    for (const item of output) {
      if (typeof item !== "object" || item === null || (item as { type?: unknown }).type !== "message")
        continue;
      const content = (item as { content?: unknown }).content;
      if (!Array.isArray(content)) continue;
      for (const c of content) {
        if (c && typeof c === "object" && c.type === "output_text" && typeof c.text === "string")
          text += c.text;
      }
    }
  }
  return text.trim() === "" ? EMPTY_OUTPUT : text;
}

/** The question (the last user message's text) and its images' references. */
function lastUser(history: z.output<typeof message>[]): { text: string; images: string[] } {
  const user = [...history].reverse().find((m) => m.role === "user");
  if (user === undefined) {
    throw new ApiError("unprocessable", "conversation_history has no user message: there is no question", {
      errors: [{ field: "conversation_history", message: "no message with role user" }],
    });
  }
  const content = user.content ?? "";
  if (typeof content === "string") return { text: content, images: [] };
  const texts: string[] = [];
  const images: string[] = [];
  for (const p of content) {
    if (typeof p.text === "string" && p.type !== "input_image" && p.type !== "image_url") texts.push(p.text);
    const url = typeof p.image_url === "string" ? p.image_url : p.image_url?.url;
    if (url !== undefined) images.push(url);
  }
  return { text: texts.join("\n"), images };
}

export interface CompareSettings {
  strategy: CompareStrategy;
  judges: number;
  imageRoot: string | undefined;
}

export function nemoGymRoutes(
  service: JudgingService,
  guard: RequestHandler[],
  shutdown: AbortSignal,
  settings: CompareSettings,
): Router {
  const router = makeRouter();
  router.post("/compare", ...guard, async (req, res) => {
    const body = parseBody(compareRequestSchema, req.body);
    const n = body.response_objs.length;
    if (n < 2) {
      // NeMo-Gym's own answer: nothing to compare against.
      sendFloats(res, { rewards: new Array(n).fill(DEFAULT_SCORE), comparison_results: null, metrics: null });
      return;
    }
    const turn = lastUser(body.conversation_history);
    if (turn.text.length > LIMITS.questionChars) {
      throw new ApiError("unprocessable", "the question is too long", {
        errors: [{ field: "conversation_history", message: `over ${LIMITS.questionChars} characters` }],
      });
    }
    const responses = body.response_objs.map((obj, k) => {
      const text = outputText(obj);
      if (text.length > LIMITS.responseChars) {
        throw new ApiError("unprocessable", `response_objs[${k}] is too long`, {
          errors: [{ field: `response_objs[${k}]`, message: `over ${LIMITS.responseChars} characters` }],
        });
      }
      return text;
    });
    if (turn.images.length > LIMITS.images) {
      throw new ApiError("unprocessable", `at most ${LIMITS.images} images`, {
        errors: [{ field: "conversation_history", message: `more than ${LIMITS.images} images` }],
      });
    }
    const refs = turn.images;
    const images =
      refs.length > 0
        ? () => resolveImages(refs, settings.imageRoot, "conversation_history.image")
        : undefined;
    const strategy = body.comparison_strategy ?? settings.strategy;
    const judges = body.num_judges_per_comparison ?? settings.judges;
    const pairs = comparisonPairs(strategy, n);
    const mask = body.on_failure === "mask";
    let judgements: Judgement[];
    try {
      judgements = await service.compare(
        { question: turn.text, responses, judges, seed: body.seed, timeout_ms: body.timeout_ms },
        pairs,
        images,
        requestSignal(res, shutdown),
        clientOf(res),
      );
    } catch (err) {
      const api = toApiError(err);
      // A request's own fault stays an error; a failed judgement is masked when asked.
      if (!mask || api.status < 500) throw api;
      sendFloats(res, masked(n, null, { failed_comparisons: 1 }, api.detail));
      return;
    }
    // NeMo-Gym's order: judge by judge, each over every pair.
    const scores: JudgeScore[] = [];
    for (let judge = 0; judge < judges; judge++) {
      for (const [c, [i, j]] of pairs.entries()) {
        const s = judgeScores(i, j, judgements[c] as Judgement).find((x) => x.judge_idx === judge);
        if (s) scores.push(s);
      }
    }
    const result = aggregate(n, scores);
    if (result.unscored.length > 0) {
      const why = `no valid judge scored response${result.unscored.length === 1 ? "" : "s"} ${result.unscored.join(", ")}`;
      if (mask) {
        sendFloats(res, masked(n, scores, result.metrics, why));
        return;
      }
      throw new ApiError("not_ready", `the judgement failed: ${why}; retry`, { retryAfter: 1 });
    }
    const answer: CompareResponse = {
      rewards: result.rewards,
      comparison_results: scores,
      metrics: result.metrics,
      model: service.modelId,
    };
    sendFloats(res, answer);
  });
  return router;
}

function masked(
  n: number,
  scores: JudgeScore[] | null,
  metrics: Record<string, number>,
  why: string,
): CompareResponse {
  return {
    rewards: new Array<number>(n).fill(DEFAULT_SCORE),
    comparison_results: scores,
    metrics,
    mask_sample: true,
    failure: why,
  };
}

/**
 * Rewards, scores and metrics as JSON floats (`3.0`, as NeMo-Gym's own server writes its float
 * fields); response and judge indices stay integers (they index lists).
 */
function sendFloats(res: Response, value: CompareResponse): void {
  const results =
    value.comparison_results === null
      ? "null"
      : `[${value.comparison_results
          .map(
            (r) =>
              `{"response_i":${r.response_i},"response_j":${r.response_j},"judge_idx":${r.judge_idx},` +
              `"score_1":${floatJson(r.score_1)},"score_2":${floatJson(r.score_2)},"ranking":${floatJson(r.ranking)}}`,
          )
          .join(",")}]`;
  const rest = Object.entries(value)
    .filter(([k, v]) => !["rewards", "comparison_results", "metrics"].includes(k) && v !== undefined)
    .map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join("");
  res
    .type("application/json")
    .send(
      `{"rewards":${floatJson(value.rewards)},"comparison_results":${results},"metrics":${floatJson(value.metrics)}${rest}}`,
    );
}
