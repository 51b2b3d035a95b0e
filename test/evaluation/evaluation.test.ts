// `r1judge eval`'s parts: reading items (bad rows counted, never fatal), scoring (Voting@K from one
// request's samples, Any@K, order agreement, ties never correct), and judging through a real server.

import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { readItems } from "../../src/evaluation/items.js";
import { report } from "../../src/evaluation/report.js";
import { evaluate } from "../../src/evaluation/run.js";
import { type JudgedItem, majority, score } from "../../src/evaluation/scores.js";
import { type RunningServer, startServer } from "../../src/main.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
let dir = "";
let server: RunningServer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "r1judge-eval-"));
  server = await startServer(
    loadConfig(["--port", "0", "--max-new-tokens", "64"]),
    pino({ level: "silent" }),
  );
  await server.ready;
});

after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("items: both layouts read; bad rows are counted with their line and reason", async () => {
  const file = path.join(dir, "items.jsonl");
  const rows = [
    { id: "a", question: "Which is larger, 47 or 74?", responses: ["74", "47"], label: 1, task: "compare" },
    { question: "What colour?", chosen: "Red.", rejected: "Blue.", images: ["red.png"], category: "colour" },
    { id: "c", question: "q", responses: ["x"], label: 1 },
    { id: "d", question: "q", responses: ["x", "y"], label: 3 },
    { id: "e", question: "", chosen: "a", rejected: "b" },
    { id: "f", question: "q", chosen: "a", rejected: "  " },
    "not an object",
  ];
  await writeFile(file, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n{broken\n`);
  await copyFile(path.join(ROOT, "docs/examples/red-circle.png"), path.join(dir, "red.png"));
  const { items, skipped } = await readItems(file);
  assert.deepEqual(
    items.map((i) => [i.id, i.label, i.category]),
    [
      ["a", 1, "compare"],
      ["line-2", 1, "colour"],
    ],
  );
  assert.deepEqual(items[1]?.images, [path.join(dir, "red.png")]);
  assert.deepEqual(
    skipped.map((s) => s.line),
    [3, 4, 5, 6, 7, 8],
  );
  assert.match(
    skipped.map((s) => s.reason).join(";"),
    /two strings;label must be 1 or 2;no question;an empty response;not an object;not JSON/,
  );
});

test("benchmark layouts: VL-RewardBench (both forms), Multimodal RewardBench, MM-RLHF; unjudgeable rows counted", async () => {
  const bench = path.join(dir, "bench");
  await mkdir(path.join(bench, "mcq"), { recursive: true });
  await mkdir(path.join(bench, "img"), { recursive: true });
  for (const f of ["mcq/1.png", "img/2.png"])
    await copyFile(path.join(ROOT, "docs/examples/red-circle.png"), path.join(bench, f));
  const rows = [
    // VL-RewardBench as released: human_ranking puts the second response first.
    {
      id: "mathverse_12",
      query: "Q1",
      response: ["worse", "better"],
      image: "img/2.png",
      human_ranking: [1, 0],
    },
    // As R1-Reward converted it.
    { id: "RLAIF-7", prompt: "Q2", chosen: "good", rejected: "bad", image: "img/2.png" },
    { id: "wildvision-3", prompt: "Q3", chosen: "good", rejected: "bad", image: "img/missing.jpg" },
    { id: "unknownsrc_1", query: "Q4", response: ["a", "b"], image: "img/2.png", human_ranking: [0, 1] },
    // Multimodal RewardBench.
    { ID: "safety-bias-9", Text: "Q5", Image: "img/2.png", Output1: "o1", Output2: "o2", Better: "Output2" },
    { ID: "reasoning-math-1", Text: "Q6", Image: "img/2.png", Output1: "o1", Output2: "", Better: "Output1" },
    // MM-RLHF-RewardBench: two pairs of one prompt, and a video.
    { id: "000001_1", image: "mcq/1.png", prompt: "Q7", chosen: "c", rejected: "r" },
    { id: "000001_2", image: "mcq/1.png", prompt: "Q7", chosen: "c2", rejected: "r2" },
    { id: "000002_1", video: "video/1.mp4", prompt: "Q8", chosen: "c", rejected: "r" },
    { id: "x", unknown: true },
  ];
  const file = path.join(bench, "rows.jsonl");
  await writeFile(file, rows.map((r) => JSON.stringify(r)).join("\n"));
  const { items, skipped, layouts } = await readItems(file);
  assert.deepEqual(
    items.map((i) => [i.id, i.category, i.label, i.group, i.question]),
    [
      ["mathverse_12", "reasoning", 2, "mathverse_12", "Q1"],
      ["RLAIF-7", "hallucination", 1, "RLAIF-7", "Q2"],
      ["safety-bias-9", "safety/bias", 2, "safety-bias-9", "Q5"],
      ["000001_1", "mcq", 1, "000001", "Q7"],
      ["000001_2", "mcq", 1, "000001", "Q7"],
    ],
  );
  assert.deepEqual(layouts.sort(), ["mm-rlhf", "mmrb", "vl-rewardbench"]);
  assert.deepEqual(
    skipped.map((s) => [s.line, s.reason]),
    [
      [3, "image missing: img/missing.jpg"],
      [4, "unknown category: id prefix 'unknownsrc'"],
      [6, "an empty response"],
      [9, "video: not supported (the judge takes images)"],
      [10, "no known layout (docs/evaluation.md)"],
    ],
  );
});

test("scores: confidence aggregation, macro over categories, Acc+ over groups", () => {
  const base = { greedySwapped: 1 as const, completionTokens: 10 };
  const judged: JudgedItem[] = [
    // A 1-1 tie by count; the probabilities favour the label.
    {
      ...base,
      id: "p_1",
      group: "p",
      category: "a",
      label: 1,
      greedy: 1,
      votes: [1, 2],
      probabilities: [
        [0.9, 0.1],
        [0.4, 0.6],
      ],
    },
    {
      ...base,
      id: "p_2",
      group: "p",
      category: "a",
      label: 1,
      greedy: 2,
      votes: [1, 1],
      probabilities: [null, null],
    },
    {
      ...base,
      id: "q_1",
      group: "q",
      category: "b",
      label: 2,
      greedy: 2,
      votes: [2, 2],
      probabilities: [
        [0.2, 0.8],
        [0.1, 0.9],
      ],
    },
  ];
  const s = score(judged, [1, 2]);
  assert.deepEqual(s.votingAt, { 1: 1, 2: 2 / 3 });
  assert.deepEqual(s.confidenceAt, { 1: 1, 2: 1 });
  // Category a: greedy 1/2, b: 1/1 → macro 0.75; overall 2/3.
  assert.equal(s.macroGreedy, 0.75);
  assert.ok(Math.abs(s.greedy - 2 / 3) < 1e-12);
  // Group p has a wrong greedy item; group q is all right.
  assert.equal(s.accPlusGreedy, 0.5);
  assert.deepEqual(s.accPlusVotingAt, { 1: 1, 2: 0.5 });
  assert.equal(s.completionTokens, 30);
  const text = report("t", judged, [1, 2], [{ line: 4, reason: "image missing: a.png" }]);
  assert.match(text, /\| 2 \| 66\.7 % \| 100\.0 % \|/);
  assert.match(text, /Acc\+/);
  assert.match(text, /Skipped rows: 1 \(image missing: 1\)/);
});

test("scores: Voting@K is the majority of the first K samples; ties and invalid votes are wrong", () => {
  assert.equal(majority([1, 2, 1]), 1);
  assert.equal(majority([1, 2]), null);
  assert.equal(majority([null, null, 2]), 2);
  const judged: JudgedItem[] = [
    {
      id: "a",
      category: "x",
      label: 1,
      greedy: 1,
      greedySwapped: 1,
      votes: [2, 1, 1, null, 1],
      completionTokens: 0,
    },
    {
      id: "b",
      category: "y",
      label: 2,
      greedy: 1,
      greedySwapped: 2,
      votes: [2, 1, 1, 1, 1],
      completionTokens: 0,
    },
  ];
  const s = score(judged, [1, 3, 5]);
  assert.equal(s.greedy, 0.5);
  assert.equal(s.orderAgreement, 0.5);
  assert.deepEqual(s.votingAt, { 1: 0.5, 3: 0.5, 5: 0.5 });
  assert.deepEqual(s.anyAt, { 1: 0.5, 3: 1, 5: 1 });
  // b's better response is the second as given (greedy wrong) and the first when swapped (right).
  assert.equal(s.greedyFirst, 1);
  assert.equal(s.greedySecond, 0.5);
  assert.equal(s.invalidVotes, 0.1);
  assert.match(
    report("t", judged, [1, 3, 5], []),
    /\| all \| 2 \| 50\.0 % \| 50\.0 % \| 50\.0 % \| 50\.0 % \| 100\.0 % \| 50\.0 % \|/,
  );
});

test("judging through the server: samples in order, reproducible, resumable from the results file", async () => {
  const file = path.join(dir, "demo.jsonl");
  await writeFile(
    file,
    [
      { id: "t1", question: "Which is larger, 47 or 74?", responses: ["74", "47"], label: 1, kind: "text" },
      {
        id: "i1",
        question: "What colour is the shape?",
        responses: ["The shape is blue.", "The shape is red."],
        label: 2,
        kind: "image",
        images: [path.join(ROOT, "docs/examples/red-circle.png")],
      },
    ]
      .map((r) => JSON.stringify(r))
      .join("\n"),
  );
  const { items } = await readItems(file);
  const results = path.join(dir, "results.jsonl");
  const first = await evaluate(items, {
    url: server.url,
    k: 5,
    seed: 3,
    concurrency: 2,
    resultsFile: results,
  });
  assert.equal(first.length, 2);
  for (const j of first) assert.equal(j.votes.length, 5);
  assert.equal((await readFile(results, "utf8")).trim().split("\n").length, 2);
  // Resuming: nothing is judged again (the server would answer the same, but it is not even asked).
  let asked = 0;
  const again = await evaluate(items, {
    url: server.url,
    k: 5,
    seed: 3,
    concurrency: 2,
    resultsFile: results,
    onItem: () => asked++,
  });
  assert.deepEqual(again, first);
  assert.equal(asked, 0);
  const fresh = await evaluate(items, { url: server.url, k: 5, seed: 3, concurrency: 1 });
  const timeless = (js: JudgedItem[]) => js.map(({ ms, ...rest }) => rest);
  assert.deepEqual(timeless(fresh), timeless(first), "seeded per item: the same verdicts again");
  for (const j of first) {
    assert.ok(Number.isFinite(j.ms) && (j.ms as number) >= 0, "each item's time is kept");
    assert.equal(j.probabilities?.length, 5, "each sample's probabilities are kept");
  }
});
