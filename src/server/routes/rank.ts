// POST /rank (best-of-N) and POST /get_reward (OpenRLHF's remote reward protocol).

import { Router as makeRouter, type RequestHandler, type Router } from "express";
import { clientOf } from "../client-id.js";
import { floatJson } from "../float-json.js";
import { rewardLabelImages } from "../image-refs.js";
import type { JudgingService } from "../judging.js";
import { parseBody, rankRequestSchema, rewardRequestSchema } from "../schemas.js";
import { requestSignal } from "./signal.js";

export function rankRoutes(
  service: JudgingService,
  guard: RequestHandler[],
  shutdown: AbortSignal,
  imageRoot?: string,
): Router {
  const router = makeRouter();

  router.post("/rank", ...guard, async (req, res) => {
    const body = parseBody(rankRequestSchema, req.body);
    res.json(await service.rank(body, requestSignal(res, shutdown), clientOf(res)));
  });

  router.post("/get_reward", ...guard, async (req, res) => {
    const parsed = parseBody(rewardRequestSchema, req.body);
    // Labels may name the prompts' images (image-refs.ts): the judge sees them, OpenRLHF sends none.
    const { labels, images } = rewardLabelImages(parsed.labels, parsed.prompts, parsed.query, imageRoot);
    const body = labels === undefined ? parsed : { ...parsed, labels };
    // Python clients turn the rewards into tensors: `1.0` makes a float tensor, `1` an int64 one.
    res
      .type("application/json")
      .send(floatJson(await service.reward(body, requestSignal(res, shutdown), images, clientOf(res))));
  });

  return router;
}
