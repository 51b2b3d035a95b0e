// `r1judge eval`'s parts: reading items (bad rows counted, never fatal), scoring (Voting@K from one
// request's samples, Any@K, order agreement, ties never correct), and judging through a real server.

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
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
  assert.deepEqual(fresh, first, "seeded per item: the same verdicts again");
});
