// The main thread's handle on one engine worker: start it, send requests and images, receive
// samples. Nothing here blocks; every call is a message to the worker thread. When the worker ends
// (a fatal engine error, a crash, terminate()), every pending request fails with a typed error and
// the exit listeners hear why; the process itself never goes down with it.

import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { EngineError } from "./errors.js";
import type {
  EngineOptions,
  FromWorker,
  GenerateMessage,
  GenerationRequest,
  ImagesMessage,
  ModelInfo,
  SampleMessage,
  WorkerStats,
} from "./protocol.js";

export { EngineError } from "./errors.js";

export interface GenerationHandlers {
  onStarted?(info: { promptTokens: number; cachedPromptTokens: number }): void;
  onSample(sample: SampleMessage): void;
  onDone(): void;
  onError(error: EngineError): void;
}

/** A request's images as the worker holds them: generations refer to them by id. */
export interface ImageSetRef {
  id: string;
  count: number;
  /** sha256 of each image, hex. */
  digests: string[];
}

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(FROM_SOURCE ? "./worker.ts" : "./worker.js", import.meta.url);

/** Run from TypeScript sources (tests, benchmarks), the worker registers tsx before loading worker.ts. */
function spawnWorker(workerData: EngineOptions): Worker {
  // libonnxruntime's Linux build carries a telemetry client (events to mobile.events.data.microsoft.com
  // and a cache under ~/.cache/Microsoft); it reads this switch with getenv(), which sees only the
  // main thread's environment, so it is set here, before any worker loads the library.
  process.env.ORT_DISABLE_TELEMETRY = "1";
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData });
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

// Ids are unique in the process, so a request of a replaced worker is never mistaken for a new one's.
let nextId = 0;
const newId = (prefix: string) => `${prefix}${nextId++}`;

/** Each Uint8Array with a buffer of its own, and those buffers (to transfer rather than copy). */
function transferable(images: readonly Uint8Array[]): { images: Uint8Array[]; buffers: ArrayBuffer[] } {
  const seen = new Set<ArrayBufferLike>();
  const out = images.map((bytes) => {
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    if (!whole || seen.has(bytes.buffer) || !(bytes.buffer instanceof ArrayBuffer)) return bytes.slice();
    seen.add(bytes.buffer);
    return bytes;
  });
  return { images: out, buffers: out.map((b) => b.buffer as ArrayBuffer) };
}

export class EngineClient {
  private readonly pending = new Map<string, GenerationHandlers>();
  private readonly statsWaiters = new Map<string, (stats: WorkerStats | undefined) => void>();
  private readonly exitListeners: ((why: EngineError) => void)[] = [];
  private exitReason: EngineError | undefined;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    readonly model: ModelInfo,
  ) {
    worker.on("message", (message: FromWorker) => this.dispatch(message));
    // Without a listener a worker's uncaught exception would be rethrown in this thread and end
    // the process; here it only says why the worker is ending.
    worker.on("error", (err) => {
      this.exitReason ??= new EngineError("engine_failed", `the engine worker crashed: ${err.message}`);
    });
    worker.on("exit", (code) => this.exitedWith(code));
  }

  /** Starts the worker and resolves once the checkpoint is loaded (rejects with the load error). */
  static start(options: EngineOptions): Promise<EngineClient> {
    const worker = spawnWorker(options);
    return new Promise((resolve, reject) => {
      let crash: Error | undefined;
      const onMessage = (message: FromWorker) => {
        if (message.type === "ready") {
          cleanup();
          resolve(new EngineClient(worker, message.model));
        } else if (message.type === "failed") {
          cleanup();
          reject(EngineError.from(message.error));
        }
      };
      const onError = (err: Error) => {
        crash = err;
      };
      const onExit = (code: number) => {
        cleanup();
        const why = crash ? `: ${crash.message}` : ` with code ${code}`;
        reject(new EngineError("engine_failed", `the engine worker exited while loading${why}`));
      };
      const cleanup = () => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Requests sent and not yet finished. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Called once when the worker ends, with why. */
  onExit(listener: (why: EngineError) => void): void {
    if (this.exited) listener(this.exitReason ?? gone());
    else this.exitListeners.push(listener);
  }

  /** Queues a generation; returns its id (for cancel). Failures reach `handlers.onError`, never a throw. */
  generate(request: GenerationRequest, handlers: GenerationHandlers): string {
    const id = newId("g");
    if (this.exited) {
      queueMicrotask(() => handlers.onError(this.exitReason ?? gone()));
      return id;
    }
    this.pending.set(id, handlers);
    this.worker.postMessage({ type: "generate", id, ...request } satisfies GenerateMessage);
    return id;
  }

  /** Sends a request's images once (their buffers are transferred, not copied) for its generations. */
  putImages(bytes: readonly Uint8Array[]): ImageSetRef {
    const digests = bytes.map((b) => createHash("sha256").update(b).digest("hex"));
    const ref = { id: newId("i"), count: bytes.length, digests };
    if (this.exited) return ref;
    const { images, buffers } = transferable(bytes);
    this.worker.postMessage({ type: "images", id: ref.id, images, digests } satisfies ImagesMessage, buffers);
    return ref;
  }

  releaseImages(ref: ImageSetRef): void {
    if (!this.exited) this.worker.postMessage({ type: "release_images", id: ref.id });
  }

  cancel(id: string, samples?: number[]): void {
    if (this.pending.has(id) && !this.exited)
      this.worker.postMessage({ type: "cancel", id, ...(samples ? { samples } : {}) });
  }

  /** The worker's counters, or undefined when it does not answer within `timeoutMs` (busy or gone). */
  stats(timeoutMs = 2000): Promise<WorkerStats | undefined> {
    if (this.exited) return Promise.resolve(undefined);
    const id = newId("s");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters.delete(id);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      this.statsWaiters.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      this.worker.postMessage({ type: "stats", id });
    });
  }

  /**
   * Asks the worker to fail what it holds with `reason` and end at its next step boundary (the only
   * safe way to end a worker that may be inside a model run). Its exit is heard through onExit.
   */
  exit(reason: string): void {
    if (!this.exited) this.worker.postMessage({ type: "exit", reason });
  }

  /** Asks the worker to finish and waits for it; after `timeoutMs` it is terminated instead. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.onExit(() => resolve()));
    this.worker.postMessage({ type: "shutdown" });
    const timer = setTimeout(() => void this.terminate("did not shut down in time"), timeoutMs);
    timer.unref();
    await exited;
    clearTimeout(timer);
  }

  /**
   * Ends the worker now; pending requests fail with `why`. Only for a worker that will not stop: one
   * torn down inside a model run aborts the whole process (onnxruntime's callback meets a dead
   * thread), so this is the last resort of a process that is exiting anyway.
   */
  async terminate(why: string): Promise<void> {
    if (this.exited) return;
    this.exitReason ??= new EngineError("engine_failed", `the engine worker was stopped: ${why}`);
    await this.worker.terminate();
  }

  private exitedWith(code: number): void {
    this.exited = true;
    const why =
      this.exitReason ??
      (code === 0 ? gone() : new EngineError("engine_failed", `the engine worker exited with code ${code}`));
    this.exitReason = why;
    for (const [id, handlers] of this.pending) {
      this.pending.delete(id);
      safely(() => handlers.onError(why));
    }
    for (const [id, resolve] of this.statsWaiters) {
      this.statsWaiters.delete(id);
      resolve(undefined);
    }
    for (const listener of this.exitListeners.splice(0)) safely(() => listener(why));
  }

  private dispatch(message: FromWorker): void {
    switch (message.type) {
      case "stats":
        this.statsWaiters.get(message.id)?.(message.stats);
        this.statsWaiters.delete(message.id);
        return;
      case "fatal":
        this.exitReason = new EngineError("engine_failed", `the engine failed: ${message.error.message}`);
        return;
      case "ready":
      case "failed":
        return;
    }
    const handlers = this.pending.get(message.id);
    if (!handlers) return;
    switch (message.type) {
      case "started":
        safely(() =>
          handlers.onStarted?.({
            promptTokens: message.promptTokens,
            cachedPromptTokens: message.cachedPromptTokens,
          }),
        );
        break;
      case "sample":
        safely(() => handlers.onSample(message.sample));
        break;
      case "done":
        this.pending.delete(message.id);
        safely(() => handlers.onDone());
        break;
      case "error":
        this.pending.delete(message.id);
        safely(() => handlers.onError(EngineError.from(message.error)));
        break;
    }
  }
}

function gone(): EngineError {
  return new EngineError("engine_unavailable", "the engine worker has stopped");
}

/**
 * Runs a handler of the layers above; a bug there must not end the message loop that serves every
 * other request. Handlers own their failures (judgePair turns its own into a rejection).
 */
function safely(call: () => void): void {
  try {
    call();
  } catch (err) {
    process.emitWarning(`an engine handler threw: ${(err as Error)?.stack ?? String(err)}`);
  }
}
