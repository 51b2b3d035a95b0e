// The peer table (every engine × precision, medians) and the ratios the issue sets goals on.

import { fmt, round, table } from "../stats.js";
import type { PeerCell, PeerReport } from "./index.js";
import type { Precision } from "./protocol.js";

const GOAL_K1_OVER_LLAMA = 1.25;
const GOAL_K8_OVER_LLAMA = 3;
const GOAL_K8_OVER_TORCH = 6;

const mib = (bytes: number) => bytes / 2 ** 20;

function cell(r: PeerReport, engine: PeerCell["engine"], precision: Precision): PeerCell | undefined {
  return r.cells.find((c) => c.engine === engine && c.precision === precision);
}

function ratio(theirs: number | undefined, ours: number | undefined, goal?: number): string {
  if (theirs === undefined || ours === undefined) return "–";
  const x = theirs / ours;
  return goal === undefined ? `${fmt(x, 2)}×` : `${fmt(x, 2)}× ${x >= goal ? "(met)" : `(goal ${goal}×)`}`;
}

export function formatPeers(r: PeerReport): string {
  const out: string[] = [];
  out.push(
    `== peers: same weights, ${r.threads} threads, ${r.promptTokens}-token judge prompt, ${r.newTokens} new tokens, ` +
      `K = ${r.samples}; medians of interleaved rounds, each in its own process`,
  );
  if (r.greedy)
    out.push(
      `llama.cpp f32 greedy vs PyTorch: ${r.greedy.agreeing} of ${r.greedy.compared} first tokens agree` +
        (r.greedy.marginAtDisagreement !== undefined
          ? ` (then a near-tie: PyTorch's top-1 − top-2 logit ${fmt(r.greedy.marginAtDisagreement, 4)})`
          : "") +
        (r.greedy.ok ? "" : " — CONVERSION SUSPECT"),
    );
  const order: PeerCell["engine"][] = ["r1-judge", "llama.cpp", "pytorch"];
  const rows = [...r.cells].sort(
    (a, b) =>
      a.precision.localeCompare(b.precision) * 10 + (order.indexOf(a.engine) - order.indexOf(b.engine)),
  );
  out.push(
    table(
      [
        "engine",
        "weights",
        "rounds",
        "prefill tok/s",
        "decode tok/s, batch 1",
        "K=1 greedy judgement ms",
        `K=${r.samples} judgement ms`,
        "peak RSS MiB",
        "load ms",
      ],
      rows.map((c) => [
        c.engine,
        c.format,
        c.rounds,
        fmt(c.prefillTokPerSec, 0),
        fmt(c.decodeTokPerSec, 2),
        fmt(c.k1Ms, 0),
        fmt(c.kMs, 0),
        fmt(mib(c.peakRssBytes), 0),
        fmt(c.loadMs, 0),
      ]),
    ),
  );
  const precisions: Precision[] = ["fp32", "int8", "int4"];
  out.push("");
  out.push("r1-judge ahead by (their time ÷ ours):");
  out.push(
    table(
      [
        "ours / llama.cpp",
        "K=1 vs llama.cpp",
        `K=${r.samples} vs llama.cpp`,
        `K=${r.samples} vs PyTorch eager`,
      ],
      precisions.map((p) => {
        const ours = cell(r, "r1-judge", p);
        const llama = cell(r, "llama.cpp", p);
        const torch = cell(r, "pytorch", p);
        return [
          `${p} / ${llama?.format ?? "–"}`,
          ratio(llama?.k1Ms, ours?.k1Ms, GOAL_K1_OVER_LLAMA),
          ratio(llama?.kMs, ours?.kMs, GOAL_K8_OVER_LLAMA),
          torch ? ratio(torch.kMs, ours?.kMs, GOAL_K8_OVER_TORCH) : "–",
        ];
      }),
    ),
  );
  for (const c of rows) if (c.note) out.push(`${c.engine} ${c.precision}: ${c.note}`);
  for (const [engine, why] of Object.entries(r.skipped)) out.push(`${engine}: not measured: ${why}`);
  return out.join("\n");
}

export function summarizePeers(r: PeerReport) {
  const r3 = (v: number) => round(v, 3);
  return {
    promptTokens: r.promptTokens,
    newTokens: r.newTokens,
    samples: r.samples,
    threads: r.threads,
    greedy: r.greedy ?? null,
    skipped: r.skipped,
    cells: r.cells.map((c) => ({
      engine: c.engine,
      precision: c.precision,
      format: c.format,
      rounds: c.rounds,
      prefillTokPerSec: r3(c.prefillTokPerSec),
      decodeTokPerSec: r3(c.decodeTokPerSec),
      k1Ms: r3(c.k1Ms),
      kMs: r3(c.kMs),
      peakRssMiB: r3(mib(c.peakRssBytes)),
      loadMs: r3(c.loadMs),
    })),
  };
}
