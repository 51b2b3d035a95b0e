// The engine supervisor on fake workers: a dead worker's requests fail with a retryable error and a
// new worker takes over; a worker that keeps dying is given up on (the process should exit); a busy
// worker that stops answering is asked to exit and replaced, or given up on if it cannot even exit;
// a first worker that cannot generate fails the start.

import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { GenerationHandlers, ImageSetRef } from "../../src/engine/client.js";
import { EngineError } from "../../src/engine/errors.js";
import type { EngineOptions, GenerationRequest, ModelInfo, WorkerStats } from "../../src/engine/protocol.js";
import { EngineSupervisor, type EngineWorker, type SupervisorSettings } from "../../src/engine/supervisor.js";

const MODEL: ModelInfo = {
  id: "fake",
  variant: "fp32",
  device: "cpu",
  dtype: "float32",
  vision: false,
  manifest: {},
  eosTokenIds: [0],
  verdict: { answerPattern: "<answer>(.*?)</answer>", choices: ["1", "2"], stopStrings: [] },
};

const STATS: WorkerStats = {
  waiting: 0,
  prefilling: 0,
  imagesDecoding: 0,
  encoderCacheBytes: 0,
  encoderHits: 0,
  encoderMisses: 0,
  runningRequests: 0,
  runningRows: 0,
  kvLocation: "host",
  kvBytes: 0,
  prefixCacheBytes: 0,
  prefixHits: 0,
  prefixPartialHits: 0,
  prefixMisses: 0,
  tokensGenerated: 0,
  steps: 0,
  bytesToDevice: 0,
  bytesToHost: 0,
  imageSets: 0,
  imageBytes: 0,
  imageWaiting: 0,
};

/** A worker that answers at once, or (hung) never answers; a stuck one does not even exit. */
class FakeWorker implements EngineWorker {
  readonly model = MODEL;
  alive = true;
  hung = false;
  stuck = false;
  exitedWith: string | undefined;
  private readonly pending = new Map<string, GenerationHandlers>();
  private readonly exitListeners: ((why: EngineError) => void)[] = [];

  get inFlight(): number {
    return this.pending.size;
  }

  onExit(listener: (why: EngineError) => void): void {
    this.exitListeners.push(listener);
  }

  generate(_request: GenerationRequest, handlers: GenerationHandlers): string {
    const id = `r${Math.random()}`;
    this.pending.set(id, handlers);
    if (!this.hung)
      queueMicrotask(() => {
        this.pending.delete(id);
        handlers.onSample({ index: 0, seed: 0, tokens: 1, text: "x", finishReason: "stop" });
        handlers.onDone();
      });
    return id;
  }

  putImages(bytes: readonly Uint8Array[]): ImageSetRef {
    return { id: "i", count: bytes.length, digests: [] };
  }

  releaseImages(): void {}
  cancel(): void {}

  stats(timeoutMs = 2000): Promise<WorkerStats | undefined> {
    return this.hung ? sleep(timeoutMs).then(() => undefined) : Promise.resolve(STATS);
  }

  exit(reason: string): void {
    if (this.stuck) return;
    this.exitedWith = reason;
    this.die(reason);
  }

  async close(): Promise<void> {
    this.die("closed");
  }

  async terminate(why: string): Promise<void> {
    this.die(why);
  }

  /** The worker ends: its requests fail, its exit listeners hear why. */
  die(why: string): void {
    if (!this.alive) return;
    this.alive = false;
    const error = new EngineError("engine_failed", why);
    for (const handlers of this.pending.values()) handlers.onError(error);
    this.pending.clear();
    for (const listener of this.exitListeners) listener(error);
  }
}

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const OPTIONS = {} as EngineOptions;

function starter() {
  const workers: FakeWorker[] = [];
  return {
    workers,
    start: async () => {
      const worker = new FakeWorker();
      workers.push(worker);
      return worker;
    },
  };
}

function run(supervisor: EngineSupervisor): Promise<string> {
  return new Promise((resolve, reject) => {
    supervisor.generate(
      {
        messages: [{ role: "user", content: "q" }],
        samples: 1,
        seed: 0,
        sampling: { temperature: 0, topK: 0, topP: 1 },
        maxNewTokens: 1,
      },
      { onSample: () => {}, onDone: () => resolve("done"), onError: reject },
    );
  });
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(5);
  }
}

const settings = (over: Partial<SupervisorSettings> = {}): SupervisorSettings => ({
  maxRestarts: 3,
  restartWindowMs: 60_000,
  stallMs: 0,
  ...over,
});

test("a dead worker's requests fail with a retryable error, readiness drops, and a new worker serves", async () => {
  const { workers, start } = starter();
  const supervisor = await EngineSupervisor.start(OPTIONS, settings(), silent, start);
  assert.equal(supervisor.ready, true);
  assert.equal(await run(supervisor), "done");
  (workers[0] as FakeWorker).hung = true;
  const stuck = run(supervisor);
  (workers[0] as FakeWorker).die("crashed");
  await assert.rejects(stuck, (err: EngineError) => err.code === "engine_failed");
  await until(() => supervisor.ready);
  assert.equal(workers.length, 2);
  assert.equal(supervisor.restarts, 1);
  assert.equal(await run(supervisor), "done");
  await supervisor.close();
});

test("while restarting, new requests fail at once with engine_unavailable", async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const workers: FakeWorker[] = [];
  const start = async () => {
    if (workers.length > 0) await gate;
    const worker = new FakeWorker();
    workers.push(worker);
    return worker;
  };
  const supervisor = await EngineSupervisor.start(OPTIONS, settings(), silent, start);
  (workers[0] as FakeWorker).die("crashed");
  assert.equal(supervisor.ready, false);
  assert.equal(supervisor.state, "restarting");
  await assert.rejects(run(supervisor), (err: EngineError) => err.code === "engine_unavailable");
  release();
  await until(() => supervisor.ready);
  await supervisor.close();
});

test("a worker that keeps dying is given up on: gaveUp resolves and the state is failed", async () => {
  const { workers, start } = starter();
  const supervisor = await EngineSupervisor.start(OPTIONS, settings({ maxRestarts: 2 }), silent, start);
  for (let i = 0; i < 2; i++) {
    (workers.at(-1) as FakeWorker).die(`crash ${i}`);
    await until(() => supervisor.ready);
  }
  (workers.at(-1) as FakeWorker).die("crash 2");
  const why = await supervisor.gaveUp;
  assert.equal(why.code, "engine_failed");
  assert.equal(supervisor.state, "failed");
  assert.equal(workers.length, 3, "two restarts, no third");
  await assert.rejects(run(supervisor), (err: EngineError) => err.code === "engine_unavailable");
});

test("a busy worker that stops answering is asked to exit and replaced (stall watchdog)", async (t) => {
  // The watchdog's timer does not keep a process alive (a server's listener does): this test's does.
  const keepAlive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(keepAlive));
  const { workers, start } = starter();
  const supervisor = await EngineSupervisor.start(OPTIONS, settings({ stallMs: 60 }), silent, start);
  const first = workers[0] as FakeWorker;
  first.hung = true;
  const stuck = run(supervisor);
  await assert.rejects(stuck, (err: EngineError) => err.code === "engine_failed");
  assert.match(first.exitedWith ?? "", /no answer for 60 ms/);
  await until(() => supervisor.ready && workers.length === 2);
  assert.equal(await run(supervisor), "done");
  await supervisor.close();
});

test("a stalled worker that cannot even exit is given up on: the process must go", async (t) => {
  const keepAlive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(keepAlive));
  const { workers, start } = starter();
  const supervisor = await EngineSupervisor.start(OPTIONS, settings({ stallMs: 40 }), silent, start);
  const first = workers[0] as FakeWorker;
  first.hung = true;
  first.stuck = true;
  void run(supervisor).catch(() => {});
  const why = await supervisor.gaveUp;
  assert.match(why.message, /stuck/);
  assert.equal(supervisor.state, "failed");
  assert.equal(workers.length, 1);
});

test("an idle worker is not pinged to death, and a first worker that cannot generate fails the start", async () => {
  const { workers, start } = starter();
  const supervisor = await EngineSupervisor.start(OPTIONS, settings({ stallMs: 40 }), silent, start);
  (workers[0] as FakeWorker).hung = true; // hung, but with nothing in flight: nobody waits on it
  await sleep(200);
  assert.equal(workers.length, 1);
  assert.equal((workers[0] as FakeWorker).exitedWith, undefined);
  await supervisor.close();

  const failing = async () => {
    const worker = new FakeWorker();
    worker.generate = (_r, handlers) => {
      queueMicrotask(() => handlers.onError(new EngineError("engine_failed", "the session cannot run")));
      return "x";
    };
    return worker;
  };
  await assert.rejects(EngineSupervisor.start(OPTIONS, settings(), silent, failing), /cannot run/);
});
