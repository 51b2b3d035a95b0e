// Who a request is for, for fair shares of the queue (admission.ts) and the engine (fair-queue.ts):
// with API keys configured, the key — named `keyN`, its 1-based place in R1JUDGE_API_KEYS, never the
// key itself; else the `X-Client-Id` header; else the connection's remote address. The header is
// the client's own word: without keys the server trusts its clients to name themselves.

import type { RequestHandler, Response } from "express";
import { CLIENT_ID } from "../config.js";
import { ApiError } from "../errors.js";

export const CLIENT_ID_HEADER = "X-Client-Id";

/** Sets `res.locals.client`; runs after the API key check (auth.ts records which key matched). */
export function clientIdentity(): RequestHandler {
  return (req, res, next) => {
    const given = req.get(CLIENT_ID_HEADER);
    if (given !== undefined && !CLIENT_ID.test(given)) {
      const message = "must be 1 to 64 characters of A-Z a-z 0-9 . _ : -";
      return next(
        new ApiError("invalid_request", `${CLIENT_ID_HEADER} ${message}`, {
          errors: [{ field: CLIENT_ID_HEADER, message }],
        }),
      );
    }
    const key = res.locals.apiKeyIndex;
    res.locals.client =
      typeof key === "number" ? `key${key + 1}` : (given ?? req.socket.remoteAddress ?? "unknown");
    return next();
  };
}

/** The request's client, as clientIdentity named it. */
export function clientOf(res: Response): string | undefined {
  return typeof res.locals.client === "string" ? res.locals.client : undefined;
}
