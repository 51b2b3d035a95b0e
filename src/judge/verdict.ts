// Reading a verdict from a sample by the checkpoint's rule (its manifest's `verdict` block, handed
// over by the engine as ModelInfo.verdict): the first match of the answer pattern, its one captured
// text stripped, must equal choice 1 or choice 2. Anything else is an invalid vote — never a vote
// for either side (R1-Reward's scripts counted anything but 1 as a vote for 2; we do not).

import { compileAnswerPattern, type VerdictSpec } from "../engine/verdict-spec.js";

export type Verdict = 1 | 2;

/** The parts of the rule judging reads; the engine checked them when it loaded the checkpoint. */
export type VerdictRule = Pick<VerdictSpec, "answerPattern" | "choices">;

export class VerdictReader {
  private readonly answer: RegExp;
  private readonly choices: readonly [string, string];

  constructor(rule: VerdictRule) {
    this.answer = compileAnswerPattern(rule.answerPattern);
    this.choices = rule.choices;
  }

  /** The sample's verdict, or null when it stated none the rule accepts. */
  parse(text: string): Verdict | null {
    const match = this.answer.exec(text);
    if (!match) return null;
    const content = (match[1] ?? "").trim();
    return content === this.choices[0] ? 1 : content === this.choices[1] ? 2 : null;
  }

  /** The reasoning a sample gave: the text inside <think>…</think>, or everything before its answer. */
  reasoning(text: string): string {
    // <think> is the prompt template's (r1-reward-v1) part of the output, not the verdict rule's.
    const think = /<think>([\s\S]*?)<\/think>/.exec(text);
    if (think) return (think[1] as string).trim();
    const answer = this.answer.exec(text);
    return (answer ? text.slice(0, answer.index) : text).trim();
  }
}
