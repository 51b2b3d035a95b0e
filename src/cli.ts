// `r1judge serve [flags]` runs the server; `r1judge judge --question … --response … --response …`
// judges one pair from the terminal (no HTTP: the engine runs in-process) and prints JSON.
// Bad arguments print what is wrong and the usage, and exit 2; failures print their message and
// exit 1; neither prints a stack trace.

import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pino from "pino";
import { ConfigError, ENV_VARS, engineOptions, FLAGS, loadConfig } from "./config.js";
import { EngineClient } from "./engine/client.js";
import { LAYOUTS, type Layout, readItems } from "./evaluation/items.js";
import { plotPng } from "./evaluation/plot.js";
import { report } from "./evaluation/report.js";
import { evaluate } from "./evaluation/run.js";
import { score } from "./evaluation/scores.js";
import { judgePair } from "./judge/judge.js";
import { startServer } from "./main.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = `usage:
  r1judge serve [--model DIR] [--port N] [--host H] [...]   run the server (r1judge serve --help)
  r1judge judge --question TEXT --response TEXT --response TEXT [--image FILE]... [--samples N]
                [--temperature T] [--seed N] [--max-new-tokens N] [--model DIR] [--reasoning]
  r1judge eval --data FILE.jsonl [--url URL | --model DIR] [--k N] [--out DIR] [...]   (r1judge eval --help)
  r1judge --help | --version`;

const EVAL_HELP = `usage: r1judge eval --data FILE.jsonl [--url URL | --model DIR] [options]

Judges every item through /judge, as a client of the server would: a greedy verdict with the responses
in both orders, and one request of K samples (temperature 1, alternating order, seeded per item).
Reports greedy accuracy, Voting@K under majority and confidence aggregation and Any@K for every K up
to --k, macro accuracy over categories, Acc+ where pairs share a prompt, accuracy by the better
response's position and how often the greedy verdict survives swapping the responses, overall and
per category. Results go to OUT/results.jsonl as items finish (a run resumes from it), the report to
OUT/report.md, OUT/scores.json and the plot of accuracy against K to OUT/accuracy-vs-k.png.
Rows that cannot be judged (a missing image, a video, an empty response, an unknown category) are
counted and skipped.

options:
  --data FILE           JSONL in a layout of docs/evaluation.md: demo (question, responses, label),
                        generic (question, chosen, rejected, images, category), vl-rewardbench,
                        mmrb (Multimodal RewardBench), mm-rlhf; images relative to the file
  --layout NAME         the layout of every row, when detection from each row's fields is not wanted
  --url URL             a running server (default: start one in-process on --model)
  --model DIR           the checkpoint to serve in-process (default models/demo)
  --api-key KEY         for a server with keys
  --k N                 samples per item, 1-64 (default 15)
  --seed N              base seed (default 1)
  --limit N             the first N items only
  --concurrency N       items judged at once (default 4)
  --max-new-tokens N    per sample (default: the server's)
  --out DIR             (default eval-out)
  --title TEXT          the report's title`;

const SERVE_HELP = `usage: r1judge serve [flags]

Flags override R1JUDGE_* environment variables, which override the defaults; every key is
described in docs/config.md.

flags:
  ${FLAGS.join("\n  ")}

environment variables:
  ${ENV_VARS.join("\n  ")}`;

const JUDGE_HELP = `usage: r1judge judge --question TEXT --response TEXT --response TEXT [options]

Judges one pair with the model in --model (default models/demo) and prints the judgement as JSON.

options:
  --question TEXT        the question (required)
  --response TEXT        a response; give exactly two
  --image FILE           an image the question refers to (PNG, JPEG, WebP, GIF); repeatable
  --samples N            votes, 1-64 (default 1)
  --temperature T        0-2 (default 0 for one sample, else 1)
  --seed N               base seed, 0-4294967295 (default 0)
  --max-new-tokens N     tokens per vote, 1-32768 (default 1024)
  --model DIR            checkpoint directory
  --reasoning            include each vote's reasoning`;

class UsageError extends Error {}

function version(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** A whole number option in [min, max], or the usage error that names it. */
function wholeNumber(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max)
    throw new UsageError(`--${name}: expected a whole number from ${min} to ${max}, got '${text}'`);
  return value;
}

async function serve(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return;
  }
  const config = loadConfig(argv);
  const log = pino({ level: config.logLevel });
  const running = await startServer(config, log);
  running.ready.catch((err: unknown) => {
    // An operator needs the file and field, not our call stack: one line on stderr and a fatal log
    // line without the stack; the stack stays available at R1JUDGE_LOG_LEVEL=debug.
    const message = err instanceof Error ? err.message : String(err);
    const { code, file, field } = err as { code?: string; file?: string; field?: string };
    log.debug({ err }, "the model failed to load: stack");
    log.fatal({ code, file, field, error: message }, "the model failed to load");
    process.stderr.write(`error: the model failed to load: ${message}\n`);
    process.exit(1);
  });
  void running.failed.then((why) => {
    log.fatal(
      { error: why.message },
      "the engine keeps failing; exiting so the orchestrator replaces this process",
    );
    process.exit(1);
  });
  let stopping = false;
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "shutting down");
      running.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
    });
  }
}

async function judge(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      question: { type: "string" },
      response: { type: "string", multiple: true },
      image: { type: "string", multiple: true },
      samples: { type: "string" },
      temperature: { type: "string" },
      seed: { type: "string" },
      "max-new-tokens": { type: "string" },
      model: { type: "string" },
      reasoning: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${JUDGE_HELP}\n`);
    return;
  }
  const responses = values.response ?? [];
  if (!values.question || responses.length !== 2)
    throw new UsageError("judge needs --question and exactly two --response");
  const samples = wholeNumber("samples", values.samples, 1, 1, 64);
  const seed = wholeNumber("seed", values.seed, 0, 0, 2 ** 32 - 1);
  const maxNewTokens = wholeNumber("max-new-tokens", values["max-new-tokens"], 1024, 1, 32_768);
  const temperature = values.temperature === undefined ? (samples === 1 ? 0 : 1) : Number(values.temperature);
  if (
    values.temperature !== undefined &&
    !(values.temperature.trim() !== "" && temperature >= 0 && temperature <= 2)
  )
    throw new UsageError(`--temperature: expected a number from 0 to 2, got '${values.temperature}'`);
  const images = await Promise.all(
    (values.image ?? []).map(async (file) => {
      try {
        return new Uint8Array(await readFile(file));
      } catch (err) {
        throw new UsageError(`--image: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
    }),
  );
  const config = loadConfig(values.model ? ["--model", values.model] : []);
  const engine = await EngineClient.start(engineOptions(config));
  try {
    const ref = images.length ? engine.putImages(images) : undefined;
    const judgement = await judgePair(engine, {
      question: values.question,
      responses: [responses[0] as string, responses[1] as string],
      ...(ref ? { images: ref } : {}),
      samples,
      temperature,
      topP: 1,
      topK: 0,
      maxNewTokens,
      seed,
      order: samples > 1 ? "alternate" : "fixed",
      aggregation: "confidence",
      earlyStop: false,
      returnReasoning: values.reasoning,
    });
    process.stdout.write(`${JSON.stringify({ model: engine.model.id, ...judgement }, null, 2)}\n`);
  } finally {
    await engine.close();
  }
}

async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: "string" },
      layout: { type: "string" },
      url: { type: "string" },
      model: { type: "string" },
      "api-key": { type: "string" },
      k: { type: "string" },
      seed: { type: "string" },
      limit: { type: "string" },
      concurrency: { type: "string" },
      "max-new-tokens": { type: "string" },
      out: { type: "string", default: "eval-out" },
      title: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${EVAL_HELP}\n`);
    return;
  }
  if (!values.data) throw new UsageError("eval needs --data FILE.jsonl");
  const k = wholeNumber("k", values.k, 15, 1, 64);
  const seed = wholeNumber("seed", values.seed, 1, 0, 2 ** 31 - 1);
  const limit = wholeNumber("limit", values.limit, 0, 0, 10_000_000);
  const concurrency = wholeNumber("concurrency", values.concurrency, 4, 1, 256);
  const maxNewTokens =
    values["max-new-tokens"] && wholeNumber("max-new-tokens", values["max-new-tokens"], 0, 1, 32_768);
  if (values.layout !== undefined && !(LAYOUTS as readonly string[]).includes(values.layout))
    throw new UsageError(`--layout: expected one of ${LAYOUTS.join(", ")}, got '${values.layout}'`);
  const { items, skipped, layouts } = await readItems(values.data, values.layout as Layout | undefined);
  const chosen = limit ? items.slice(0, limit) : items;
  await mkdir(values.out, { recursive: true });
  let url = values.url;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  if (!url) {
    server = await startServer(
      loadConfig(["--port", "0", ...(values.model ? ["--model", values.model] : [])]),
      pino({ level: "silent" }),
    );
    await server.ready;
    url = server.url;
  }
  // A terminal gets one rewritten line; a log file gets a line per tenth of the items.
  const progress = (done: number, total: number): void => {
    if (process.stderr.isTTY) process.stderr.write(`\r[eval] ${done}/${total}`);
    else if (done === total || done % Math.max(1, Math.ceil(total / 10)) === 0)
      process.stderr.write(`[eval] ${done}/${total}\n`);
  };
  try {
    const started = Date.now();
    const judged = await evaluate(chosen, {
      url,
      ...(values["api-key"] ? { apiKey: values["api-key"] } : {}),
      k,
      seed,
      concurrency,
      ...(maxNewTokens ? { maxNewTokens } : {}),
      resultsFile: path.join(values.out, "results.jsonl"),
      onItem: progress,
    });
    if (process.stderr.isTTY) process.stderr.write("\n");
    const ks = Array.from({ length: k }, (_, i) => i + 1);
    const scores = score(judged, ks);
    const notes = [
      `Data: \`${values.data}\` (layout ${layouts.join(", ") || "none"}, ${chosen.length} items judged, ${skipped.length} rows skipped). Server: ${values.url ?? `in-process, ${values.model ?? "models/demo"}`}.`,
      `Per item: greedy with the responses as given and swapped, and ${k} samples at the server's default temperature (1.0) in alternating order, seed ${seed} + hash(id). ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    ];
    await writeFile(
      path.join(values.out, "report.md"),
      report(values.title ?? "Evaluation", judged, ks, skipped, notes),
    );
    await writeFile(
      path.join(values.out, "accuracy-vs-k.png"),
      await plotPng(`${values.title ?? "Evaluation"}: accuracy against K`, scores, ks),
    );
    await writeFile(
      path.join(values.out, "scores.json"),
      `${JSON.stringify({ ...scores, skipped: skipped.length }, null, 2)}\n`,
    );
    process.stdout.write(`${JSON.stringify({ ...scores, skipped: skipped.length }, null, 2)}\n`);
  } finally {
    await server?.stop();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === "--version" || command === "-V") {
    process.stdout.write(`r1judge ${version()}\n`);
    return;
  }
  if (command === "serve") return serve(rest);
  if (command === "judge") return judge(rest);
  if (command === "eval") return evalCommand(rest);
  throw new UsageError(command ? `unknown command '${command}'` : "no command given");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
  ) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
