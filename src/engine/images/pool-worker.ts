// An image pool thread (pool.ts): runs one prepare job at a time and posts back the patches (their
// buffer transferred, not copied) or the error as plain data.

import { parentPort } from "node:worker_threads";
import sharp from "sharp";
import { toFailure } from "../errors.js";
import type { PoolReply, PoolRequest } from "./pool-protocol.js";
import { prepareImage } from "./prepare.js";

if (!parentPort) throw new Error("pool-worker.ts must run in a worker thread");
const port = parentPort;

// The pool's size is the decode parallelism; libvips threads per image on top would only add
// per-thread buffers (PNG and JPEG decode sequentially anyway). The operation cache is off (decode.ts).
sharp.concurrency(1);

port.on("message", async (request: PoolRequest) => {
  let reply: PoolReply;
  try {
    const { pixelValues, grid } = await prepareImage(request.job);
    reply = { id: request.id, ok: true, pixelValues, grid };
    port.postMessage(reply, [pixelValues.buffer as ArrayBuffer]);
  } catch (err) {
    const name = err instanceof Error ? err.name : "Error";
    reply = { id: request.id, ok: false, name, failure: toFailure(err) };
    port.postMessage(reply);
  }
});
