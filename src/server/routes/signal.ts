// A request's AbortSignal: it fires when the client goes away before its response was sent, or
// when the server, shutting down, stops waiting for the request (the drain's grace ran out).

import { setMaxListeners } from "node:events";
import type { Response } from "express";
import { JudgeAbortedError } from "../../judge/judge.js";

export function requestSignal(res: Response, shutdown: AbortSignal): AbortSignal {
  const controller = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) controller.abort(new JudgeAbortedError());
  });
  const signal = AbortSignal.any([controller.signal, shutdown]);
  // Every judgement of a batch or ranking listens while it runs (and stops listening when done):
  // hundreds at once are expected, not a leak.
  setMaxListeners(0, signal);
  return signal;
}
