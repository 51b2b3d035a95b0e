// The main thread's handle on the engine worker: start it, send requests, receive samples.
// Nothing here blocks; every call is a message to the worker thread.

import { Worker } from "node:worker_threads";
import type { EngineStats } from "./engine.js";
import type {
  EngineOptions,
  FromWorker,
  GenerateMessage,
  GenerationRequest,
  ModelInfo,
  SampleMessage,
  WireError,
} from "./protocol.js";

export class EngineError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
    this.name = wire.name;
  }

  get field(): string | undefined {
    return this.wire.field;
  }
}

export interface GenerationHandlers {
  onStarted?(info: { promptTokens: number; cachedPromptTokens: number }): void;
  onSample(sample: SampleMessage): void;
  onDone(): void;
  onError(error: EngineError): void;
}

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./worker.ts" : "./worker.js", import.meta.url);

/** Run from TypeScript sources (tests, benchmarks), the worker registers tsx before loading worker.ts. */
function spawnWorker(workerData: EngineOptions): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export class EngineClient {
  private readonly pending = new Map<string, GenerationHandlers>();
  private readonly statsWaiters = new Map<string, (stats: EngineStats) => void>();
  private nextId = 0;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    readonly model: ModelInfo,
  ) {
    worker.on("message", (message: FromWorker) => this.dispatch(message));
    worker.on("exit", () => {
      this.exited = true;
      for (const [id, handlers] of this.pending) {
        this.pending.delete(id);
        handlers.onError(new EngineError({ name: "EngineExited", message: "the engine worker exited" }));
      }
    });
  }

  /** Starts the worker and resolves once the checkpoint is loaded (rejects with the load error). */
  static start(options: EngineOptions): Promise<EngineClient> {
    const worker = spawnWorker(options);
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker) => {
        if (message.type === "ready") {
          worker.off("message", onMessage);
          worker.off("error", reject);
          resolve(new EngineClient(worker, message.model));
        } else if (message.type === "failed") {
          worker.off("message", onMessage);
          reject(new EngineError(message.error));
        }
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Queues a generation; returns its id (for cancel). */
  generate(request: GenerationRequest, handlers: GenerationHandlers): string {
    const id = `g${this.nextId++}`;
    if (this.exited) {
      handlers.onError(new EngineError({ name: "EngineExited", message: "the engine worker exited" }));
      return id;
    }
    this.pending.set(id, handlers);
    this.worker.postMessage({ type: "generate", id, ...request } satisfies GenerateMessage);
    return id;
  }

  cancel(id: string, samples?: number[]): void {
    if (this.pending.has(id))
      this.worker.postMessage({ type: "cancel", id, ...(samples ? { samples } : {}) });
  }

  stats(): Promise<EngineStats> {
    const id = `s${this.nextId++}`;
    return new Promise((resolve) => {
      this.statsWaiters.set(id, resolve);
      this.worker.postMessage({ type: "stats", id });
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.postMessage({ type: "shutdown" });
    await exited;
  }

  private dispatch(message: FromWorker): void {
    if (message.type === "stats") {
      this.statsWaiters.get(message.id)?.(message.stats);
      this.statsWaiters.delete(message.id);
      return;
    }
    if (message.type === "ready" || message.type === "failed") return;
    const handlers = this.pending.get(message.id);
    if (!handlers) return;
    switch (message.type) {
      case "started":
        handlers.onStarted?.({
          promptTokens: message.promptTokens,
          cachedPromptTokens: message.cachedPromptTokens,
        });
        break;
      case "sample":
        handlers.onSample(message.sample);
        break;
      case "done":
        this.pending.delete(message.id);
        handlers.onDone();
        break;
      case "error":
        this.pending.delete(message.id);
        handlers.onError(new EngineError(message.error));
        break;
    }
  }
}
