// Where the choice probe reads the verdict's probabilities: the answer pattern's literal text right
// before its group, and only when every match must start with it (otherwise no probe, never a wrong
// one). Field-by-field refusals are tested through loading, in checkpoint.test.ts.

import assert from "node:assert/strict";
import { test } from "node:test";
import { compileAnswerPattern, parseVerdictSpec } from "../../src/engine/verdict-spec.js";

const prefix = (answer_pattern: string) =>
  parseVerdictSpec({ answer_pattern, choices: ["1", "2"], stop_strings: [] }).answerPrefix;

test("the answer prefix is the literal text before the group, escapes unescaped", () => {
  assert.equal(prefix("<answer>(.*?)</answer>"), "<answer>");
  assert.equal(prefix("\\\\boxed\\{(.*?)\\}"), "\\boxed{");
  assert.equal(prefix("Verdict: (?<v>\\d)"), "Verdict: ");
  assert.equal(prefix("<answer>(1|2)</answer>"), "<answer>");
});

test("no answer prefix where a match need not start with fixed text right before the group", () => {
  assert.equal(prefix("<answer>\\s*(.*?)</answer>"), undefined, "a class between text and group");
  assert.equal(prefix("<answer>?(.)"), undefined, "a quantified last character");
  assert.equal(prefix("(?:<answer>)(.)"), undefined, "a non-capturing group first");
  assert.equal(prefix("<answer>(.)|<ans>x"), undefined, "a top-level alternative");
  assert.equal(prefix("^<answer>(.)"), undefined, "an anchor");
  assert.equal(prefix("(1|2)</answer>"), undefined, "nothing before the group");
});

test("the answer pattern spans lines, and a stray escape is refused (as Python's re refuses it)", () => {
  assert.equal(compileAnswerPattern("<a>(.*?)</a>").exec("<a>\n1\n</a>")?.[1], "\n1\n");
  assert.throws(
    () => parseVerdictSpec({ answer_pattern: "<a>\\q(.*?)</a>", choices: ["1", "2"], stop_strings: [] }),
    /regular expression/,
  );
});
