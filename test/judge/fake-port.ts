// A fake engine for judging tests: each sample's text is decided by a function of (prompt, seed),
// delivered asynchronously in index order; cancel() ends the rest as "cancelled".

import type { ImageSetRef } from "../../src/engine/client.js";
import type { GenerationRequest } from "../../src/engine/protocol.js";
import type { GenerationPort } from "../../src/judge/judge.js";

/** A sample's text, or its text with the engine's verdict-choice probabilities (in the shown order). */
export type Responder = (
  prompt: string,
  seed: number,
) => string | { text: string; choiceProbabilities?: number[] };

export class FakePort implements GenerationPort {
  readonly requests: {
    id: string;
    prompt: string;
    seed: number;
    stride: number;
    samples: number;
    /** The request as the engine would get it (sampling settings, max new tokens, deadline). */
    request: GenerationRequest;
  }[] = [];
  private readonly cancelled = new Set<string>();

  constructor(private readonly respond: Responder) {}

  generate(
    request: Parameters<GenerationPort["generate"]>[0],
    handlers: Parameters<GenerationPort["generate"]>[1],
  ): string {
    const id = `r${this.requests.length}`;
    const content = request.messages[0]?.content;
    const prompt = Array.isArray(content)
      ? content.map((c) => (c.type === "text" ? c.text : "<image>")).join("")
      : String(content);
    const stride = request.seedStride ?? 1;
    this.requests.push({ id, prompt, seed: request.seed, stride, samples: request.samples, request });
    void (async () => {
      await Promise.resolve();
      handlers.onStarted?.({ promptTokens: prompt.length, cachedPromptTokens: 0 });
      for (let i = 0; i < request.samples; i++) {
        await new Promise((r) => setImmediate(r));
        const seed = request.seed + i * stride;
        if (this.cancelled.has(id)) {
          handlers.onSample({ index: i, seed, tokens: 0, text: "", finishReason: "cancelled" });
          continue;
        }
        const answer = this.respond(prompt, seed);
        const { text, choiceProbabilities } = typeof answer === "string" ? { text: answer } : answer;
        handlers.onSample({
          index: i,
          seed,
          tokens: text.length,
          text,
          finishReason: "stop",
          ...(choiceProbabilities ? { choiceProbabilities } : {}),
        });
      }
      handlers.onDone();
    })();
    return id;
  }

  cancel(id: string): void {
    this.cancelled.add(id);
  }

  /** Image sets handed over and not yet released. */
  readonly imageSets = new Set<string>();

  putImages(bytes: readonly Uint8Array[]): ImageSetRef {
    const id = `i${this.imageSets.size}-${bytes.length}`;
    this.imageSets.add(id);
    return { id, count: bytes.length, digests: bytes.map((_, i) => `digest-${i}`) };
  }

  releaseImages(ref: ImageSetRef): void {
    this.imageSets.delete(ref.id);
  }
}

/** The response shown first in a judging prompt. */
export function firstResponse(prompt: string): string {
  return (/\[Response 1\]:\n([\s\S]*?) {2}\n/.exec(prompt)?.[1] ?? "") as string;
}
