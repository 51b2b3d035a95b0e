// `npm run bench:peers`: the peer table alone (npm run bench prints it after the engine's own tables).
//
//   npm run bench:peers -- [--model PATH] [--rounds N] [--new-tokens N] [--threads N]

import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { promptFor } from "../prompt.js";
import { benchPeers } from "./index.js";
import { formatPeers, summarizePeers } from "./report.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: path.join(ROOT, "bench/out/qwen2.5-0.5b") },
    rounds: { type: "string", default: "3" },
    "new-tokens": { type: "string", default: "32" },
    threads: { type: "string", default: String(os.availableParallelism()) },
  },
});

const dir = path.resolve(args.model);
if (!existsSync(path.join(dir, "r1judge.json")))
  throw new Error(`${dir}: no checkpoint (npm run bench generates bench/out/qwen2.5-0.5b on its first run)`);
const report = await benchPeers({
  checkpointDir: dir,
  inputIds: (await promptFor(dir)).inputIds,
  newTokens: Number(args["new-tokens"]),
  samples: 8,
  threads: Number(args.threads),
  rounds: Number(args.rounds),
  outDir: path.join(ROOT, "bench/out/peers"),
  python: path.join(ROOT, "training/.venv/bin/python"),
  progress: (message) => process.stderr.write(`[peers] ${message}\n`),
});
process.stdout.write(`${formatPeers(report)}\n${JSON.stringify(summarizePeers(report))}\n`);
