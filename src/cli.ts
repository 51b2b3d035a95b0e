// `r1judge serve [flags]` runs the server; `r1judge judge --question … --response … --response …`
// judges one pair from the terminal (no HTTP: the engine runs in-process) and prints JSON.

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import pino from "pino";
import { ConfigError, engineOptions, loadConfig } from "./config.js";
import { EngineClient } from "./engine/client.js";
import { judgePair } from "./judge/judge.js";
import { startServer } from "./main.js";

const USAGE = `usage:
  r1judge serve [--model DIR] [--port N] [--host H] [...]     (see docs/config.md)
  r1judge judge --question TEXT --response TEXT --response TEXT [--image FILE]... [--samples N]
                [--temperature T] [--seed N] [--max-new-tokens N] [--model DIR] [--reasoning]`;

async function serve(argv: string[]): Promise<void> {
  const config = loadConfig(argv);
  const log = pino({ level: config.logLevel });
  const running = await startServer(config, log);
  running.ready.catch((err: unknown) => {
    log.fatal({ err }, "the model failed to load");
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
      samples: { type: "string", default: "1" },
      temperature: { type: "string" },
      seed: { type: "string", default: "0" },
      "max-new-tokens": { type: "string", default: "1024" },
      model: { type: "string" },
      reasoning: { type: "boolean", default: false },
    },
  });
  const responses = values.response ?? [];
  if (!values.question || responses.length !== 2)
    throw new UsageError("judge needs --question and exactly two --response");
  const samples = Number(values.samples);
  const config = loadConfig(values.model ? ["--model", values.model] : []);
  const engine = await EngineClient.start(engineOptions(config));
  try {
    const images = await Promise.all(
      (values.image ?? []).map(async (file) => new Uint8Array(await readFile(file))),
    );
    const judgement = await judgePair(engine, {
      question: values.question,
      responses: [responses[0] as string, responses[1] as string],
      images,
      samples,
      temperature: values.temperature !== undefined ? Number(values.temperature) : samples === 1 ? 0 : 1,
      topP: 1,
      topK: 0,
      maxNewTokens: Number(values["max-new-tokens"]),
      seed: Number(values.seed),
      order: samples > 1 ? "alternate" : "fixed",
      earlyStop: false,
      returnReasoning: values.reasoning,
    });
    process.stdout.write(`${JSON.stringify({ model: engine.model.id, ...judgement }, null, 2)}\n`);
  } finally {
    await engine.close();
  }
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === "serve") return serve(rest);
  if (command === "judge") return judge(rest);
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
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
