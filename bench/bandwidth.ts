// Memory bandwidth of this machine, measured in-process on 1 GiB buffers, best of several runs, with
// one thread and with two worker threads each taking half of a shared buffer at the same time:
// - copy: Buffer.copy / TypedArray.set (memmove). Reported as bytes copied per second and as memory
//   traffic (read + write = 2 × copied, the STREAM "Copy" convention);
// - read: Buffer.indexOf of a byte that is absent (memchr scans every byte; nothing is written).
// A decode step only READS the weights, so the bound uses the best read-side figure: the read-only
// rate or the copy's traffic, whichever is higher (on this machine they agree). The copy rate in
// bytes copied per second is printed too: it is half the traffic, so a bound built on it is 2× low.

import { Worker } from "node:worker_threads";

export interface Rate {
  threads: number;
  bytesPerSec: number;
}

export interface BandwidthResult {
  bufferBytes: number;
  runs: number;
  /** Bytes copied per second, 1 and 2 threads. */
  copy: Rate[];
  /** Bytes read per second by memchr, 1 and 2 threads. */
  read: Rate[];
  /** Best copy rate (bytes copied per second). */
  bestCopy: Rate;
  /** The bound's bandwidth: max(best read rate, 2 × best copy rate). */
  bound: { bytesPerSec: number; source: string };
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { src, dst, offset, length } = workerData;
const from = Buffer.from(src, offset, length);
const to = Buffer.from(dst, offset, length);
parentPort.on("message", (kind) => {
  const start = performance.timeOrigin + performance.now();
  if (kind === "copy") from.copy(to);
  else if (from.indexOf(0) !== -1) throw new Error("unexpected zero byte");
  const end = performance.timeOrigin + performance.now();
  parentPort.postMessage({ start, end });
});
`;

type Kind = "copy" | "read";

function bestOf(runs: number, once: () => number): number {
  once(); // warm
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) best = Math.min(best, once());
  return best;
}

async function measure(bytes: number, runs: number, threads: number): Promise<Record<Kind, number>> {
  // Shared buffers filled with non-zero bytes (the fills also map every page before timing).
  const src = new SharedArrayBuffer(bytes);
  const dst = new SharedArrayBuffer(bytes);
  const from = Buffer.from(src).fill(1);
  const to = Buffer.from(dst).fill(2);
  if (threads === 1) {
    const time = (f: () => void) => () => {
      const t0 = performance.now();
      f();
      return performance.now() - t0;
    };
    const copyMs = bestOf(
      runs,
      time(() => from.copy(to)),
    );
    const readMs = bestOf(
      runs,
      time(() => {
        if (from.indexOf(0) !== -1) throw new Error("unexpected zero byte");
      }),
    );
    return { copy: bytes / (copyMs / 1000), read: bytes / (readMs / 1000) };
  }
  const share = Math.floor(bytes / threads / 4096) * 4096;
  const workers = Array.from(
    { length: threads },
    (_, i) =>
      new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { src, dst, offset: i * share, length: i === threads - 1 ? bytes - i * share : share },
      }),
  );
  let failure: Error | undefined;
  for (const w of workers)
    w.on("error", (err) => {
      failure = err;
    });
  const once = async (kind: Kind) => {
    const spans = await Promise.all(
      workers.map(
        (w) =>
          new Promise<{ start: number; end: number }>((resolve) => {
            w.once("message", resolve);
            w.postMessage(kind);
          }),
      ),
    );
    if (failure) throw failure;
    return Math.max(...spans.map((s) => s.end)) - Math.min(...spans.map((s) => s.start));
  };
  const best = async (kind: Kind) => {
    await once(kind);
    let ms = Number.POSITIVE_INFINITY;
    for (let i = 0; i < runs; i++) ms = Math.min(ms, await once(kind));
    return bytes / (ms / 1000);
  };
  try {
    return { copy: await best("copy"), read: await best("read") };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function measureBandwidth(bytes = 1 << 30, runs = 5): Promise<BandwidthResult> {
  const copy: Rate[] = [];
  const read: Rate[] = [];
  for (const threads of [1, 2]) {
    try {
      const r = await measure(bytes, runs, threads);
      copy.push({ threads, bytesPerSec: r.copy });
      read.push({ threads, bytesPerSec: r.read });
    } catch (err) {
      if (threads === 1) throw err;
    }
  }
  const top = (rates: Rate[]) => rates.reduce((a, b) => (b.bytesPerSec > a.bytesPerSec ? b : a));
  const bestCopy = top(copy);
  const bestRead = top(read);
  const bound =
    bestRead.bytesPerSec >= 2 * bestCopy.bytesPerSec
      ? { bytesPerSec: bestRead.bytesPerSec, source: `read (memchr), ${bestRead.threads} thread(s)` }
      : {
          bytesPerSec: 2 * bestCopy.bytesPerSec,
          source: `copy traffic (read + write), ${bestCopy.threads} thread(s)`,
        };
  return { bufferBytes: bytes, runs, copy, read, bestCopy, bound };
}
