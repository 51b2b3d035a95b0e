// `r1judge serve [flags]` runs the server; `r1judge judge --question … --response … --response …`
// judges one pair from the terminal (no HTTP: the engine runs in-process) as a /judge request: its
// flags become /judge's body, validated by the same schema and judged by the same service, and it
// prints /judge's answer. Bad arguments print what is wrong and the usage, and exit 2 (a body /judge
// would refuse: one line, the field and why); failures print their message and exit 1; neither
// prints a stack trace.

import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pino from "pino";
import { ConfigError, ENV_VARS, FLAG_USAGE, loadConfig } from "./config.js";
import { ApiError } from "./errors.js";
import { LAYOUTS, type Layout, readItems } from "./evaluation/items.js";
import { plotPng } from "./evaluation/plot.js";
import { report } from "./evaluation/report.js";
import { evaluate } from "./evaluation/run.js";
import { score } from "./evaluation/scores.js";
import { judgeOnce, startServer } from "./main.js";

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
described in docs/config.md. A flag takes its value as --flag VALUE or --flag=VALUE; a boolean
flag alone means true, and --no-FLAG false.

flags:
  ${FLAG_USAGE.join("\n  ")}

environment variables:
  ${ENV_VARS.join("\n  ")}`;

const JUDGE_HELP = `usage: r1judge judge --question TEXT --response TEXT --response TEXT [options]

Judges one pair with the model in --model (default models/demo) as POST /judge would, and prints
/judge's answer as JSON. The options are /judge's fields, with /judge's defaults (docs/api.md);
R1JUDGE_* settings (docs/config.md) apply as they do to the server.

options:
  --question TEXT        question: the question (required)
  --response TEXT        responses: a response; give exactly two
  --image FILE           images: an image the question refers to (PNG, JPEG, WebP, GIF); repeatable
  --samples N            samples: votes, 1-64 (default 1)
  --temperature T        temperature: 0-2 (default 0 for one sample, else 1)
  --seed N               seed: base seed, 0-4294967295 (default random, reported per sample)
  --max-new-tokens N     max_new_tokens: tokens per vote (default and cap R1JUDGE_MAX_NEW_TOKENS)
  --model DIR            checkpoint directory (R1JUDGE_MODEL)
  --reasoning            return_reasoning: include each vote's reasoning

Other /judge fields take /judge's defaults: alternating order for several votes, aggregation
"confidence", early stop, deadline R1JUDGE_DEFAULT_TIMEOUT_MS.`;

class UsageError extends Error {}

/** A request /judge would refuse (400, 422): one line naming the field, exit 2 like a usage error. */
class RequestError extends Error {}

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
      reasoning: { type: "boolean" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${JUDGE_HELP}\n`);
    return;
  }
  // The body POST /judge would get; what a flag does not set stays absent, for /judge's default.
  const body = {
    ...(values.question === undefined ? {} : { question: values.question }),
    responses: values.response ?? [],
    ...(values.image ? { images: await Promise.all(values.image.map(imageField)) } : {}),
    ...numberField("samples", values.samples),
    ...numberField("temperature", values.temperature),
    ...numberField("seed", values.seed),
    ...numberField("max_new_tokens", values["max-new-tokens"]),
    ...(values.reasoning === undefined ? {} : { return_reasoning: values.reasoning }),
  };
  const config = loadConfig(values.model ? ["--model", values.model] : []);
  let answer: Awaited<ReturnType<typeof judgeOnce>>;
  try {
    answer = await judgeOnce(config, body);
  } catch (err) {
    throw err instanceof ApiError ? cliError(err) : err;
  }
  process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
}

/** A flag's text as JSON would carry it: a number when it reads as one, else the text (which /judge refuses by name). */
function numberField(field: string, text: string | undefined): Record<string, number | string> {
  if (text === undefined) return {};
  const trimmed = text.trim();
  return { [field]: /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : text };
}

/** An --image file as /judge's images take it: bare base64. */
async function imageField(file: string): Promise<string> {
  try {
    return (await readFile(file)).toString("base64");
  } catch (err) {
    throw new UsageError(`--image: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** /judge's refusal as the CLI's: the request's fault exits 2, anything else 1, with HTTP's detail. */
function cliError(err: ApiError): Error {
  if (err.status === 400 || err.status === 422) return new RequestError(err.detail);
  // An internal error's detail is generic for HTTP clients; the terminal may see the cause.
  return new Error(err.code === "internal" && err.cause instanceof Error ? err.cause.message : err.detail);
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
  if (err instanceof RequestError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
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
