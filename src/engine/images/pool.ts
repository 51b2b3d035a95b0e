// A pool of worker threads that decode and preprocess images (prepare.ts), so that neither sharp's
// decode nor the synchronous resize and patchify run on the engine's thread between its steps.
// Threads start when first needed and end after `idleMs` without work (a thread holds its own heap,
// sharp and malloc arena: ~40 MB that a quiet server should give back); they are unref'd while idle,
// so they never hold a process open. One that dies fails only the job it was running, and the next
// job starts a new one.

import type { Worker } from "node:worker_threads";
import { EngineError } from "../errors.js";
import { siblingModule, startThread } from "../thread.js";
import { reviveImageError } from "./errors.js";
import type { PoolReply, PoolRequest } from "./pool-protocol.js";
import type { ImagePreparer, PreparedPixels, PrepareJob } from "./prepare.js";

const WORKER_URL = siblingModule(import.meta.url, "pool-worker");

interface Pending {
  request: PoolRequest;
  resolve: (pixels: PreparedPixels) => void;
  reject: (err: Error) => void;
}

export class ImagePool implements ImagePreparer {
  private readonly idle: Worker[] = [];
  /** Each running thread's job (undefined while it waits for one). */
  private readonly running = new Map<Worker, Pending | undefined>();
  private readonly queue: Pending[] = [];
  /** Idle threads being ended for want of work (their exit is no death). */
  private readonly retiring = new Set<Worker>();
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();
  private nextId = 0;
  private closed = false;
  /** Threads that died (crashed or killed) and were replaced. */
  deaths = 0;

  /**
   * @param size threads at most (at least 1).
   * @param idleMs how long a thread may wait for work before it ends.
   * @param entry the thread's module (tests give one that can crash on purpose).
   */
  constructor(
    readonly size: number,
    private readonly idleMs = 5000,
    private readonly entry: URL = WORKER_URL,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ImagePool: size must be ≥ 1, got ${size}`);
  }

  /** Threads alive now (working, idle or ending). */
  get threads(): number {
    return this.running.size;
  }

  /** Jobs waiting for a thread. */
  get waiting(): number {
    return this.queue.length;
  }

  prepare(job: PrepareJob): Promise<PreparedPixels> {
    if (this.closed) return Promise.reject(new EngineError("engine_unavailable", "the image pool is closed"));
    // Structured clone copies a view's whole buffer: send only the image's own bytes.
    const bytes =
      job.bytes.byteOffset === 0 && job.bytes.byteLength === job.bytes.buffer.byteLength
        ? job.bytes
        : job.bytes.slice();
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, job: { ...job, bytes } }, resolve, reject });
      this.dispatch();
    });
  }

  /** Fails queued jobs and ends every thread (jobs still running fail as their thread ends). */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0))
      pending.reject(new EngineError("engine_unavailable", "the image pool is closed"));
    await Promise.all([...this.running.keys()].map((worker) => worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.running.size < this.size ? this.spawn() : undefined);
      if (!worker) return;
      clearTimeout(this.idleTimers.get(worker));
      this.idleTimers.delete(worker);
      const pending = this.queue.shift() as Pending;
      this.running.set(worker, pending);
      worker.ref();
      worker.postMessage(pending.request);
    }
  }

  /** An idle thread: unref'd, and ended if no job comes within idleMs. */
  private rest(worker: Worker): void {
    worker.unref();
    this.idle.push(worker);
    const timer = setTimeout(() => {
      this.idleTimers.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at < 0) return;
      this.idle.splice(at, 1);
      this.retiring.add(worker);
      void worker.terminate();
    }, this.idleMs);
    timer.unref();
    this.idleTimers.set(worker, timer);
  }

  private spawn(): Worker {
    const worker = startThread(this.entry, { stdout: false, stderr: false });
    this.running.set(worker, undefined);
    worker.on("message", (reply: PoolReply) => {
      const pending = this.running.get(worker);
      if (!pending || pending.request.id !== reply.id) return;
      this.running.set(worker, undefined);
      this.rest(worker);
      if (reply.ok) pending.resolve({ pixelValues: reply.pixelValues, grid: reply.grid });
      else pending.reject(reviveImageError(reply.name, reply.failure));
      this.dispatch();
    });
    // An uncaught error ends the thread: "exit" follows and fails its job; never the process.
    let error: Error | undefined;
    worker.on("error", (err) => {
      error = err;
    });
    worker.on("exit", (code) => {
      const pending = this.running.get(worker);
      this.running.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
      clearTimeout(this.idleTimers.get(worker));
      this.idleTimers.delete(worker);
      const retired = this.retiring.delete(worker);
      if (!this.closed && !retired) this.deaths++;
      pending?.reject(
        new EngineError(
          "engine_failed",
          `${pending.request.job.field}: the image thread ${this.closed ? "was closed" : `died (exit code ${code}${error ? `: ${error.message}` : ""})`} while preparing this image`,
        ),
      );
      if (!this.closed) this.dispatch();
    });
    return worker;
  }
}
