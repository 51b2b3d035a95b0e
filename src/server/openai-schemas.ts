// POST /v1/chat/completions: the body as OpenAI clients send it, validated only (what an absent field
// means is chat.ts's to say). Mirrors openapi.yaml's ChatCompletionRequest (the drift check below
// fails `tsc` when they disagree). Unknown fields are ignored, as vLLM ignores them; fields that would
// change the answer in ways this server cannot honour (streaming, tools, logprobs, penalties, a
// response format) are refused with 400 naming the field rather than silently dropped.

import { z } from "zod";
import type { components } from "../api/api.js";
import { imageField, LIMITS } from "./schemas.js";

type Api = components["schemas"];

export const CHAT_LIMITS = Object.freeze({
  messages: 256,
  textChars: 200_000,
  /** OpenAI's own limit on `stop`. */
  stops: 4,
  stopChars: 64,
});

const HTTP_URL = /^https?:\/\//i;

/** image_url.url: a data URL only; http(s) is refused (the server fetches nothing). */
const imageUrl = z.string().superRefine((url, ctx) => {
  if (HTTP_URL.test(url)) {
    ctx.addIssue({
      code: "custom",
      message:
        "http(s) image URLs are not fetched by this server; send the image inline as a data URL " +
        "(data:image/png;base64,...)",
    });
    return;
  }
  if (!url.startsWith("data:")) {
    ctx.addIssue({ code: "custom", message: "expected a data URL (data:image/png;base64,...)" });
    return;
  }
  const checked = imageField.safeParse(url);
  if (!checked.success) {
    for (const issue of checked.error.issues) ctx.addIssue({ code: "custom", message: issue.message });
  }
});

const textPart = z.object({ type: z.literal("text"), text: z.string().max(CHAT_LIMITS.textChars) });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.object({ url: imageUrl, detail: z.enum(["auto", "low", "high"]).optional() }),
});
const contentPart = z.discriminatedUnion("type", [textPart, imagePart], {
  error: 'a part is {"type": "text", ...} or {"type": "image_url", ...}',
});

const message = z.object({
  // "developer" is OpenAI's newer name for a system message.
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([z.string().max(CHAT_LIMITS.textChars), z.array(contentPart).min(1)], {
    error:
      'expected a string or a list of parts {"type": "text", "text": ...} / ' +
      '{"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}}',
  }),
  name: z.string().optional(),
});

const stop = z.union([
  z.string().min(1).max(CHAT_LIMITS.stopChars),
  z.array(z.string().min(1).max(CHAT_LIMITS.stopChars)).max(CHAT_LIMITS.stops),
]);

/** A field this server cannot honour: allowed only at the value that means "off". */
function offOnly<T extends z.ZodType>(schema: T, off: (value: z.output<T>) => boolean, why: string) {
  return schema.nullish().superRefine((value, ctx) => {
    if (value !== null && value !== undefined && !off(value)) ctx.addIssue({ code: "custom", message: why });
  });
}

export const chatCompletionRequestSchema = z.object({
  model: z.string().max(256).nullish(),
  messages: z.array(message).min(1).max(CHAT_LIMITS.messages),
  n: z.number().int().min(1).max(LIMITS.samples).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  /** vLLM's extension; -1 and 0 both mean off. */
  top_k: z.number().int().min(-1).max(1_000_000).nullish(),
  max_tokens: z.number().int().min(1).max(LIMITS.maxNewTokens).nullish(),
  max_completion_tokens: z.number().int().min(1).max(LIMITS.maxNewTokens).nullish(),
  seed: z.number().int().min(0).max(LIMITS.seed).nullish(),
  stop: stop.nullish(),
  user: z.string().nullish(),
  stream: offOnly(
    z.boolean(),
    (v) => !v,
    "streaming is not supported yet; send stream: false or leave it out",
  ),
  logprobs: offOnly(z.boolean(), (v) => !v, "logprobs are not supported"),
  top_logprobs: offOnly(z.number().int(), (v) => v === 0, "top_logprobs are not supported"),
  frequency_penalty: offOnly(z.number(), (v) => v === 0, "frequency_penalty is not supported (only 0)"),
  presence_penalty: offOnly(z.number(), (v) => v === 0, "presence_penalty is not supported (only 0)"),
  logit_bias: offOnly(
    z.record(z.string(), z.number()),
    (v) => Object.keys(v).length === 0,
    "logit_bias is not supported",
  ),
  tools: offOnly(z.array(z.unknown()), (v) => v.length === 0, "tools are not supported"),
  response_format: offOnly(
    z.object({ type: z.string() }),
    (v) => v.type === "text",
    'response formats other than {"type": "text"} are not supported',
  ),
});

export type ChatCompletionRequest = z.output<typeof chatCompletionRequestSchema>;
export type ChatMessageBody = ChatCompletionRequest["messages"][number];

// ---- drift check against the generated OpenAPI types (a mismatch is a compile error) ----
type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
type Assert<T extends true> = T;

export type ChatSchemaDriftChecks = [
  Assert<Same<z.input<typeof chatCompletionRequestSchema>, Api["ChatCompletionRequest"]>>,
  Assert<Same<ChatCompletionRequest, z.input<typeof chatCompletionRequestSchema>>>,
];
