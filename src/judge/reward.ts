// OpenRLHF's remote reward protocol: each query is a rendered prompt followed by the policy's
// response (chat markup included); the response is judged against the reference answer in
// `labels`, and the reward is the share of valid votes that prefer the policy's response.

import { questionOf, responseOf } from "./chat-markup.js";

/** A label as a dataset column holds it: OpenRLHF passes `data[label_key]` through as it is. */
export type Label = string | number | boolean | null;

export interface RewardItem {
  question: string;
  response: string;
  /** The reference answer as text; "" when the item has none. */
  reference: string;
}

export type RewardItemResult = { ok: true; item: RewardItem } | { ok: false; field: string; message: string };

/** A label as reference text: numbers and booleans as JSON writes them, null or absent as "". */
export function labelText(label: Label | undefined): string {
  if (label === null || label === undefined) return "";
  return typeof label === "string" ? label : JSON.stringify(label);
}

export function rewardItem(
  query: string,
  prompt: string,
  label: Label | undefined,
  endMarkers: readonly string[],
): RewardItemResult {
  const response = responseOf(query, prompt, endMarkers);
  if (response === undefined) {
    return {
      ok: false,
      field: "query",
      message: "holds neither its prompt nor an assistant turn, so the policy's response cannot be found",
    };
  }
  return { ok: true, item: { question: questionOf(prompt || query), response, reference: labelText(label) } };
}

/** Share of valid votes for the policy response; 0.5 (no information) when no vote was valid. */
export function rewardFromVotes(forPolicy: number, againstPolicy: number): number {
  const valid = forPolicy + againstPolicy;
  return valid === 0 ? 0.5 : forPolicy / valid;
}
