// The image pool's thread, but one that dies on purpose for a job whose field says so: "crash-exit"
// ends the thread (process.exit in a worker ends only the thread), "crash-throw" throws outside any
// job's try (an uncaught error). Every other job is the real worker's.

import { parentPort } from "node:worker_threads";
import type { PoolRequest } from "../../../src/engine/images/pool-protocol.js";
// First, so that its listener is there for the first message (one added later would miss it); the
// real worker only starts a job before this one's listener ends the thread.
import "../../../src/engine/images/pool-worker.js";

parentPort?.on("message", (request: PoolRequest) => {
  if (request.job.field === "crash-exit") process.exit(7);
  if (request.job.field === "crash-throw")
    setImmediate(() => {
      throw new Error("thrown on purpose");
    });
});
