// A minimal ONNX model writer (protobuf wire format) for the engine's own small graphs: the KV-cache
// batch operations that run on the model's device (WebGPU), so the cache never visits the host.
// Only what those graphs need: nodes with int attributes, typed inputs and outputs of known rank.

import type { DType } from "./tensor.js";

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes (e.g. Gather's `axis`). */
  ints?: Record<string, number>;
}

export interface OnnxValue {
  name: string;
  dtype: DType;
  rank: number;
}

export interface OnnxGraphSpec {
  name: string;
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  /** The default-domain opset; 17 covers every op used here. */
  opset?: number;
}

const ELEMENT_TYPE: Record<DType, number> = { float32: 1, int64: 7, float16: 10 };
const ATTRIBUTE_INT = 2;
const IR_VERSION = 8;

class Writer {
  private readonly bytes: number[] = [];

  private varint(value: number): void {
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n;
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      this.bytes.push(byte);
    } while (v > 0n);
  }

  int(field: number, value: number): this {
    this.varint(field << 3);
    this.varint(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  message(field: number, body: Writer): this {
    return this.bytesField(field, body.finish());
  }

  private bytesField(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function valueInfo(value: OnnxValue): Writer {
  const shape = new Writer();
  for (let d = 0; d < value.rank; d++) shape.message(1, new Writer().string(2, `${value.name}_d${d}`));
  const tensor = new Writer().int(1, ELEMENT_TYPE[value.dtype]).message(2, shape);
  return new Writer().string(1, value.name).message(2, new Writer().message(1, tensor));
}

function node(spec: OnnxNode, index: number): Writer {
  const w = new Writer();
  for (const input of spec.inputs) w.string(1, input);
  for (const output of spec.outputs) w.string(2, output);
  w.string(3, `${spec.op}_${index}`).string(4, spec.op);
  for (const [name, value] of Object.entries(spec.ints ?? {}))
    w.message(5, new Writer().string(1, name).int(3, value).int(20, ATTRIBUTE_INT));
  return w;
}

/** The serialized ModelProto of `spec`, ready for `InferenceSession.create(bytes)`. */
export function onnxModel(spec: OnnxGraphSpec): Uint8Array {
  const graph = new Writer();
  spec.nodes.forEach((n, i) => {
    graph.message(1, node(n, i));
  });
  graph.string(2, spec.name);
  for (const input of spec.inputs) graph.message(11, valueInfo(input));
  for (const output of spec.outputs) graph.message(12, valueInfo(output));
  return new Writer()
    .int(1, IR_VERSION)
    .string(2, "r1-judge")
    .message(7, graph)
    .message(8, new Writer().string(1, "").int(2, spec.opset ?? 17))
    .finish();
}
