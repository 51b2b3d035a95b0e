// API keys: `Authorization: Bearer <key>` (the scheme in any case, RFC 9110) or `X-API-Key`,
// compared in constant time. The matching key's index is left in `res.locals.apiKeyIndex`.

import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { ApiError } from "../errors.js";

const digest = (key: string) => createHash("sha256").update(key).digest();
const BEARER = /^bearer\s+(\S+)\s*$/i;

export function requireApiKey(keys: readonly string[]): RequestHandler {
  const digests = keys.map(digest);
  return (req, res, next) => {
    if (digests.length === 0) return next();
    const header = req.get("authorization");
    const given = (header ? BEARER.exec(header)?.[1] : undefined) ?? req.get("x-api-key")?.trim();
    if (!given)
      return next(new ApiError("unauthorized", "an API key is required (Authorization: Bearer <key>)"));
    // Hashing first gives equal-length buffers, so timingSafeEqual can compare any key length.
    const candidate = digest(given);
    // Every key is compared (no early exit); which one matched names the client (client-id.ts).
    let match = -1;
    for (const [i, d] of digests.entries()) if (timingSafeEqual(d, candidate)) match = i;
    if (match < 0) return next(new ApiError("unauthorized", "the API key is not valid"));
    res.locals.apiKeyIndex = match;
    return next();
  };
}
