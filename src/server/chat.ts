// POST /v1/chat/completions as a thin adapter over the one engine path: the request's messages go to
// the engine as chat messages (rendered by the checkpoint's template; message text tokenized as plain
// text, so typed special tokens stay text), its images once as an image set, and `n` choices as the
// engine's samples of one prefill. Admission (the caller's slot), deadlines and engine errors are the
// judging routes'; every default of this route is set here (OpenAI's, with the server's token cap).

import { randomInt, randomUUID } from "node:crypto";
import type { components } from "../api/api.js";
import { EngineError } from "../engine/errors.js";
import type { ChatContent, ChatMessage } from "../engine/tokenizer.js";
import { ApiError } from "../errors.js";
import type { Clock } from "../judge/clock.js";
import { type GenerationPort, JudgeAbortedError } from "../judge/judge.js";
import type { ChatCompletionRequest, ChatMessageBody } from "./openai-schemas.js";
import { imageBytes, LIMITS } from "./schemas.js";

export type ChatCompletion = components["schemas"]["ChatCompletion"];
type Choice = ChatCompletion["choices"][number];

export interface ChatSettings {
  /** The loaded model's id: the only `model` accepted (absent is accepted too). */
  modelId: string;
  /** R1JUDGE_MAX_NEW_TOKENS: the default `max_tokens` and its cap. */
  maxNewTokens: number;
  /** R1JUDGE_DEFAULT_TIMEOUT_MS, counted from the request's arrival. */
  defaultTimeoutMs: number;
}

export interface ChatContext {
  arrived: number;
  clock: Clock;
  signal?: AbortSignal | undefined;
  /** The HTTP request id: the completion's id is `chatcmpl-<request id>`. */
  requestId?: string | undefined;
}

/** Generates the completion's choices; throws ApiError / EngineError / JudgeAbortedError (problem.ts maps them). */
export async function chatCompletion(
  port: GenerationPort,
  body: ChatCompletionRequest,
  settings: ChatSettings,
  ctx: ChatContext,
): Promise<ChatCompletion> {
  if (body.model != null && body.model !== settings.modelId) {
    throw new ApiError(
      "not_found",
      `The model \`${body.model}\` does not exist: this server serves \`${settings.modelId}\` (GET /v1/models)`,
      { errors: [{ field: "model", message: `unknown model; this server serves ${settings.modelId}` }] },
    );
  }
  const maxField = body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
  const maxNewTokens = body.max_completion_tokens ?? body.max_tokens ?? settings.maxNewTokens;
  if (maxNewTokens > settings.maxNewTokens) {
    throw new ApiError(
      "invalid_request",
      `${maxField} ${maxNewTokens} is over this server's cap of ${settings.maxNewTokens} (R1JUDGE_MAX_NEW_TOKENS)`,
      { errors: [{ field: maxField, message: `at most ${settings.maxNewTokens}` }] },
    );
  }
  const { messages, images, imageFields } = engineMessages(body.messages);
  const stops = typeof body.stop === "string" ? [body.stop] : (body.stop ?? []);
  const n = body.n ?? 1;
  const spec = {
    messages,
    samples: n,
    seed: body.seed ?? randomInt(0, 2 ** 31),
    sampling: {
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      topK: Math.max(0, body.top_k ?? 0),
    },
    maxNewTokens,
    deadline: ctx.arrived + settings.defaultTimeoutMs,
    ...(stops.length ? { stopStrings: stops } : {}),
  };
  const ref = images.length ? port.putImages(images) : undefined;
  try {
    const { samples, promptTokens } = await generate(
      port,
      { ...spec, ...(ref ? { images: ref.id } : {}) },
      ctx,
    ).catch((err: unknown) => {
      throw inRequestTerms(err, imageFields);
    });
    const choices: Choice[] = samples.map((s) => ({
      index: s.index,
      message: { role: "assistant", content: cutAtStop(s.text, stops) },
      finish_reason: s.finishReason,
    }));
    const completionTokens = samples.reduce((sum, s) => sum + s.tokens, 0);
    return {
      id: `chatcmpl-${ctx.requestId ?? randomUUID()}`,
      object: "chat.completion",
      created: Math.floor(ctx.clock.now() / 1000),
      model: settings.modelId,
      choices,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
      },
    };
  } finally {
    if (ref) port.releaseImages(ref);
  }
}

/** OpenAI messages → the engine's chat messages and the images their parts carry, in order. */
function engineMessages(body: readonly ChatMessageBody[]): {
  messages: ChatMessage[];
  images: Uint8Array[];
  /** Each image's field in the request (`messages[0].content[1]`), for the engine's errors about it. */
  imageFields: string[];
} {
  const images: Uint8Array[] = [];
  const imageFields: string[] = [];
  const messages = body.map((m, k): ChatMessage => {
    const role = m.role === "developer" ? "system" : m.role;
    if (typeof m.content === "string") return { role, content: m.content };
    const content = m.content.map((part, p): ChatContent => {
      if (part.type === "text") return { type: "text", text: part.text };
      if (images.length === LIMITS.images) {
        throw new ApiError("invalid_request", `at most ${LIMITS.images} images per request`, {
          errors: [{ field: `messages[${k}].content[${p}]`, message: `over ${LIMITS.images} images` }],
        });
      }
      images.push(imageBytes(part.image_url.url));
      imageFields.push(`messages[${k}].content[${p}].image_url.url`);
      return { type: "image" };
    });
    return { role, content };
  });
  return { messages, images, imageFields };
}

/** The engine names a request's k-th image `images[k]`; here it is a message part. */
function inRequestTerms(err: unknown, imageFields: readonly string[]): unknown {
  const k = err instanceof EngineError ? /^images\[(\d+)\]/.exec(err.field ?? "")?.[1] : undefined;
  const field = k === undefined ? undefined : imageFields[Number(k)];
  if (!(err instanceof EngineError) || field === undefined) return err;
  const message = err.message.replace(/^images\[\d+\]:\s*/, "");
  return new ApiError("unprocessable", `${field}: ${message}`, { errors: [{ field, message }], cause: err });
}

/** The text before the first stop string, as OpenAI returns it (the stop string itself is not included). */
function cutAtStop(text: string, stops: readonly string[]): string {
  let end = text.length;
  for (const s of stops) {
    const at = text.indexOf(s);
    if (at >= 0 && at < end) end = at;
  }
  return text.slice(0, end);
}

interface Generated {
  index: number;
  text: string;
  tokens: number;
  finishReason: "stop" | "length";
}

/** One engine request of `samples` choices; settles when every one is in, at the deadline, or on abort. */
function generate(
  port: GenerationPort,
  request: Parameters<GenerationPort["generate"]>[0] & { deadline: number },
  ctx: ChatContext,
): Promise<{ samples: Generated[]; promptTokens: number }> {
  return new Promise((resolve, rejectWith) => {
    const samples: Generated[] = [];
    let promptTokens = 0;
    let settled = false;
    let id: string | undefined;
    const onAbort = () =>
      reject(ctx.signal?.reason instanceof Error ? ctx.signal.reason : new JudgeAbortedError());
    // The engine ends rows at its next step boundary; this answers at the deadline itself.
    const cancelTimer = ctx.clock.after(Math.max(0, request.deadline - ctx.clock.now()), () =>
      reject(deadlineError()),
    );
    const settle = () => {
      settled = true;
      cancelTimer();
      ctx.signal?.removeEventListener("abort", onAbort);
    };
    function reject(error: Error) {
      if (settled) return;
      settle();
      if (id !== undefined) port.cancel(id);
      rejectWith(error);
    }
    try {
      id = port.generate(request, handlers());
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener("abort", onAbort, { once: true });

    function handlers(): Parameters<GenerationPort["generate"]>[1] {
      return {
        onStarted: (info) => {
          promptTokens = info.promptTokens;
        },
        onSample: (sample) => {
          if (settled) return;
          switch (sample.finishReason) {
            case "stop":
            case "length":
              samples.push({
                index: sample.index,
                text: sample.text,
                tokens: sample.tokens,
                finishReason: sample.finishReason,
              });
              return;
            case "deadline":
              return reject(deadlineError());
            case "invalid":
              return reject(
                new EngineError(
                  "engine_failed",
                  `the model gave unusable logits: ${sample.error ?? "invalid"}`,
                ),
              );
            case "cancelled":
              return reject(new JudgeAbortedError());
          }
        },
        onDone: () => {
          if (settled) return;
          settle();
          resolve({ samples: samples.sort((a, b) => a.index - b.index), promptTokens });
        },
        onError: reject,
      };
    }
  });
}

function deadlineError(): ApiError {
  return new ApiError("deadline_exceeded", "the deadline passed before every choice was finished");
}
