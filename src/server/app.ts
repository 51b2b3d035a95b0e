// The express app: request ids and logs, metrics, auth, readiness gate, JSON bodies, routes, and the
// one error handler that turns every error into application/problem+json.

import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import express, { type Express, type RequestHandler, type Router } from "express";
import type { Logger } from "pino";
import { ApiError } from "../errors.js";
import { requireApiKey } from "./auth.js";
import { clientIdentity } from "./client-id.js";
import type { JudgingService } from "./judging.js";
import type { Lifecycle } from "./lifecycle.js";
import type { Metrics } from "./metrics.js";
import { problemHandler } from "./problem.js";
import { type ConsoleSettings, consoleOffRoutes, consoleRoutes } from "./routes/console.js";
import { judgeRoutes } from "./routes/judge.js";
import { type CompareSettings, nemoGymRoutes } from "./routes/nemo-gym.js";
import { openaiRoutes } from "./routes/openai.js";
import { rankRoutes } from "./routes/rank.js";
import { slimeRoutes } from "./routes/slime.js";
import { notReady, type SystemDeps, systemRoutes } from "./routes/system.js";

export interface AppDeps extends Omit<SystemDeps, "requireKey"> {
  service: JudgingService;
  log: Logger;
  apiKeys: readonly string[];
  maxBodyBytes: number;
  /** The RL protocols' settings: R1JUDGE_IMAGE_ROOT and NeMo-Gym /compare's defaults. */
  protocols?: CompareSettings;
  /** The web console's files and reports folder; absent when the console is off. */
  console?: Omit<ConsoleSettings, "keyRequired">;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestIds(log: Logger, metrics: Metrics, lifecycle: Lifecycle): RequestHandler {
  return (req, res, next) => {
    const given = req.get("x-request-id");
    const id = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set("X-Request-Id", id);
    // While draining, connections are answered and then closed, so clients reconnect elsewhere.
    if (lifecycle.phase === "draining") res.set("Connection", "close");
    const started = process.hrtime.bigint();
    let logged = false;
    const account = (status: number) => {
      if (logged) return;
      logged = true;
      const route = (req.route?.path as string | undefined) ?? "unmatched";
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requests.inc({ route, status: String(status) });
      metrics.latency.observe({ route }, seconds);
      const client = typeof res.locals.client === "string" ? { client: res.locals.client } : {};
      log.info(
        {
          requestId: id,
          method: req.method,
          path: req.path,
          status,
          ms: Math.round(seconds * 1000),
          ...client,
        },
        "request",
      );
    };
    res.on("finish", () => account(res.statusCode));
    // A client that leaves before its answer: 'finish' never fires, 'close' does. nginx's 499 says so
    // in the log and the metrics (exactly one line either way).
    res.on("close", () => account(res.writableFinished ? res.statusCode : 499));
    next();
  };
}

/** Work routes need a serving engine and refuse new work while draining. */
function whenReady(lifecycle: Lifecycle): RequestHandler {
  return (_req, res, next) => {
    const why = notReady(lifecycle);
    if (why) return next(why);
    const done = lifecycle.begin();
    res.on("close", done);
    return next();
  };
}

function jsonOnly(): RequestHandler {
  return (req, _res, next) => {
    if (req.method !== "POST") return next();
    if (!req.is("application/json")) {
      return next(
        new ApiError(
          "unsupported_media_type",
          `expected Content-Type application/json, got ${req.get("content-type") ?? "none"}`,
          {
            errors: [{ field: "Content-Type", message: "must be application/json" }],
          },
        ),
      );
    }
    return next();
  };
}

/**
 * A known path called with a method it does not take gets 405 with `Allow` (read off the routers'
 * own routes, so it cannot drift from them) rather than a 404 that says the path does not exist.
 */
function wrongMethod(routers: readonly Router[]): RequestHandler {
  const allowed = new Map<string, string[]>();
  for (const router of routers) {
    for (const layer of router.stack as { route?: { path: unknown; methods: Record<string, boolean> } }[]) {
      if (typeof layer.route?.path !== "string") continue;
      const methods = Object.keys(layer.route.methods).map((m) => m.toUpperCase());
      if (methods.includes("GET")) methods.push("HEAD");
      allowed.set(layer.route.path, [...(allowed.get(layer.route.path) ?? []), ...methods]);
    }
  }
  return (req, _res, next) => {
    const allow = allowed.get(req.path);
    if (allow === undefined) return next();
    return next(
      new ApiError("method_not_allowed", `${req.path} takes ${allow.join(", ")}, not ${req.method}`, {
        allow,
      }),
    );
  };
}

/** body-parser would quietly turn invalid UTF-8 into U+FFFD; a judge must see the text it was sent. */
function utf8Only(_req: unknown, _res: unknown, body: Buffer): void {
  if (!isUtf8(body)) {
    throw new ApiError("invalid_request", "the body is not valid UTF-8", {
      errors: [{ field: "body", message: "not valid UTF-8" }],
    });
  }
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("json spaces", 0);
  app.use(requestIds(deps.log, deps.metrics, deps.lifecycle));
  // Only the work routes take keys, readiness and JSON bodies; unknown paths still get a plain 404.
  const requireKey = requireApiKey(deps.apiKeys);
  const jsonBody: RequestHandler[] = [
    jsonOnly(),
    express.json({ limit: deps.maxBodyBytes, strict: true, type: "application/json", verify: utf8Only }),
  ];
  const guard: RequestHandler[] = [requireKey, clientIdentity(), whenReady(deps.lifecycle), ...jsonBody];
  const shutdown = deps.lifecycle.shutdown.signal;
  const protocols = deps.protocols ?? { imageRoot: undefined, strategy: "circular", judges: 1 };
  const routers = [
    systemRoutes({ ...deps, requireKey }),
    judgeRoutes(deps.service, guard, shutdown),
    rankRoutes(deps.service, guard, shutdown, protocols.imageRoot),
    slimeRoutes(deps.service, guard, shutdown, protocols.imageRoot),
    nemoGymRoutes(deps.service, guard, shutdown, protocols),
    openaiRoutes(deps.service, guard, shutdown, { model: deps.model, requireKey }),
    ...(deps.console
      ? [consoleRoutes({ ...deps.console, keyRequired: deps.apiKeys.length > 0 }, requireKey, jsonBody)]
      : [consoleOffRoutes()]),
  ];
  app.use(...routers);
  app.use(wrongMethod(routers));
  app.use((req, _res, next) => next(new ApiError("not_found", `no route ${req.method} ${req.path}`)));
  app.use(problemHandler((err, requestId) => deps.log.error({ err, requestId }, "internal error")));
  return app;
}
