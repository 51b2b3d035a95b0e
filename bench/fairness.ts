// Fair shares under a mixed load, on the real server (the CLI, the demo model, queue 64): one client
// (X-Client-Id trainer) sends a /get_reward of 1,100 items while another (eval) sends single /judge
// calls one after another until the batch is answered. Prints the singles' 429 count and their
// p50/p99 latency under the batch against the same calls on the idle server. A benchmark: it prints
// numbers and asserts only that the batch was answered.
//
//   npm run bench:fairness                      # 1,100 items
//   npm run bench:fairness -- --items 256       # a smaller batch
//   npm run bench:fairness -- --root ../other   # another checkout's server (to compare)

import { parseArgs } from "node:util";
import { startChildServer } from "../test/support/child-server.js";

/** The q-quantile of `values` (nearest rank); NaN when empty. */
function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

const { values } = parseArgs({
  options: {
    items: { type: "string", default: "1100" },
    singles: { type: "string", default: "30" },
    "max-new-tokens": { type: "string", default: "16" },
    "max-queue": { type: "string", default: "64" },
    root: { type: "string" },
  },
});
const items = Number(values.items);
const maxNewTokens = values["max-new-tokens"] as string;

const chatml = (q: string) =>
  `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;
let asked = 0;
const question = () => `Which is larger, ${31 + asked} or ${407 + 13 * asked++}?`;

function post(url: string, path: string, client: string, body: unknown) {
  const started = performance.now();
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-client-id": client },
    body: JSON.stringify(body),
  }).then(async (r) => {
    await r.arrayBuffer();
    return { status: r.status, ms: performance.now() - started };
  });
}

const single = () => ({ question: question(), responses: ["The larger one.", "The smaller one."] });

function summary(label: string, answers: { status: number; ms: number }[]) {
  const ok = answers.filter((a) => a.status === 200).map((a) => a.ms);
  const p50 = percentile(ok, 0.5);
  const p99 = percentile(ok, 0.99);
  console.log(
    `${label.padEnd(22)} calls ${String(answers.length).padStart(4)}  429 ${String(answers.filter((a) => a.status === 429).length).padStart(4)}  ` +
      `p50 ${p50.toFixed(0).padStart(6)} ms  p99 ${p99.toFixed(0).padStart(6)} ms`,
  );
  return { p50, p99 };
}

const server = await startChildServer({
  args: ["--max-queue", values["max-queue"] as string, "--max-new-tokens", maxNewTokens],
  env: { R1JUDGE_REWARD_NO_VERDICT: "neutral" },
  ...(values.root ? { root: values.root } : {}),
});
try {
  // Unloaded: the singles alone (after one warm-up call).
  await post(server.url, "/judge", "eval", single());
  const idle: { status: number; ms: number }[] = [];
  for (let i = 0; i < Number(values.singles); i++)
    idle.push(await post(server.url, "/judge", "eval", single()));

  // Loaded: the same calls, one after another, for as long as the batch runs.
  const prompts = Array.from({ length: items }, () => chatml(question()));
  const started = performance.now();
  let batchDone = false;
  const batch = post(server.url, "/get_reward", "trainer", {
    query: prompts.map((p) => `${p}The larger one.<|im_end|>`),
    prompts,
    labels: prompts.map(() => "The smaller one."),
  }).finally(() => {
    batchDone = true;
  });
  const loaded: { status: number; ms: number }[] = [];
  while (!batchDone) loaded.push(await post(server.url, "/judge", "eval", single()));
  const answer = await batch;
  const batchSeconds = (performance.now() - started) / 1000;
  if (answer.status !== 200) throw new Error(`the batch got ${answer.status}`);

  console.log(
    `/get_reward of ${items} items (queue ${values["max-queue"]}, max_new_tokens ${maxNewTokens}): ${batchSeconds.toFixed(1)} s`,
  );
  const before = summary("singles, idle server", idle);
  const after = summary("singles, under batch", loaded);
  console.log(
    `latency ratio (loaded / idle): p50 ${(after.p50 / before.p50).toFixed(2)}×  p99 ${(after.p99 / before.p99).toFixed(2)}×`,
  );
} finally {
  await server.stop();
}
