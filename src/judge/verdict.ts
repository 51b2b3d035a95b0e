// Reading a verdict from a sample: the first <answer>…</answer> (across newlines) holding exactly 1
// or 2. Anything else is an invalid vote — never a vote for either side (R1-Reward's scripts counted
// anything but 1 as a vote for 2; we do not).

export type Verdict = 1 | 2;

const ANSWER = /<answer>([\s\S]*?)<\/answer>/;

export function parseVerdict(text: string): Verdict | null {
  const match = ANSWER.exec(text);
  if (!match) return null;
  const content = (match[1] as string).trim();
  return content === "1" ? 1 : content === "2" ? 2 : null;
}

/** The reasoning a sample gave: the text inside <think>…</think>, or everything before <answer>. */
export function reasoningOf(text: string): string {
  const think = /<think>([\s\S]*?)<\/think>/.exec(text);
  if (think) return (think[1] as string).trim();
  const answer = text.indexOf("<answer>");
  return (answer >= 0 ? text.slice(0, answer) : text).trim();
}
