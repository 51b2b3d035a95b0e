// POST /judge and POST /judge/batch.

import { Router as makeRouter, type RequestHandler, type Router } from "express";
import type { components } from "../generated/api.js";
import type { JudgingService } from "../judging.js";
import { toProblem } from "../problem.js";
import { judgeRequestSchema, parseBody, parseJudgeBatch } from "../schemas.js";
import { clientGone } from "./signal.js";

export function judgeRoutes(service: JudgingService, guard: RequestHandler[]): Router {
  const router = makeRouter();

  router.post("/judge", ...guard, async (req, res) => {
    const body = parseBody(judgeRequestSchema, req.body);
    const release = service.admit(1);
    try {
      res.json(await service.judge(body, clientGone(res)));
    } finally {
      release();
    }
  });

  router.post("/judge/batch", ...guard, async (req, res) => {
    const items = parseJudgeBatch(req.body);
    const valid = items.filter((i) => i.ok).length;
    const release = service.admit(valid);
    const signal = clientGone(res);
    try {
      const results = await Promise.all(
        items.map(
          async (item, k): Promise<components["schemas"]["Judgement"] | components["schemas"]["Problem"]> => {
            if (!item.ok) return toProblem(item.error, { requestId: res.locals.requestId }).body;
            try {
              return await service.judge(item.value, signal);
            } catch (err) {
              const problem = toProblem(err, { requestId: res.locals.requestId }).body;
              return {
                ...problem,
                errors: problem.errors.map((e) => ({ ...e, field: `items[${k}].${e.field}` })),
              };
            }
          },
        ),
      );
      res.json({ results });
    } finally {
      release();
    }
  });

  return router;
}
