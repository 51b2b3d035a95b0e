// POST /reward: slime's remote reward model (`--rm-type remote_rm --rm-url http://host:port/reward
// --reward-key reward`). slime posts one sample at a time as {prompt, response, label} (prompt: the
// rendered prompt text, or the chat messages) and reads the field --reward-key names from the JSON
// object it gets back. The sample is judged exactly as a one-item /get_reward (same question
// extraction, reference rules, votes, seeds, cache, deadline and errors: JudgingService.reward); a
// judgement with no valid vote is /get_reward's 502 no_verdict (slime retries 5xx), never a made-up
// reward, even where R1JUDGE_REWARD_NO_VERDICT=neutral lets /get_reward answer a flagged 0.5: slime
// has no flag to read.

import { Router as makeRouter, type RequestHandler, type Router } from "express";
import { z } from "zod";
import type { components } from "../../api/api.js";
import { ApiError } from "../../errors.js";
import { NoVerdictError } from "../../judge/reward.js";
import { clientOf } from "../client-id.js";
import { floatJson } from "../float-json.js";
import {
  checkImageCount,
  countImageRuns,
  type ImageLoader,
  renameFields,
  resolveImages,
  type ScalarLabel,
  splitLabel,
} from "../image-refs.js";
import type { JudgingService } from "../judging.js";
import { toApiError } from "../problem.js";
import { LIMITS, parseBody } from "../schemas.js";
import { requestSignal } from "./signal.js";

// ---- the request: slime's payload; unknown fields are ignored (a third-party protocol) ----
const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({
  type: z.enum(["image_url", "image", "input_image"]),
  image_url: z.union([z.string(), z.object({ url: z.string() })]).optional(),
  image: z.string().optional(),
});
const part = z.union([textPart, imagePart, z.looseObject({ type: z.string() })]);
const message = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(part), z.null()]).optional(),
});

export const slimeRewardRequestSchema = z.looseObject({
  prompt: z.union([z.string().max(LIMITS.responseChars), z.array(message).min(1)]),
  response: z.string().max(LIMITS.responseChars),
  label: z.unknown().optional(),
});

export type SlimeRewardRequest = z.output<typeof slimeRewardRequestSchema>;
type SlimeRewardResponse = components["schemas"]["SlimeRewardResponse"];

// Checked against openapi.yaml's request type (a mismatch is a compile error).
type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : false;
type Assert<T extends true> = T;
export type SlimeDriftCheck = Assert<
  SameKeys<
    { [K in keyof typeof slimeRewardRequestSchema.shape]: 0 },
    components["schemas"]["SlimeRewardRequest"]
  >
>;

const IMAGE_RUN_TOKENS = /<\|(?:vision_start|vision_end|image_pad|video_pad)\|>/g;

interface ChatQuestion {
  text: string;
  /** Image parts of the last user message: their data URL or path, in order. */
  parts: string[];
}

/** The last user message of a chat prompt: its text parts and its image parts. */
export function lastUserTurn(messages: z.output<typeof message>[]): ChatQuestion {
  const user = [...messages].reverse().find((m) => m.role === "user");
  if (user === undefined) {
    throw new ApiError("unprocessable", "prompt has no user message: there is no question to judge", {
      errors: [{ field: "prompt", message: "no message with role user" }],
    });
  }
  const content = user.content ?? "";
  if (typeof content === "string") return { text: content, parts: [] };
  const texts: string[] = [];
  const parts: string[] = [];
  for (const p of content) {
    if (p.type === "text" && typeof p.text === "string") texts.push(p.text);
    else if (p.type === "image_url" || p.type === "image" || p.type === "input_image") {
      const src = p as z.output<typeof imagePart>;
      const url = typeof src.image_url === "string" ? src.image_url : (src.image_url?.url ?? src.image);
      parts.push(url ?? "");
    }
  }
  return { text: texts.join("\n"), parts };
}

/** The sample as a one-item /get_reward body, with the images the judge is to see. */
export function slimeToReward(
  body: SlimeRewardRequest,
  imageRoot: string | undefined,
): {
  query: string;
  prompt: string;
  label: ScalarLabel;
  /** Read once the sample has a queue slot. */
  images: ImageLoader | undefined;
  /** Where the images came from, for errors about them. */
  imagesField: string;
} {
  const label = splitLabel(body.label ?? null, "label");
  if (typeof body.prompt === "string") {
    let images: ImageLoader | undefined;
    const refs = label.images;
    if (refs !== undefined) {
      checkImageCount(refs, countImageRuns(body.prompt), "label.images", "prompt");
      images = () => resolveImages(refs, imageRoot, "label.images");
    }
    return {
      query: body.prompt + body.response,
      prompt: body.prompt,
      label: label.reference,
      images,
      imagesField: "label.images",
    };
  }
  const turn = lastUserTurn(body.prompt);
  let images: ImageLoader | undefined;
  const refs = label.images;
  if (refs !== undefined) {
    const slots = turn.parts.length > 0 ? turn.parts.length : countImageRuns(turn.text);
    checkImageCount(refs, slots, "label.images", "the last user message");
    images = () => resolveImages(refs, imageRoot, "label.images");
  } else if (turn.parts.length > 0) {
    for (const [k, ref] of turn.parts.entries()) {
      if (ref.startsWith("http:") || ref.startsWith("https:")) {
        throw new ApiError("unprocessable", "prompt: image URLs are not fetched; send a data URL", {
          errors: [{ field: `prompt.image[${k}]`, message: "http(s) image URLs are not fetched" }],
        });
      }
    }
    images = () => resolveImages(turn.parts, imageRoot, "prompt.image");
  }
  const question = turn.text.replace(IMAGE_RUN_TOKENS, "").trim();
  if (question === "") {
    // Without text the question would fall back to the query's, which here is the response itself.
    throw new ApiError(
      "unprocessable",
      "prompt: the last user message has no text: there is no question to judge",
      {
        errors: [{ field: "prompt", message: "the last user message has no text" }],
      },
    );
  }
  return {
    query: question + body.response,
    prompt: question,
    label: label.reference,
    images,
    imagesField: label.images !== undefined ? "label.images" : "prompt.image",
  };
}

/**
 * An error of the one-item /get_reward path, with slime's field names; the engine's `images[k]` is
 * the image the sample named in `imagesField`.
 */
function slimeFields(err: unknown, imagesField: string): ApiError {
  return renameFields(toApiError(err), (s) =>
    s
      .replace(/^(?:labels\[0\]\.)?images(?=\[|$)/, imagesField)
      .replace(/\bquery\[0\]/g, "response")
      .replace(/\bprompts\[0\]/g, "prompt")
      .replace(/\blabels\[0\]/g, "label"),
  );
}

export function slimeRoutes(
  service: JudgingService,
  guard: RequestHandler[],
  shutdown: AbortSignal,
  imageRoot: string | undefined,
): Router {
  const router = makeRouter();
  router.post("/reward", ...guard, async (req, res) => {
    const body = parseBody(slimeRewardRequestSchema, req.body);
    const item = slimeToReward(body, imageRoot);
    let result: Awaited<ReturnType<JudgingService["reward"]>>;
    try {
      result = await service.reward(
        { query: [item.query], prompts: [item.prompt], labels: [item.label] },
        requestSignal(res, shutdown),
        [item.images],
        clientOf(res),
      );
    } catch (err) {
      throw slimeFields(err, item.imagesField);
    }
    const logs: Record<string, number> = {};
    for (const [key, values] of Object.entries(result.extra_logs ?? {})) {
      const v = (values as unknown[])[0];
      if (typeof v === "number") logs[key] = v;
    }
    const reward = result.rewards[0];
    if (typeof reward !== "number" || !Number.isFinite(reward) || logs.no_verdict === 1) {
      // Not a reward: slime retries a 5xx (up to 10 times with backoff) instead of training on it.
      throw new NoVerdictError(logs.invalid ?? 0);
    }
    const answer: SlimeRewardResponse = {
      reward,
      score: result.scores?.[0] ?? reward,
      votes_for: logs.votes_for ?? 0,
      votes_against: logs.votes_against ?? 0,
      invalid: logs.invalid ?? 0,
      ...logs,
      model: service.modelId,
    };
    res.type("application/json").send(floatJson(answer));
  });
  return router;
}
