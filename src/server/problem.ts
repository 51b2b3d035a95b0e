// The one place any error becomes an HTTP response: an RFC 9457 application/problem+json document,
// or, on the OpenAI-compatible `/v1/*` routes, the same error in OpenAI's `{"error": {...}}` shape.
// Handles ApiError, ZodError, express body-parser errors (too large, bad JSON, bad charset), the
// engine's typed errors (by code), the judge's deadline and abandonment, a reward without a verdict,
// and anything else as a 500 that reveals nothing.

import type { ErrorRequestHandler, Response } from "express";
import { z } from "zod";
import type { components } from "../api/api.js";
import { EngineError, type EngineErrorCode } from "../engine/errors.js";
import { ApiError, type ErrorCode } from "../errors.js";
import { JudgeAbortedError, JudgeDeadlineError } from "../judge/judge.js";
import { NoVerdictError } from "../judge/reward.js";
import { invalidRequest, zodFieldErrors } from "./schemas.js";

export type Problem = components["schemas"]["Problem"];

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface ProblemResponse {
  status: number;
  headers: Record<string, string>;
  body: Problem;
  /** True for a 500: the caller should log `error` with the request id. */
  internal: boolean;
}

export interface ProblemContext {
  /** The request path (`instance`). */
  instance?: string;
  requestId?: string;
}

/** Each engine error code as an API error: the request's fault (422), the engine's (503), or a bug. */
const ENGINE_ERRORS: Record<EngineErrorCode, ErrorCode> = {
  invalid_image: "unprocessable",
  image_too_large: "unprocessable",
  prompt_too_long: "unprocessable",
  over_capacity: "unprocessable",
  unsupported_input: "unprocessable",
  invalid_parameters: "unprocessable",
  cancelled: "client_closed",
  engine_unavailable: "not_ready",
  engine_failed: "not_ready",
  load_failed: "internal",
  internal: "internal",
};

interface BodyParserError {
  type: string;
  status?: number;
  statusCode?: number;
  limit?: number;
  length?: number;
  charset?: string;
  encoding?: string;
  /** The raw body text, on parse failures. */
  body?: string;
  message: string;
}

function isBodyParserError(err: unknown): err is BodyParserError {
  return (
    err instanceof Error &&
    typeof (err as { type?: unknown }).type === "string" &&
    typeof ((err as { status?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode) === "number"
  );
}

function fromBodyParser(err: BodyParserError): ApiError {
  switch (err.type) {
    case "entity.too.large":
      return new ApiError(
        "payload_too_large",
        err.limit === undefined
          ? "the request body is too large"
          : `the request body is over the limit of ${err.limit} bytes`,
      );
    case "entity.parse.failed": {
      const scalar = jsonScalarKind(err.body);
      if (scalar !== undefined) {
        return new ApiError("invalid_request", `the body must be a JSON object, not ${scalar}`, {
          errors: [{ field: "body", message: `expected object, received ${scalar}` }],
        });
      }
      return new ApiError("invalid_request", `the body is not valid JSON: ${err.message}`, {
        errors: [{ field: "body", message: "not valid JSON" }],
      });
    }
    case "charset.unsupported":
      return new ApiError(
        "unsupported_media_type",
        `unsupported charset "${err.charset ?? "?"}"; send UTF-8`,
      );
    case "encoding.unsupported":
      return new ApiError(
        "unsupported_media_type",
        `unsupported content encoding "${err.encoding ?? "?"}"; send identity, gzip, deflate or br`,
      );
    default: {
      const status = err.status ?? err.statusCode ?? 400;
      return status >= 500
        ? new ApiError("internal", "internal error", { cause: err })
        : new ApiError("invalid_request", `the request body could not be read (${err.type})`);
    }
  }
}

/**
 * body-parser's strict mode refuses a top-level scalar (`null`, `5`, `"text"`) with a JSON syntax
 * message, which misleads a caller who sent valid JSON: name what was sent instead.
 */
function jsonScalarKind(body: string | undefined): string | undefined {
  if (body === undefined || /^\s*[[{]/.test(body)) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    return value === null ? "null" : typeof value;
  } catch {
    return undefined;
  }
}

/** Any thrown value as an ApiError (unknown errors become `internal` with the original as cause). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) return invalidRequest(zodFieldErrors(err));
  if (isBodyParserError(err)) return fromBodyParser(err);
  if (err instanceof EngineError) {
    const code = ENGINE_ERRORS[err.code];
    if (code === "not_ready") return new ApiError(code, err.message, { retryAfter: 5, cause: err });
    if (code === "internal") return new ApiError(code, "internal error", { cause: err });
    const errors = err.field === undefined ? [] : [{ field: err.field, message: err.message }];
    return new ApiError(code, err.message, { errors, cause: err });
  }
  if (err instanceof JudgeAbortedError) {
    return new ApiError("client_closed", "the client closed the connection before the verdict", {
      cause: err,
    });
  }
  if (err instanceof JudgeDeadlineError) {
    return new ApiError("deadline_exceeded", "the deadline passed before the verdict was decided", {
      cause: err,
    });
  }
  if (err instanceof NoVerdictError) return new ApiError("no_verdict", err.message, { cause: err });
  return new ApiError("internal", "internal error", { cause: err });
}

/** The problem+json response for any error. */
export function toProblem(err: unknown, context: ProblemContext = {}): ProblemResponse {
  const api = toApiError(err);
  const internal = api.code === "internal";
  const detail =
    internal && context.requestId !== undefined
      ? `internal error; the server log has the cause under request id ${context.requestId}`
      : api.detail;
  const body: Problem = {
    type: `urn:r1-judge:problem:${api.code}`,
    title: api.title,
    status: api.status,
    detail,
    code: api.code,
    errors: api.errors.map((e) => ({ field: e.field, message: e.message })),
    ...(context.instance === undefined ? {} : { instance: context.instance }),
    ...(context.requestId === undefined ? {} : { request_id: context.requestId }),
  };
  const headers: Record<string, string> = { "Content-Type": PROBLEM_CONTENT_TYPE };
  if (api.retryAfter !== undefined) headers["Retry-After"] = String(Math.max(1, Math.ceil(api.retryAfter)));
  if (api.code === "unauthorized") headers["WWW-Authenticate"] = "Bearer";
  if (api.allow !== undefined) headers.Allow = api.allow.join(", ");
  return { status: api.status, headers, body, internal };
}

export type OpenAIErrorBody = components["schemas"]["OpenAIError"];

/** The `/v1/*` routes (OpenAI-compatible) answer errors in OpenAI's shape, every other route problem+json. */
export const OPENAI_ROUTES = "/v1/";

/**
 * The same error as `toProblem`, in OpenAI's shape: `{"error": {message, type, param, code}}`. Statuses
 * are problem+json's, except that every request-side problem is 400 `invalid_request_error` (OpenAI
 * and vLLM answer 400 where the other routes answer 422); `param` is the first failing field.
 */
export function toOpenAIError(
  err: unknown,
  context: ProblemContext = {},
): Omit<ProblemResponse, "body"> & { body: OpenAIErrorBody } {
  const problem = toProblem(err, context);
  const { code } = problem.body;
  const field = problem.body.errors[0]?.field;
  const param = field === undefined || field === "body" ? null : field;
  const status = code === "unprocessable" ? 400 : problem.status;
  const type =
    status === 401
      ? "authentication_error"
      : status === 404
        ? "not_found_error"
        : status === 429
          ? "rate_limit_error"
          : status >= 500 || code === "client_closed"
            ? "server_error"
            : "invalid_request_error";
  const openaiCode =
    code === "unauthorized"
      ? "invalid_api_key"
      : code === "queue_full"
        ? "rate_limit_exceeded"
        : code === "not_found" && param === "model"
          ? "model_not_found"
          : (code ?? null);
  const headers = { ...problem.headers, "Content-Type": "application/json" };
  return {
    status,
    headers,
    body: { error: { message: problem.body.detail ?? problem.body.title, type, param, code: openaiCode } },
    internal: problem.internal,
  };
}

/** Writes the problem for `err` to `res` (the request id comes from `res.locals.requestId`). */
export function sendProblem(res: Response, err: unknown, instance?: string): ProblemResponse {
  const requestId = res.locals.requestId;
  const problem = toProblem(err, {
    ...(instance === undefined ? {} : { instance }),
    ...(typeof requestId === "string" ? { requestId } : {}),
  });
  res.status(problem.status).set(problem.headers).send(JSON.stringify(problem.body));
  return problem;
}

/**
 * Express error middleware (mount last). `onInternal` is told about 500s, with the original error,
 * so the caller can log it; the response never contains its message.
 */
export function problemHandler(
  onInternal?: (err: unknown, requestId: string | undefined) => void,
): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const path = req.originalUrl.split("?")[0] as string;
    if (path.startsWith(OPENAI_ROUTES)) {
      const requestId = typeof res.locals.requestId === "string" ? res.locals.requestId : undefined;
      const answer = toOpenAIError(err, requestId === undefined ? {} : { requestId });
      res.status(answer.status).set(answer.headers).send(JSON.stringify(answer.body));
      if (answer.internal) onInternal?.(err, requestId);
      return;
    }
    const problem = sendProblem(res, err, path);
    if (problem.internal) onInternal?.(err, problem.body.request_id);
  };
}
