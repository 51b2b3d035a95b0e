// Verdict rules for judging tests, as the engine hands them over (ModelInfo.verdict): the demo
// checkpoint's own block, read from its manifest rather than copied, and a rule of another shape;
// and the judgement input and service settings those tests start from.

import { readFileSync } from "node:fs";
import path from "node:path";
import { parseVerdictSpec, type VerdictSpec } from "../../src/engine/verdict-spec.js";
import type { JudgeInput } from "../../src/judge/judge.js";
import { VerdictReader } from "../../src/judge/verdict.js";
import type { JudgingSettings } from "../../src/server/judging.js";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** models/demo/r1judge.json's verdict block: `<answer>(.*?)</answer>`, choices "1" and "2". */
export const DEMO_RULE: VerdictSpec = parseVerdictSpec(
  JSON.parse(readFileSync(path.join(ROOT, "models/demo/r1judge.json"), "utf8")).verdict,
);

/** The manifest block of a checkpoint that answers `\boxed{A}` or `\boxed{B}`. */
export const BOXED_BLOCK = {
  answer_pattern: "\\\\boxed\\{(.*?)\\}",
  choices: ["A", "B"],
  stop_strings: ["}"],
};
export const BOXED_RULE: VerdictSpec = parseVerdictSpec(BOXED_BLOCK);

/** Eight sampled votes in alternating order, read by the demo rule, unless `overrides` say otherwise. */
export const judgeInput = (overrides: Partial<JudgeInput> = {}): JudgeInput => ({
  question: "What is 7 + 5?",
  responses: ["12", "13"],
  samples: 8,
  temperature: 1,
  topP: 1,
  topK: 0,
  maxNewTokens: 64,
  seed: 40,
  order: "alternate",
  aggregation: "majority",
  earlyStop: false,
  returnReasoning: true,
  verdict: new VerdictReader(DEMO_RULE),
  ...overrides,
});

/** JudgingService settings of the judging tests (a fake engine named "fake"). */
export const JUDGING_SETTINGS: JudgingSettings = {
  modelId: "fake",
  maxQueue: 64,
  maxNewTokens: 256,
  defaultTimeoutMs: 60_000,
  cacheEntries: 100,
  rewardSamples: 4,
  rewardEmptyLabel: "reject",
  rewardEmptyFloor: 0,
  rewardNoVerdict: "error",
  rewardEndMarkers: [],
};
