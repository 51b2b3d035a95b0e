// The web console as served by the real server on the demo checkpoint, over real HTTP: the page and
// its assets load without a key and carry the Content-Security-Policy; the console's files hold
// nothing that policy would block or that would inject markup; no path reaches a file outside
// console/ or a report outside the reports folder; the evaluation API lists and scores reports the
// way `r1judge eval` does and names the line and field of a bad upload; and with the console off,
// its paths say how to turn it on while the public API still answers.

import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { parseResults } from "../../src/evaluation/results.js";
import type { JudgedItem } from "../../src/evaluation/scores.js";
import { evaluationView } from "../../src/evaluation/view.js";
import { type RunningServer, startServer } from "../../src/main.js";
import { CONSOLE_CSP } from "../../src/server/routes/console.js";
import { httpCall, type Reply } from "../support/http.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECKPOINT = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");
const KEY = "console-key-456";

let server: RunningServer;
let off: RunningServer;
let reports = "";

function judged(id: string, fields: Partial<JudgedItem> = {}): JudgedItem {
  return {
    id,
    category: "chat",
    label: 1,
    greedy: 1,
    greedySwapped: 1,
    votes: [1, 1, 2],
    probabilities: [
      [0.9, 0.1],
      [0.8, 0.2],
      [0.4, 0.6],
    ],
    completionTokens: 40,
    ms: 120,
    ...fields,
  };
}

const jsonl = (items: readonly unknown[]) => `${items.map((j) => JSON.stringify(j)).join("\n")}\n`;

// Two reports: one from a run with a mistake that flips with the order, one whose scores.json says
// rows were skipped.
const ALPHA = jsonl([
  judged("a1", { question: "Which is larger, 47 or 74?", responses: ["74", "47"] }),
  judged("a2", {
    category: "reasoning",
    greedy: 2,
    greedySwapped: 1,
    reasoning: { given: "the second is larger", swapped: "the first is larger" },
  }),
  judged("a3", {
    category: "reasoning",
    label: 2,
    greedy: 2,
    greedySwapped: 2,
    votes: [2, 2, 2],
    probabilities: undefined,
  }),
]);
const ZETA = jsonl([
  judged("z1", { category: "code", votes: [1, 2, 2, 2, 1], probabilities: undefined }),
  judged("z2", { category: "code", label: 2, greedy: null, greedySwapped: 2, votes: [2, 2, 2, 2, 2] }),
]);

before(async () => {
  reports = await mkdtemp(path.join(tmpdir(), "r1judge-console-reports-"));
  await mkdir(path.join(reports, "zeta-run"));
  await writeFile(path.join(reports, "zeta-run", "results.jsonl"), ZETA);
  await writeFile(path.join(reports, "zeta-run", "scores.json"), JSON.stringify({ skipped: 3, greedy: 0.5 }));
  await mkdir(path.join(reports, "alpha-run"));
  await writeFile(path.join(reports, "alpha-run", "results.jsonl"), ALPHA);
  await mkdir(path.join(reports, "empty-run"));
  await writeFile(path.join(reports, "empty-run", "report.md"), "# no results here\n");
  await writeFile(path.join(reports, "notes.txt"), "a plain file\n");
  const config = loadConfig(["--model", CHECKPOINT, "--port", "0", "--console-reports", reports], {
    R1JUDGE_API_KEYS: KEY,
  });
  server = await startServer(config, pino({ level: "silent" }));
  off = await startServer(
    loadConfig(["--model", CHECKPOINT, "--port", "0", "--no-console"], {}),
    pino({ level: "silent" }),
  );
  await Promise.all([server.ready, off.ready]);
});

after(async () => {
  await Promise.all([server?.stop(), off?.stop()]);
  if (reports) await rm(reports, { recursive: true, force: true });
});

function call(
  route: string,
  init: {
    method?: string;
    key?: boolean;
    body?: unknown;
    headers?: Record<string, string>;
    on?: RunningServer;
  } = {},
): Promise<Reply> {
  const { method = "GET", key = true, body, headers, on = server } = init;
  return httpCall(on.url, route, { method, body, headers, ...(key ? { apiKey: KEY } : {}) });
}

/** GET with the path sent exactly as written: fetch() would resolve `..` and `%2e%2e` before sending. */
function rawGet(route: string): Promise<{ status: number; text: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: route, headers: { authorization: `Bearer ${KEY}` } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** What the server should answer for a report: the view the CLI's scoring gives, through JSON. */
const expectedView = (name: string, text: string, skipped?: number) =>
  JSON.parse(
    JSON.stringify({
      name,
      ...(skipped === undefined ? {} : { skipped }),
      ...evaluationView(parseResults(text).items),
    }),
  );

test("the page at / and /console/ and its assets load without a key, with the CSP and nosniff", async () => {
  const page = await readFile(path.join(ROOT, "console/index.html"), "utf8");
  for (const route of ["/", "/console/", "/console/index.html"]) {
    const res = await call(route, { key: false });
    assert.equal(res.status, 200, `${route}: ${res.text}`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/, route);
    assert.equal(res.text, page, route);
    assert.equal(res.headers.get("content-security-policy"), CONSOLE_CSP, route);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", route);
  }
  for (const [route, type] of [
    ["/console/console.css", /^text\/css/],
    ["/console/js/app.js", /^(text|application)\/javascript/],
    ["/console/js/api.js", /^(text|application)\/javascript/],
  ] as const) {
    const res = await call(route, { key: false });
    assert.equal(res.status, 200, `${route}: ${res.text}`);
    assert.match(res.headers.get("content-type") ?? "", type, route);
    assert.equal(res.headers.get("content-security-policy"), CONSOLE_CSP, route);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", route);
    assert.equal(res.text, await readFile(path.join(ROOT, route.slice(1)), "utf8"), route);
  }
  assert.match(CONSOLE_CSP, /script-src 'self'/);
  assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval/);
  assert.equal((await call("/console/js/missing.js", { key: false })).status, 404);
});

test("the console's files hold nothing the CSP would block and nothing that injects markup", async () => {
  const html = await readFile(path.join(ROOT, "console/index.html"), "utf8");
  const scripts = [...html.matchAll(/<script\b([^>]*)>/gi)];
  assert.ok(scripts.length > 0, "index.html loads its script");
  for (const [tag, attributes] of scripts) assert.match(attributes ?? "", /\ssrc=/, `inline script: ${tag}`);
  assert.doesNotMatch(html, /<style\b/i, "an inline <style> element");
  for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) {
    assert.doesNotMatch(tag, /\sstyle\s*=/i, `style attribute: ${tag}`);
    assert.doesNotMatch(tag, /\son[a-z]+\s*=/i, `handler attribute: ${tag}`);
    assert.doesNotMatch(tag, /javascript:/i, `javascript: URL: ${tag}`);
  }
  const folder = path.join(ROOT, "console/js");
  const files = (await readdir(folder)).filter((f) => f.endsWith(".js"));
  assert.ok(files.includes("app.js"));
  const forbidden = [
    /\binnerHTML\b/,
    /\bouterHTML\b/,
    /\binsertAdjacentHTML\b/,
    /\bdocument\.write/,
    /\beval\s*\(/,
    /\bnew\s+Function\b/,
    /setAttribute\(\s*["'`]style["'`]/,
    /setAttribute\(\s*["'`]on/,
  ];
  for (const file of files) {
    // Comments may name what the code must not do (dom.js says it builds DOM without innerHTML).
    const code = (await readFile(path.join(folder, file), "utf8"))
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/(^|\s)\/\/.*$/gm, "$1");
    for (const pattern of forbidden) assert.doesNotMatch(code, pattern, `${file}: ${pattern}`);
  }
});

test("no path under /console reaches a file outside console/ or a dotfile", async () => {
  const secret = await readFile(path.join(ROOT, "package.json"), "utf8");
  for (const route of [
    "/console/../package.json",
    "/console/%2e%2e/package.json",
    "/console/js/..%2f..%2fpackage.json",
    "/console/js/%2e%2e%2f%2e%2e%2fpackage.json",
    "/console/..%5cpackage.json",
    "/console/.git/config",
    "/console/.env",
    "/console/js/.hidden",
  ]) {
    const res = await rawGet(route);
    assert.ok(res.status >= 400 && res.status < 500, `${route}: ${res.status}`);
    assert.ok(!res.text.includes('"name": "r1judge'), `${route} served package.json`);
    assert.notEqual(res.text, secret, route);
  }
});

test("settings say a key is needed and reports are served, without a key", async () => {
  const res = await call("/console/api/settings", { key: false });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { keyRequired: true, reports: true });
  assert.equal(res.headers.get("content-security-policy"), CONSOLE_CSP);
  const open = await call("/console/api/settings", { key: false, on: off });
  assert.equal(open.status, 404, "the console is off there");
});

test("the reports list needs the key and holds exactly the folders with results.jsonl, sorted", async () => {
  const refused = await call("/console/api/evaluations", { key: false });
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.equal(refused.json.status, 401);
  const wrongKey = await call("/console/api/evaluations", {
    key: false,
    headers: { authorization: "Bearer nope" },
  });
  assert.equal(wrongKey.status, 401);
  const res = await call("/console/api/evaluations");
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { evaluations: ["alpha-run", "zeta-run"] });
  assert.equal((await call("/console/api/evaluations/alpha-run", { key: false })).status, 401);
});

test("one report: the same view the CLI's scoring gives, with skipped rows from scores.json", async () => {
  const alpha = await call("/console/api/evaluations/alpha-run");
  assert.equal(alpha.status, 200, alpha.text);
  assert.deepEqual(alpha.json, expectedView("alpha-run", ALPHA));
  assert.equal("skipped" in alpha.json, false, "no scores.json: nothing said about skipped rows");
  assert.equal(alpha.json.k, 3);
  assert.equal(alpha.json.scores.items, 3);
  assert.deepEqual(
    alpha.json.categories.map((c: { category: string }) => c.category),
    ["chat", "reasoning"],
  );
  assert.deepEqual(alpha.json.mistakes, [
    {
      id: "a2",
      category: "reasoning",
      label: 1,
      greedy: 2,
      greedySwapped: 1,
      votedAtK: 1,
      flipsWithOrder: true,
      reasoning: { given: "the second is larger", swapped: "the first is larger" },
    },
  ]);
  const zeta = await call("/console/api/evaluations/zeta-run");
  assert.equal(zeta.status, 200, zeta.text);
  assert.deepEqual(zeta.json, expectedView("zeta-run", ZETA, 3));
  assert.equal(zeta.json.skipped, 3);
  assert.equal(zeta.json.k, 5);
});

test("unknown reports and names that would leave the folder are 404", async () => {
  for (const name of ["nope", "empty-run", "notes.txt"]) {
    const res = await call(`/console/api/evaluations/${name}`);
    assert.equal(res.status, 404, `${name}: ${res.text}`);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
  }
  for (const name of [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    "a%2Fb",
    "..%2Falpha-run",
    "alpha-run%2F..%2Fzeta-run",
  ]) {
    const res = await rawGet(`/console/api/evaluations/${name}`);
    assert.equal(res.status, 404, `${name}: ${res.text}`);
    assert.ok(!res.text.includes('"mistakes"'), `${name} served a report`);
  }
});

test("an uploaded results.jsonl gets the same view as the same report served from the folder", async () => {
  const res = await call("/console/api/evaluations", {
    method: "POST",
    body: { results: ALPHA, name: "mine" },
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, expectedView("mine", ALPHA));
  const unnamed = await call("/console/api/evaluations", { method: "POST", body: { results: ZETA } });
  assert.equal(unnamed.status, 200, unnamed.text);
  assert.deepEqual(unnamed.json, expectedView("uploaded", ZETA));
  // scores.json uploaded beside it gives the skipped rows, read as the folder's is.
  const withScores = await call("/console/api/evaluations", {
    method: "POST",
    body: { results: ZETA, name: "zeta", scores: JSON.stringify({ skipped: 3, greedy: 0.5 }) },
  });
  assert.deepEqual(withScores.json, expectedView("zeta", ZETA, 3));
  for (const scores of ['{"skipped": -1}', '{"skipped": 1.5}', "not JSON"]) {
    const ignored = await call("/console/api/evaluations", {
      method: "POST",
      body: { results: ZETA, scores },
    });
    assert.deepEqual(ignored.json, expectedView("uploaded", ZETA), scores);
  }
  const refused = await call("/console/api/evaluations", {
    method: "POST",
    key: false,
    body: { results: ALPHA },
  });
  assert.equal(refused.status, 401);
});

test("an upload of a run still being written shows its finished items (the cut-short last line left out)", async () => {
  const partial = `${ALPHA}{"id":"a4","category":"ch`;
  const res = await call("/console/api/evaluations", { method: "POST", body: { results: partial } });
  assert.equal(res.status, 200, res.text);
  // …and says so, so the page can tell the user why an item is missing.
  assert.deepEqual(res.json, { ...expectedView("uploaded", ALPHA), lastLineCutShort: true });
  // A JSON line of another shape at the end is not "cut short": it is refused.
  const array = await call("/console/api/evaluations", {
    method: "POST",
    body: { results: `${ALPHA}[1, 2]` },
  });
  assert.equal(array.status, 422, array.text);
});

test("a malformed upload is 422 problem+json naming each bad line and field; bad bodies are 400 or 415", async () => {
  const bad = [
    JSON.stringify(judged("b1")),
    JSON.stringify({ ...judged("b2"), votes: ["x"] }),
    "this is not JSON",
    JSON.stringify({ ...judged("b4"), probabilities: [[0.5, 7]] }),
    JSON.stringify(judged("b5")),
  ].join("\n");
  const res = await call("/console/api/evaluations", { method: "POST", body: { results: bad } });
  assert.equal(res.status, 422, res.text);
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.deepEqual(
    res.json.errors.map((e: { field: string }) => e.field),
    ["results.jsonl:2.votes[0]", "results.jsonl:3.line", "results.jsonl:4.probabilities[0][1]"],
  );
  assert.match(res.json.detail, /line 2/);

  const nothing = await call("/console/api/evaluations", { method: "POST", body: { results: "\n\n" } });
  assert.equal(nothing.status, 422, nothing.text);

  const empty = await call("/console/api/evaluations", { method: "POST", body: { results: "" } });
  assert.equal(empty.status, 400, empty.text);
  assert.ok(
    empty.json.errors.some((e: { field: string }) => /results/.test(e.field)),
    JSON.stringify(empty.json),
  );
  const unknown = await call("/console/api/evaluations", {
    method: "POST",
    body: { results: ALPHA, extra: 1 },
  });
  assert.equal(unknown.status, 400, unknown.text);
  assert.ok(unknown.json.errors.some((e: { field: string }) => /extra/.test(e.field)));
  const text = await call("/console/api/evaluations", {
    method: "POST",
    body: ALPHA,
    headers: { "content-type": "text/plain" },
  });
  assert.equal(text.status, 415, text.text);
});

test("with --no-console the console's paths are 404 naming R1JUDGE_CONSOLE; the public API still answers", async () => {
  for (const route of [
    "/",
    "/console/",
    "/console/js/app.js",
    "/console/api/settings",
    "/console/api/evaluations",
  ]) {
    const res = await call(route, { key: false, on: off });
    assert.equal(res.status, 404, route);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/, route);
    assert.match(res.json.detail, /R1JUDGE_CONSOLE/, route);
    assert.equal(res.headers.get("content-security-policy"), null, route);
  }
  assert.deepEqual((await call("/healthz", { key: false, on: off })).json, { status: "ok" });
  const judge = await call("/judge", {
    method: "POST",
    key: false,
    on: off,
    body: { question: "What is 7 + 5?", responses: ["It equals 12.", "It equals 13."] },
  });
  assert.equal(judge.status, 200, judge.text);
});
