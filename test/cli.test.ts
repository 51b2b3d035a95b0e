// The command line as a person uses it: help and version, bad arguments named without a stack trace
// (exit 2), a broken checkpoint named by file and field (exit 1), and a one-off judgement, which is
// a /judge request: the same schema's messages and the same answer as POST /judge.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import pino from "pino";
import { loadConfig } from "../src/config.js";
import { startServer } from "../src/main.js";
import { toProblem } from "../src/server/problem.js";
import { judgeRequestSchema, parseBody } from "../src/server/schemas.js";

const ROOT = path.resolve(import.meta.dirname, "..");

function r1judge(...args: string[]) {
  return r1judgeWith({}, ...args);
}

function r1judgeWith(env: Record<string, string>, ...args: string[]) {
  const out = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

test("--help and --version answer and exit 0", () => {
  const help = r1judge("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /r1judge serve/);
  assert.match(help.stdout, /r1judge judge/);
  const version = r1judge("--version");
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^r1judge \d+\.\d+\.\d+\n$/);
  const serveHelp = r1judge("serve", "--help");
  assert.equal(serveHelp.code, 0);
  assert.match(serveHelp.stdout, /--max-queue/);
  assert.match(serveHelp.stdout, /R1JUDGE_API_KEYS/);
  const judgeHelp = r1judge("judge", "--help");
  assert.equal(judgeHelp.code, 0);
  assert.match(judgeHelp.stdout, /--samples N/);
});

/** The one-line detail POST /judge answers for a body its schema refuses. */
function httpDetail(body: unknown): string {
  try {
    parseBody(judgeRequestSchema, body);
  } catch (err) {
    return toProblem(err).body.detail as string;
  }
  assert.fail("expected the body to be refused");
}

test("a judge option /judge would refuse: HTTP's message naming the field, one line, exit 2", () => {
  const pair = ["--question", "q", "--response", "a", "--response", "b"];
  const body = { question: "q", responses: ["a", "b"] };
  const cases: [string[], unknown][] = [
    [[...pair, "--samples", "abc"], { ...body, samples: "abc" }],
    [[...pair, "--samples", "65"], { ...body, samples: 65 }],
    [[...pair, "--seed=1.5"], { ...body, seed: 1.5 }],
    [[...pair, "--temperature", "hot"], { ...body, temperature: "hot" }],
    [[...pair, "--max-new-tokens", "0"], { ...body, max_new_tokens: 0 }],
    [["--question", "q", "--response", "a"], { question: "q", responses: ["a"] }],
    [["--response", "a", "--response", "b"], { responses: ["a", "b"] }],
  ];
  for (const [args, sameAs] of cases) {
    const out = r1judge("judge", ...args);
    assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
    assert.equal(out.stderr, `${httpDetail(sameAs)}\n`, args.join(" "));
  }
  assert.equal(
    r1judge("judge", ...pair, "--samples", "abc").stderr,
    "samples: Invalid input: expected number, received string\n",
  );
  // Over the server's cap (R1JUDGE_MAX_NEW_TOKENS) is /judge's 422, the request's fault too.
  const capped = r1judge("judge", ...pair, "--max-new-tokens", "2000");
  assert.equal(capped.code, 2);
  assert.equal(capped.stderr, "max_new_tokens 2000 is over this server's cap of 1024\n");
});

test("bad arguments name the option, show the usage, print no stack trace and exit 2", () => {
  const cases: [string[], RegExp][] = [
    [
      ["judge", "--question", "q", "--response", "a", "--response", "b", "--image", "/no/such.png"],
      /--image: cannot read '\/no\/such.png'/,
    ],
    [["judge", "--frobnicate"], /Unknown option '--frobnicate'/],
    [["serve", "--port", "80a"], /--port: expected a whole number from 0 to 65535/],
    [["launch"], /unknown command 'launch'/],
    [[], /no command given/],
  ];
  for (const [args, message] of cases) {
    const out = r1judge(...args);
    assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
    assert.match(out.stderr, message);
    assert.match(out.stderr, /usage:/);
    assert.doesNotMatch(out.stderr, /\n\s+at /, "no stack trace");
  }
});

test("a broken checkpoint is named by file and field, without a stack trace, exit 1", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(path.join(ROOT, "models/demo"), dir, { recursive: true });
  await writeFile(path.join(dir, "tokenizer.json"), "{ not json");
  const out = r1judge("judge", "--model", dir, "--question", "q", "--response", "a", "--response", "b");
  assert.equal(out.code, 1);
  assert.match(out.stderr, /^error: tokenizer\.json: field '\(file\)': /);
  assert.doesNotMatch(out.stderr, /\n\s+at /);
});

test("serve with a checkpoint it cannot load: one stderr line naming file and field, no stack, exit 1", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(path.join(ROOT, "models/demo"), dir, { recursive: true });
  await writeFile(path.join(dir, "r1judge.json"), "{ not json");
  const cases: [string, RegExp][] = [
    [
      "/nonexistent",
      /^error: the model failed to load: \/nonexistent: field '\(directory\)': not a directory\n$/,
    ],
    [dir, /^error: the model failed to load: r1judge\.json: field '\(file\)': invalid JSON/],
  ];
  for (const [model, message] of cases) {
    const out = r1judgeWith({ R1JUDGE_LOG_LEVEL: "info" }, "serve", "--model", model, "--port", "0");
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, message);
    assert.equal(out.stderr.trimEnd().split("\n").length, 1, out.stderr);
    // The JSON log line names them too, without the stack.
    const fatal = out.stdout.split("\n").find((line) => line.includes('"level":60')) ?? "";
    assert.match(fatal, /"field":"\(/);
    assert.doesNotMatch(out.stdout + out.stderr, /\n\s+at |"stack"/, "no stack trace");
  }
  // The stack stays available for a bug report.
  const debug = r1judgeWith(
    { R1JUDGE_LOG_LEVEL: "debug" },
    "serve",
    "--model",
    "/nonexistent",
    "--port",
    "0",
  );
  assert.equal(debug.code, 1);
  assert.match(debug.stdout, /"stack":"EngineError/);
});

/** r1judge without waiting on it synchronously (a server in this process answers meanwhile). */
function r1judgeAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli.ts"), ...args], {
    cwd: ROOT,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

test("a one-off judgement prints exactly what POST /judge answers for the same body", async (t) => {
  const server = await startServer(loadConfig(["--port", "0"], {}), pino({ level: "silent" }));
  t.after(() => server.stop());
  await server.ready;
  const image = path.join(ROOT, "docs/examples/red-circle.png");
  const body = {
    question: "What colour is the shape?",
    responses: ["The shape is red.", "The shape is blue."],
    images: [(await readFile(image)).toString("base64")],
    samples: 2,
    seed: 3,
    max_new_tokens: 48,
    return_reasoning: true,
  };
  const res = await fetch(`${server.url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  const http = (await res.json()) as { model: string; samples: { seed: number; order: string }[] };
  const out = await r1judgeAsync(
    "judge",
    "--question",
    body.question,
    "--response",
    body.responses[0] as string,
    "--response",
    body.responses[1] as string,
    "--image",
    image,
    "--samples",
    "2",
    "--seed",
    "3",
    "--max-new-tokens",
    "48",
    "--reasoning",
  );
  assert.equal(out.code, 0, out.stderr);
  // /judge's defaults (temperature 1 and alternating order for two votes, confidence, early stop),
  // its snake_case shape, and its model id: the same answer, field for field.
  assert.deepEqual(JSON.parse(out.stdout), http);
  assert.equal(http.model, "r1judge-demo");
  assert.deepEqual(
    http.samples.map((s) => [s.seed, s.order]),
    [
      [3, "original"],
      [4, "swapped"],
    ],
  );
});
