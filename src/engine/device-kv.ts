// The KV cache in GPU memory (WebGPU): the decoder's `present.*` outputs stay on the device and are fed
// back as the next step's past. Batch changes (rows leaving, requests joining, a prompt broadcast to
// K samples, trimming, prefixes for the prefix cache) only rewrite a plan over the tensors they
// come from; the next model run materializes the plan on the device with one Gather per source
// (rows, then columns) and a Concat, so the cache never visits the host.
// Device memory is freed explicitly: a source's tensors are disposed when the last batch holding it
// is released (the engine's running batch, prefix-cache entries) or, if nobody ever held it, freed.

import { type KvCache, type KvShape, paddedMask } from "./kv.js";
import {
  type AnyTensor,
  bytesPerElement,
  type DeviceTensor,
  elementCount,
  floats,
} from "./runtime/tensor.js";

/** The device operations a plan needs (KvGraphs in production, fakes in unit tests). */
export interface DeviceKvOps {
  /** Per tensor [B, heads, L, headDim]: rows `rows` (axis 0), then columns `columns` (axis 2). */
  gather(
    tensors: readonly DeviceTensor[],
    rows: readonly number[],
    columns: readonly number[],
  ): Promise<DeviceTensor[]>;
  /** Per tensor position, the parts joined along the rows (axis 0). */
  concat(parts: readonly (readonly DeviceTensor[])[]): Promise<DeviceTensor[]>;
}

/** One model output's KV tensors (2 · layers), shared by every batch planned over them. */
export class KvSource {
  private holders = 0;
  private freed = false;

  constructor(
    readonly tensors: readonly DeviceTensor[],
    readonly rows: number,
    readonly length: number,
  ) {}

  get bytes(): number {
    return this.tensors.reduce((sum, t) => sum + elementCount(t.dims) * bytesPerElement(t.dtype), 0);
  }

  get isFreed(): boolean {
    return this.freed;
  }

  retain(): void {
    if (this.freed) throw new Error("a KV cache was used after its device memory was freed");
    this.holders++;
  }

  release(): void {
    if (--this.holders <= 0) this.free();
  }

  /** Frees the tensors unless some batch holds them. */
  freeIfUnheld(): void {
    if (this.holders <= 0) this.free();
  }

  private free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of this.tensors) t.dispose();
  }
}

/** Rows of one source; batch column c is the source's column c + offset (padding when negative). */
interface Segment {
  source: KvSource;
  rows: readonly number[];
  offset: number;
}

export class DeviceKvBatch implements KvCache {
  readonly location = "device";

  private constructor(
    readonly shape: KvShape,
    private readonly ops: DeviceKvOps,
    private readonly segments: readonly Segment[],
    readonly rows: number,
    readonly length: number,
    readonly pad: readonly number[],
  ) {}

  static empty(shape: KvShape, ops: DeviceKvOps, rows: number): DeviceKvBatch {
    return new DeviceKvBatch(shape, ops, [], rows, 0, new Array(rows).fill(0));
  }

  /** A model run's present tensors ([rows, heads, length, headDim] each) with the batch's padding. */
  static fromTensors(
    shape: KvShape,
    ops: DeviceKvOps,
    tensors: readonly DeviceTensor[],
    pad: readonly number[],
    length: number,
  ): DeviceKvBatch {
    const source = new KvSource(tensors, pad.length, length);
    const rows = pad.map((_, i) => i);
    return new DeviceKvBatch(shape, ops, [{ source, rows, offset: 0 }], pad.length, length, pad);
  }

  realLength(row: number): number {
    return this.length - (this.pad[row] as number);
  }

  mask(newTokens: number): BigInt64Array {
    return paddedMask(this.pad, this.length, newTokens);
  }

  /** Device memory of the tensors this batch plans over (shared ones counted once). */
  bytes(): number {
    return this.sources().reduce((sum, s) => sum + s.bytes, 0);
  }

  private sources(): KvSource[] {
    return [...new Set(this.segments.map((s) => s.source))];
  }

  retain(): void {
    for (const s of this.segments) s.source.retain();
  }

  release(): void {
    for (const s of this.segments) s.source.release();
  }

  /** Frees what nobody holds: a model run's result that the engine did not keep. */
  freeIfUnheld(): void {
    for (const s of this.segments) s.source.freeIfUnheld();
  }

  select(indices: readonly number[]): DeviceKvBatch {
    const owner: { segment: Segment; row: number }[] = [];
    for (const segment of this.segments) for (const row of segment.rows) owner.push({ segment, row });
    const segments: Segment[] = [];
    for (const index of indices) {
      const at = owner[index];
      if (!at) throw new Error(`row ${index} is not in this batch of ${this.rows}`);
      const last = segments[segments.length - 1];
      if (last && last.source === at.segment.source && last.offset === at.segment.offset)
        (last.rows as number[]).push(at.row);
      else segments.push({ source: at.segment.source, rows: [at.row], offset: at.segment.offset });
    }
    const pad = indices.map((i) => this.pad[i] as number);
    return new DeviceKvBatch(this.shape, this.ops, segments, indices.length, this.length, pad);
  }

  trim(): DeviceKvBatch {
    const cut = this.rows ? Math.min(...this.pad) : this.length;
    return cut === 0 ? this : this.resize(this.length - cut);
  }

  /** The same rows at `length` columns: grows by left padding, shrinks by dropping leading columns. */
  resize(length: number): DeviceKvBatch {
    if (length === this.length) return this;
    const delta = length - this.length;
    if (delta < 0 && this.pad.some((p) => p < -delta)) throw new Error("cannot drop real KV columns");
    const segments = this.segments.map((s) => ({ ...s, offset: s.offset - delta }));
    const pad = this.pad.map((p) => p + delta);
    return new DeviceKvBatch(this.shape, this.ops, segments, this.rows, length, pad);
  }

  concat(other: KvCache): DeviceKvBatch {
    if (!(other instanceof DeviceKvBatch)) throw new Error("cannot join a host KV cache to a device one");
    if (this.rows === 0) return other;
    if (other.rows === 0) return this;
    const length = Math.max(this.length, other.length);
    const a = this.resize(length);
    const b = other.resize(length);
    return new DeviceKvBatch(this.shape, this.ops, [...a.segments, ...b.segments], a.rows + b.rows, length, [
      ...a.pad,
      ...b.pad,
    ]);
  }

  prefix(tokens: number): DeviceKvBatch {
    if (this.rows !== 1 || this.pad[0] !== 0) throw new Error("prefix() needs one unpadded row");
    return new DeviceKvBatch(this.shape, this.ops, this.segments, 1, tokens, [0]);
  }

  /**
   * The batch as tensors to feed a model run: the source's own tensors when the plan is exactly one
   * whole source, else new ones built on the device, listed in `temporary` for the caller to dispose
   * after the run. A zero-length cache is host tensors of no elements.
   */
  async materialize(): Promise<{ tensors: AnyTensor[]; temporary: DeviceTensor[] }> {
    const { layers, heads, headDim, dtype } = this.shape;
    if (this.length === 0) {
      const empty = { dtype, data: floats(dtype, 0), dims: [this.rows, heads, 0, headDim] };
      return { tensors: Array.from({ length: 2 * layers }, () => empty), temporary: [] };
    }
    const [only] = this.segments;
    if (
      this.segments.length === 1 &&
      only &&
      only.offset === 0 &&
      only.source.length === this.length &&
      only.rows.length === only.source.rows &&
      only.rows.every((r, i) => r === i)
    ) {
      if (only.source.isFreed) throw new Error("a KV cache was used after its device memory was freed");
      return { tensors: [...only.source.tensors], temporary: [] };
    }
    const parts: DeviceTensor[][] = [];
    try {
      for (const segment of this.segments) {
        if (segment.source.isFreed) throw new Error("a KV cache was used after its device memory was freed");
        // Padding columns take column 0: any finite value will do, the attention mask hides them.
        const columns = Array.from({ length: this.length }, (_, c) => Math.max(0, c + segment.offset));
        parts.push(await this.ops.gather(segment.source.tensors, segment.rows, columns));
      }
      if (parts.length === 1) {
        const tensors = parts[0] as DeviceTensor[];
        return { tensors, temporary: tensors };
      }
      const tensors = await this.ops.concat(parts);
      for (const part of parts) for (const t of part) t.dispose();
      return { tensors, temporary: tensors };
    } catch (err) {
      for (const part of parts) for (const t of part) t.dispose();
      throw err;
    }
  }
}
