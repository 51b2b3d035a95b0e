// Zod schemas for every request body, mirroring openapi.yaml (the source of truth). Each schema's
// input type is checked against the generated OpenAPI type below, so a drift between the two fails
// `tsc`. Parsing validates only: an absent field stays absent, and judge-inputs.ts fills every
// default, one function per route (so no route can pick up another's default by accident).
// Validation failures are ApiError("invalid_request") with field paths like `responses[1]` or
// `items[3].samples`.
// Unknown fields: rejected by /judge, /judge/batch and /rank; ignored by /get_reward (a third-party
// protocol whose clients may add keys).

import { z } from "zod";
import type { components } from "../api/api.js";
import { ApiError, type FieldError, formatPath, joinField } from "../errors.js";
import { isBlankText } from "../judge/reward.js";

type Api = components["schemas"];

// ---- limits (documented in openapi.yaml) ----
export const LIMITS = Object.freeze({
  questionChars: 100_000,
  responseChars: 100_000,
  queryChars: 200_000,
  images: 8,
  imageChars: 14_000_000,
  imageBytes: 10 * 1024 * 1024,
  samples: 64,
  maxNewTokens: 32_768,
  timeoutMs: 600_000,
  seed: 2 ** 32 - 1,
  batchItems: 256,
  candidatesMin: 2,
  candidatesMax: 64,
});

// ---- shared fields ----
const question = z.string().min(1).max(LIMITS.questionChars);
const responseText = z.string().max(LIMITS.responseChars);
/** A response /judge compares: not blank (a judge asked about "" may prefer it; there is nothing to judge). */
const judgedResponse = responseText.refine(
  (text) => !isBlankText(text),
  "is empty or whitespace only: there is nothing to judge",
);

const DATA_URL = /^data:image\/(?:png|jpeg|jpg|webp|gif);base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 payload of an image field (the part after a data URL's comma, or the whole string). */
function base64Payload(image: string): string {
  const prefix = DATA_URL.exec(image);
  return prefix ? image.slice(prefix[0].length) : image;
}

function decodedLength(payload: string): number {
  const padding = payload.endsWith("==") ? 2 : payload.endsWith("=") ? 1 : 0;
  return Math.floor((payload.length * 3) / 4) - padding;
}

/** One image field: a data URL or bare base64 (also what image references in labels are checked with). */
export const image = z
  .string()
  .min(1)
  .max(LIMITS.imageChars)
  .superRefine((value, ctx) => {
    if (value.startsWith("data:") && !DATA_URL.test(value)) {
      ctx.addIssue({
        code: "custom",
        message: "expected a data:image/(png|jpeg|webp|gif);base64, URL or bare base64",
      });
      return;
    }
    const payload = base64Payload(value);
    if (payload.length === 0 || payload.length % 4 === 1 || !BASE64.test(payload)) {
      ctx.addIssue({ code: "custom", message: "not valid base64 (standard alphabet, no line breaks)" });
    } else if (decodedLength(payload) > LIMITS.imageBytes) {
      ctx.addIssue({ code: "custom", message: `decodes to more than ${LIMITS.imageBytes} bytes` });
    }
  });

/** The bytes of an image field that passed validation (data URL or bare base64). */
export function imageBytes(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64Payload(value), "base64"));
}

/** One image field (data URL or bare base64), for other routes' schemas (openai-schemas.ts). */
export const imageField = image;

const images = z.array(image).max(LIMITS.images);
const samples = z.number().int().min(1).max(LIMITS.samples);
const temperature = z.number().min(0).max(2);
const topP = z.number().gt(0).max(1);
const topK = z.number().int().min(0).max(1_000_000);
const maxNewTokens = z.number().int().min(1).max(LIMITS.maxNewTokens);
const seed = z.number().int().min(0).max(LIMITS.seed);
const order = z.enum(["alternate", "fixed"]);
const aggregation = z.enum(["majority", "confidence"]);
const timeoutMs = z.number().int().min(1).max(LIMITS.timeoutMs);

export type Order = z.infer<typeof order>;

const samplingFields = {
  samples: samples.optional(),
  temperature: temperature.optional(),
  top_p: topP.optional(),
  top_k: topK.optional(),
  max_new_tokens: maxNewTokens.optional(),
  seed: seed.optional(),
  early_stop: z.boolean().optional(),
  timeout_ms: timeoutMs.optional(),
};

// ---- /judge ----
export const judgeRequestSchema = z.strictObject({
  question,
  responses: z.tuple([judgedResponse, judgedResponse]),
  images: images.optional(),
  ...samplingFields,
  order: order.optional(),
  aggregation: aggregation.optional(),
  return_reasoning: z.boolean().optional(),
});

// ---- /judge/batch ----
export const judgeBatchRequestSchema = z.strictObject({
  items: z.array(judgeRequestSchema).max(LIMITS.batchItems),
});

/** The envelope alone: each item is validated on its own so that one bad item fails alone. */
const batchEnvelope = z.strictObject({
  items: z.array(z.unknown()).max(LIMITS.batchItems),
});

// ---- /rank ----
export const rankRequestSchema = z.strictObject({
  question,
  candidates: z.array(responseText).min(LIMITS.candidatesMin).max(LIMITS.candidatesMax),
  strategy: z.enum(["knockout", "round_robin"]).optional(),
  images: images.optional(),
  ...samplingFields,
});

// ---- the console's uploaded evaluation (POST /console/api/evaluations) ----
export const uploadedEvaluationSchema = z.strictObject({
  /** The text of an `r1judge eval` run's results.jsonl (the body size limit bounds it). */
  results: z.string().min(1),
  name: z.string().min(1).max(200).optional(),
  /** The run's scores.json text, for the rows it skipped. */
  scores: z.string().optional(),
});

// ---- /get_reward (OpenRLHF) ----
// Any number of items (the body size limit bounds them): older OpenRLHF sends a whole rollout batch.
const rewardList = (maxChars: number) => z.array(z.string().max(maxChars));
/**
 * Labels are dataset values passed through as they are: text, numbers, booleans or null. A label's
 * text may carry its prompt's images as data URLs (image-refs.ts splitLabel), so it may be as long as
 * a reference and the images together; splitLabel holds the reference to a response's length and each
 * image to an image's. The body size limit bounds the whole.
 */
const label = z.union([
  z.string().max(LIMITS.responseChars + LIMITS.images * LIMITS.imageChars),
  z.number(),
  z.boolean(),
  z.null(),
]);

export const rewardRequestSchema = z
  .object({
    query: rewardList(LIMITS.queryChars),
    prompts: rewardList(LIMITS.responseChars),
    labels: z.array(label).optional(),
    ...samplingFields,
    order: order.optional(),
  })
  .superRefine((body, ctx) => {
    const n = body.query.length;
    for (const key of ["prompts", "labels"] as const) {
      const list = body[key];
      if (list !== undefined && list.length !== n) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `has ${list.length} entries but query has ${n}`,
        });
      }
    }
  });

// ---- validated types ----
export type JudgeRequest = z.output<typeof judgeRequestSchema>;
export type JudgeBatchRequest = z.output<typeof judgeBatchRequestSchema>;
export type RankRequest = z.output<typeof rankRequestSchema>;
export type RewardRequest = z.output<typeof rewardRequestSchema>;

// ---- drift check against the generated OpenAPI types (a mismatch is a compile error) ----
type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? SameKeys<A, B> : false) : false;
type Assert<T extends true> = T;

export type SchemaDriftChecks = [
  Assert<Same<z.input<typeof judgeRequestSchema>, Api["JudgeRequest"]>>,
  Assert<Same<z.input<typeof judgeBatchRequestSchema>, Api["JudgeBatchRequest"]>>,
  Assert<Same<z.input<typeof rankRequestSchema>, Api["RankRequest"]>>,
  Assert<Same<z.input<typeof rewardRequestSchema>, Api["RewardRequest"]>>,
  // Parsing fills no default: what a route does with an absent field is judge-inputs.ts's to say.
  Assert<Same<JudgeRequest, z.input<typeof judgeRequestSchema>>>,
  Assert<Same<RankRequest, z.input<typeof rankRequestSchema>>>,
  Assert<Same<RewardRequest, z.input<typeof rewardRequestSchema>>>,
];

// ---- errors ----

/** Every issue of a ZodError as {field, message}; unknown keys give one entry per key. */
export function zodFieldErrors(error: z.ZodError, prefix = "body"): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ field: joinField(prefix, formatPath([...issue.path, key])), message: "unknown field" });
      }
    } else {
      out.push({ field: joinField(prefix, formatPath(issue.path)), message: issue.message });
    }
  }
  return out;
}

/** Per-parse messages: a missing field says "required" instead of "expected string, received undefined". */
const messages: z.core.$ZodErrorMap = (issue) =>
  issue.code === "invalid_type" && issue.input === undefined ? "required" : undefined;

export function invalidRequest(errors: FieldError[]): ApiError {
  const first = errors[0];
  const fields = new Set(errors.map((e) => e.field)).size;
  const detail =
    first === undefined
      ? "the request body is invalid"
      : fields === 1
        ? `${first.field}: ${first.message}`
        : `${fields} invalid fields; first ${first.field}: ${first.message}`;
  return new ApiError("invalid_request", detail, { errors });
}

/** Validates a body and applies defaults; throws ApiError("invalid_request") naming each failing field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, prefix = "body"): z.output<S> {
  const result = schema.safeParse(body, { error: messages });
  if (result.success) return result.data;
  throw invalidRequest(zodFieldErrors(result.error, prefix));
}

export type BatchItem = { ok: true; value: JudgeRequest } | { ok: false; error: ApiError };

/**
 * Validates a /judge/batch body: the envelope (throws ApiError when it is unusable), then each item
 * alone; a bad item becomes its own error with fields under `items[k]`.
 */
export function parseJudgeBatch(body: unknown): BatchItem[] {
  const envelope = parseBody(batchEnvelope, body);
  return envelope.items.map((item, k): BatchItem => {
    const result = judgeRequestSchema.safeParse(item, { error: messages });
    return result.success
      ? { ok: true, value: result.data }
      : { ok: false, error: invalidRequest(zodFieldErrors(result.error, `items[${k}]`)) };
  });
}
