// Copy bandwidth of this machine, measured in-process: one thread (Buffer.copy, i.e. memmove) and two
// worker threads each copying half of a shared buffer at the same time. Best of several runs.
// Reported two ways: bytes copied per second, and memory traffic (read + write = 2 × copied, the
// STREAM "Copy" convention). The traffic figure is the bandwidth bound the decode is compared with.

import { Worker } from "node:worker_threads";

export interface CopyResult {
  threads: number;
  /** Bytes copied per second (best run). */
  copiedBytesPerSec: number;
  /** Read + write traffic per second (2 × copied). */
  trafficBytesPerSec: number;
}

export interface BandwidthResult {
  bufferBytes: number;
  runs: number;
  single: CopyResult;
  dual: CopyResult | undefined;
  best: CopyResult;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { src, dst, offset, length } = workerData;
const from = new Uint8Array(src, offset, length);
const to = new Uint8Array(dst, offset, length);
parentPort.on("message", () => {
  const start = performance.timeOrigin + performance.now();
  to.set(from);
  const end = performance.timeOrigin + performance.now();
  parentPort.postMessage({ start, end });
});
`;

function result(threads: number, bytes: number, seconds: number): CopyResult {
  return { threads, copiedBytesPerSec: bytes / seconds, trafficBytesPerSec: (2 * bytes) / seconds };
}

function singleThread(bytes: number, runs: number): CopyResult {
  const src = Buffer.allocUnsafeSlow(bytes).fill(1);
  const dst = Buffer.allocUnsafeSlow(bytes).fill(2);
  src.copy(dst); // warm: pages are mapped by the fills, this warms the copy path
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    src.copy(dst);
    best = Math.min(best, performance.now() - t0);
  }
  return result(1, bytes, best / 1000);
}

async function multiThread(bytes: number, runs: number, threads: number): Promise<CopyResult> {
  const src = new SharedArrayBuffer(bytes);
  const dst = new SharedArrayBuffer(bytes);
  new Uint8Array(src).fill(1);
  new Uint8Array(dst).fill(2);
  const share = Math.floor(bytes / threads / 4096) * 4096;
  const workers = Array.from(
    { length: threads },
    (_, i) =>
      new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { src, dst, offset: i * share, length: i === threads - 1 ? bytes - i * share : share },
      }),
  );
  const once = () =>
    Promise.all(
      workers.map(
        (w) =>
          new Promise<{ start: number; end: number }>((resolve) => {
            w.once("message", resolve);
            w.postMessage("go");
          }),
      ),
    );
  try {
    await once(); // warm
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) {
      const spans = await once();
      const span = Math.max(...spans.map((s) => s.end)) - Math.min(...spans.map((s) => s.start));
      best = Math.min(best, span);
    }
    return result(threads, bytes, best / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function measureBandwidth(bytes = 1 << 30, runs = 5): Promise<BandwidthResult> {
  const single = singleThread(bytes, runs);
  let dual: CopyResult | undefined;
  try {
    dual = await multiThread(bytes, runs, 2);
  } catch {
    dual = undefined;
  }
  const best = dual && dual.copiedBytesPerSec > single.copiedBytesPerSec ? dual : single;
  return { bufferBytes: bytes, runs, single, dual, best };
}
