// Judges evaluation items through a running server's /judge with the typed client (src/client), as
// any user would: a greedy verdict in both orders and one request of K samples per item. Results
// append to a JSONL file as items finish, so an interrupted run resumes where it stopped.

import { appendFile, readFile, truncate } from "node:fs/promises";
import { type JudgeRequest, R1JudgeClient } from "../client/client.js";
import type { EvalItem } from "./items.js";
import { resumableResults } from "./results.js";
import type { JudgedItem, Verdict } from "./scores.js";

export interface EvalOptions {
  url: string;
  apiKey?: string;
  /** Samples per item (Voting@K is scored for every K up to this). */
  k: number;
  seed: number;
  concurrency: number;
  maxNewTokens?: number;
  timeoutMs?: number;
  /** JSONL of judged items: read to resume, appended to as items finish. */
  resultsFile?: string;
  onItem?: (done: number, total: number) => void;
}

interface JudgeAnswer {
  samples: { verdict: Verdict; probabilities?: [number, number]; reasoning?: string }[];
  winner: Verdict;
  usage: { completion_tokens: number };
}

/** FNV-1a of the id: an item keeps its seed whatever the file's order, limit or resumption. */
function itemSeed(base: number, id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return (base + h) % 2 ** 31;
}

const swap = (v: Verdict): Verdict => (v === null ? null : v === 1 ? 2 : 1);

/** /judge through the typed client (retries 429/503 after Retry-After, like any client should). */
async function post(client: R1JudgeClient, body: JudgeRequest): Promise<JudgeAnswer> {
  return (await client.judge(body)) as JudgeAnswer;
}

async function images(item: EvalItem): Promise<string[]> {
  return Promise.all(item.images.map(async (file) => (await readFile(file)).toString("base64")));
}

async function judgeItem(client: R1JudgeClient, item: EvalItem, options: EvalOptions): Promise<JudgedItem> {
  const started = performance.now();
  const common = {
    question: item.question,
    images: await images(item),
    ...(options.maxNewTokens ? { max_new_tokens: options.maxNewTokens } : {}),
    ...(options.timeoutMs ? { timeout_ms: options.timeoutMs } : {}),
  };
  // The greedy verdicts keep their reasoning: a wrong one is read to see why (the console shows it).
  const [given, swapped, sampled] = await Promise.all([
    post(client, { ...common, responses: item.responses, return_reasoning: true }),
    post(client, { ...common, responses: [item.responses[1], item.responses[0]], return_reasoning: true }),
    post(client, {
      ...common,
      responses: item.responses,
      samples: options.k,
      seed: itemSeed(options.seed, item.id),
      early_stop: false,
    }),
  ]);
  return {
    id: item.id,
    category: item.category,
    group: item.group,
    label: item.label,
    greedy: given.winner,
    greedySwapped: swap(swapped.winner),
    votes: sampled.samples.map((s) => s.verdict),
    probabilities: sampled.samples.map((s) => s.probabilities ?? null),
    completionTokens:
      given.usage.completion_tokens + swapped.usage.completion_tokens + sampled.usage.completion_tokens,
    ms: Math.round(performance.now() - started),
    question: item.question,
    responses: item.responses,
    reasoning: {
      given: given.samples[0]?.reasoning ?? null,
      swapped: swapped.samples[0]?.reasoning ?? null,
    },
  };
}

async function finished(file: string | undefined): Promise<Map<string, JudgedItem>> {
  const text = file ? await readFile(file, "utf8").catch(() => "") : "";
  const done = new Map(resumableResults(text, file ?? "results").map((judged) => [judged.id, judged]));
  // A last line cut short by an interruption has no newline: the next item would be appended onto
  // it, leaving a broken line in the middle that the next resume (and the console) refuses. Cut it
  // off (its item is judged again); a whole last line that only lacks its newline gets one.
  if (file && text && !text.endsWith("\n")) {
    const cut = text.lastIndexOf("\n") + 1;
    const last = text.slice(cut);
    if (resumableResults(last, file).length > 0) await appendFile(file, "\n");
    else await truncate(file, Buffer.byteLength(text.slice(0, cut)));
  }
  return done;
}

export async function evaluate(items: readonly EvalItem[], options: EvalOptions): Promise<JudgedItem[]> {
  const done = await finished(options.resultsFile);
  const todo = items.filter((item) => !done.has(item.id));
  const client = new R1JudgeClient(options.url, {
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    attempts: 30,
  });
  let next = 0;
  let count = items.length - todo.length;
  const lane = async () => {
    while (next < todo.length) {
      const item = todo[next++] as EvalItem;
      const judged = await judgeItem(client, item, options);
      done.set(item.id, judged);
      if (options.resultsFile) await appendFile(options.resultsFile, `${JSON.stringify(judged)}\n`);
      options.onItem?.(++count, items.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, lane));
  return items.map((item) => done.get(item.id)).filter((j): j is JudgedItem => j !== undefined);
}
