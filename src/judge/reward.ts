// OpenRLHF's remote reward protocol: each query is prompt + policy response (chat markup included);
// the response is judged against the reference answer in `labels`, and the reward is the share of
// valid votes that prefer the policy's response.

const SPECIAL = /<\|(?:im_start|im_end|endoftext|vision_start|vision_end|image_pad|video_pad)\|>/g;

/** The last user turn of a chat-formatted prompt, or the whole prompt without special tokens. */
export function questionOf(prompt: string): string {
  const turns = prompt.split("<|im_start|>");
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i] as string;
    if (turn.startsWith("user\n")) return turn.slice("user\n".length).replace(SPECIAL, "").trim();
  }
  return prompt.replace(SPECIAL, "").trim();
}

/** The policy's response: the query after its prompt, without trailing end-of-turn tokens. */
export function responseOf(query: string, prompt: string): string {
  const tail = query.startsWith(prompt) ? query.slice(prompt.length) : query;
  return tail.replace(SPECIAL, "").trim();
}

export interface RewardItem {
  question: string;
  response: string;
  reference: string;
}

export function rewardItems(
  query: readonly string[],
  prompts: readonly string[],
  labels: readonly string[],
): RewardItem[] {
  return query.map((q, i) => {
    const prompt = prompts[i] as string;
    return { question: questionOf(prompt), response: responseOf(q, prompt), reference: labels[i] as string };
  });
}

/** Share of valid votes for the policy response; 0.5 (no information) when no vote was valid. */
export function rewardFromVotes(forPolicy: number, againstPolicy: number): number {
  const valid = forPolicy + againstPolicy;
  return valid === 0 ? 0.5 : forPolicy / valid;
}
