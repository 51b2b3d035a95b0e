// Votes are read by the checkpoint's verdict rule, whatever its shape: the demo's `<answer>1</answer>`
// and a `\boxed{A}` / `\boxed{B}` checkpoint's; text in the other shape is an invalid vote.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { parseVerdictSpec, VerdictSpecError } from "../../src/engine/verdict-spec.js";
import { type JudgeInput, judgePair } from "../../src/judge/judge.js";
import { VerdictReader } from "../../src/judge/verdict.js";
import { FakePort, firstResponse } from "./fake-port.js";
import { BOXED_RULE, DEMO_RULE, judgeInput } from "./verdict-rules.js";

const demo = new VerdictReader(DEMO_RULE);
const boxed = new VerdictReader(BOXED_RULE);

test("demo rule: the first answer tag holding exactly 1 or 2 (stripped); anything else is invalid", () => {
  assert.equal(demo.parse("<think>x</think><answer>2</answer>"), 2);
  assert.equal(demo.parse("<answer>\n 1 \n</answer>"), 1);
  assert.equal(demo.parse("<answer>1</answer><answer>2</answer>"), 1);
  assert.equal(demo.parse("<answer>3</answer>"), null);
  assert.equal(demo.parse("<answer>1 or 2</answer>"), null);
  assert.equal(demo.parse("Response 2 is better"), null);
  assert.equal(demo.parse("\\boxed{A}"), null);
  assert.equal(demo.reasoning("<think> a b </think><answer>1</answer>"), "a b");
  assert.equal(demo.reasoning("a b <answer>1</answer>"), "a b");
});

test("boxed rule: \\boxed{A} is verdict 1, \\boxed{B} verdict 2; <answer>1</answer> and other boxes are invalid", () => {
  assert.equal(boxed.parse("<think>x</think>\\boxed{A}"), 1);
  assert.equal(boxed.parse("so \\boxed{ B }"), 2);
  assert.equal(boxed.parse("\\boxed{B}\\boxed{A}"), 2, "the first match counts");
  assert.equal(boxed.parse("<answer>1</answer>"), null);
  assert.equal(boxed.parse("<answer>2</answer>"), null);
  assert.equal(boxed.parse("\\boxed{1}"), null, "the choices are A and B, not 1 and 2");
  assert.equal(boxed.parse("\\boxed{C}"), null);
  assert.equal(boxed.parse("boxed{A}"), null, "the backslash is part of the pattern");
  // Without <think>, the reasoning is what comes before the rule's answer, not before "<answer>".
  assert.equal(boxed.reasoning("Response 1 is right. \\boxed{A}"), "Response 1 is right.");
  assert.equal(boxed.reasoning("Both say <answer>2</answer> \\boxed{B}"), "Both say <answer>2</answer>");
});

const input = (overrides: Partial<JudgeInput> = {}): JudgeInput =>
  judgeInput({ samples: 6, verdict: boxed, ...overrides });

test("judging by the boxed rule: boxed answers are votes (unswapped), <answer> answers invalid votes", async () => {
  // Prefers "12" wherever it is shown; every third seed answers in the demo's shape instead.
  const respond = (prompt: string, seed: number) => {
    const pick = firstResponse(prompt) === "12" ? "A" : "B";
    return seed % 3 === 0
      ? "<think>old habit</think><answer>1</answer>"
      : `<think>checked</think>\\boxed{${pick}}`;
  };
  const j = await judgePair(new FakePort(respond), input());
  // Seeds 40..45: 42 and 45 answer <answer>1</answer>.
  assert.deepEqual(j.votes, { 1: 4, 2: 0, invalid: 2 });
  assert.equal(j.winner, 1);
  assert.deepEqual(
    j.samples.map((s) => s.verdict),
    [1, 1, null, 1, 1, null],
  );
  assert.equal(j.samples[1]?.order, "swapped");
  assert.equal(j.samples[0]?.reasoning, "checked");
});

test("the same texts judged by the demo rule count the other way round", async () => {
  const respond = (_: string, seed: number) => (seed % 2 === 0 ? "\\boxed{A}" : "<answer>2</answer>");
  const byDemo = await judgePair(new FakePort(respond), input({ order: "fixed", verdict: demo }));
  assert.deepEqual(byDemo.votes, { 1: 0, 2: 3, invalid: 3 });
  const byBoxed = await judgePair(new FakePort(respond), input({ order: "fixed" }));
  assert.deepEqual(byBoxed.votes, { 1: 3, 2: 0, invalid: 3 });
});

test("the server's parser and training's agree: shared cases in test/fixtures/verdict-cases.json", () => {
  const file = path.resolve(import.meta.dirname, "../fixtures/verdict-cases.json");
  const shared = JSON.parse(readFileSync(file, "utf8")) as {
    rules: Record<string, unknown>;
    parse: { rule: string; text: string; verdict: 1 | 2 | null }[];
    refused: { verdict: unknown; field: string }[];
  };
  for (const c of shared.parse) {
    const rule = c.rule === "demo" ? DEMO_RULE : parseVerdictSpec(shared.rules[c.rule]);
    assert.equal(new VerdictReader(rule).parse(c.text), c.verdict, `${c.rule}: ${JSON.stringify(c.text)}`);
  }
  for (const c of shared.refused) {
    assert.throws(
      () => parseVerdictSpec(c.verdict),
      (err: unknown) => err instanceof VerdictSpecError && err.field === c.field,
      JSON.stringify(c.verdict),
    );
  }
});
