// results.jsonl read back (results.ts) and shown (view.ts), without a server: every line checked
// field by field, problems named by line and field (what the console's 422 and a refused resume
// show), an interrupted last line tolerated and cut off before a resume appends, and the evaluation
// view's numbers being score()'s, its mistakes exactly the items the judge got wrong.

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { EvalItem } from "../../src/evaluation/items.js";
import { parseResults, resumableResults } from "../../src/evaluation/results.js";
import { evaluate } from "../../src/evaluation/run.js";
import { type JudgedItem, score } from "../../src/evaluation/scores.js";
import { evaluationView } from "../../src/evaluation/view.js";

function judged(id: string, fields: Partial<JudgedItem> = {}): JudgedItem {
  return {
    id,
    category: "chat",
    label: 1,
    greedy: 1,
    greedySwapped: 1,
    votes: [1, 1, 1],
    completionTokens: 30,
    ...fields,
  };
}

const lines = (...rows: unknown[]) =>
  rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n");

test("parseResults: valid lines in order of first appearance, a later line for an id replaces it, blank lines ignored", () => {
  const a = judged("a", { question: "Q?", responses: ["x", "y"], reasoning: { given: "r", swapped: null } });
  const b = judged("b", { category: "code", label: 2, greedy: 2, greedySwapped: 2, votes: [2, null] });
  const aAgain = judged("a", { greedy: 2 });
  const { items, problems } = parseResults(`${lines(a, "", b, "   ", aAgain)}\n\n`);
  assert.deepEqual(problems, []);
  assert.deepEqual(items, [aAgain, b]);
  assert.deepEqual(parseResults(""), { items: [], problems: [] });
});

test("parseResults: each problem names its 1-based line and the field at fault; a non-JSON line is field `line`", () => {
  const text = lines(
    judged("ok"),
    "",
    { ...judged("v"), votes: [1, "x"] },
    { ...judged("p"), probabilities: [[0.5, 0.5], null, [0.2, 1.5]], votes: [1, 1, 1] },
    { ...judged("l"), label: 3 },
    "{not json",
    judged("after"),
  );
  const { items, problems } = parseResults(text);
  assert.deepEqual(
    items.map((j) => j.id),
    ["ok", "after"],
    "a line with a problem is left out, the others are kept",
  );
  assert.deepEqual(
    problems.map(({ line, field }) => ({ line, field })),
    [
      { line: 3, field: "votes[1]" },
      { line: 4, field: "probabilities[2][1]" },
      { line: 5, field: "label" },
      { line: 6, field: "line" },
    ],
  );
  for (const p of problems) assert.ok(p.message.length > 0);
  const nested = parseResults(lines({ ...judged("q"), probabilities: [[0.5, -1]] }));
  assert.equal(nested.problems[0]?.field, "probabilities[0][1]");
  const missing = parseResults(lines({ id: "m", category: "chat" }));
  assert.ok(missing.problems.some((p) => p.line === 1 && p.field === "label"));
  assert.equal(parseResults("42").problems[0]?.field, "line", "JSON that is not an object");
});

test("resumableResults: a last line cut short is tolerated (its item is judged again); anything else throws naming file, line and field", () => {
  const good = lines(judged("a"), judged("b"));
  const cut = `${good}\n{"id":"c","category":"ch`;
  assert.deepEqual(
    resumableResults(cut, "out/results.jsonl").map((j) => j.id),
    ["a", "b"],
  );
  assert.deepEqual(
    resumableResults(`${cut}\n\n`, "out/results.jsonl").map((j) => j.id),
    ["a", "b"],
  );
  assert.throws(
    () => resumableResults(`${lines(judged("a"), "{broken", judged("b"))}\n`, "out/results.jsonl"),
    (err: Error) => err instanceof Error && /^out\/results\.jsonl: line 2, line: /.test(err.message),
  );
  assert.throws(
    () => resumableResults(lines(judged("a"), { ...judged("b"), votes: ["x"] }, judged("c")), "r.jsonl"),
    /^Error: r\.jsonl: line 2, votes\[0\]: /,
  );
  // A whole last line of JSON with a wrong field is not an interruption: another file.
  assert.throws(
    () => resumableResults(lines(judged("a"), { ...judged("b"), greedy: 3 }), "r.jsonl"),
    /line 2, greedy/,
  );
});

test("resuming an interrupted run cuts its half-written last line off, so the next item's line starts clean", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-results-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "results.jsonl");
  const item = (id: string): EvalItem => ({
    id,
    question: "q",
    responses: ["x", "y"],
    label: 1,
    images: [],
    category: "chat",
    group: id,
  });
  const whole = `${lines(judged("a"), judged("b"))}\n`;
  // Every item is already judged, so no server is asked (nothing listens at this address).
  const options = { url: "http://127.0.0.1:9", k: 3, seed: 1, concurrency: 1, resultsFile: file };
  await writeFile(file, `${whole}{"id":"c","category":"ch`);
  const done = await evaluate([item("a"), item("b")], options);
  assert.deepEqual(
    done.map((j) => j.id),
    ["a", "b"],
  );
  assert.equal(await readFile(file, "utf8"), whole, "the cut line is gone; the next append starts a line");
  // A whole last line that only lacks its newline is kept, and gets the newline.
  await writeFile(file, whole.trimEnd());
  await evaluate([item("a"), item("b")], options);
  assert.equal(await readFile(file, "utf8"), whole);
  assert.deepEqual(
    parseResults(`${await readFile(file, "utf8")}${JSON.stringify(judged("c"))}\n`).problems,
    [],
  );
});

test("evaluationView: k, per-category rows equal to score() of their items, and exactly the wrong items as mistakes", () => {
  const right = judged("right", { category: "chat", votes: [1, 1, 1] });
  // Greedy wrong as given, right when swapped: the verdict follows the position.
  const flips = judged("flips", {
    category: "reasoning",
    greedy: 2,
    greedySwapped: 1,
    votes: [1, 1, 2, 1, 1],
    question: "Which is larger, 47 or 74?",
    responses: ["74", "47"],
    reasoning: { given: "the second", swapped: "the first" },
  });
  // Greedy right in both orders, but the vote at K is wrong.
  const outvoted = judged("outvoted", {
    category: "code",
    label: 2,
    greedy: 2,
    greedySwapped: 2,
    votes: [1, 1, 2],
  });
  // Majority at K is wrong but confidence (what /judge answers by default) is right: not a mistake.
  const confident = judged("confident", {
    category: "code",
    votes: [1, 2, 2],
    probabilities: [
      [0.99, 0.01],
      [0.45, 0.55],
      [0.45, 0.55],
    ],
  });
  // No greedy verdict at all: wrong, and counted as flipping (null against 2).
  const silent = judged("silent", {
    category: "chat",
    label: 2,
    greedy: null,
    greedySwapped: 2,
    votes: [2, 2],
  });
  const items = [right, flips, outvoted, confident, silent];
  const view = evaluationView(items);

  assert.equal(view.k, 5, "the longest votes list");
  assert.deepEqual(view.scores, score(items, [1, 2, 3, 4, 5]));
  assert.deepEqual(
    view.categories.map((c) => c.category),
    ["chat", "code", "reasoning"],
  );
  for (const row of view.categories) {
    const s = score(
      items.filter((j) => j.category === row.category),
      [5],
    );
    assert.deepEqual(row, {
      category: row.category,
      items: s.items,
      greedy: s.greedy,
      votingAtK: s.votingAt[5],
      confidenceAtK: s.confidenceAt[5],
      orderAgreement: s.orderAgreement,
    });
  }
  assert.equal(view.categories.find((c) => c.category === "code")?.greedy, 1);
  assert.equal(view.categories.find((c) => c.category === "code")?.votingAtK, 0, "both outvoted by majority");
  assert.equal(view.categories.find((c) => c.category === "code")?.confidenceAtK, 0.5);

  assert.deepEqual(view.mistakes, [
    {
      id: "flips",
      category: "reasoning",
      label: 1,
      greedy: 2,
      greedySwapped: 1,
      votedAtK: 1,
      flipsWithOrder: true,
      question: "Which is larger, 47 or 74?",
      responses: ["74", "47"],
      reasoning: { given: "the second", swapped: "the first" },
    },
    {
      id: "outvoted",
      category: "code",
      label: 2,
      greedy: 2,
      greedySwapped: 2,
      votedAtK: 1,
      flipsWithOrder: false,
    },
    {
      id: "silent",
      category: "chat",
      label: 2,
      greedy: null,
      greedySwapped: 2,
      votedAtK: 2,
      flipsWithOrder: true,
    },
  ]);
  // Fields an older run did not record are absent, not undefined or null.
  const outvotedMistake = view.mistakes[1] as object;
  for (const field of ["question", "responses", "reasoning"])
    assert.equal(field in outvotedMistake, false, field);
});

test("evaluationView of items without votes: k is 1", () => {
  const view = evaluationView([judged("a", { votes: [] })]);
  assert.equal(view.k, 1);
  assert.equal(view.mistakes.length, 1, "no vote at K is never right");
});
