// The only file that imports onnxruntime-node: sessions on CPU, CUDA or WebGPU, and tensor conversion.
// A GPU session never falls back by itself (creation throws without CUDA's libraries or a Vulkan
// adapter); we catch that, fall back to CPU only when the config allows it, and say so in the log.
// Only WebGPU can keep outputs on the device (`gpu-buffer` tensors): onnxruntime-node has no IO
// binding, so CUDA sessions take every input from and return every output to host memory.

import * as ort from "onnxruntime-node";
import { EngineError } from "../errors.js";
import {
  type AnyTensor,
  bytesPerElement,
  type DeviceTensor,
  type DType,
  elementCount,
  type HostTensor,
  isDeviceTensor,
} from "./tensor.js";

export type Device = { kind: "cpu" } | { kind: "cuda"; deviceId: number } | { kind: "webgpu" };
export type OptimizationLevel = "disabled" | "basic" | "extended" | "all";

export interface SessionSettings {
  device: Device;
  allowCpuFallback: boolean;
  intraOpThreads?: number;
  interOpThreads?: number;
  optimizationLevel?: OptimizationLevel;
  /**
   * onnxruntime's CPU arena (default on) keeps the largest run's activations for good; off for a
   * graph whose runs vary widely in size (the vision encoder), so its memory goes back after a run.
   */
  cpuMemArena?: boolean;
  /**
   * onnxruntime's memory pattern (default on): plans one buffer for a run's activations from the
   * previous run's shapes. A lever measured by bench/levers.ts.
   */
  memPattern?: boolean;
  /** Outputs returned as DeviceTensor (WebGPU only; elsewhere they come back to the host). */
  deviceOutputs?: readonly string[];
  /** Log only errors (the engine's own small graphs, whose CPU-placed shape ops always warn). */
  quiet?: boolean;
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default, true): off for a
   * graph that runs beside the decoder, whose spinning would take the decoder's cores.
   */
  spinning?: boolean;
}

export interface SessionLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

export class SessionLoadError extends EngineError {
  declare readonly file: string;
  declare readonly field: string;

  constructor(file: string, field: string, message: string) {
    super("load_failed", `${file}: field '${field}': ${message}`, { file, field });
    this.name = "SessionLoadError";
  }
}

export function parseDevice(text: string): Device {
  if (text === "cpu") return { kind: "cpu" };
  if (text === "webgpu") return { kind: "webgpu" };
  const match = /^cuda(?::(\d+))?$/.exec(text);
  if (!match) throw new Error(`device '${text}': expected 'cpu', 'webgpu', 'cuda' or 'cuda:N'`);
  return { kind: "cuda", deviceId: Number(match[1] ?? 0) };
}

export function deviceName(device: Device): string {
  return device.kind === "cuda" ? `cuda:${device.deviceId}` : device.kind;
}

/** Bytes a graph's runs moved between host and device memory (0 on CPU), counted as they happen. */
export interface Transfers {
  toDevice: number;
  toHost: number;
}

export interface Graph {
  readonly file: string;
  readonly device: Device;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly transfers: Readonly<Transfers>;
  inputType(name: string): DType | undefined;
  /** Runs the graph; outputs named in `deviceOutputs` (WebGPU) come back as DeviceTensor. */
  run(feeds: Record<string, AnyTensor>, outputs?: readonly string[]): Promise<Record<string, AnyTensor>>;
  release(): Promise<void>;
}

function provider(device: Device): ort.InferenceSession.ExecutionProviderConfig {
  if (device.kind === "cuda") return { name: "cuda", deviceId: device.deviceId };
  return device.kind;
}

function options(settings: SessionSettings, device: Device): ort.InferenceSession.SessionOptions {
  const onDevice = device.kind === "webgpu" ? (settings.deviceOutputs ?? []) : [];
  return {
    executionProviders: [provider(device)],
    graphOptimizationLevel: settings.optimizationLevel ?? "all",
    ...(settings.intraOpThreads ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    ...(settings.interOpThreads ? { interOpNumThreads: settings.interOpThreads } : {}),
    enableCpuMemArena: settings.cpuMemArena ?? true,
    ...(settings.memPattern === false ? { enableMemPattern: false } : {}),
    ...(onDevice.length
      ? { preferredOutputLocation: Object.fromEntries(onDevice.map((name) => [name, "gpu-buffer" as const])) }
      : {}),
    ...(settings.quiet ? { logSeverityLevel: 3 as const } : {}),
    ...(settings.spinning === false ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {}),
  };
}

let liveDeviceTensors = 0;

/** Device tensors handed out and not yet disposed (a leak shows as a count that keeps growing). */
export function deviceTensorsAlive(): number {
  return liveDeviceTensors;
}

/** A `gpu-buffer` tensor behind the engine's opaque handle. */
class OrtDeviceTensor implements DeviceTensor {
  readonly location = "device";
  private disposed = false;

  constructor(readonly tensor: ort.Tensor) {
    liveDeviceTensors++;
  }

  get dtype(): DType {
    return this.tensor.type as DType;
  }

  get dims(): readonly number[] {
    return this.tensor.dims;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    liveDeviceTensors--;
    this.tensor.dispose();
  }
}

function hostBytes(t: HostTensor): number {
  return elementCount(t.dims) * bytesPerElement(t.dtype);
}

const ORT_TYPES: Record<string, DType> = { float: "float32", float16: "float16", int64: "int64" };

class OrtGraph implements Graph {
  private readonly types = new Map<string, DType>();
  readonly transfers: Transfers = { toDevice: 0, toHost: 0 };

  constructor(
    readonly file: string,
    readonly device: Device,
    private readonly session: ort.InferenceSession,
  ) {
    for (const meta of session.inputMetadata) {
      const type = meta.isTensor ? ORT_TYPES[meta.type] : undefined;
      if (type) this.types.set(meta.name, type);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  inputType(name: string): DType | undefined {
    return this.types.get(name);
  }

  async run(
    feeds: Record<string, AnyTensor>,
    outputs?: readonly string[],
  ): Promise<Record<string, AnyTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    const copies = this.device.kind !== "cpu";
    for (const [name, t] of Object.entries(feeds)) {
      if (isDeviceTensor(t)) {
        if (!(t instanceof OrtDeviceTensor)) throw new Error(`input '${name}': not a tensor of this runtime`);
        ortFeeds[name] = t.tensor;
      } else {
        ortFeeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
        if (copies) this.transfers.toDevice += hostBytes(t);
      }
    }
    const result = outputs
      ? await this.session.run(ortFeeds, outputs as string[])
      : await this.session.run(ortFeeds);
    const out: Record<string, AnyTensor> = {};
    for (const [name, t] of Object.entries(result)) {
      if (t.location === "gpu-buffer") {
        out[name] = new OrtDeviceTensor(t);
        continue;
      }
      const host: HostTensor = {
        dtype: t.type as DType,
        data: t.data as HostTensor["data"],
        dims: [...t.dims],
      };
      if (copies) this.transfers.toHost += hostBytes(host);
      out[name] = host;
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** An ONNX file, or a graph built in memory (named for errors and logs). */
export type GraphSource = string | { name: string; bytes: Uint8Array };

function create(source: GraphSource, opts: ort.InferenceSession.SessionOptions) {
  return typeof source === "string"
    ? ort.InferenceSession.create(source, opts)
    : ort.InferenceSession.create(source.bytes, opts);
}

/** Opens `source`, checks it has the `expected` input and output names, and returns the graph. */
export async function openGraph(
  source: GraphSource,
  settings: SessionSettings,
  expected: { inputs: readonly string[]; outputs: readonly string[] },
  log: SessionLog,
): Promise<Graph> {
  const file = typeof source === "string" ? source : source.name;
  let device = settings.device;
  let session: ort.InferenceSession;
  try {
    session = await create(source, options(settings, device));
  } catch (err) {
    const message = (err as Error).message;
    if (device.kind === "cpu" || !settings.allowCpuFallback) {
      throw new SessionLoadError(
        file,
        "(file)",
        `onnxruntime could not load it on ${deviceName(device)}: ${message}`,
      );
    }
    log.warn({ file, device: deviceName(device), error: message }, "GPU session failed; falling back to CPU");
    device = { kind: "cpu" };
    try {
      session = await create(source, options(settings, device));
    } catch (cpuErr) {
      throw new SessionLoadError(
        file,
        "(file)",
        `onnxruntime could not load it: ${(cpuErr as Error).message}`,
      );
    }
  }
  for (const name of expected.inputs) {
    if (!session.inputNames.includes(name)) {
      await session.release();
      throw new SessionLoadError(
        file,
        "inputs",
        `missing input '${name}' (has: ${session.inputNames.join(", ")})`,
      );
    }
  }
  for (const name of expected.outputs) {
    if (!session.outputNames.includes(name)) {
      await session.release();
      throw new SessionLoadError(
        file,
        "outputs",
        `missing output '${name}' (has: ${session.outputNames.join(", ")})`,
      );
    }
  }
  return new OrtGraph(file, device, session);
}
