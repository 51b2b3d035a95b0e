// Operations routes: GET /healthz, /readyz, /models, /metrics, /openapi.yaml.

import { readFileSync } from "node:fs";
import { Router as makeRouter, type RequestHandler, type Router } from "express";
import type { ModelInfo } from "../../engine/protocol.js";
import { ApiError } from "../../errors.js";
import type { Lifecycle } from "../lifecycle.js";
import type { Metrics } from "../metrics.js";

export interface SystemDeps {
  lifecycle: Lifecycle;
  metrics: Metrics;
  model: () => ModelInfo | undefined;
  /** Refreshes engine gauges before a scrape; must settle quickly even when the engine is busy. */
  refreshMetrics: () => Promise<void>;
  openapiPath: string;
  /** The API key check (for /models; health, readiness, metrics and the spec need none). */
  requireKey: RequestHandler;
}

/** The 503 for a server that cannot take work now, or undefined when it can. */
export function notReady(lifecycle: Lifecycle): ApiError | undefined {
  switch (lifecycle.notReadyBecause) {
    case "draining":
      return new ApiError("draining", "the server is shutting down", { retryAfter: 5 });
    case "loading":
      return new ApiError("not_ready", "the model is loading", { retryAfter: 5 });
    case "engine":
      return new ApiError("not_ready", "the engine is restarting after a failure", { retryAfter: 5 });
    default:
      return undefined;
  }
}

/** The accuracy as served (`r1judge eval` through /judge), when the manifest records one; never the
 * export's onnxruntime check, which measures another procedure (docs/checkpoint-format.md). */
function servedEvaluation(manifest: Record<string, unknown>): { evaluation?: Record<string, unknown> } {
  const provenance = manifest.provenance as Record<string, unknown> | undefined;
  const served = provenance?.served_evaluation;
  return served && typeof served === "object" ? { evaluation: served as Record<string, unknown> } : {};
}

export function systemRoutes(deps: SystemDeps): Router {
  const router = makeRouter();
  const spec = readFileSync(deps.openapiPath, "utf8");

  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });

  router.get("/readyz", (_req, res) => {
    const why = notReady(deps.lifecycle);
    if (why) throw why;
    res.json({ status: "ready" });
  });

  router.get("/models", deps.requireKey, (_req, res) => {
    const model = deps.model();
    if (!model) throw new ApiError("not_ready", "the model is loading", { retryAfter: 5 });
    res.json({
      models: [
        {
          id: model.id,
          variant: model.variant,
          device: model.device,
          dtype: model.dtype,
          vision: model.vision,
          manifest: model.manifest,
          ...servedEvaluation(model.manifest),
        },
      ],
    });
  });

  router.get("/metrics", async (_req, res) => {
    await deps.refreshMetrics();
    res.set("Content-Type", deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  router.get("/openapi.yaml", (_req, res) => {
    res.type("application/yaml").send(spec);
  });

  return router;
}
