// A batch's KV cache: per layer, key and value tensors [B, kv_heads, P, head_dim] shared by every row,
// each row left-padded to the common length P. Row i's first pad[i] slots are padding (masked out).
// Rows join (left-padded to the longest), leave, and are broadcast (K samples of one prompt).
// KvCache is what the engine sees; KvBatch keeps the tensors in host memory (CPU, and CUDA, which
// copies them each step), DeviceKvBatch (device-kv.ts) in the GPU's memory (WebGPU).

import { type FloatData, type FloatDType, floats } from "./runtime/tensor.js";

/**
 * Columns of room left after each running batch built by `append`, `select`, `concat` or `trim`, so the
 * next decode steps write their columns in place instead of allocating (and later garbage-collecting)
 * a whole new cache: once per SPARE_COLUMNS steps, and not again right after the batch changed.
 */
export const SPARE_COLUMNS = 64;

export interface KvShape {
  layers: number;
  heads: number;
  headDim: number;
  dtype: FloatDType;
}

export type KvLocation = "host" | "device";

export interface KvCache {
  readonly shape: KvShape;
  readonly rows: number;
  readonly length: number;
  /** Padding slots at the left of each row. */
  readonly pad: readonly number[];
  readonly location: KvLocation;
  /** Real (non-padding) tokens of row i: the past length its positions count from. */
  realLength(row: number): number;
  /** The attention mask for a step adding `newTokens` per row: [rows, length + newTokens] of 0/1. */
  mask(newTokens: number): BigInt64Array;
  /** Memory held where the cache lives (`location`). */
  bytes(): number;
  /** Rows `indices` of this batch, in that order (repeats allowed: broadcasting a prompt to K samples). */
  select(indices: readonly number[]): KvCache;
  /** Drops leading columns that every row pads, so steps stop attending over dead slots. */
  trim(): KvCache;
  /** Both batches' rows (this one's first), left-padded to a common length. */
  concat(other: KvCache): KvCache;
  /** The first `tokens` real columns of row 0 (a prompt's prefix), unpadded: for the prefix cache. */
  prefix(tokens: number): KvCache;
  /**
   * Device memory is freed when the last holder releases it (the engine's running batch, prefix
   * cache entries); a batch nobody retained is freed by the model after use. No-ops on the host.
   */
  retain(): void;
  release(): void;
}

export function kvBytesPerToken(shape: KvShape): number {
  return 2 * shape.layers * shape.heads * shape.headDim * (shape.dtype === "float16" ? 2 : 4);
}

/**
 * The attention mask of a left-padded batch: [rows, capacity + newTokens] of 0/1. Columns from
 * `length` to `capacity` are room not yet written (masked like padding); the new tokens come last.
 */
export function paddedMask(
  pad: readonly number[],
  length: number,
  newTokens: number,
  capacity = length,
): BigInt64Array {
  const width = capacity + newTokens;
  const mask = new BigInt64Array(pad.length * width);
  pad.forEach((p, r) => {
    mask.fill(1n, r * width + p, r * width + length);
    mask.fill(1n, r * width + capacity, (r + 1) * width);
  });
  return mask;
}

export class KvBatch implements KvCache {
  readonly location = "host";

  constructor(
    readonly shape: KvShape,
    /**
     * 2 · layers tensors: key 0, value 0, key 1, … each [B, heads, capacity, headDim], of which the
     * first `length` columns of each block are the cache and the rest room for later steps.
     */
    readonly tensors: FloatData[],
    readonly rows: number,
    readonly length: number,
    /** Padding slots at the left of each row. */
    readonly pad: number[],
    /**
     * Columns each (row, head) block has room for. A decode step feeds all of them (the unwritten
     * ones masked) and writes its new column in place: no block moves while there is room.
     */
    readonly capacity = length,
  ) {}

  static empty(shape: KvShape, rows: number): KvBatch {
    return new KvBatch(
      shape,
      Array.from({ length: 2 * shape.layers }, () => floats(shape.dtype, 0)),
      rows,
      0,
      new Array(rows).fill(0),
    );
  }

  realLength(row: number): number {
    return this.length - (this.pad[row] as number);
  }

  /** Memory held, including the room `append` leaves for later steps. */
  bytes(): number {
    return this.tensors.reduce((sum, t) => sum + t.buffer.byteLength, 0);
  }

  static bytesPerToken(shape: KvShape): number {
    return kvBytesPerToken(shape);
  }

  mask(newTokens: number): BigInt64Array {
    return paddedMask(this.pad, this.length, newTokens, this.capacity);
  }

  retain(): void {}

  release(): void {}

  /** The cache after a step: the decoder's present tensors (length + newTokens). */
  advance(present: FloatData[], newTokens: number): KvBatch {
    // present is past and the new columns side by side: room inside past would sit between them.
    if (this.capacity !== this.length) throw new Error("advance() needs a cache without room");
    return new KvBatch(this.shape, present, this.rows, this.length + newTokens, this.pad);
  }

  /**
   * The cache after a step, from only the step's new columns (`columns[t]`: [rows, heads, newTokens,
   * headDim], the decoder's `new_key_values.*`). With `reuse` (decode steps) the columns are written
   * into this batch's room when it has enough, so this batch must not be used afterwards; else new
   * buffers with SPARE_COLUMNS of room are made (one copy of the cache per SPARE_COLUMNS steps).
   * Without it (a prefill, whose past may be the prefix cache's own entry) the result gets new
   * buffers of exactly its length.
   */
  append(columns: readonly FloatData[], newTokens: number, reuse: boolean): KvBatch {
    const { heads, headDim, dtype } = this.shape;
    const blocks = this.rows * heads;
    const length = this.length + newTokens;
    const tail = newTokens * headDim;
    const inPlace = reuse && this.capacity >= length;
    const capacity = inPlace ? this.capacity : length + (reuse ? SPARE_COLUMNS : 0);
    const tensors = this.tensors.map((past, t) => {
      const out = inPlace ? past : floats(dtype, blocks * capacity * headDim);
      const fresh = columns[t] as FloatData;
      for (let b = 0; b < blocks; b++) {
        const at = b * capacity * headDim;
        if (!inPlace) {
          const from = b * this.capacity * headDim;
          out.set(past.subarray(from, from + this.length * headDim), at);
        }
        out.set(fresh.subarray(b * tail, (b + 1) * tail), at + this.length * headDim);
      }
      return out;
    });
    return new KvBatch(this.shape, tensors, this.rows, length, this.pad, capacity);
  }

  /** With SPARE_COLUMNS of room: the result is the running batch, whose next step then writes in place. */
  select(indices: readonly number[]): KvBatch {
    const { heads, headDim } = this.shape;
    const block = this.length * headDim;
    const stride = this.capacity * headDim;
    const capacity = this.length + SPARE_COLUMNS;
    const tensors = this.tensors.map((t) => {
      const out = floats(this.shape.dtype, indices.length * heads * capacity * headDim);
      indices.forEach((src, dst) => {
        for (let h = 0; h < heads; h++) {
          const from = (src * heads + h) * stride;
          out.set(t.subarray(from, from + block), (dst * heads + h) * capacity * headDim);
        }
      });
      return out;
    });
    return new KvBatch(
      this.shape,
      tensors,
      indices.length,
      this.length,
      indices.map((i) => this.pad[i] as number),
      capacity,
    );
  }

  /** With SPARE_COLUMNS of room when it moves the cache, as select. */
  trim(): KvBatch {
    const cut = this.rows ? Math.min(...this.pad) : this.length;
    if (cut === 0) return this;
    return this.resize(this.length - cut, SPARE_COLUMNS);
  }

  /** This batch with no room: what a decoder without `new_key_values` outputs is fed (see advance). */
  compact(): KvBatch {
    return this.capacity === this.length ? this : this.resize(this.length);
  }

  concat(other: KvCache): KvBatch {
    if (!(other instanceof KvBatch)) throw new Error("cannot join a device KV cache to a host one");
    return KvBatch.concat(this, other);
  }

  /**
   * Both batches' rows, left-padded to a common length, written once into buffers with SPARE_COLUMNS
   * of room (the result is the running batch: its next step writes in place).
   */
  static concat(a: KvBatch, b: KvBatch): KvBatch {
    if (a.rows === 0) return b;
    if (b.rows === 0) return a;
    const length = Math.max(a.length, b.length);
    const capacity = length + SPARE_COLUMNS;
    const { heads, headDim, dtype } = a.shape;
    const tensors = a.tensors.map((_, i) => {
      const out = floats(dtype, (a.rows + b.rows) * heads * capacity * headDim);
      let block = 0;
      for (const batch of [a, b]) {
        const t = batch.tensors[i] as FloatData;
        const shift = (length - batch.length) * headDim;
        for (let rh = 0; rh < batch.rows * heads; rh++, block++) {
          const from = rh * batch.capacity * headDim;
          out.set(t.subarray(from, from + batch.length * headDim), block * capacity * headDim + shift);
        }
      }
      return out;
    });
    const pad = [...a.pad.map((p) => p + length - a.length), ...b.pad.map((p) => p + length - b.length)];
    return new KvBatch(a.shape, tensors, a.rows + b.rows, length, pad, capacity);
  }

  /**
   * The same rows at `length` columns (grows by left padding, shrinks by dropping leading columns),
   * with `room` columns of room after them.
   */
  resize(length: number, room = 0): KvBatch {
    if (length === this.length && this.capacity === length + room) return this;
    const delta = length - this.length;
    if (delta < 0 && this.pad.some((p) => p < -delta)) throw new Error("cannot drop real KV columns");
    const { heads, headDim } = this.shape;
    const rowsByHeads = this.rows * heads;
    const capacity = length + room;
    const tensors = this.tensors.map((t) => {
      const out = floats(this.shape.dtype, rowsByHeads * capacity * headDim);
      for (let rh = 0; rh < rowsByHeads; rh++) {
        const src = rh * this.capacity * headDim;
        const dst = rh * capacity * headDim;
        if (delta >= 0) out.set(t.subarray(src, src + this.length * headDim), dst + delta * headDim);
        else out.set(t.subarray(src - delta * headDim, src + this.length * headDim), dst);
      }
      return out;
    });
    return new KvBatch(
      this.shape,
      tensors,
      this.rows,
      length,
      this.pad.map((p) => p + delta),
      capacity,
    );
  }

  prefix(tokens: number): KvBatch {
    if (this.rows !== 1 || this.pad[0] !== 0) throw new Error("prefix() needs one unpadded row");
    const { heads, headDim } = this.shape;
    const tensors = this.tensors.map((t) => {
      const out = floats(this.shape.dtype, heads * tokens * headDim);
      for (let h = 0; h < heads; h++) {
        out.set(
          t.subarray(h * this.capacity * headDim, (h * this.capacity + tokens) * headDim),
          h * tokens * headDim,
        );
      }
      return out;
    });
    return new KvBatch(this.shape, tensors, 1, tokens, [0]);
  }
}
