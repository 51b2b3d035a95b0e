// KvBatch, the left-padded per-row KV cache, on small hand-made fp32 and fp16 (raw Uint16Array bits)
// tensors: the attention mask, concat, select/broadcast, resize, trim, prefix and byte accounting.

import assert from "node:assert/strict";
import { test } from "node:test";
import { KvBatch, type KvShape, SPARE_COLUMNS } from "../../src/engine/kv.js";
import type { FloatData, FloatDType } from "../../src/engine/runtime/tensor.js";

const shapeOf = (dtype: FloatDType): KvShape => ({ layers: 2, heads: 2, headDim: 3, dtype });

/** A distinct value for every (tensor, row, head, column, dim) — small enough for fp16 bit patterns. */
const tag = (t: number, row: number, head: number, col: number, d: number) =>
  1 + t * 10000 + row * 1000 + head * 100 + col * 10 + d;

/** A batch whose real slots hold tag(t, row, head, col - pad, d) (col counted from the first real one). */
function makeBatch(dtype: FloatDType, pad: number[], length: number, rowIds = pad.map((_, i) => i)): KvBatch {
  const shape = shapeOf(dtype);
  const rows = pad.length;
  const tensors: FloatData[] = [];
  for (let t = 0; t < 2 * shape.layers; t++) {
    const data =
      dtype === "float16" ? new Uint16Array(rows * 2 * length * 3) : new Float32Array(rows * 2 * length * 3);
    for (let r = 0; r < rows; r++)
      for (let h = 0; h < 2; h++)
        for (let c = pad[r] as number; c < length; c++)
          for (let d = 0; d < 3; d++)
            data[((r * 2 + h) * length + c) * 3 + d] = tag(
              t,
              rowIds[r] as number,
              h,
              c - (pad[r] as number),
              d,
            );
    tensors.push(data);
  }
  return new KvBatch(shape, tensors, rows, length, [...pad]);
}

const at = (kv: KvBatch, t: number, row: number, head: number, col: number, d: number) =>
  (kv.tensors[t] as FloatData)[
    ((row * kv.shape.heads + head) * kv.capacity + col) * kv.shape.headDim + d
  ] as number;

/** Row `row` of `kv` holds exactly the real values of source row `srcRow` after kv.pad[row] zeros. */
function assertRow(kv: KvBatch, row: number, srcRow: number, realLength: number) {
  const pad = kv.pad[row] as number;
  assert.equal(kv.length - pad, realLength, `row ${row} real length`);
  for (let t = 0; t < kv.tensors.length; t++)
    for (let h = 0; h < kv.shape.heads; h++)
      for (let c = 0; c < kv.length; c++)
        for (let d = 0; d < kv.shape.headDim; d++) {
          const want = c < pad ? 0 : tag(t, srcRow, h, c - pad, d);
          assert.equal(at(kv, t, row, h, c, d), want, `t${t} row${row} h${h} c${c} d${d}`);
        }
}

for (const dtype of ["float32", "float16"] as const) {
  const expectedArray = dtype === "float16" ? Uint16Array : Float32Array;

  test(`${dtype}: mask() zeros exactly the left padding, new tokens included`, () => {
    const kv = makeBatch(dtype, [2, 0, 1], 3);
    const mask = kv.mask(2);
    assert.equal(mask.length, 3 * 5);
    assert.deepEqual(Array.from(mask, Number), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1]);
    // An empty cache: every new token attends.
    assert.deepEqual(Array.from(KvBatch.empty(kv.shape, 2).mask(2), Number), [1, 1, 1, 1]);
  });

  test(`${dtype}: realLength and advance`, () => {
    const kv = makeBatch(dtype, [2, 0], 4);
    assert.equal(kv.realLength(0), 2);
    assert.equal(kv.realLength(1), 4);
    const next = kv.advance(kv.tensors, 1);
    assert.equal(next.length, 5);
    assert.deepEqual(next.pad, [2, 0]);
    assert.equal(next.realLength(0), 3);
  });

  test(`${dtype}: append adds the new columns; in place when it may, without touching a shared batch`, () => {
    // Three steps of two new columns each onto rows of different padding; the expected values are
    // what makeBatch would have built at the final length.
    const start = makeBatch(dtype, [1, 0], 3);
    const columns = (from: number, count: number) =>
      Array.from({ length: 4 }, (_, t) => {
        const data =
          dtype === "float16" ? new Uint16Array(2 * 2 * count * 3) : new Float32Array(2 * 2 * count * 3);
        for (let r = 0; r < 2; r++)
          for (let h = 0; h < 2; h++)
            for (let c = 0; c < count; c++)
              for (let d = 0; d < 3; d++)
                data[((r * 2 + h) * count + c) * 3 + d] = tag(
                  t,
                  r,
                  h,
                  from + c - (start.pad[r] as number),
                  d,
                );
        return data;
      });
    const before = start.tensors.map((t) => Array.from(t));
    const first = start.append(columns(3, 2), 2, false);
    assert.deepEqual(
      start.tensors.map((t) => Array.from(t)),
      before,
      "without reuse the source batch is untouched",
    );
    assert.equal(first.bytes(), KvBatch.bytesPerToken(first.shape) * 2 * 5, "a prefill's result has no room");
    const second = first.append(columns(5, 2), 2, true);
    const room = KvBatch.bytesPerToken(first.shape) * 2 * SPARE_COLUMNS;
    assert.equal(
      second.bytes(),
      KvBatch.bytesPerToken(first.shape) * 2 * 7 + room,
      "a decode step's has room",
    );
    const third = second.append(columns(7, 1), 1, true);
    assert.equal(third.tensors[0], second.tensors[0], "the room is used in place: no block moves");
    assert.equal(third.length, 8);
    assert.equal(third.capacity, 7 + SPARE_COLUMNS);
    assert.deepEqual(third.pad, [1, 0]);
    // A step feeds every column it has room for; the unwritten ones are masked like padding.
    const width = third.capacity + 1;
    const mask = Array.from(third.mask(1), Number);
    for (let r = 0; r < 2; r++)
      for (let c = 0; c < width; c++)
        assert.equal(
          mask[r * width + c],
          (c >= (third.pad[r] as number) && c < 8) || c === width - 1 ? 1 : 0,
        );
    for (const t of third.tensors) assert.ok(t instanceof expectedArray);
    const compact = third.compact();
    assert.equal(compact.capacity, 8);
    assertRow(compact, 0, 0, 7);
    assertRow(compact, 1, 1, 8);
    // Batch operations read through the room.
    assertRow(third.select([1]), 0, 1, 8);
    assertRow(KvBatch.concat(third, makeBatch(dtype, [0], 2, [5])), 1, 1, 8);
  });

  test(`${dtype}: select, concat and trim leave room, so the step after a batch change writes in place`, () => {
    const kv = makeBatch(dtype, [1, 0], 3);
    const built = {
      select: kv.select([1, 0]),
      concat: KvBatch.concat(makeBatch(dtype, [0], 2, [0]), makeBatch(dtype, [0], 3, [1])),
      trim: makeBatch(dtype, [2, 1], 4).trim(),
    };
    for (const [op, batch] of Object.entries(built)) {
      assert.equal(batch.capacity, batch.length + SPARE_COLUMNS, `${op} leaves room`);
      const fresh = batch.tensors.map(() =>
        dtype === "float16" ? new Uint16Array(2 * 2 * 3) : new Float32Array(2 * 2 * 3),
      );
      const next = batch.append(fresh, 1, true);
      assert.equal(next.tensors[0], batch.tensors[0], `${op}: the next step moves no block`);
      assert.equal(next.length, batch.length + 1);
    }
    assertRow(built.select, 0, 1, 3);
    assertRow(built.select, 1, 0, 2);
    assertRow(built.concat, 0, 0, 2);
    assertRow(built.concat, 1, 1, 3);
    assertRow(built.trim, 0, 0, 2);
    assertRow(built.trim, 1, 1, 3);
  });

  test(`${dtype}: concat left-pads the shorter batch and keeps every value`, () => {
    const a = makeBatch(dtype, [0], 2, [0]);
    const b = makeBatch(dtype, [0, 1], 4, [1, 2]);
    const both = KvBatch.concat(a, b);
    assert.equal(both.rows, 3);
    assert.equal(both.length, 4);
    assert.deepEqual(both.pad, [2, 0, 1]);
    for (const t of both.tensors) assert.ok(t instanceof expectedArray);
    assertRow(both, 0, 0, 2);
    assertRow(both, 1, 1, 4);
    assertRow(both, 2, 2, 3);
    // The other way round: the longer batch first.
    const swapped = KvBatch.concat(b, a);
    assert.deepEqual(swapped.pad, [0, 1, 2]);
    assertRow(swapped, 0, 1, 4);
    assertRow(swapped, 2, 0, 2);
    // Concat with an empty batch is the other batch.
    const empty = KvBatch.empty(a.shape, 0);
    assert.equal(KvBatch.concat(empty, b), b);
    assert.equal(KvBatch.concat(b, empty), b);
  });

  test(`${dtype}: select reorders rows and repeats broadcast a row`, () => {
    const kv = makeBatch(dtype, [1, 0, 2], 3);
    const picked = kv.select([2, 0, 0, 0]);
    assert.equal(picked.rows, 4);
    assert.equal(picked.length, 3);
    assert.deepEqual(picked.pad, [2, 1, 1, 1]);
    assertRow(picked, 0, 2, 1);
    for (const r of [1, 2, 3]) assertRow(picked, r, 0, 2);
    // The copy is independent of the source.
    (picked.tensors[0] as FloatData)[((1 * 2 + 0) * 3 + 1) * 3] = 0;
    assert.equal(at(kv, 0, 0, 0, 1, 0), tag(0, 0, 0, 0, 0));
    const none = kv.select([]);
    assert.equal(none.rows, 0);
    assert.equal(none.bytes(), 0);
  });

  test(`${dtype}: resize grows by left padding and shrinks by dropping padding only`, () => {
    const kv = makeBatch(dtype, [1, 0], 3);
    const grown = kv.resize(5);
    assert.deepEqual(grown.pad, [3, 2]);
    assertRow(grown, 0, 0, 2);
    assertRow(grown, 1, 1, 3);
    const back = grown.resize(3);
    assert.deepEqual(back.pad, [1, 0]);
    assertRow(back, 0, 0, 2);
    assertRow(back, 1, 1, 3);
    assert.equal(kv.resize(3), kv);
    assert.throws(() => kv.resize(2), /cannot drop real KV columns/);
    assert.throws(() => grown.resize(2), /cannot drop real KV columns/);
  });

  test(`${dtype}: trim drops the columns every row pads, nothing more`, () => {
    const kv = makeBatch(dtype, [3, 2, 4], 6);
    const trimmed = kv.trim();
    assert.equal(trimmed.length, 4);
    assert.deepEqual(trimmed.pad, [1, 0, 2]);
    assertRow(trimmed, 0, 0, 3);
    assertRow(trimmed, 1, 1, 4);
    assertRow(trimmed, 2, 2, 2);
    assert.equal(trimmed.trim(), trimmed, "nothing left to trim");
    // After the longest row leaves, the batch shrinks to the longest remaining row.
    const left = kv.select([0, 2]).trim();
    assert.equal(left.length, 3);
    assert.deepEqual(left.pad, [0, 1]);
  });

  test(`${dtype}: prefix(n) takes the first n real columns of each head`, () => {
    const kv = makeBatch(dtype, [0], 5);
    const p = kv.prefix(2);
    assert.equal(p.rows, 1);
    assert.equal(p.length, 2);
    assert.deepEqual(p.pad, [0]);
    assertRow(p, 0, 0, 2);
    assert.equal(p.bytes(), kv.bytes() * (2 / 5));
    assert.throws(() => makeBatch(dtype, [1], 5).prefix(2), /one unpadded row/);
    assert.throws(() => makeBatch(dtype, [0, 0], 5).prefix(2), /one unpadded row/);
  });

  test(`${dtype}: bytes() and bytesPerToken`, () => {
    const size = dtype === "float16" ? 2 : 4;
    const kv = makeBatch(dtype, [1, 0, 0], 4);
    // 2 layers × (key + value) × 3 rows × 2 heads × 4 columns × 3 dims.
    assert.equal(kv.bytes(), 4 * 3 * 2 * 4 * 3 * size);
    assert.equal(KvBatch.bytesPerToken(kv.shape), 2 * 2 * 2 * 3 * size);
    assert.equal(kv.bytes(), KvBatch.bytesPerToken(kv.shape) * kv.rows * kv.length);
    assert.equal(KvBatch.empty(kv.shape, 3).bytes(), 0);
  });
}
