// Configuration: defaults, environment parsing, flags over environment, errors that name the
// variable or flag, a frozen result, the engine options it produces, and docs/config.md coverage.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  BOOLEAN_FLAGS,
  ConfigError,
  consoleOn,
  ENV_VARS,
  engineOptions,
  FLAG_USAGE,
  FLAGS,
  loadConfig,
} from "../src/config.js";

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

test("the boolean flags are read off the schema: every key whose parser is a boolean", () => {
  assert.deepEqual(BOOLEAN_FLAGS, ["--allow-cpu-fallback", "--kv-on-device", "--ignore-eos", "--console"]);
});

test("every boolean flag: --flag, --flag=true|false and --no-flag, over the environment", () => {
  const keyOf = {
    "--allow-cpu-fallback": "allowCpuFallback",
    "--kv-on-device": "kvOnDevice",
    "--ignore-eos": "ignoreEos",
    "--console": "console",
  } as const;
  for (const flag of BOOLEAN_FLAGS) {
    const key = keyOf[flag as keyof typeof keyOf];
    const env = { R1JUDGE_ALLOW_CPU_FALLBACK: "false", R1JUDGE_KV_ON_DEVICE: "false" };
    const envTrue = { R1JUDGE_ALLOW_CPU_FALLBACK: "true", R1JUDGE_KV_ON_DEVICE: "true" };
    assert.equal(loadConfig([flag], env)[key], true, `${flag}`);
    assert.equal(loadConfig([`${flag}=true`], env)[key], true, `${flag}=true`);
    assert.equal(loadConfig([`${flag}=false`], envTrue)[key], false, `${flag}=false`);
    assert.equal(loadConfig([`--no-${flag.slice(2)}`], envTrue)[key], false, `--no-${flag.slice(2)}`);
    assert.match(problems([`${flag}=maybe`])[0] ?? "", new RegExp(`^${flag}: expected true or false`));
    assert.match(problems([`--no-${flag.slice(2)}=true`])[0] ?? "", /takes no value/);
  }
});

test("a bare boolean flag never takes the next argument as its value", () => {
  const config = loadConfig(["--kv-on-device", "--port", "9001", "--allow-cpu-fallback"], {
    R1JUDGE_KV_ON_DEVICE: "false",
  });
  assert.equal(config.kvOnDevice, true);
  assert.equal(config.port, 9001);
  assert.equal(config.allowCpuFallback, true);
  // A word after it is a stray argument, not the flag's value.
  assert.match(problems(["--kv-on-device", "false"])[0] ?? "", /^false: unexpected argument/);
});

test("a flag that is not boolean still needs a value, and has no --no- form", () => {
  for (const argv of [
    ["--port"],
    ["--port", "--kv-on-device"],
    ["--model"],
    ["--max-queue", "--port", "1"],
  ]) {
    const name = argv[0] as string;
    const lines = problems(argv);
    assert.ok(
      lines.some((l) => l.startsWith(`${name}: needs a value`)),
      `${argv.join(" ")}: ${lines.join("; ")}`,
    );
  }
  assert.match(problems(["--no-port"])[0] ?? "", /^--no-port: unknown flag/);
  assert.equal(loadConfig(["--port=9002"], {}).port, 9002);
});

test("--help lists every flag, with the boolean ones' forms", () => {
  assert.equal(FLAG_USAGE.length, FLAGS.length);
  assert.ok(FLAG_USAGE.includes("--kv-on-device[=true|false] | --no-kv-on-device"));
  assert.ok(FLAG_USAGE.includes("--port VALUE"));
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

test("the image memory budget and pool: bytes with units, threads; the old pixel setting is refused", () => {
  const defaults = engineOptions(loadConfig([], {}));
  assert.equal(defaults.imageMemoryBytes, 512 * MIB);
  assert.equal(defaults.imageWorkers, 1);
  const options = engineOptions(
    loadConfig(["--image-workers", "3"], { R1JUDGE_IMAGE_MEMORY_BYTES: "256mb" }),
  );
  assert.equal(options.imageMemoryBytes, 256 * MIB);
  assert.equal(options.imageWorkers, 3);
  assert.match(problems([], { R1JUDGE_IMAGE_WORKERS: "0" })[0] ?? "", /^R1JUDGE_IMAGE_WORKERS:/);
  assert.match(problems(["--image-memory-bytes", "1mb"])[0] ?? "", /^--image-memory-bytes:/);
  assert.match(
    problems([], { R1JUDGE_MAX_DECODE_PIXELS: "100000000" })[0] ?? "",
    /^R1JUDGE_MAX_DECODE_PIXELS: no longer read; set R1JUDGE_IMAGE_MEMORY_BYTES/,
  );
});

test("the web console is on by default only when the server listens on a loopback address", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1"])
    assert.equal(consoleOn(loadConfig(["--host", host], {})), true, host);
  assert.equal(consoleOn(loadConfig([], {})), true, "the default host is 127.0.0.1");
  for (const host of ["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "judge.example.com"])
    assert.equal(consoleOn(loadConfig(["--host", host], {})), false, host);
  assert.equal(consoleOn(loadConfig([], { R1JUDGE_HOST: "0.0.0.0" })), false);
});

test("R1JUDGE_CONSOLE and --console decide over the host; --no-console turns it off on loopback", () => {
  assert.equal(consoleOn(loadConfig([], { R1JUDGE_HOST: "0.0.0.0", R1JUDGE_CONSOLE: "true" })), true);
  assert.equal(consoleOn(loadConfig(["--host", "0.0.0.0", "--console"], {})), true);
  assert.equal(consoleOn(loadConfig(["--no-console"], {})), false);
  assert.equal(consoleOn(loadConfig(["--host", "localhost"], { R1JUDGE_CONSOLE: "false" })), false);
  assert.equal(consoleOn(loadConfig(["--console=false"], { R1JUDGE_CONSOLE: "true" })), false);
  assert.match(
    problems([], { R1JUDGE_CONSOLE: "maybe" })[0] ?? "",
    /^R1JUDGE_CONSOLE: expected true or false/,
  );
});

test("R1JUDGE_CONSOLE_REPORTS and --console-reports name the reports folder; unset is none", () => {
  assert.equal(loadConfig([], {}).consoleReports, undefined);
  assert.equal(loadConfig([], { R1JUDGE_CONSOLE_REPORTS: " /srv/reports " }).consoleReports, "/srv/reports");
  assert.equal(
    loadConfig(["--console-reports", "runs"], { R1JUDGE_CONSOLE_REPORTS: "/srv/reports" }).consoleReports,
    "runs",
  );
  assert.equal(loadConfig([], { R1JUDGE_CONSOLE_REPORTS: "" }).consoleReports, undefined, "empty is unset");
});

test("docs/config.md documents every variable and flag", () => {
  const doc = readFileSync(new URL("../docs/config.md", import.meta.url), "utf8");
  const negated = BOOLEAN_FLAGS.map((flag) => `--no-${flag.slice(2)}`);
  for (const name of [...ENV_VARS, ...FLAGS, ...negated])
    assert.ok(doc.includes(`\`${name}\``), `${name} is undocumented`);
});
