// A GraphThread's thread (graph-thread.ts): opens one graph, runs it one request at a time, and posts
// the outputs back with their buffers transferred.

import { parentPort, workerData } from "node:worker_threads";
import { toFailure } from "../errors.js";
import type { GraphThreadReply, GraphThreadRequest, GraphThreadSetup } from "./graph-thread-protocol.js";
import { type Graph, openGraph } from "./onnx.js";
import type { HostTensor } from "./tensor.js";

if (!parentPort) throw new Error("graph-worker.ts must run in a worker thread");
const port = parentPort;
const post = (reply: GraphThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
const setup = workerData as GraphThreadSetup;

let graph: Graph;
try {
  graph = await openGraph(setup.file, setup.settings, setup.expected, {
    warn: (fields, message) => post({ type: "warn", fields, message }),
  });
} catch (err) {
  post({ type: "failed", failure: toFailure(err) });
  process.exit(1);
}
const inputTypes = Object.fromEntries(graph.inputNames.map((name) => [name, graph.inputType(name)]));
post({
  type: "ready",
  file: graph.file,
  device: graph.device,
  inputNames: [...graph.inputNames],
  outputNames: [...graph.outputNames],
  inputTypes,
});

// Runs one at a time, in order: each finishes before the next message is read.
let queue = Promise.resolve();
port.on("message", (request: GraphThreadRequest) => {
  queue = queue.then(async () => {
    if (request.type === "close") {
      try {
        await graph.release();
      } finally {
        port.close();
      }
      return;
    }
    try {
      const outputs = await graph.run(request.feeds, request.outputs);
      const buffers = Object.values(outputs).flatMap((t) => {
        const data = (t as HostTensor).data;
        return ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer ? [data.buffer] : [];
      });
      post({ type: "result", id: request.id, ok: true, outputs }, [...new Set(buffers)]);
    } catch (err) {
      post({ type: "result", id: request.id, ok: false, failure: toFailure(err) });
    }
  });
});
