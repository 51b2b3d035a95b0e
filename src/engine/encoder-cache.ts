// Vision-encoder output by image digest, sized in bytes: the G rollouts of one prompt image, both
// response orders of a judgement and a retried batch encode the image once. The prefix cache already
// skips images inside a cached prefix; this covers the rest (another question about the same image,
// a prefix evicted or never shared).

import { LRUCache } from "lru-cache";
import type { FloatData } from "./runtime/tensor.js";

export class EncoderCache {
  private readonly entries: LRUCache<string, FloatData> | undefined;
  /** Image lookups answered without running the vision encoder. */
  hits = 0;
  /** Vision-encoder runs (each a lookup that missed). */
  misses = 0;

  constructor(maxBytes: number) {
    this.entries =
      maxBytes > 0
        ? new LRUCache<string, FloatData>({
            maxSize: maxBytes,
            sizeCalculation: (features) => Math.max(1, features.byteLength),
          })
        : undefined;
  }

  get bytes(): number {
    return this.entries?.calculatedSize ?? 0;
  }

  /** The features of an image encoded before; a found entry counts as a hit. */
  lookup(digest: string): FloatData | undefined {
    const found = this.entries?.get(digest);
    if (found) this.hits++;
    return found;
  }

  /** Features just computed by the vision encoder (counted as a miss). */
  store(digest: string, features: FloatData): void {
    this.misses++;
    this.entries?.set(digest, features);
  }
}
