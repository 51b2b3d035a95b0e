// The only file that imports onnxruntime-node: sessions on CPU or CUDA, and tensor conversion.
// CUDA never falls back by itself (session creation throws without its libraries); we catch that,
// fall back to CPU only when the config allows it, and say so in the log.

import * as ort from "onnxruntime-node";
import { EngineError } from "../errors.js";
import type { DType, HostTensor } from "./tensor.js";

export type Device = { kind: "cpu" } | { kind: "cuda"; deviceId: number };
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
  const match = /^cuda(?::(\d+))?$/.exec(text);
  if (!match) throw new Error(`device '${text}': expected 'cpu', 'cuda' or 'cuda:N'`);
  return { kind: "cuda", deviceId: Number(match[1] ?? 0) };
}

export function deviceName(device: Device): string {
  return device.kind === "cpu" ? "cpu" : `cuda:${device.deviceId}`;
}

export interface Graph {
  readonly file: string;
  readonly device: Device;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  inputType(name: string): DType | undefined;
  run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

function options(settings: SessionSettings, device: Device): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: device.kind === "cpu" ? ["cpu"] : [{ name: "cuda", deviceId: device.deviceId }],
    graphOptimizationLevel: settings.optimizationLevel ?? "all",
    ...(settings.intraOpThreads ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    ...(settings.interOpThreads ? { interOpNumThreads: settings.interOpThreads } : {}),
    enableCpuMemArena: settings.cpuMemArena ?? true,
  };
}

const ORT_TYPES: Record<string, DType> = { float: "float32", float16: "float16", int64: "int64" };

class OrtGraph implements Graph {
  private readonly types = new Map<string, DType>();

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
    feeds: Record<string, HostTensor>,
    outputs?: readonly string[],
  ): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    const result = outputs
      ? await this.session.run(ortFeeds, outputs as string[])
      : await this.session.run(ortFeeds);
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(result)) {
      out[name] = { dtype: t.type as DType, data: t.data as HostTensor["data"], dims: [...t.dims] };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Opens `file`, checks it has the `expected` input and output names, and returns the graph. */
export async function openGraph(
  file: string,
  settings: SessionSettings,
  expected: { inputs: readonly string[]; outputs: readonly string[] },
  log: SessionLog,
): Promise<Graph> {
  let device = settings.device;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, options(settings, device));
  } catch (err) {
    const message = (err as Error).message;
    if (device.kind === "cpu" || !settings.allowCpuFallback) {
      throw new SessionLoadError(
        file,
        "(file)",
        `onnxruntime could not load it on ${deviceName(device)}: ${message}`,
      );
    }
    log.warn(
      { file, device: deviceName(device), error: message },
      "CUDA session failed; falling back to CPU",
    );
    device = { kind: "cpu" };
    try {
      session = await ort.InferenceSession.create(file, options(settings, device));
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
