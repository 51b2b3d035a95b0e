// Wiring only: config → HTTP server (health first) → supervised engine worker → ready; SIGTERM
// drains: not ready, new work 503 while the listener stays open, accepted work finishes (or answers
// 503 when the grace runs out), then the listener and the engine close. judgeOnce wires the same
// request schema and judging service to an in-process engine for `r1judge judge` (no HTTP).

import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino, { type Logger } from "pino";
import { type Config, consoleOn, engineOptions, engineSupervision } from "./config.js";
import { EngineClient } from "./engine/client.js";
import type { EngineError } from "./engine/errors.js";
import { EngineSupervisor } from "./engine/supervisor.js";
import { ApiError } from "./errors.js";
import type { GenerationPort } from "./judge/judge.js";
import { createApp } from "./server/app.js";
import { type JudgeAnswer, JudgingService, type JudgingSettings } from "./server/judging.js";
import { Lifecycle } from "./server/lifecycle.js";
import { Metrics } from "./server/metrics.js";
import { toApiError } from "./server/problem.js";
import { judgeRequestSchema, parseBody } from "./server/schemas.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** How long a /metrics scrape waits for the engine's counters before showing the last ones. */
const STATS_TIMEOUT_MS = 1000;

export interface RunningServer {
  url: string;
  server: Server;
  lifecycle: Lifecycle;
  /** Resolves once the model has loaded and a real generation succeeded (rejects if loading failed). */
  ready: Promise<void>;
  /** Resolves if the engine keeps failing and is given up on: the process should exit non-zero. */
  failed: Promise<EngineError>;
  /** The engine's supervisor, once loaded (tests reach the worker through it). */
  engine(): EngineSupervisor | undefined;
  /** Stop accepting, report not ready, finish accepted requests, close the engine. */
  stop(): Promise<void>;
}

/** The judging service's settings from the configuration (the server's and the CLI's alike). */
function judgingSettings(config: Config, modelId: string): JudgingSettings {
  return {
    modelId,
    maxQueue: config.maxQueue,
    maxNewTokens: config.maxNewTokens,
    defaultTimeoutMs: config.defaultTimeoutMs,
    cacheEntries: config.cacheEntries,
    rewardSamples: config.rewardSamples,
    rewardEmptyLabel: config.rewardEmptyLabel,
    rewardEmptyFloor: config.rewardEmptyFloor,
    rewardNoVerdict: config.rewardNoVerdict,
    rewardEndMarkers: config.rewardEndMarkers,
    clientWeights: config.clientWeights,
    clientIdleMs: config.clientIdleMs,
  };
}

/**
 * One /judge request without HTTP: `body` is validated by /judge's schema (ApiError
 * "invalid_request" naming the field, before any model loads), judged by the same JudgingService on
 * an in-process engine, and answered in /judge's shape. A failure while judging is the ApiError
 * HTTP would answer; a model that does not load throws its own error.
 */
export async function judgeOnce(config: Config, body: unknown): Promise<JudgeAnswer> {
  const request = parseBody(judgeRequestSchema, body);
  const engine = await EngineClient.start(engineOptions(config));
  try {
    const service = new JudgingService(engine, judgingSettings(config, engine.model.id), new Metrics());
    service.setModel(engine.model);
    return await service.judge(request);
  } catch (err) {
    throw toApiError(err);
  } finally {
    await engine.close();
  }
}

export async function startServer(
  config: Config,
  log: Logger = pino({ level: config.logLevel }),
): Promise<RunningServer> {
  const metrics = new Metrics();
  let engine: EngineSupervisor | undefined;
  const lifecycle = new Lifecycle(() => engine?.ready ?? false);
  const port: GenerationPort = {
    generate: (request, handlers) => {
      if (engine) return engine.generate(request, handlers);
      throw new ApiError("not_ready", "the model is loading", { retryAfter: 5 });
    },
    cancel: (id, samples) => engine?.cancel(id, samples),
    putImages: (bytes) => {
      if (engine) return engine.putImages(bytes);
      throw new ApiError("not_ready", "the model is loading", { retryAfter: 5 });
    },
    releaseImages: (ref) => engine?.releaseImages(ref),
  };
  const service = new JudgingService(port, judgingSettings(config, "loading"), metrics);
  let restartsSeen = 0;
  const app = createApp({
    service,
    log,
    lifecycle,
    metrics,
    apiKeys: config.apiKeys,
    maxBodyBytes: config.maxBodyBytes,
    protocols: {
      imageRoot: config.imageRoot,
      strategy: config.compareStrategy,
      judges: config.compareJudges,
    },
    model: () => engine?.model,
    refreshMetrics: async () => {
      metrics.engineUp.set(engine?.ready ? 1 : 0);
      if (!engine) return;
      metrics.engineRestarts.inc(engine.restarts - restartsSeen);
      restartsSeen = engine.restarts;
      const stats = await engine.stats(STATS_TIMEOUT_MS);
      if (stats) metrics.updateEngine(stats);
    },
    openapiPath: path.join(ROOT, "openapi.yaml"),
    ...(consoleOn(config)
      ? { console: { assets: path.join(ROOT, "console"), reports: config.consoleReports } }
      : {}),
  });
  const server = app.listen(config.port, config.host);
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  log.info({ url, model: config.model }, "listening; loading the model");

  let giveUp: (why: EngineError) => void = () => {};
  const failed = new Promise<EngineError>((resolve) => {
    giveUp = resolve;
  });
  const ready = (async () => {
    engine = await EngineSupervisor.start(
      engineOptions(config),
      engineSupervision(config),
      log,
      EngineClient.start,
    );
    void engine.gaveUp.then(giveUp);
    // A started supervisor holds a loaded worker: its model info, verdict rule included, is there.
    const model = engine.model;
    if (model) service.setModel(model);
    if (!lifecycle.markReady()) {
      // SIGTERM came while the model loaded: the drain has run, and it had no engine to close.
      await engine.close();
      return;
    }
    log.info({ model: model?.id, device: model?.device, dtype: model?.dtype }, "ready");
  })();

  const stop = async () => {
    if (!lifecycle.drain()) return;
    log.info({ active: lifecycle.active }, "draining");
    // The listener stays open through the drain: a new connection gets 503, not a refusal.
    const grace = new Promise<"grace">((resolve) =>
      setTimeout(() => resolve("grace"), config.shutdownGraceMs).unref(),
    );
    if ((await Promise.race([lifecycle.idle(), grace])) === "grace") {
      log.warn({ active: lifecycle.active }, "the drain's grace ran out; answering the rest 503");
      lifecycle.shutdown.abort(
        new ApiError("draining", "the server shut down before this request finished", { retryAfter: 5 }),
      );
      await Promise.race([lifecycle.idle(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await engine?.close();
    log.info("stopped");
  };

  return { url, server, lifecycle, ready, failed, engine: () => engine, stop };
}
