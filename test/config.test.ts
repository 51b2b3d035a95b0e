// Configuration: defaults, environment parsing, flags over environment, errors that name the
// variable or flag, a frozen result, the engine options it produces, and docs/config.md coverage.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ConfigError, ENV_VARS, engineOptions, FLAGS, loadConfig } from "../src/config.js";

const MIB = 1024 * 1024;

/** The ConfigError lines a configuration produces (fails the test when it loads). */
function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    loadConfig(argv, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail("expected the configuration to be rejected");
}

test("defaults with an empty environment", () => {
  const config = loadConfig([], {});
  assert.equal(config.model, "models/demo");
  assert.equal(config.variant, "fp32");
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8080);
  assert.deepEqual(config.apiKeys, []);
  assert.equal(config.maxBodyBytes, 20 * MIB);
  assert.equal(config.device, "cpu");
  assert.equal(config.allowCpuFallback, false);
  assert.equal(config.threads, undefined);
  assert.equal(config.logLevel, "info");
  assert.equal(config.defaultTimeoutMs, 120_000);
  assert.equal(config.maxNewTokens, 1024);
});

test("environment variables are parsed", () => {
  const config = loadConfig([], {
    R1JUDGE_MODEL: "/models/r1",
    R1JUDGE_VARIANT: "fp16",
    R1JUDGE_PORT: "0",
    R1JUDGE_API_KEYS: " alpha, beta ,,",
    R1JUDGE_MAX_BODY_BYTES: "5mb",
    R1JUDGE_MAX_QUEUE: "32",
    R1JUDGE_DEVICE: "CUDA:1",
    R1JUDGE_ALLOW_CPU_FALLBACK: "yes",
    R1JUDGE_THREADS: "4",
    R1JUDGE_LOG_LEVEL: "debug",
    R1JUDGE_HOST: "", // empty counts as unset
    UNRELATED: "ignored",
  });
  assert.equal(config.model, "/models/r1");
  assert.equal(config.variant, "fp16");
  assert.equal(config.port, 0);
  assert.deepEqual(config.apiKeys, ["alpha", "beta"]);
  assert.equal(config.maxBodyBytes, 5 * MIB);
  assert.equal(config.maxQueue, 32);
  assert.equal(config.device, "cuda:1");
  assert.equal(config.allowCpuFallback, true);
  assert.equal(config.threads, 4);
  assert.equal(config.logLevel, "debug");
  assert.equal(config.host, "127.0.0.1");
});

test("flags override the environment, in both --flag value and --flag=value forms", () => {
  const env = { R1JUDGE_PORT: "9000", R1JUDGE_MODEL: "env-model", R1JUDGE_ALLOW_CPU_FALLBACK: "true" };
  const config = loadConfig(["--port", "9100", "--model=flag-model", "--no-allow-cpu-fallback"], env);
  assert.equal(config.port, 9100);
  assert.equal(config.model, "flag-model");
  assert.equal(config.allowCpuFallback, false);
  assert.equal(loadConfig(["--allow-cpu-fallback"], {}).allowCpuFallback, true);
});

test("errors name the variable or flag at fault, all at once", () => {
  const lines = problems(["--max-queue", "0"], { R1JUDGE_PORT: "80a", R1JUDGE_DEVICE: "tpu" });
  assert.equal(lines.length, 3);
  assert.ok(lines.some((l) => l.startsWith("R1JUDGE_PORT:") && l.includes('"80a"')));
  assert.ok(lines.some((l) => l.startsWith("R1JUDGE_DEVICE:")));
  assert.ok(lines.some((l) => l.startsWith("--max-queue:")));
  assert.match(problems(["--port", "70000"])[0] ?? "", /^--port:/);
  assert.match(problems([], { R1JUDGE_VARIANT: "bf16" })[0] ?? "", /^R1JUDGE_VARIANT:/);
  assert.equal(loadConfig([], { R1JUDGE_VARIANT: "int4" }).variant, "int4");
});

test("unknown flags, missing values and stray arguments are errors", () => {
  assert.match(problems(["--prot", "1"])[0] ?? "", /^--prot: unknown flag/);
  assert.match(problems(["--port"])[0] ?? "", /^--port: needs a value/);
  assert.match(problems(["serve"])[0] ?? "", /^serve: unexpected argument/);
  assert.match(problems(["--api-keys", "k"])[0] ?? "", /R1JUDGE_API_KEYS/);
});

test("the config is frozen, keys included", () => {
  const config = loadConfig([], { R1JUDGE_API_KEYS: "k1" });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.apiKeys));
  assert.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
});

test("engineOptions converts budgets to bytes and max batch to rows", () => {
  const config = loadConfig(["--max-batch", "16", "--kv-budget-mb", "512", "--threads", "2"], {
    R1JUDGE_PREFIX_CACHE_MB: "0",
  });
  const options = engineOptions(config);
  assert.equal(options.checkpoint, "models/demo");
  assert.equal(options.maxRows, 16);
  assert.equal(options.kvBudgetBytes, 512 * MIB);
  assert.equal(options.prefixCacheBytes, 0);
  assert.equal(options.intraOpThreads, 2);
  assert.equal("intraOpThreads" in engineOptions(loadConfig([], {})), false);
});

test("docs/config.md documents every variable and flag", () => {
  const doc = readFileSync(new URL("../docs/config.md", import.meta.url), "utf8");
  for (const name of [...ENV_VARS, ...FLAGS])
    assert.ok(doc.includes(`\`${name}\``), `${name} is undocumented`);
});
