// The engines a user would pick instead of ours, on the same weights, the same prompt tokens and the
// same threads, interleaved in one run: llama.cpp (node-llama-cpp, on GGUF files written from the same
// PyTorch weights), PyTorch eager with HF `generate` (R1-Reward's own code path), and ours. Every
// round of every engine is a child process of its own (bench/peers/protocol.ts), so each one's peak
// memory is its own and no engine warms another's caches; rounds rotate their order so no engine
// always runs right after another. Medians over the rounds.

import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { median } from "../ours.js";
import { ensureGguf } from "./llamacpp-setup.js";
import { type PeerRound, PRECISIONS, type Precision, parseRound } from "./protocol.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const ROUND_TIMEOUT_MS = 15 * 60_000;
/** Greedy tokens compared between llama.cpp (f32) and PyTorch before llama.cpp's times are trusted. */
const AGREE_TOKENS = 8;
/** Top-1 − top-2 logit below which a greedy pick is a near-tie that float rounding may flip. */
const NEAR_TIE = 0.05;

export type PeerEngine = PeerRound["engine"];

export interface PeerBenchOptions {
  checkpointDir: string;
  inputIds: readonly number[];
  newTokens: number;
  samples: number;
  threads: number;
  rounds: number;
  /** bench/out/peers: the prompt file, the GGUF files. */
  outDir: string;
  python: string;
  progress: (message: string) => void;
}

/** Medians of one engine at one precision over its rounds. */
export interface PeerCell {
  engine: PeerEngine;
  precision: Precision;
  format: string;
  rounds: number;
  loadMs: number;
  prefillTokPerSec: number;
  decodeTokPerSec: number;
  k1Ms: number;
  kMs: number;
  peakRssBytes: number;
  note?: string;
}

export interface GreedyCheck {
  /** Leading greedy tokens on which llama.cpp's f32 run and PyTorch's agree. */
  agreeing: number;
  compared: number;
  /** PyTorch's top-1 − top-2 logit at the first disagreement (a near-tie explains it). */
  marginAtDisagreement?: number;
  ok: boolean;
}

export interface PeerReport {
  promptTokens: number;
  newTokens: number;
  samples: number;
  threads: number;
  cells: PeerCell[];
  greedy?: GreedyCheck;
  /** Engines not measured, and why (set-up failed, the conversion disagrees with PyTorch…). */
  skipped: Partial<Record<PeerEngine, string>>;
}

interface Runner {
  engine: PeerEngine;
  precision: Precision;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

const run = promisify(execFile);

async function runRound(runner: Runner, common: string[]): Promise<PeerRound> {
  const { stdout } = await run(runner.command, [...runner.args, ...common], {
    cwd: ROOT,
    env: { ...process.env, ...runner.env },
    maxBuffer: 64 << 20,
    timeout: ROUND_TIMEOUT_MS,
  });
  return parseRound(stdout);
}

function summarize(rounds: PeerRound[]): PeerCell {
  const first = rounds[0] as PeerRound;
  return {
    engine: first.engine,
    precision: first.precision,
    format: first.format,
    rounds: rounds.length,
    loadMs: median(rounds.map((r) => r.loadMs)),
    prefillTokPerSec: median(rounds.map((r) => r.promptTokens / (r.prefillMs / 1000))),
    decodeTokPerSec: median(rounds.map((r) => r.decodeTokPerSec)),
    k1Ms: median(rounds.map((r) => r.k1Ms)),
    kMs: median(rounds.map((r) => r.kMs)),
    peakRssBytes: Math.max(...rounds.map((r) => r.peakRssBytes)),
    ...(first.note ? { note: first.note } : {}),
  };
}

/** Agreement up to the first disagreement, and whether PyTorch's own pick there was a near-tie. */
export function checkGreedy(llama: PeerRound, torch: PeerRound, compared = AGREE_TOKENS): GreedyCheck {
  let agreeing = 0;
  while (agreeing < compared && llama.greedyTokens[agreeing] === torch.greedyTokens[agreeing]) agreeing++;
  if (agreeing === compared) return { agreeing, compared, ok: true };
  const margin = torch.greedyMargins?.[agreeing];
  // A first token that differs means different weights or a different graph, whatever the margin.
  const ok = agreeing > 0 && margin !== undefined && margin < NEAR_TIE;
  return { agreeing, compared, ok, ...(margin !== undefined ? { marginAtDisagreement: margin } : {}) };
}

export async function benchPeers(o: PeerBenchOptions): Promise<PeerReport> {
  mkdirSync(o.outDir, { recursive: true });
  const promptFile = path.join(o.outDir, "prompt.json");
  writeFileSync(promptFile, JSON.stringify({ inputIds: o.inputIds }));
  const common = [
    "--prompt",
    promptFile,
    "--new-tokens",
    String(o.newTokens),
    "--samples",
    String(o.samples),
    "--threads",
    String(o.threads),
    "--seed",
    "7",
  ];
  const skipped: PeerReport["skipped"] = {};
  const tsx = (file: string) => ["--import", "tsx", path.join(ROOT, "bench/peers", file)];

  const ours: Runner[] = PRECISIONS.map((precision) => ({
    engine: "r1-judge",
    precision,
    command: process.execPath,
    args: [...tsx("ours.ts"), "--model", o.checkpointDir, "--precision", precision],
    // The allocator setting the server runs with (bin/r1judge, npm start, the container).
    env: { MALLOC_MMAP_THRESHOLD_: "1048576" },
  }));
  const torch: Runner = {
    engine: "pytorch",
    precision: "fp32",
    command: o.python,
    args: [
      path.join(ROOT, "bench/peers/torch_generate.py"),
      "--model",
      o.checkpointDir,
      "--precision",
      "fp32",
    ],
  };
  let llama: Runner[] = [];
  try {
    o.progress("peers: GGUF files for llama.cpp (written once, from the same PyTorch weights)");
    const files = await ensureGguf(o.checkpointDir, path.join(o.outDir, "gguf"), PRECISIONS);
    llama = PRECISIONS.map((precision) => ({
      engine: "llama.cpp",
      precision,
      command: process.execPath,
      args: [...tsx("llamacpp.ts"), "--model", files[precision] ?? "", "--precision", precision],
    }));
  } catch (err) {
    skipped["llama.cpp"] = `set-up failed: ${err instanceof Error ? err.message : String(err)}`;
  }

  const results = new Map<string, PeerRound[]>();
  const record = (r: PeerRound) => {
    const key = `${r.engine}/${r.precision}`;
    results.set(key, [...(results.get(key) ?? []), r]);
  };
  const attempt = async (runner: Runner): Promise<PeerRound | undefined> => {
    if (skipped[runner.engine]) return undefined;
    o.progress(`peers: ${runner.engine} ${runner.precision}`);
    try {
      const round = await runRound(runner, common);
      record(round);
      return round;
    } catch (err) {
      const e = err as { stderr?: string; message?: string };
      skipped[runner.engine] = (e.stderr?.trim().split("\n").at(-1) ?? e.message ?? String(err)).slice(
        0,
        400,
      );
      return undefined;
    }
  };

  // Before any timing is trusted: llama.cpp's f32 greedy tokens against PyTorch's on the same ids.
  let greedy: GreedyCheck | undefined;
  const torchFirst = await attempt(torch);
  const llamaF32 = llama[0] ? await attempt(llama[0]) : undefined;
  if (torchFirst && llamaF32) {
    greedy = checkGreedy(llamaF32, torchFirst);
    if (!greedy.ok) {
      skipped["llama.cpp"] =
        `its f32 greedy tokens agree with PyTorch's for ${greedy.agreeing} of ${greedy.compared} ` +
        `(not a near-tie: margin ${greedy.marginAtDisagreement ?? "?"}): the GGUF conversion is wrong`;
      results.delete("llama.cpp/fp32");
    }
  }
  // The rest of the rounds, interleaved: precision pairs side by side, the order rotating per round.
  for (let round = 0; round < o.rounds; round++) {
    const order: Runner[] = [];
    for (let p = 0; p < PRECISIONS.length; p++) {
      const pair = [ours[p], llama[p]].filter((r): r is Runner => r !== undefined);
      order.push(...(round % 2 ? pair.reverse() : pair));
      if (PRECISIONS[p] === "fp32") order.push(torch);
    }
    const rotated = [...order.slice(round % order.length), ...order.slice(0, round % order.length)];
    for (const runner of rotated) {
      // Round one of PyTorch and llama.cpp f32 already ran for the check.
      if (round === 0 && (runner === torch || runner === llama[0])) continue;
      await attempt(runner);
    }
  }
  return {
    promptTokens: o.inputIds.length,
    newTokens: o.newTokens,
    samples: o.samples,
    threads: o.threads,
    cells: [...results.values()].map(summarize),
    ...(greedy ? { greedy } : {}),
    skipped,
  };
}
