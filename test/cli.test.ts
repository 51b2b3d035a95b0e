// The command line as a person uses it: help and version, bad arguments named without a stack trace
// (exit 2), a broken checkpoint named by file and field (exit 1), and a one-off judgement.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";

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

test("bad arguments name the option, show the usage, print no stack trace and exit 2", () => {
  const cases: [string[], RegExp][] = [
    [
      ["judge", "--question", "q", "--response", "a", "--response", "b", "--samples", "abc"],
      /--samples: expected a whole number from 1 to 64, got 'abc'/,
    ],
    [
      ["judge", "--question", "q", "--response", "a", "--response", "b", "--seed=1.5"],
      /--seed: expected a whole number/,
    ],
    [
      ["judge", "--question", "q", "--response", "a", "--response", "b", "--temperature", "hot"],
      /--temperature: expected a number from 0 to 2/,
    ],
    [
      ["judge", "--question", "q", "--response", "a", "--response", "b", "--image", "/no/such.png"],
      /--image: cannot read '\/no\/such.png'/,
    ],
    [["judge", "--question", "q", "--response", "a"], /exactly two --response/],
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

test("a one-off judgement prints the judgement as JSON", () => {
  const out = r1judge(
    "judge",
    "--question",
    "Which is larger, 47 or 74?",
    "--response",
    "74",
    "--response",
    "47",
    "--samples",
    "2",
    "--seed",
    "3",
    "--max-new-tokens",
    "48",
  );
  assert.equal(out.code, 0, out.stderr);
  const judgement = JSON.parse(out.stdout) as {
    votes: { 1: number; 2: number; invalid: number };
    model: string;
  };
  assert.equal(judgement.model, "r1judge-demo");
  assert.equal(judgement.votes[1] + judgement.votes[2] + judgement.votes.invalid, 2);
});
