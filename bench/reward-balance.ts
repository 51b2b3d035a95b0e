// How gameable is the default /get_reward? Runs an in-process server on a checkpoint and sends
// OpenRLHF-shaped requests (one item per POST, no sampling fields: the server's defaults) for demo
// judging items (add, sub, compare, as training/src/r1judge_train/data/demo_task.py writes them):
//
//   identical  the policy's response is the reference itself: an unbiased reward averages 0.5
//   empty      the policy answered "" (only the end marker) against a correct reference
//   right      a correct response against a wrong reference (a good reward is > 0.5)
//   wrong      a wrong response against a correct reference (a good reward is < 0.5)
//
// and prints, per variant and group, the mean reward with its standard error, the share of rewards
// ≥ 0.99 (a full reward), the accuracy of right/wrong (reward on the right side of 0.5, ties count
// half), and the cost per item: engine samples drawn and wall time, items sent one at a time.
// The judgement and prefix caches are off so every item costs what a fresh one would. A variant is
// the server's default (`default`, what OpenRLHF gets) or a `samples` field in the body (`1`, `4`,
// …); the variants take turns item by item, so a machine busy with other work slows them alike.
//
//   node --import tsx bench/reward-balance.ts [--items 120] [--seed 7] [--model models/demo]
//        [--variants default,1,4]
//        [--reward-samples N]   (R1JUDGE_REWARD_SAMPLES; default: the server's)
//        [--system TEXT]        (a system turn in every prompt)
//
// The last stdout line is one JSON object with every number.

import { parseArgs } from "node:util";
import pino from "pino";
import { loadConfig } from "../src/config.js";
import { startServer } from "../src/main.js";

const { values: args } = parseArgs({
  options: {
    items: { type: "string", default: "120" },
    seed: { type: "string", default: "7" },
    model: { type: "string", default: "models/demo" },
    "reward-samples": { type: "string" },
    variants: { type: "string", default: "default" },
    system: { type: "string" },
  },
});
const N = Number(args.items);

/** mulberry32: a small seeded PRNG, so every run sends the same items. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(Number(args.seed));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

const QUESTIONS = {
  add: ["What is {a} + {b}?", "Compute {a} + {b}.", "How much is {a} plus {b}?", "{a} + {b} = ?"],
  sub: ["What is {a} - {b}?", "Compute {a} - {b}.", "How much is {a} minus {b}?", "{a} - {b} = ?"],
  compare: [
    "Which is larger, {a} or {b}?",
    "Which number is bigger: {a} or {b}?",
    "Of {a} and {b}, which is greater?",
    "Which is more, {a} or {b}?",
  ],
} as const;
const FAMILIES = {
  add: ["{v}", "The answer is {v}.", "It equals {v}.", "{v} is the answer."],
  sub: ["{v}", "The answer is {v}.", "It equals {v}.", "{v} is the answer."],
  compare: ["{v}", "The larger number is {v}.", "{v} is larger.", "It is {v}."],
} as const;

interface Item {
  question: string;
  right: string;
  wrong: string;
}

function item(): Item {
  const task = pick(["add", "sub", "compare"] as const);
  let a: number;
  let b: number;
  let truth: number;
  let wrong: number;
  if (task === "compare") {
    a = int(10, 99);
    do b = int(10, 99);
    while (b === a);
    truth = Math.max(a, b);
    wrong = Math.min(a, b);
  } else {
    a = int(0, 9);
    b = task === "add" ? int(0, 9) : int(0, a);
    truth = task === "add" ? a + b : a - b;
    const near = [-2, -1, 1, 2].map((d) => truth + d).filter((v) => v >= 0);
    wrong = pick(near);
  }
  const family = pick(FAMILIES[task]);
  return {
    question: pick(QUESTIONS[task]).replace("{a}", String(a)).replace("{b}", String(b)),
    right: family.replace("{v}", String(truth)),
    wrong: family.replace("{v}", String(wrong)),
  };
}

const system = args.system === undefined ? "" : `<|im_start|>system\n${args.system}<|im_end|>\n`;
const chatml = (q: string) => `${system}<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;

const config = loadConfig(
  [
    "--port",
    "0",
    "--model",
    args.model,
    "--cache-entries",
    "0",
    "--prefix-cache-mb",
    "0",
    ...(args["reward-samples"] ? ["--reward-samples", args["reward-samples"]] : []),
  ],
  {},
);
const server = await startServer(config, pino({ level: "silent" }));
await server.ready;

interface Outcome {
  reward: number;
  samples: number;
  ms: number;
}

const VARIANTS = (args.variants as string).split(",").map((v) => v.trim());

async function reward(
  variant: string,
  question: string,
  response: string,
  reference: string,
): Promise<Outcome> {
  const prompt = chatml(question);
  const body = {
    query: [`${prompt}${response}<|im_end|>`],
    prompts: [prompt],
    labels: [reference],
    ...(variant === "default" ? {} : { samples: Number(variant) }),
  };
  const t0 = performance.now();
  const res = await fetch(`${server.url}/get_reward`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const ms = performance.now() - t0;
  const json = (await res.json()) as {
    rewards: number[];
    extra_logs: Record<string, number[]>;
  };
  if (res.status !== 200) throw new Error(`${res.status}: ${JSON.stringify(json)}`);
  const logs = json.extra_logs;
  const drawn = (logs.votes_for?.[0] ?? 0) + (logs.votes_against?.[0] ?? 0) + (logs.invalid?.[0] ?? 0);
  return { reward: json.rewards[0] as number, samples: drawn, ms };
}

function summary(outcomes: Outcome[], correctSide?: "high" | "low") {
  const n = outcomes.length;
  const rewards = outcomes.map((o) => o.reward);
  const mean = rewards.reduce((s, r) => s + r, 0) / n;
  const variance = rewards.reduce((s, r) => s + (r - mean) ** 2, 0) / (n - 1);
  const accuracy =
    correctSide === undefined
      ? undefined
      : rewards.reduce((s, r) => s + (r === 0.5 ? 0.5 : r > 0.5 === (correctSide === "high") ? 1 : 0), 0) / n;
  return {
    items: n,
    mean: round(mean),
    stderr: round(Math.sqrt(variance / n)),
    full_reward_share: round(rewards.filter((r) => r >= 0.99).length / n),
    ...(accuracy !== undefined ? { accuracy: round(accuracy) } : {}),
    samples_per_item: round(outcomes.reduce((s, o) => s + o.samples, 0) / n),
    ms_per_item: round(outcomes.reduce((s, o) => s + o.ms, 0) / n, 1),
  };
}
const round = (x: number, digits = 4) => Number(x.toFixed(digits));

const items = Array.from({ length: N }, item);
const GROUPS = { identical: undefined, empty: undefined, right: "high", wrong: "low" } as const;
type Group = keyof typeof GROUPS;
const outcomes = new Map<string, Outcome[]>(
  VARIANTS.flatMap((v) => Object.keys(GROUPS).map((g) => [`${v}/${g}`, []] as [string, Outcome[]])),
);
for (const [k, it] of items.entries()) {
  const pairs: Record<Group, [string, string]> = {
    identical: [it.right, it.right],
    empty: ["", it.right],
    right: [it.right, it.wrong],
    wrong: [it.wrong, it.right],
  };
  for (const [group, [response, reference]] of Object.entries(pairs)) {
    for (const v of VARIANTS)
      outcomes.get(`${v}/${group}`)?.push(await reward(v, it.question, response, reference));
  }
  if ((k + 1) % 20 === 0) process.stderr.write(`${k + 1}/${N} items\n`);
}
await server.stop();

const result = {
  model: args.model,
  items: N,
  reward_samples: config.rewardSamples,
  variants: Object.fromEntries(
    VARIANTS.map((v) => [
      v,
      Object.fromEntries(
        (Object.keys(GROUPS) as Group[]).map((g) => [g, summary(outcomes.get(`${v}/${g}`) ?? [], GROUPS[g])]),
      ),
    ]),
  ),
};
console.log("variant  group      items  mean   ±stderr  full(≥.99)  accuracy  samples/item  ms/item");
for (const v of VARIANTS) {
  for (const g of Object.keys(GROUPS) as Group[]) {
    const s = summary(outcomes.get(`${v}/${g}`) ?? [], GROUPS[g]);
    console.log(
      `${v.padEnd(8)} ${g.padEnd(10)} ${String(s.items).padStart(5)}  ${s.mean.toFixed(3)}  ±${s.stderr.toFixed(3)}   ${s.full_reward_share.toFixed(3)}       ${s.accuracy?.toFixed(3) ?? "  -  "}     ${s.samples_per_item.toFixed(2).padStart(5)}        ${s.ms_per_item.toFixed(1)}`,
    );
  }
}
console.log(JSON.stringify(result));
