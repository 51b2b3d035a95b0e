// The device KV cache's batch operations as small ONNX graphs on the model's own device: one Gather
// graph (rows, then columns, of all 2 · layers tensors in one run) and a Concat graph per number of
// parts. Their outputs stay on the device.

import type { DeviceKvOps } from "./device-kv.js";
import type { KvShape } from "./kv.js";
import { type Graph, openGraph, type SessionLog, type SessionSettings } from "./runtime/onnx.js";
import { type OnnxGraphSpec, onnxModel } from "./runtime/onnx-proto.js";
import { type DeviceTensor, int64 } from "./runtime/tensor.js";

function tensorNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

function gatherSpec(shape: KvShape): OnnxGraphSpec {
  const count = 2 * shape.layers;
  const x = tensorNames("x", count);
  const y = tensorNames("y", count);
  return {
    name: "kv_gather",
    inputs: [
      ...x.map((name) => ({ name, dtype: shape.dtype, rank: 4 })),
      { name: "rows", dtype: "int64", rank: 1 },
      { name: "columns", dtype: "int64", rank: 1 },
    ],
    outputs: y.map((name) => ({ name, dtype: shape.dtype, rank: 4 })),
    nodes: x.flatMap((name, i) => [
      { op: "Gather", inputs: [name, "rows"], outputs: [`r${i}`], ints: { axis: 0 } },
      { op: "Gather", inputs: [`r${i}`, "columns"], outputs: [y[i] as string], ints: { axis: 2 } },
    ]),
  };
}

function concatSpec(shape: KvShape, parts: number): OnnxGraphSpec {
  const count = 2 * shape.layers;
  const y = tensorNames("y", count);
  const input = (part: number, i: number) => `p${part}_${i}`;
  const inputs = [];
  for (let p = 0; p < parts; p++)
    for (let i = 0; i < count; i++) inputs.push({ name: input(p, i), dtype: shape.dtype, rank: 4 });
  return {
    name: `kv_concat_${parts}`,
    inputs,
    outputs: y.map((name) => ({ name, dtype: shape.dtype, rank: 4 })),
    nodes: y.map((name, i) => ({
      op: "Concat",
      inputs: Array.from({ length: parts }, (_, p) => input(p, i)),
      outputs: [name],
      ints: { axis: 0 },
    })),
  };
}

export class KvGraphs implements DeviceKvOps {
  private readonly concats = new Map<number, Promise<Graph>>();
  private readonly opened: Graph[] = [];

  private constructor(
    private readonly shape: KvShape,
    private readonly settings: SessionSettings,
    private readonly log: SessionLog,
    private readonly gatherGraph: Graph,
  ) {}

  static async open(shape: KvShape, settings: SessionSettings, log: SessionLog): Promise<KvGraphs> {
    const spec = gatherSpec(shape);
    const graph = await KvGraphs.openSpec(spec, settings, log);
    return new KvGraphs(shape, settings, log, graph);
  }

  private static openSpec(spec: OnnxGraphSpec, settings: SessionSettings, log: SessionLog): Promise<Graph> {
    const outputs = spec.outputs.map((o) => o.name);
    return openGraph(
      { name: `(engine graph ${spec.name})`, bytes: onnxModel(spec) },
      { ...settings, allowCpuFallback: false, deviceOutputs: outputs, quiet: true },
      { inputs: spec.inputs.map((i) => i.name), outputs },
      log,
    );
  }

  /** Bytes these graphs moved between host and device (their index inputs; never the cache). */
  transfers(): { toDevice: number; toHost: number } {
    return this.graphs().reduce(
      (sum, g) => ({
        toDevice: sum.toDevice + g.transfers.toDevice,
        toHost: sum.toHost + g.transfers.toHost,
      }),
      { toDevice: 0, toHost: 0 },
    );
  }

  private graphs(): Graph[] {
    return [this.gatherGraph, ...this.opened];
  }

  async gather(
    tensors: readonly DeviceTensor[],
    rows: readonly number[],
    columns: readonly number[],
  ): Promise<DeviceTensor[]> {
    const feeds: Record<string, DeviceTensor | ReturnType<typeof int64>> = {
      rows: int64(rows, [rows.length]),
      columns: int64(columns, [columns.length]),
    };
    tensors.forEach((t, i) => {
      feeds[`x${i}`] = t;
    });
    const out = await this.gatherGraph.run(feeds);
    return tensors.map((_, i) => out[`y${i}`] as DeviceTensor);
  }

  async concat(parts: readonly (readonly DeviceTensor[])[]): Promise<DeviceTensor[]> {
    let pending = this.concats.get(parts.length);
    if (!pending) {
      pending = KvGraphs.openSpec(concatSpec(this.shape, parts.length), this.settings, this.log);
      this.concats.set(parts.length, pending);
      pending.then(
        (g) => this.opened.push(g),
        () => this.concats.delete(parts.length),
      );
    }
    const graph = await pending;
    const feeds: Record<string, DeviceTensor> = {};
    parts.forEach((part, p) => {
      part.forEach((t, i) => {
        feeds[`p${p}_${i}`] = t;
      });
    });
    const out = await graph.run(feeds);
    return (parts[0] ?? []).map((_, i) => out[`y${i}`] as DeviceTensor);
  }

  async release(): Promise<void> {
    const concats = await Promise.allSettled(this.concats.values());
    await Promise.all([
      this.gatherGraph.release(),
      ...concats.flatMap((c) => (c.status === "fulfilled" ? [c.value.release()] : [])),
    ]);
  }
}
