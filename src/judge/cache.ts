// An LRU of finished judgements. Only reproducible requests are cached: those with a client seed or
// a seed derived from their content (rewards: contentSeed in reward.ts), or greedy ones
// (temperature 0), whose answer does not depend on a seed at all.

import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { JudgeInput, Judgement } from "./judge.js";

export class JudgementCache {
  private readonly lru: LRUCache<string, Judgement> | undefined;
  hits = 0;
  misses = 0;

  constructor(maxEntries: number) {
    this.lru = maxEntries > 0 ? new LRUCache<string, Judgement>({ max: maxEntries }) : undefined;
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }

  /** The cache key, or undefined when the request is not reproducible (no seed and not greedy). */
  key(model: string, input: Omit<JudgeInput, "verdict">, seeded: boolean): string | undefined {
    if (!this.lru || (!seeded && input.temperature > 0)) return undefined;
    const hash = createHash("sha256");
    const normalised = {
      model,
      question: input.question,
      responses: input.responses,
      samples: input.samples,
      temperature: input.temperature,
      topP: input.topP,
      topK: input.topK,
      maxNewTokens: input.maxNewTokens,
      // Greedy answers do not depend on the seed: any seed hits the same entry.
      seed: input.temperature > 0 ? input.seed : 0,
      order: input.order,
      aggregation: input.aggregation,
      earlyStop: input.earlyStop,
      returnReasoning: input.returnReasoning,
    };
    hash.update(JSON.stringify(normalised));
    for (const digest of input.images?.digests ?? []) hash.update(digest);
    return hash.digest("base64");
  }

  get(key: string | undefined): Judgement | undefined {
    if (key === undefined) return undefined;
    const found = this.lru?.get(key);
    if (found) this.hits++;
    else this.misses++;
    return found;
  }

  /** Stores a complete judgement (judgePair rejects the ones cut short, so only those come here). */
  set(key: string | undefined, judgement: Judgement): void {
    if (key !== undefined) this.lru?.set(key, judgement);
  }
}
