// The OpenAI-compatible routes: POST /v1/chat/completions (chat.ts, through the judging service's
// admission) and GET /v1/models. Their errors are OpenAI-shaped: problem.ts answers every `/v1/*`
// path so, whatever raised the error (auth, readiness, body parsing, validation, the engine).

import { Router as makeRouter, type RequestHandler, type Router } from "express";
import type { ModelInfo } from "../../engine/protocol.js";
import { ApiError } from "../../errors.js";
import { clientOf } from "../client-id.js";
import type { JudgingService } from "../judging.js";
import { chatCompletionRequestSchema } from "../openai-schemas.js";
import { parseBody } from "../schemas.js";
import { requestSignal } from "./signal.js";

export interface OpenAIDeps {
  model: () => ModelInfo | undefined;
  /** The API key check (GET /v1/models needs a key, as /models does). */
  requireKey: RequestHandler;
}

export function openaiRoutes(
  service: JudgingService,
  guard: RequestHandler[],
  shutdown: AbortSignal,
  deps: OpenAIDeps,
): Router {
  const router = makeRouter();
  // `created` of the model: when this server started serving it.
  const created = Math.floor(Date.now() / 1000);

  router.post("/v1/chat/completions", ...guard, async (req, res) => {
    const body = parseBody(chatCompletionRequestSchema, req.body);
    const requestId = typeof res.locals.requestId === "string" ? res.locals.requestId : undefined;
    res.json(await service.chat(body, requestSignal(res, shutdown), requestId, clientOf(res)));
  });

  router.get("/v1/models", deps.requireKey, (_req, res) => {
    const model = deps.model();
    if (!model) throw new ApiError("not_ready", "the model is loading", { retryAfter: 5 });
    res.json({ object: "list", data: [{ id: model.id, object: "model", created, owned_by: "r1-judge" }] });
  });

  return router;
}
