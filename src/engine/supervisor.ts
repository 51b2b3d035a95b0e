// Keeps one engine worker serving. Ready means a real generation worked, not just that files
// loaded. When the worker ends (a fatal engine error, a crash, a requested replacement) its requests
// fail with a retryable error, readiness drops, and a new worker is started and warmed up. A worker
// that keeps dying — more than `maxRestarts` times within `restartWindowMs` — is given up on:
// `gaveUp` resolves and the process should exit non-zero so the orchestrator replaces the pod.
// A worker that stops answering while it has work (a stall) is asked to exit at its next step
// boundary; one that does not within another `stallMs` is given up on too, since a thread torn down
// inside a model run would abort the process anyway.

import { EngineError, type GenerationHandlers, type ImageSetRef } from "./client.js";
import type { EngineOptions, GenerationRequest, ModelInfo, WorkerStats } from "./protocol.js";

/** What the supervisor needs of a worker: EngineClient in production, a fake in unit tests. */
export interface EngineWorker {
  readonly model: ModelInfo;
  readonly alive: boolean;
  readonly inFlight: number;
  onExit(listener: (why: EngineError) => void): void;
  generate(request: GenerationRequest, handlers: GenerationHandlers): string;
  putImages(bytes: readonly Uint8Array[]): ImageSetRef;
  releaseImages(ref: ImageSetRef): void;
  cancel(id: string, samples?: number[]): void;
  stats(timeoutMs?: number): Promise<WorkerStats | undefined>;
  /** Fail what it holds and end at the next step boundary. */
  exit(reason: string): void;
  close(timeoutMs?: number): Promise<void>;
  terminate(why: string): Promise<void>;
}

export type EngineState = "starting" | "ready" | "restarting" | "failed" | "closed";

export interface SupervisorSettings {
  maxRestarts: number;
  restartWindowMs: number;
  /** A worker with requests in flight that answers no ping for this long is replaced; 0 turns it off. */
  stallMs: number;
}

export interface SupervisorLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export type StartEngine = (options: EngineOptions) => Promise<EngineWorker>;

/** A one-token greedy generation: proof that the sessions run, not only that they loaded. */
const WARM_UP: GenerationRequest = {
  messages: [{ role: "user", content: "Is this a warm-up?" }],
  samples: 1,
  seed: 0,
  sampling: { temperature: 0, topK: 0, topP: 1 },
  maxNewTokens: 1,
};

export class EngineSupervisor {
  state: EngineState = "starting";
  /** Workers started after the first (each a restart). */
  restarts = 0;
  readonly gaveUp: Promise<EngineError>;
  private giveUp!: (why: EngineError) => void;
  private client: EngineWorker | undefined;
  private readonly recentRestarts: number[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  private pinging = false;

  private constructor(
    private readonly options: EngineOptions,
    private readonly settings: SupervisorSettings,
    private readonly log: SupervisorLog,
    private readonly startEngine: StartEngine,
  ) {
    this.gaveUp = new Promise((resolve) => {
      this.giveUp = resolve;
    });
  }

  /** Starts the first worker and warms it up; rejects (with the load error) when that fails. */
  static async start(
    options: EngineOptions,
    settings: SupervisorSettings,
    log: SupervisorLog,
    startEngine: StartEngine,
  ): Promise<EngineSupervisor> {
    const supervisor = new EngineSupervisor(options, settings, log, startEngine);
    await supervisor.launch();
    return supervisor;
  }

  get ready(): boolean {
    return this.state === "ready";
  }

  get model(): ModelInfo | undefined {
    return this.client?.model;
  }

  generate(request: GenerationRequest, handlers: GenerationHandlers): string {
    const client = this.client;
    if (!client || this.state !== "ready") {
      queueMicrotask(() => handlers.onError(this.unavailable()));
      return "unavailable";
    }
    return client.generate(request, handlers);
  }

  putImages(bytes: readonly Uint8Array[]): ImageSetRef {
    const client = this.client;
    if (client && this.state === "ready") return client.putImages(bytes);
    return { id: "unavailable", count: bytes.length, digests: bytes.map(() => "") };
  }

  releaseImages(ref: ImageSetRef): void {
    this.client?.releaseImages(ref);
  }

  cancel(id: string, samples?: number[]): void {
    this.client?.cancel(id, samples);
  }

  /** The worker's counters; undefined while it is busy past the timeout or not running. */
  stats(timeoutMs?: number): Promise<WorkerStats | undefined> {
    return this.client?.stats(timeoutMs) ?? Promise.resolve(undefined);
  }

  /**
   * Ends the current worker at its next step boundary (its requests fail with a retryable error) and
   * starts a new one: what the stall watchdog asks for, and what operators' tooling or a test can.
   */
  replaceWorker(why: string): void {
    if (!this.client || this.state !== "ready") return;
    this.state = "restarting";
    this.client.exit(why);
  }

  async close(timeoutMs?: number): Promise<void> {
    this.state = "closed";
    clearInterval(this.watchdog);
    await this.client?.close(timeoutMs);
  }

  private abandon(why: EngineError): void {
    this.state = "failed";
    this.log.error({ error: why.message }, "giving up on the engine");
    this.giveUp(why);
  }

  private unavailable(): EngineError {
    const why =
      this.state === "restarting"
        ? "the engine is restarting after a failure"
        : this.state === "failed"
          ? "the engine has failed"
          : this.state === "closed"
            ? "the engine is shutting down"
            : "the engine is loading";
    return new EngineError("engine_unavailable", why);
  }

  private async launch(): Promise<void> {
    const client = await this.startEngine(this.options);
    try {
      await warmUp(client);
    } catch (err) {
      await client.terminate("the warm-up generation failed");
      throw err;
    }
    if (this.state === "closed") {
      await client.close();
      return;
    }
    this.client = client;
    this.state = "ready";
    client.onExit((why) => this.onWorkerExit(client, why));
    this.watch(client);
  }

  private onWorkerExit(client: EngineWorker, why: EngineError): void {
    if (this.client !== client || this.state === "closed" || this.state === "failed") return;
    clearInterval(this.watchdog);
    this.log.error({ error: why.message }, "the engine worker ended; restarting it");
    this.state = "restarting";
    void this.restart();
  }

  private async restart(): Promise<void> {
    for (;;) {
      const now = Date.now();
      while ((this.recentRestarts[0] ?? now) < now - this.settings.restartWindowMs)
        this.recentRestarts.shift();
      if (this.recentRestarts.length >= this.settings.maxRestarts) {
        this.abandon(
          new EngineError(
            "engine_failed",
            `the engine failed ${this.recentRestarts.length + 1} times within ${this.settings.restartWindowMs} ms`,
          ),
        );
        return;
      }
      this.recentRestarts.push(now);
      this.restarts++;
      try {
        await this.launch();
        this.log.info({ restarts: this.restarts }, "the engine worker is ready again");
        return;
      } catch (err) {
        if (this.state === "closed") return;
        this.log.error({ error: (err as Error).message }, "the engine worker failed to restart");
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    }
  }

  /** Pings a worker that has requests in flight; one that does not answer within stallMs is replaced. */
  private watch(client: EngineWorker): void {
    const stallMs = this.settings.stallMs;
    if (stallMs <= 0) return;
    this.watchdog = setInterval(
      () => {
        if (this.pinging || client.inFlight === 0 || !client.alive) return;
        this.pinging = true;
        void client.stats(stallMs).then((stats) => {
          this.pinging = false;
          if (stats || !client.alive || this.client !== client) return;
          const why = `no answer for ${stallMs} ms while busy`;
          this.log.error({ stallMs }, "the engine worker stopped answering; asking it to exit");
          this.replaceWorker(why);
          setTimeout(() => {
            if (client.alive && this.client === client && this.state === "restarting")
              this.abandon(
                new EngineError("engine_failed", `the engine worker is stuck: ${why}, and did not exit`),
              );
          }, stallMs).unref();
        });
      },
      Math.max(10, Math.min(5000, stallMs / 4)),
    );
    this.watchdog.unref();
  }
}

function warmUp(client: EngineWorker): Promise<void> {
  return new Promise((resolve, reject) => {
    let samples = 0;
    client.generate(WARM_UP, {
      onSample: (sample) => {
        if (sample.finishReason !== "invalid") samples++;
      },
      onDone: () =>
        samples === 1
          ? resolve()
          : reject(new EngineError("engine_failed", "the warm-up generation gave no usable sample")),
      onError: reject,
    });
  });
}
