// Prefix KV cache: prompts that share a prefix (the same image and question across best-of-N
// comparisons, retries of one request) reuse its KV instead of prefilling it again. Sized in bytes.
// Keys hash the token ids and, at each image, the image's pixel digest: pads alone look the same.

import { createHash, type Hash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { KvCache } from "./kv.js";

/** Prefixes are cached at multiples of this many tokens (and at the full prompt). */
export const PREFIX_BLOCK = 16;

interface Entry {
  kv: KvCache; // one unpadded row holding the whole prompt
  tokens: number;
  logits: Float32Array; // the last position's logits: an exact full-prompt hit skips prefill entirely
}

export interface PrefixHit {
  /** KV of the first `tokens` prompt tokens (all of them on an exact hit). */
  kv: KvCache;
  tokens: number;
  /** Present only when the whole prompt was cached. */
  logits?: Float32Array;
}

export interface PrefixKeys {
  /** keys[i] covers the first boundaries[i] tokens; the last boundary is the whole prompt. */
  boundaries: number[];
  keys: string[];
}

/**
 * Hash keys at each block boundary and at the full length. A boundary inside an image's pad run is
 * skipped: a prefix must hold whole images.
 */
export function prefixKeys(
  model: string,
  inputIds: readonly number[],
  imagePadId: number,
  imageDigests: readonly string[],
): PrefixKeys {
  const hash: Hash = createHash("sha256").update(model);
  const boundaries: number[] = [];
  const keys: string[] = [];
  const word = Buffer.alloc(4);
  let image = 0;
  for (let i = 0; i < inputIds.length; i++) {
    const id = inputIds[i] as number;
    if (id === imagePadId && inputIds[i - 1] !== imagePadId)
      hash.update(imageDigests[image++] ?? "missing-image");
    word.writeInt32LE(id);
    hash.update(word);
    const end = i + 1;
    const insideImage = id === imagePadId && inputIds[end] === imagePadId;
    if ((end % PREFIX_BLOCK === 0 || end === inputIds.length) && !insideImage) {
      boundaries.push(end);
      keys.push(hash.copy().digest("base64"));
    }
  }
  return { boundaries, keys };
}

export class PrefixCache {
  private readonly entries: LRUCache<string, Entry>;
  /** Block key → full-prompt key of an entry that starts with that block. */
  private readonly blocks = new Map<string, { entry: string; tokens: number }>();
  hits = 0;
  partialHits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.entries = new LRUCache<string, Entry>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (entry) => Math.max(1, entry.kv.bytes()),
      // Evicted or replaced: device memory goes back when nobody else holds it.
      dispose: (entry) => entry.kv.release(),
    });
  }

  get bytes(): number {
    return this.entries.calculatedSize ?? 0;
  }

  lookup(keys: PrefixKeys, promptLength: number): PrefixHit | undefined {
    for (let i = keys.keys.length - 1; i >= 0; i--) {
      const key = keys.keys[i] as string;
      const tokens = keys.boundaries[i] as number;
      if (tokens === promptLength) {
        const entry = this.entries.get(key);
        if (entry && entry.tokens === tokens) {
          this.hits++;
          return { kv: entry.kv, tokens, logits: entry.logits };
        }
      }
      const block = this.blocks.get(key);
      const entry = block && this.entries.get(block.entry);
      // Keep at least one token to run, so the prefill produces this prompt's own last logits.
      if (entry && block.tokens < promptLength) {
        this.partialHits++;
        return {
          kv: block.tokens === entry.tokens ? entry.kv : entry.kv.prefix(block.tokens),
          tokens: block.tokens,
        };
      }
    }
    this.misses++;
    return undefined;
  }

  store(keys: PrefixKeys, kv: KvCache, logits: Float32Array): void {
    const full = keys.keys[keys.keys.length - 1];
    const tokens = keys.boundaries[keys.boundaries.length - 1];
    if (full === undefined || tokens === undefined || kv.rows !== 1) return;
    this.entries.set(full, { kv, tokens, logits });
    // Larger than the whole cache: refused (without a dispose call), so not held either.
    if (this.entries.peek(full)?.kv !== kv) return;
    kv.retain();
    keys.keys.forEach((key, i) => {
      this.blocks.set(key, { entry: full, tokens: keys.boundaries[i] as number });
    });
    if (this.blocks.size > 8 * Math.max(this.entries.size, 1024)) this.pruneBlocks();
  }

  private pruneBlocks(): void {
    for (const [key, block] of this.blocks) if (!this.entries.has(block.entry)) this.blocks.delete(key);
  }
}
