// The engine's thread: onnxruntime's run() blocks the JS thread for the whole step, so generation
// lives here and the HTTP thread stays responsive. Messages are plain data (protocol.ts).
// A request's failure is posted as its `error`; a broken engine posts `fatal` and the thread ends
// (the main thread's supervisor starts a new one).

import { parentPort, workerData } from "node:worker_threads";
import { EngineError, toFailure } from "./errors.js";
import { EngineHost } from "./host.js";
import type { EngineOptions, FromWorker, SampleMessage, ToWorker } from "./protocol.js";

if (!parentPort) throw new Error("worker.ts must run in a worker thread");
const port = parentPort;
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
  post({ type: "failed", error: toFailure(err) });
  process.exit(1);
}
post({ type: "ready", model: host.info });

function generate(message: Extract<ToWorker, { type: "generate" }>): void {
  const { id } = message;
  const fail = (err: unknown) => post({ type: "error", id, error: toFailure(err) });
  host
    .generate(message, {
      onStart: (stats) => post({ type: "started", id, ...stats }),
      onSample: (sample) => {
        const wire: SampleMessage = {
          index: sample.index,
          seed: sample.seed,
          tokens: sample.tokens.length,
          text: host.codec.decode(sample.tokens, true),
          finishReason: sample.finishReason,
          ...(sample.error ? { error: sample.error } : {}),
          ...(sample.choiceProbabilities ? { choiceProbabilities: sample.choiceProbabilities } : {}),
        };
        post({ type: "sample", id, sample: wire });
      },
      onDone: () => post({ type: "done", id }),
      onError: fail,
    })
    .catch(fail);
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case "generate":
      generate(message);
      break;
    case "images":
      host.putImages(message);
      break;
    case "release_images":
      host.releaseImages(message.id);
      break;
    case "cancel":
      host.cancel(message.id, message.samples);
      break;
    case "stats":
      post({ type: "stats", id: message.id, stats: host.stats() });
      break;
    case "shutdown":
      host.engine.stop();
      break;
    case "exit":
      host.engine.stop(
        new EngineError("engine_failed", `the engine worker is being replaced: ${message.reason}`),
      );
      break;
  }
}

port.on("message", (message: ToWorker) => {
  try {
    handle(message);
  } catch (err) {
    // A message that cannot be handled fails its own request, never the thread.
    if ("id" in message && message.type === "generate")
      post({ type: "error", id: message.id, error: toFailure(err) });
    else log.warn({ type: message.type, error: toFailure(err).message }, "engine message failed");
  }
});

// The loop ends at a step boundary (stopped, or broken): only then are the sessions released and the
// thread ended, since tearing either down under a running model aborts the process.
let fatal: EngineError | undefined;
try {
  await host.engine.run();
  fatal = host.engine.stopReason;
} catch (err) {
  fatal = EngineError.from(toFailure(err));
}
await host.close();
if (fatal) {
  post({ type: "fatal", error: fatal.toFailure() });
  process.exit(1);
}
port.close();
