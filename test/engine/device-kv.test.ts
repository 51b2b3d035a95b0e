// DeviceKvBatch, the KV cache kept in GPU memory, against KvBatch (the host cache) on random sequences of
// the engine's batch operations, with fake device ops that gather on host arrays: every real slot
// lands where the host cache puts it, and device memory is freed exactly when its last holder lets go.
// (The real ops, ONNX graphs on WebGPU, are checked against CPU in webgpu.test.ts.)

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DeviceKvBatch, type DeviceKvOps } from "../../src/engine/device-kv.js";
import { KvBatch, type KvShape } from "../../src/engine/kv.js";
import type { DeviceTensor } from "../../src/engine/runtime/tensor.js";

const SHAPE: KvShape = { layers: 1, heads: 2, headDim: 2, dtype: "float32" };

class FakeTensor implements DeviceTensor {
  static alive = 0;
  readonly location = "device";
  readonly dtype = "float32";
  disposed = false;

  constructor(
    readonly data: Float32Array,
    readonly dims: readonly number[],
  ) {
    FakeTensor.alive++;
  }

  dispose(): void {
    assert.ok(!this.disposed, "disposed twice");
    this.disposed = true;
    FakeTensor.alive--;
  }
}

class FakeOps implements DeviceKvOps {
  runs = 0;

  async gather(tensors: readonly DeviceTensor[], rows: readonly number[], columns: readonly number[]) {
    this.runs++;
    return tensors.map((x) => {
      const t = x as FakeTensor;
      assert.ok(!t.disposed, "gathered from a freed tensor");
      const [, heads = 0, length = 0, dim = 0] = t.dims;
      const out = new Float32Array(rows.length * heads * columns.length * dim);
      rows.forEach((r, ri) => {
        for (let h = 0; h < heads; h++)
          columns.forEach((c, ci) => {
            assert.ok(c >= 0 && c < length, `column ${c} outside 0..${length - 1}`);
            for (let d = 0; d < dim; d++)
              out[((ri * heads + h) * columns.length + ci) * dim + d] = t.data[
                ((r * heads + h) * length + c) * dim + d
              ] as number;
          });
      });
      return new FakeTensor(out, [rows.length, heads, columns.length, dim]);
    });
  }

  async concat(parts: readonly (readonly DeviceTensor[])[]) {
    this.runs++;
    return (parts[0] ?? []).map((_, i) => {
      const pieces = parts.map((p) => p[i] as FakeTensor);
      const data = new Float32Array(pieces.reduce((n, p) => n + p.data.length, 0));
      let at = 0;
      for (const p of pieces) {
        data.set(p.data, at);
        at += p.data.length;
      }
      const [, heads = 0, length = 0, dim = 0] = pieces[0]?.dims ?? [];
      const rows = pieces.reduce((n, p) => n + (p.dims[0] as number), 0);
      return new FakeTensor(data, [rows, heads, length, dim]);
    });
  }
}

/** A one-row prompt cache of `length` columns whose values name the prompt, column, head and dim. */
function prompt(id: number, length: number, ops: FakeOps): { host: KvBatch; device: DeviceKvBatch } {
  const tensors = [0, 1].map((t) => {
    const data = new Float32Array(SHAPE.heads * length * SHAPE.headDim);
    for (let h = 0; h < SHAPE.heads; h++)
      for (let c = 0; c < length; c++)
        for (let d = 0; d < SHAPE.headDim; d++)
          data[(h * length + c) * SHAPE.headDim + d] = 1 + t * 100000 + id * 1000 + h * 100 + c * 2 + d;
    return data;
  });
  const device = tensors.map((data) => new FakeTensor(data, [1, SHAPE.heads, length, SHAPE.headDim]));
  return {
    host: new KvBatch(SHAPE, tensors, 1, length, [0]),
    device: DeviceKvBatch.fromTensors(SHAPE, ops, device, [0], length),
  };
}

/** The materialized device batch's real slots equal the host batch's (padding may hold anything). */
async function assertSame(device: DeviceKvBatch, host: KvBatch): Promise<void> {
  assert.equal(device.rows, host.rows);
  assert.equal(device.length, host.length);
  assert.deepEqual([...device.pad], host.pad);
  const { tensors, temporary } = await device.materialize();
  try {
    tensors.forEach((t, i) => {
      const data = t.dims[2] === 0 ? new Float32Array(0) : (t as FakeTensor).data;
      const want = host.tensors[i] as Float32Array;
      // The device batch has exactly `length` columns per block; the host one may leave room after them.
      assert.equal(data.length, host.rows * SHAPE.heads * host.length * SHAPE.headDim);
      for (let r = 0; r < host.rows; r++)
        for (let h = 0; h < SHAPE.heads; h++)
          for (let c = host.pad[r] as number; c < host.length; c++)
            for (let d = 0; d < SHAPE.headDim; d++) {
              const at = ((r * SHAPE.heads + h) * host.length + c) * SHAPE.headDim + d;
              const hostAt = ((r * SHAPE.heads + h) * host.capacity + c) * SHAPE.headDim + d;
              assert.equal(data[at], want[hostAt], `tensor ${i} row ${r} head ${h} column ${c}`);
            }
    });
  } finally {
    for (const t of temporary) t.dispose();
  }
}

type Op =
  | { kind: "join"; length: number; copies: number }
  | { kind: "select"; picks: number[] }
  | { kind: "trim" }
  | { kind: "prefix"; tokens: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("join" as const),
    length: fc.integer({ min: 1, max: 9 }),
    copies: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ kind: fc.constant("select" as const), picks: fc.array(fc.nat(), { maxLength: 6 }) }),
  fc.record({ kind: fc.constant("trim" as const) }),
  fc.record({ kind: fc.constant("prefix" as const), tokens: fc.integer({ min: 1, max: 9 }) }),
);

test("the device plan holds what the host cache holds after any sequence of batch operations", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), async (ops) => {
      const fake = new FakeOps();
      let host = KvBatch.empty(SHAPE, 0);
      let device = DeviceKvBatch.empty(SHAPE, fake, 0);
      device.retain();
      const keep = (next: DeviceKvBatch) => {
        next.retain();
        device.release();
        device = next;
      };
      ops.forEach((op, n) => {
        if (op.kind === "join") {
          const p = prompt(n, op.length, fake);
          const picks = Array.from({ length: op.copies }, () => 0);
          host = KvBatch.concat(host, p.host.select(picks));
          keep(device.concat(p.device.select(picks)));
          p.device.freeIfUnheld();
        } else if (op.kind === "select" && host.rows > 0) {
          const picks = op.picks.map((i) => i % host.rows);
          host = host.select(picks).trim();
          keep(device.select(picks).trim());
        } else if (op.kind === "trim") {
          host = host.trim();
          keep(device.trim());
        } else if (op.kind === "prefix" && host.rows === 1 && host.pad[0] === 0) {
          const tokens = Math.min(op.tokens, host.length);
          host = host.prefix(tokens);
          keep(device.prefix(tokens));
        }
      });
      await assertSame(device, host);
      device.release();
      assert.equal(FakeTensor.alive, 0, "every device tensor freed once nothing holds it");
    }),
    { numRuns: 300 },
  );
});

test("a plan that is exactly one whole source feeds it as is, with no device op", async () => {
  const fake = new FakeOps();
  const p = prompt(1, 5, fake);
  const alive = FakeTensor.alive;
  const { temporary } = await p.device.materialize();
  assert.equal(fake.runs, 0);
  assert.equal(temporary.length, 0);
  assert.equal(FakeTensor.alive, alive, "no new device tensor");
  p.device.freeIfUnheld();
});

test("a cache held by the prefix cache and the running batch is freed only when both let go", async () => {
  const fake = new FakeOps();
  const before = FakeTensor.alive;
  const p = prompt(2, 4, fake);
  p.device.retain(); // the prefix cache
  const running = p.device.select([0, 0, 0]);
  running.retain(); // the engine's batch
  p.device.release();
  assert.equal(FakeTensor.alive - before, 2, "still held by the running batch");
  await assertSame(running, p.host.select([0, 0, 0]));
  running.release();
  assert.equal(FakeTensor.alive - before, 0);
  await assert.rejects(running.materialize(), /freed/);
});
