// The engine's thread: onnxruntime's run() blocks the JS thread for the whole step, so generation
// lives here and the HTTP thread stays responsive. Messages are plain data (protocol.ts).

import { parentPort, workerData } from "node:worker_threads";
import { EngineHost } from "./host.js";
import { type EngineOptions, type FromWorker, type ToWorker, toWireError } from "./protocol.js";

const port = parentPort;
if (!port) throw new Error("worker.ts must run in a worker thread");
const post = (message: FromWorker) => port.postMessage(message);

const log = {
  warn(fields: Record<string, unknown>, message: string) {
    // The main thread owns the logger; warnings travel as plain text on stderr with their fields.
    process.stderr.write(`${JSON.stringify({ level: "warn", msg: message, ...fields })}\n`);
  },
};

let host: EngineHost;
try {
  host = await EngineHost.load(workerData as EngineOptions, log);
} catch (err) {
  post({ type: "failed", error: toWireError(err) });
  process.exit(1);
}
post({ type: "ready", model: host.info });

port.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "generate": {
      const { id } = message;
      host
        .generate(message, {
          onStart: (stats) => post({ type: "started", id, ...stats }),
          onSample: (sample) =>
            post({
              type: "sample",
              id,
              sample: {
                index: sample.index,
                seed: sample.seed,
                tokens: sample.tokens.length,
                text: host.codec.decode(sample.tokens, true),
                finishReason: sample.finishReason,
                ...(sample.error ? { error: sample.error } : {}),
              },
            }),
          onDone: () => post({ type: "done", id }),
          onError: (err) => post({ type: "error", id, error: toWireError(err) }),
        })
        .catch((err: unknown) => post({ type: "error", id, error: toWireError(err) }));
      break;
    }
    case "cancel":
      host.engine.cancel(message.id, message.samples);
      break;
    case "stats":
      post({ type: "stats", id: message.id, stats: host.engine.stats() });
      break;
    case "shutdown":
      void host.close().then(() => port.close());
      break;
  }
});

await host.engine.run();
