// Verdict rules for judging tests, as the engine hands them over (ModelInfo.verdict): the demo
// checkpoint's own block, read from its manifest rather than copied, and a rule of another shape.

import { readFileSync } from "node:fs";
import path from "node:path";
import { parseVerdictSpec, type VerdictSpec } from "../../src/engine/verdict-spec.js";

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
