// The server's configuration: one zod schema over environment variables (R1JUDGE_*) and command-line
// flags (which override them), validated once at start-up into a frozen object. This is the only
// module that reads process.env. Every key is documented in docs/config.md.

import { z } from "zod";
import { VARIANTS } from "./engine/checkpoint.js";
import type { EngineOptions } from "./engine/protocol.js";
import type { SupervisorSettings } from "./engine/supervisor.js";

const MIB = 1024 * 1024;

/** Thrown when the configuration is invalid; each line names the variable or flag at fault. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

// ---- value parsers (every input is a string from the environment or a flag) ----
const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1024,
  k: 1024,
  mb: MIB,
  m: MIB,
  gb: 1024 * MIB,
  g: 1024 * MIB,
};
/** Bytes as a whole number, optionally with a 1024-based unit: `20971520`, `20mb`, `512kb`. */
const bytes = (min: number, max: number) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^\d+\s*(b|k|kb|m|mb|g|gb)?$/, "expected bytes, e.g. 20971520 or 20mb")
    .transform((s) => {
      const match = /^(\d+)\s*([a-z]*)$/.exec(s) as RegExpExecArray;
      return Number(match[1]) * (SIZE_UNITS[match[2] ?? ""] ?? 1);
    })
    .pipe(z.number().int().min(min).max(max));

/** A decimal number in [min, max]: `0`, `0.25`, `1`. */
const fraction = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `expected a number from ${min} to ${max}, e.g. 0 or 0.25`)
    .transform(Number)
    .pipe(z.number().min(min).max(max));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((s) => ["1", "true", "yes", "on", "0", "false", "no", "off"].includes(s), "expected true or false")
  .transform((s) => ["1", "true", "yes", "on"].includes(s));

const list = z.string().transform((s) =>
  s
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k.length > 0),
);

/** A client's name as R1JUDGE_CLIENT_WEIGHTS names it: an X-Client-Id, `keyN`, or an address. */
export const CLIENT_ID = /^[A-Za-z0-9._:-]{1,64}$/;

// "name=weight,…": each client's weight for its share of the queue (src/server/admission.ts).
const clientWeights = list.transform((entries, ctx) => {
  const weights = new Map<string, number>();
  for (const entry of entries) {
    const [name = "", value = "", ...rest] = entry.split("=").map((p) => p.trim());
    const weight = Number(value);
    if (!CLIENT_ID.test(name) || rest.length > 0 || !(weight > 0 && weight <= 1000)) {
      ctx.addIssue({
        code: "custom",
        message: `expected name=weight (name: 1–64 of A-Z a-z 0-9 . _ : -; weight: a number in (0, 1000]), got "${entry}"`,
      });
      return z.NEVER;
    }
    weights.set(name, weight);
  }
  return weights as ReadonlyMap<string, number>;
});

const apiKeys = list.refine((keys) => keys.every((k) => !/\s/.test(k)), "a key contains whitespace");

// ---- the schema: key → [env variable, flag, parser with default] ----
const KEYS = {
  model: ["R1JUDGE_MODEL", "--model", z.string().trim().min(1).default("models/demo")],
  variant: ["R1JUDGE_VARIANT", "--variant", z.enum(VARIANTS).default("fp32")],
  host: ["R1JUDGE_HOST", "--host", z.string().trim().min(1).default("127.0.0.1")],
  port: ["R1JUDGE_PORT", "--port", int(0, 65535).default(8080)],
  apiKeys: ["R1JUDGE_API_KEYS", null, apiKeys.default([])],
  maxBodyBytes: ["R1JUDGE_MAX_BODY_BYTES", "--max-body-bytes", bytes(1024, 1024 * MIB).default(20 * MIB)],
  maxQueue: ["R1JUDGE_MAX_QUEUE", "--max-queue", int(1, 1_000_000).default(1024)],
  clientWeights: [
    "R1JUDGE_CLIENT_WEIGHTS",
    "--client-weights",
    clientWeights.default(new Map() as ReadonlyMap<string, number>),
  ],
  clientIdleMs: ["R1JUDGE_CLIENT_IDLE_MS", "--client-idle-ms", int(0, 86_400_000).default(60_000)],
  maxBatch: ["R1JUDGE_MAX_BATCH", "--max-batch", int(1, 4096).default(64)],
  kvBudgetMb: ["R1JUDGE_KV_BUDGET_MB", "--kv-budget-mb", int(1, 1_048_576).default(2048)],
  prefixCacheMb: ["R1JUDGE_PREFIX_CACHE_MB", "--prefix-cache-mb", int(0, 1_048_576).default(256)],
  encoderCacheMb: ["R1JUDGE_ENCODER_CACHE_MB", "--encoder-cache-mb", int(0, 1_048_576).default(256)],
  cacheEntries: ["R1JUDGE_CACHE_ENTRIES", "--cache-entries", int(0, 10_000_000).default(1024)],
  device: [
    "R1JUDGE_DEVICE",
    "--device",
    z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^(cpu|webgpu|cuda(:\d+)?)$/, 'expected "cpu", "webgpu", "cuda" or "cuda:N"')
      .default("cpu"),
  ],
  allowCpuFallback: ["R1JUDGE_ALLOW_CPU_FALLBACK", "--allow-cpu-fallback", bool.default(false)],
  kvOnDevice: ["R1JUDGE_KV_ON_DEVICE", "--kv-on-device", bool.default(true)],
  ignoreEos: ["R1JUDGE_IGNORE_EOS", "--ignore-eos", bool.default(false)],
  threads: ["R1JUDGE_THREADS", "--threads", int(1, 1024).optional()],
  logLevel: [
    "R1JUDGE_LOG_LEVEL",
    "--log-level",
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ],
  defaultTimeoutMs: ["R1JUDGE_DEFAULT_TIMEOUT_MS", "--default-timeout-ms", int(1, 600_000).default(120_000)],
  maxNewTokens: ["R1JUDGE_MAX_NEW_TOKENS", "--max-new-tokens", int(1, 32_768).default(1024)],
  maxPromptTokens: ["R1JUDGE_MAX_PROMPT_TOKENS", "--max-prompt-tokens", int(16, 1_048_576).default(8192)],
  prefillChunkTokens: [
    "R1JUDGE_PREFILL_CHUNK_TOKENS",
    "--prefill-chunk-tokens",
    int(16, 1_048_576).default(256),
  ],
  maxImagePixels: [
    "R1JUDGE_MAX_IMAGE_PIXELS",
    "--max-image-pixels",
    int(1, 1_000_000_000).default(50_000_000),
  ],
  maxRequestPixels: [
    "R1JUDGE_MAX_REQUEST_PIXELS",
    "--max-request-pixels",
    int(1, 8_000_000_000).default(100_000_000),
  ],
  imageMemoryBytes: [
    "R1JUDGE_IMAGE_MEMORY_BYTES",
    "--image-memory-bytes",
    bytes(16 * MIB, 1024 * 1024 * MIB).default(512 * MIB),
  ],
  imageWorkers: ["R1JUDGE_IMAGE_WORKERS", "--image-workers", int(1, 64).default(1)],
  shutdownGraceMs: ["R1JUDGE_SHUTDOWN_GRACE_MS", "--shutdown-grace-ms", int(0, 3_600_000).default(30_000)],
  engineStallMs: ["R1JUDGE_ENGINE_STALL_MS", "--engine-stall-ms", int(0, 86_400_000).default(300_000)],
  engineMaxRestarts: ["R1JUDGE_ENGINE_MAX_RESTARTS", "--engine-max-restarts", int(0, 1000).default(3)],
  rewardSamples: ["R1JUDGE_REWARD_SAMPLES", "--reward-samples", int(1, 64).default(2)],
  rewardEmptyFloor: ["R1JUDGE_REWARD_EMPTY_FLOOR", "--reward-empty-floor", fraction(0, 1).default(0)],
  rewardNoVerdict: [
    "R1JUDGE_REWARD_NO_VERDICT",
    "--reward-no-verdict",
    z.enum(["error", "neutral"]).default("error"),
  ],
  rewardEmptyLabel: [
    "R1JUDGE_REWARD_EMPTY_LABEL",
    "--reward-empty-label",
    z.enum(["reject", "neutral"]).default("reject"),
  ],
  rewardEndMarkers: ["R1JUDGE_REWARD_END_MARKERS", "--reward-end-markers", list.default([])],
  imageRoot: ["R1JUDGE_IMAGE_ROOT", "--image-root", z.string().trim().min(1).optional()],
  compareStrategy: [
    "R1JUDGE_COMPARE_STRATEGY",
    "--compare-strategy",
    z.enum(["circular", "all_pairs"]).default("circular"),
  ],
  compareJudges: ["R1JUDGE_COMPARE_JUDGES", "--compare-judges", int(1, 64).default(1)],
  // Unset: on when the server listens on loopback only (consoleOn).
  console: ["R1JUDGE_CONSOLE", "--console", bool.optional()],
  consoleReports: ["R1JUDGE_CONSOLE_REPORTS", "--console-reports", z.string().trim().min(1).optional()],
} as const;

type Key = keyof typeof KEYS;

const schema = z.object(
  Object.fromEntries(Object.entries(KEYS).map(([key, [, , parser]]) => [key, parser])) as {
    [K in Key]: (typeof KEYS)[K][2];
  },
);

export type Config = Readonly<
  Omit<z.output<typeof schema>, "apiKeys" | "rewardEndMarkers"> & {
    apiKeys: readonly string[];
    rewardEndMarkers: readonly string[];
  }
>;

/** Variables the server no longer reads → what replaced them (setting one is an error). */
const REPLACED: Readonly<Record<string, string>> = {
  // Pixels being decoded → bytes held by images until released (decodes and patch tensors).
  R1JUDGE_MAX_DECODE_PIXELS: "R1JUDGE_IMAGE_MEMORY_BYTES (bytes, e.g. 1gb)",
};

/** Every environment variable the server reads, in documentation order. */
export const ENV_VARS: readonly string[] = Object.values(KEYS).map(([env]) => env);
/** Every flag the server accepts (R1JUDGE_API_KEYS has none: keys on a command line leak into `ps`). */
export const FLAGS: readonly string[] = Object.values(KEYS).flatMap(([, flag]) => (flag ? [flag] : []));

/** Whether a key's parser is `bool` under its default: read off the schema, never listed by hand. */
function isBoolean(parser: z.ZodType): boolean {
  let inner: z.ZodType = parser;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner === bool;
}

/** The boolean flags: `--flag`, `--flag=true|false` and `--no-flag` each work; none takes the next argument. */
export const BOOLEAN_FLAGS: readonly string[] = Object.values(KEYS).flatMap(([, flag, parser]) =>
  flag && isBoolean(parser) ? [flag] : [],
);

/** Each flag as `--help` shows it: `--port VALUE`, `--kv-on-device[=true|false] | --no-kv-on-device`. */
export const FLAG_USAGE: readonly string[] = FLAGS.map((flag) =>
  BOOLEAN_FLAGS.includes(flag) ? `${flag}[=true|false] | --no-${flag.slice(2)}` : `${flag} VALUE`,
);

/**
 * Reads flags (`--port 9000`, `--port=9000`, `--allow-cpu-fallback`, `--allow-cpu-fallback=false`,
 * `--no-allow-cpu-fallback`) into raw strings by key. A bare boolean flag means true and never takes
 * the next argument (so `--kv-on-device --port 1` cannot read `--port` or `1` as its value); every
 * other flag needs a value. Unknown flags and stray arguments are errors.
 */
function readFlags(argv: readonly string[], problems: string[]): Map<Key, string> {
  const byFlag = new Map<string, Key>();
  for (const [key, [, flag]] of Object.entries(KEYS)) if (flag) byFlag.set(flag, key as Key);
  const booleans = new Set(BOOLEAN_FLAGS);
  const out = new Map<Key, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--")) {
      problems.push(`${arg}: unexpected argument (flags look like --port 8080)`);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const given: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const negated = `--${name.slice("--no-".length)}`;
    if (name.startsWith("--no-") && booleans.has(negated)) {
      if (given !== undefined) problems.push(`${name}: takes no value (use ${negated}=${given})`);
      else out.set(byFlag.get(negated) as Key, "false");
      continue;
    }
    const key = byFlag.get(name);
    if (key === undefined) {
      problems.push(
        name === "--api-keys"
          ? "--api-keys: not a flag (keys on a command line leak); set R1JUDGE_API_KEYS"
          : `${name}: unknown flag`,
      );
      continue;
    }
    if (given !== undefined) out.set(key, given);
    else if (booleans.has(name)) out.set(key, "true");
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        problems.push(`${name}: needs a value (${name} VALUE or ${name}=VALUE)`);
        continue;
      }
      out.set(key, next);
      i++;
    }
  }
  return out;
}

/**
 * The configuration from flags (argv without the node and script paths) over environment variables
 * over defaults. Pure given its arguments; throws ConfigError naming every bad variable or flag.
 * An empty environment variable counts as unset.
 */
export function loadConfig(
  argv: readonly string[] = process.argv.slice(2),
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config {
  const problems: string[] = [];
  // A renamed setting must not be ignored silently: the deployment meant to bound image memory.
  for (const [old, now] of Object.entries(REPLACED))
    if (env[old]?.trim()) problems.push(`${old}: no longer read; set ${now} instead`);
  const flags = readFlags(argv, problems);
  const raw: Partial<Record<Key, string>> = {};
  const source: Partial<Record<Key, string>> = {};
  for (const [key, [envName, flag]] of Object.entries(KEYS) as [Key, (typeof KEYS)[Key]][]) {
    const fromFlag = flags.get(key);
    const fromEnv = env[envName];
    if (fromFlag !== undefined && flag) {
      raw[key] = fromFlag;
      source[key] = flag;
    } else if (fromEnv !== undefined && fromEnv.trim() !== "") {
      raw[key] = fromEnv;
      source[key] = envName;
    }
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path[0] as Key;
      const given = raw[key];
      const shown = key === "apiKeys" ? "" : given === undefined ? "" : ` (got ${JSON.stringify(given)})`;
      problems.push(`${source[key] ?? KEYS[key][0]}: ${issue.message}${shown}`);
    }
  }
  if (result.success) {
    const c = result.data;
    // One image must fit the pixels a request may hold.
    if (c.maxImagePixels > c.maxRequestPixels)
      problems.push(
        `${source.maxRequestPixels ?? KEYS.maxRequestPixels[0]}: must be at least R1JUDGE_MAX_IMAGE_PIXELS (${c.maxImagePixels}), got ${c.maxRequestPixels}`,
      );
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return Object.freeze({
    ...result.data,
    apiKeys: Object.freeze([...result.data.apiKeys]),
    rewardEndMarkers: Object.freeze([...result.data.rewardEndMarkers]),
  });
}

/** The engine's settings: R1JUDGE_MAX_BATCH is the rows decoded together; budgets in bytes. */
export function engineOptions(config: Config): EngineOptions {
  return {
    checkpoint: config.model,
    variant: config.variant,
    device: config.device,
    allowCpuFallback: config.allowCpuFallback,
    ...(config.threads === undefined ? {} : { intraOpThreads: config.threads }),
    kvBudgetBytes: config.kvBudgetMb * MIB,
    maxRows: config.maxBatch,
    prefixCacheBytes: config.prefixCacheMb * MIB,
    encoderCacheBytes: config.encoderCacheMb * MIB,
    maxImagePixels: config.maxImagePixels,
    maxRequestPixels: config.maxRequestPixels,
    imageMemoryBytes: config.imageMemoryBytes,
    imageWorkers: config.imageWorkers,
    maxPromptTokens: config.maxPromptTokens,
    prefillChunkTokens: config.prefillChunkTokens,
    kvOnDevice: config.kvOnDevice,
    ignoreEos: config.ignoreEos,
  };
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/i;

/**
 * Whether the web console is served: as configured, else only on a loopback address. A server that
 * listens on 0.0.0.0 serves the console only when asked to, so a deployment does not grow a page it
 * did not choose.
 */
export function consoleOn(config: Config): boolean {
  return config.console ?? LOOPBACK.test(config.host);
}

/** How long a worker may keep failing before the server gives up on it (see EngineSupervisor). */
const RESTART_WINDOW_MS = 5 * 60 * 1000;

/** The engine supervisor's settings. */
export function engineSupervision(config: Config): SupervisorSettings {
  return {
    maxRestarts: config.engineMaxRestarts,
    restartWindowMs: RESTART_WINDOW_MS,
    stallMs: config.engineStallMs,
  };
}
