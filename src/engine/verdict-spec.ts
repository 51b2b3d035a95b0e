// The checkpoint's verdict rule (r1judge.json `verdict`, docs/checkpoint-format.md): how a sample
// states its verdict, the two choices, and the strings that end generation. Parsed and checked once
// at load; the judge's vote parser, the engine's choice probe and its stop strings all read the one
// VerdictSpec this returns, so the server cannot disagree with the manifest (or with itself).

/** Plain data (it crosses the worker boundary in ModelInfo). */
export interface VerdictSpec {
  /** A regular expression with exactly one capture group; see compileAnswerPattern for the flags. */
  answerPattern: string;
  /** The captured text (stripped) that means verdict 1, and verdict 2. */
  choices: [string, string];
  /** Any of these in a sample's text ends the sample. */
  stopStrings: string[];
  /**
   * The literal text right before the capture group (`<answer>` of `<answer>(.*?)</answer>`): where
   * the next token is the choice, so the engine can read the choices' probabilities there. Absent
   * when the pattern does not start with literal text followed directly by its group.
   */
  answerPrefix?: string;
}

/** A field of the verdict block the server cannot honour; the loader names the manifest file. */
export class VerdictSpecError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "VerdictSpecError";
  }
}

/**
 * The answer pattern as the server runs it: `s` so an answer may span lines (as Python's DOTALL in
 * training/), `u` so that a stray escape is a syntax error instead of a silent literal.
 */
export function compileAnswerPattern(pattern: string): RegExp {
  return new RegExp(pattern, "su");
}

type Json = Record<string, unknown>;

/** Checks the manifest's `verdict` value; throws VerdictSpecError naming the field at fault. */
export function parseVerdictSpec(value: unknown): VerdictSpec {
  if (value === undefined) throw new VerdictSpecError("verdict", "missing");
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new VerdictSpecError("verdict", "expected an object");
  }
  const block = value as Json;
  const answerPattern = checkPattern(block.answer_pattern);
  const choices = checkChoices(block.choices);
  const stopStrings = checkStopStrings(block.stop_strings);
  const answerPrefix = literalPrefix(answerPattern);
  return { answerPattern, choices, stopStrings, ...(answerPrefix ? { answerPrefix } : {}) };
}

function checkPattern(value: unknown): string {
  const field = "verdict.answer_pattern";
  if (value === undefined) throw new VerdictSpecError(field, "missing");
  if (typeof value !== "string" || value === "")
    throw new VerdictSpecError(field, "expected a non-empty string");
  let regex: RegExp;
  try {
    regex = compileAnswerPattern(value);
  } catch (err) {
    throw new VerdictSpecError(field, `not a valid regular expression: ${(err as Error).message}`);
  }
  // An alternative that matches the empty text adds no group of its own: the match holds one slot
  // per capture group of the pattern.
  const groups = (new RegExp(`${value}|`, "su").exec("") as RegExpExecArray).length - 1;
  if (groups !== 1) {
    throw new VerdictSpecError(field, `must have exactly one capture group (the verdict), has ${groups}`);
  }
  if (regex.test("")) {
    throw new VerdictSpecError(field, "matches the empty text: it would find a verdict in every sample");
  }
  return value;
}

function checkChoices(value: unknown): [string, string] {
  const field = "verdict.choices";
  if (value === undefined) throw new VerdictSpecError(field, "missing");
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !value.every((c) => typeof c === "string" && c.trim() !== "")
  ) {
    throw new VerdictSpecError(field, "expected exactly two non-empty strings (verdict 1, verdict 2)");
  }
  const [first, second] = value as [string, string];
  if (first === second) throw new VerdictSpecError(field, `both choices are ${JSON.stringify(first)}`);
  for (const choice of [first, second]) {
    // The captured text is compared stripped: a choice with spaces around it could never match.
    if (choice !== choice.trim()) {
      throw new VerdictSpecError(field, `${JSON.stringify(choice)} has surrounding whitespace`);
    }
  }
  return [first, second];
}

function checkStopStrings(value: unknown): string[] {
  const field = "verdict.stop_strings";
  if (value === undefined) throw new VerdictSpecError(field, "missing");
  if (!Array.isArray(value) || !value.every((s) => typeof s === "string" && s !== "")) {
    // An empty string would end every sample before its first token.
    throw new VerdictSpecError(field, "expected a list of non-empty strings");
  }
  return [...(value as string[])];
}

/**
 * The text every match starts with when the pattern is literal text and then its group:
 * `<answer>` of `<answer>(.*?)</answer>`, `\boxed{` of `\\boxed\{(.*?)\}`; "" otherwise.
 */
function literalPrefix(pattern: string): string {
  if (hasTopLevelAlternation(pattern)) return "";
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "(") return capturing(pattern, i) ? out : "";
    if (c === "\\") {
      const next = pattern[i + 1];
      // \d, \b, \1…: a class or an assertion, not literal text.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return "";
      out += next;
      i++;
    } else if (".*+?|^$[]{}".includes(c)) return "";
    else out += c;
    // A quantifier after a literal makes it optional or repeated: the prefix is no longer fixed.
    if ("*+?{".includes(pattern[i + 1] ?? "")) return "";
  }
  return "";
}

/** `(` at `i` opens a capture group: plain, or named `(?<name>` (not a lookbehind). */
function capturing(pattern: string, i: number): boolean {
  if (pattern[i + 1] !== "?") return true;
  return pattern[i + 2] === "<" && pattern[i + 3] !== "=" && pattern[i + 3] !== "!";
}

/** A `|` outside every group and class: a match need not start with the first branch's text. */
function hasTopLevelAlternation(pattern: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return true;
  }
  return false;
}
