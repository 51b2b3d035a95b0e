// Wiring only: config → HTTP server (health first) → engine worker → warm-up → ready; SIGTERM drains.

import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino, { type Logger } from "pino";
import { type Config, engineOptions } from "./config.js";
import { EngineClient } from "./engine/client.js";
import type { GenerationPort } from "./judge/judge.js";
import { judgePair } from "./judge/judge.js";
import { createApp } from "./server/app.js";
import { JudgingService } from "./server/judging.js";
import { Lifecycle } from "./server/lifecycle.js";
import { Metrics } from "./server/metrics.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface RunningServer {
  url: string;
  server: Server;
  lifecycle: Lifecycle;
  /** Resolves once the model has loaded and a real generation succeeded (rejects if loading failed). */
  ready: Promise<void>;
  /** Stop accepting, report not ready, finish accepted requests, close the engine. */
  stop(): Promise<void>;
}

export async function startServer(
  config: Config,
  log: Logger = pino({ level: config.logLevel }),
): Promise<RunningServer> {
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  let engine: EngineClient | undefined;
  const port: GenerationPort = {
    generate: (request, handlers) => {
      if (!engine) throw new Error("engine not loaded");
      return engine.generate(request, handlers);
    },
    cancel: (id, samples) => engine?.cancel(id, samples),
  };
  const service = new JudgingService(
    port,
    {
      modelId: "loading",
      maxQueue: config.maxQueue,
      maxNewTokens: config.maxNewTokens,
      defaultTimeoutMs: config.defaultTimeoutMs,
      cacheEntries: config.cacheEntries,
    },
    metrics,
  );
  const app = createApp({
    service,
    log,
    lifecycle,
    metrics,
    apiKeys: config.apiKeys,
    maxBodyBytes: config.maxBodyBytes,
    model: () => engine?.model,
    refreshMetrics: async () => {
      if (engine?.alive) metrics.updateEngine(await engine.stats());
    },
    openapiPath: path.join(ROOT, "openapi.yaml"),
  });
  const server = app.listen(config.port, config.host);
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  log.info({ url, model: config.model }, "listening; loading the model");

  const ready = (async () => {
    engine = await EngineClient.start(engineOptions(config));
    service.setModelId(engine.model.id);
    // Ready means a real generation worked, not just that files loaded.
    const warm = await judgePair(port, {
      question: "Is this a warm-up?",
      responses: ["Yes.", "No."],
      images: [],
      samples: 1,
      temperature: 0,
      topP: 1,
      topK: 0,
      maxNewTokens: 4,
      seed: 0,
      order: "fixed",
      earlyStop: false,
      returnReasoning: false,
    });
    if (warm.samples.length !== 1) throw new Error("the warm-up generation returned no sample");
    lifecycle.phase = "ready";
    log.info({ model: engine.model.id, device: engine.model.device, dtype: engine.model.dtype }, "ready");
  })();

  const stop = async () => {
    if (lifecycle.phase === "draining") return;
    lifecycle.phase = "draining";
    log.info({ active: lifecycle.active }, "draining");
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const grace = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
    await Promise.race([lifecycle.idle(), grace]);
    server.closeAllConnections();
    await closed;
    await engine?.close();
    log.info("stopped");
  };

  return { url, server, lifecycle, ready, stop };
}
