// The web console (console/ in the repository): GET / and /console/… serve its static files with a
// strict Content-Security-Policy (scripts, styles and fetches from this origin only; no inline
// script or style, no frames), and /console/api/… gives it what the public API does not: whether a
// key is needed, and `r1judge eval` reports scored by the same code as the CLI, from the configured
// folder (read-only) or uploaded.

import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import express, { Router as makeRouter, type RequestHandler, type Response, type Router } from "express";
import { ApiError } from "../../errors.js";
import { parseResults, problemsBesidesCutShort, type ResultsProblem } from "../../evaluation/results.js";
import { evaluationView } from "../../evaluation/view.js";
import { parseBody, uploadedEvaluationSchema } from "../schemas.js";

export interface ConsoleSettings {
  /** The console's static files (index.html, console.css, js/). */
  assets: string;
  /** R1JUDGE_CONSOLE_REPORTS: a folder whose subfolders are `r1judge eval --out` directories. */
  reports: string | undefined;
  keyRequired: boolean;
}

// img-src allows data: and blob: for the thumbnails of images picked in the page (never fetched).
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    "Content-Security-Policy": CONSOLE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
  });
  next();
};

/** A report folder's name: one path segment, so nothing outside the reports folder can be named. */
const REPORT_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$/;

function refuseProblems(problems: readonly ResultsProblem[], file: string): void {
  if (problems.length === 0) return;
  throw new ApiError(
    "unprocessable",
    `${file} has ${problems.length} problem(s); the first is on line ${problems[0]?.line}`,
    {
      errors: problems
        .slice(0, 20)
        .map((p) => ({ field: `${file}:${p.line}.${p.field}`, message: p.message })),
    },
  );
}

function sendView(res: Response, name: string, text: string, file: string, skipped?: number): void {
  const { items, problems } = parseResults(text);
  // A run still writing (or interrupted) leaves its last line cut short: shown without that item.
  const refused = problemsBesidesCutShort(text, problems);
  refuseProblems(refused, file);
  if (items.length === 0)
    throw new ApiError("unprocessable", `${file} holds no judged items`, {
      errors: [{ field: file, message: "no judged items" }],
    });
  res.json({
    name,
    ...(skipped === undefined ? {} : { skipped }),
    ...(refused.length < problems.length ? { lastLineCutShort: true } : {}),
    ...evaluationView(items),
  });
}

async function listReports(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const entry of entries) {
    // A link the operator put in the folder is listed as it is served (GET follows it too).
    if (!(entry.isDirectory() || entry.isSymbolicLink()) || !REPORT_NAME.test(entry.name)) continue;
    const results = await stat(path.join(folder, entry.name, "results.jsonl")).catch(() => undefined);
    if (results?.isFile()) names.push(entry.name);
  }
  return names.sort();
}

/** The rows a run skipped, from its scores.json's text (served or uploaded): a whole count, or nothing. */
function skippedRows(scoresJson: string | undefined): number | undefined {
  if (scoresJson === undefined) return undefined;
  try {
    const scores = JSON.parse(scoresJson) as { skipped?: unknown };
    return Number.isInteger(scores.skipped) && (scores.skipped as number) >= 0
      ? (scores.skipped as number)
      : undefined;
  } catch {
    return undefined;
  }
}

export function consoleRoutes(
  settings: ConsoleSettings,
  requireKey: RequestHandler,
  body: RequestHandler[],
): Router {
  const router = makeRouter();
  const index = path.join(settings.assets, "index.html");

  router.get("/", securityHeaders, (_req, res) => {
    res.sendFile(index, { headers: { "Cache-Control": "no-cache" } });
  });

  router.get("/console/api/settings", securityHeaders, (_req, res) => {
    res.json({ keyRequired: settings.keyRequired, reports: settings.reports !== undefined });
  });

  router.get("/console/api/evaluations", securityHeaders, requireKey, async (_req, res) => {
    res.json({ evaluations: settings.reports ? await listReports(settings.reports) : [] });
  });

  router.get("/console/api/evaluations/:name", securityHeaders, requireKey, async (req, res) => {
    const name = String(req.params.name);
    const notFound = new ApiError("not_found", `no evaluation report "${name}"`);
    if (!settings.reports || !REPORT_NAME.test(name)) throw notFound;
    const dir = path.join(settings.reports, name);
    const text = await readFile(path.join(dir, "results.jsonl"), "utf8").catch(() => {
      throw notFound;
    });
    const scores = await readFile(path.join(dir, "scores.json"), "utf8").catch(() => undefined);
    sendView(res, name, text, "results.jsonl", skippedRows(scores));
  });

  router.post("/console/api/evaluations", securityHeaders, requireKey, ...body, (req, res) => {
    const upload = parseBody(uploadedEvaluationSchema, req.body);
    sendView(res, upload.name ?? "uploaded", upload.results, "results.jsonl", skippedRows(upload.scores));
  });

  router.use(
    "/console",
    securityHeaders,
    express.static(settings.assets, {
      index: "index.html",
      dotfiles: "deny",
      fallthrough: true,
      setHeaders: (res) => res.setHeader("Cache-Control", "no-cache"),
    }),
  );

  return router;
}

/** With the console off, its paths say so and how to turn it on, rather than a bare 404. */
export function consoleOffRoutes(): Router {
  const router = makeRouter();
  const off: RequestHandler = (req, _res, next) =>
    next(
      new ApiError(
        "not_found",
        `no route ${req.method} ${req.originalUrl.split("?")[0]}: the web console is off on this server (R1JUDGE_CONSOLE=true turns it on)`,
      ),
    );
  router.get("/", off);
  router.use("/console", off);
  return router;
}
