// Plain data between GraphThread (graph-thread.ts) and its thread (graph-worker.ts). Types only.

import type { EngineFailure } from "../errors.js";
import type { Device, SessionSettings } from "./onnx.js";
import type { AnyTensor, DType, HostTensor } from "./tensor.js";

export interface GraphThreadSetup {
  file: string;
  settings: SessionSettings;
  expected: { inputs: string[]; outputs: string[] };
}

export type GraphThreadRequest =
  | { type: "run"; id: number; feeds: Record<string, HostTensor>; outputs?: string[] }
  | { type: "close" };

export type GraphThreadReply =
  | {
      type: "ready";
      file: string;
      device: Device;
      inputNames: string[];
      outputNames: string[];
      inputTypes: Record<string, DType | undefined>;
    }
  | { type: "failed"; failure: EngineFailure }
  | { type: "warn"; fields: Record<string, unknown>; message: string }
  | { type: "result"; id: number; ok: true; outputs: Record<string, AnyTensor> }
  | { type: "result"; id: number; ok: false; failure: EngineFailure };
