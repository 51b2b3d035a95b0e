// A graph whose session lives in a thread of its own: onnxruntime-node's run() holds the calling
// thread for the whole run, so the vision encoder — a second or more per large image on a CPU — would
// otherwise stop the engine's decode steps. Its runs queue one at a time; the engine awaits them like
// any other promise and decodes meanwhile. A thread that dies fails the runs it holds and the next run
// starts a new one.

import type { Worker } from "node:worker_threads";
import { EngineError, toFailure } from "../errors.js";
import { siblingModule, startThread } from "../thread.js";
import type { GraphThreadReply, GraphThreadRequest, GraphThreadSetup } from "./graph-thread-protocol.js";
import type { Device, Graph, SessionLog, Transfers } from "./onnx.js";
import type { AnyTensor, DType, HostTensor } from "./tensor.js";

const WORKER_URL = siblingModule(import.meta.url, "graph-worker");

interface Pending {
  resolve: (out: Record<string, AnyTensor>) => void;
  reject: (err: Error) => void;
}

export class GraphThread implements Graph {
  readonly transfers: Readonly<Transfers> = { toDevice: 0, toHost: 0 };
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private released = false;

  private constructor(
    private readonly setup: GraphThreadSetup,
    readonly file: string,
    readonly device: Device,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    private readonly inputTypes: Record<string, DType | undefined>,
    private readonly log: SessionLog,
  ) {}

  /** Opens the graph in a new thread; load errors reject as they would in this thread. */
  static async open(setup: GraphThreadSetup, log: SessionLog): Promise<GraphThread> {
    const worker = startThread(WORKER_URL, { workerData: setup });
    let onMessage: ((reply: GraphThreadReply) => void) | undefined;
    let onError: ((err: Error) => void) | undefined;
    let onExit: ((code: number) => void) | undefined;
    const loaded = await new Promise<Extract<GraphThreadReply, { type: "ready" }>>((resolve, reject) => {
      onMessage = (reply) => {
        if (reply.type === "ready") resolve(reply);
        else if (reply.type === "failed") reject(EngineError.from(reply.failure));
      };
      onError = reject;
      onExit = (code) =>
        reject(
          new EngineError("load_failed", `${setup.file}: its thread ended (exit code ${code}) while loading`),
        );
      worker.on("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
    }).finally(() => {
      // Only our own listeners: the Worker's internal ones keep its messages flowing.
      worker.off("message", onMessage as never);
      worker.off("error", onError as never);
      worker.off("exit", onExit as never);
    });
    const graph = new GraphThread(
      setup,
      loaded.file,
      loaded.device,
      loaded.inputNames,
      loaded.outputNames,
      loaded.inputTypes,
      log,
    );
    graph.adopt(worker);
    return graph;
  }

  inputType(name: string): DType | undefined {
    return this.inputTypes[name];
  }

  /**
   * Runs one at a time: a run's feeds are copied into the thread only when the one before has ended,
   * so queued runs hold no second copy of their inputs (an image's patches are megabytes).
   */
  run(feeds: Record<string, AnyTensor>, outputs?: readonly string[]): Promise<Record<string, AnyTensor>> {
    if (this.released)
      return Promise.reject(new EngineError("engine_unavailable", `${this.file} was released`));
    const result = this.queue.then(() => this.send(feeds, outputs));
    this.queue = result.catch(() => {});
    return result;
  }

  private send(
    feeds: Record<string, AnyTensor>,
    outputs?: readonly string[],
  ): Promise<Record<string, AnyTensor>> {
    if (this.released)
      return Promise.reject(new EngineError("engine_unavailable", `${this.file} was released`));
    const worker = this.worker ?? this.restart();
    const id = this.nextId++;
    const request: GraphThreadRequest = {
      type: "run",
      id,
      feeds: feeds as Record<string, HostTensor>,
      ...(outputs ? { outputs: [...outputs] } : {}),
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held open only while it runs something: an idle session, like one in this thread, keeps
      // no process alive.
      worker.ref();
      try {
        worker.postMessage(request);
      } catch (err) {
        // Feeds that cannot cross (a device tensor): this run fails, the thread stays as it was.
        this.pending.delete(id);
        if (this.pending.size === 0) worker.unref();
        reject(err);
      }
    });
  }

  async release(): Promise<void> {
    this.released = true;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    // The thread releases its session before it ends (a session torn down mid-run aborts the process).
    const ended = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.ref();
    worker.postMessage({ type: "close" } satisfies GraphThreadRequest);
    await ended;
  }

  /** A new thread after one died (its session loaded again: the file loaded once already). */
  private restart(): Worker {
    const worker = startThread(WORKER_URL, { workerData: this.setup });
    this.adopt(worker);
    return worker;
  }

  private adopt(worker: Worker): void {
    this.worker = worker;
    worker.unref();
    worker.on("message", (reply: GraphThreadReply) => {
      if (reply.type === "warn") {
        this.log.warn(reply.fields, reply.message);
        return;
      }
      if (reply.type === "failed") {
        // A reload after a death that failed: nothing can run here any more.
        this.failAll(EngineError.from(reply.failure));
        return;
      }
      if (reply.type !== "result") return;
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      // Idle, it keeps no process alive; while release() waits for it to end, it must.
      if (this.pending.size === 0 && !this.released) worker.unref();
      if (!pending) return;
      if (reply.ok) pending.resolve(reply.outputs);
      else pending.reject(EngineError.from(reply.failure));
    });
    let error: Error | undefined;
    worker.on("error", (err) => {
      error = err;
    });
    worker.on("exit", (code) => {
      if (this.worker === worker) this.worker = undefined;
      if (this.released && this.pending.size === 0) return;
      this.failAll(
        new EngineError(
          "engine_failed",
          `${this.file}: its thread ended (exit code ${code}${error ? `: ${toFailure(error).message}` : ""}) during a run`,
        ),
      );
    });
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
