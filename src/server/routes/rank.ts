// POST /rank (best-of-N) and POST /get_reward (OpenRLHF's remote reward protocol).

import { Router as makeRouter, type RequestHandler, type Router } from "express";
import type { JudgingService } from "../judging.js";
import { parseBody, rankRequestSchema, rewardRequestSchema } from "../schemas.js";
import { clientGone } from "./signal.js";

export function rankRoutes(service: JudgingService, guard: RequestHandler[]): Router {
  const router = makeRouter();

  router.post("/rank", ...guard, async (req, res) => {
    const body = parseBody(rankRequestSchema, req.body);
    const release = service.admit(1);
    try {
      res.json(await service.rank(body, clientGone(res)));
    } finally {
      release();
    }
  });

  router.post("/get_reward", ...guard, async (req, res) => {
    const body = parseBody(rewardRequestSchema, req.body);
    const release = service.admit(Math.max(1, body.query.length));
    try {
      res.json(await service.reward(body, clientGone(res)));
    } finally {
      release();
    }
  });

  return router;
}
