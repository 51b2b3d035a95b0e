// POST /judge and POST /judge/batch.

import { Router as makeRouter, type RequestHandler, type Router } from "express";
import { clientOf } from "../client-id.js";
import type { JudgingService } from "../judging.js";
import { toProblem } from "../problem.js";
import { judgeRequestSchema, parseBody, parseJudgeBatch } from "../schemas.js";
import { requestSignal } from "./signal.js";

export function judgeRoutes(service: JudgingService, guard: RequestHandler[], shutdown: AbortSignal): Router {
  const router = makeRouter();

  router.post("/judge", ...guard, async (req, res) => {
    const body = parseBody(judgeRequestSchema, req.body);
    res.json(await service.judge(body, requestSignal(res, shutdown), clientOf(res)));
  });

  router.post("/judge/batch", ...guard, async (req, res) => {
    const items = parseJudgeBatch(req.body);
    const results = await service.judgeBatch(items, requestSignal(res, shutdown), clientOf(res));
    res.json({
      results: results.map((r) =>
        r.ok ? r.value : toProblem(r.error, { requestId: res.locals.requestId }).body,
      ),
    });
  });

  return router;
}
