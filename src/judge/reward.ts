// Rewards: a policy's response judged against a reference answer. OpenRLHF's remote reward protocol
// sends each query as a rendered prompt followed by the policy's response (chat markup included),
// with the reference in `labels`. The rules every reward route shares (OpenRLHF's /get_reward and
// any other protocol's) live here, so none of them can be gamed differently:
// - an empty response gets a floor reward without judging (isEmptyResponse);
// - the reward is the policy's side of the judgement: with "confidence" aggregation the mean of
//   the samples' p(policy), which over both orders at greedy is order-balanced (rewardOf);
// - a judgement without one valid vote is no reward at all (rewardOf → NoVerdictError), never 0.5;
// - without a client seed the seed comes from the content (contentSeed), so a retry is reproducible.

import { createHash } from "node:crypto";
import { CHAT_MARKUPS, questionOf, responseOf } from "./chat-markup.js";
import type { Judgement } from "./judge.js";

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

// Whitespace, and the invisible format characters (zero-width spaces and joiners, word joiner, BOM,
// soft hyphen) a policy can emit to look non-empty.
const BLANK = /^[\s\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]*$/u;

/** True for text with nothing to judge: empty, whitespace or invisible format characters only. */
export function isBlankText(text: string): boolean {
  return BLANK.test(text);
}

/** Every known template's control tokens and end-of-turn markers, longest first. */
const MARKUP_TOKENS: readonly RegExp[] = CHAT_MARKUPS.map((m) => new RegExp(m.control.source, "g"));
const END_MARKERS: readonly string[] = CHAT_MARKUPS.flatMap((m) => m.endMarkers);

/**
 * True when a policy's response says nothing: blank once every chat control token and end-of-turn
 * marker (of the known templates and `extraEndMarkers`) is removed. Such a response gets the floor
 * reward without calling the model (a judge asked to compare "" with a reference may prefer "").
 */
export function isEmptyResponse(response: string, extraEndMarkers: readonly string[] = []): boolean {
  let text = response;
  for (const pattern of MARKUP_TOKENS) text = text.replace(pattern, "");
  for (const marker of [...END_MARKERS, ...extraEndMarkers]) {
    if (marker !== "") text = text.split(marker).join("");
  }
  return isBlankText(text);
}

/**
 * The seed of a reward judgement whose request gives none, derived from what is judged (question,
 * both responses in order, the images' digests): a retried batch draws the same samples, gets the
 * same rewards and hits the judgement cache. 31 bits, like a client's seed.
 */
export function contentSeed(
  question: string,
  responses: readonly string[],
  imageDigests: readonly string[] = [],
): number {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ question, responses }));
  for (const digest of imageDigests) hash.update(digest);
  return hash.digest().readUInt32BE(0) >>> 1;
}

/** A judgement without a single valid vote: it says nothing about the response, so it is no reward. */
export class NoVerdictError extends Error {
  constructor(readonly invalid: number) {
    super(
      `no sample gave a readable verdict (${invalid} invalid): the judgement failed, so there is no reward ` +
        "(retrying may help when sampling at a temperature; a larger max_new_tokens may help too)",
    );
    this.name = "NoVerdictError";
  }
}

/**
 * The reward of a judgement of [policy, reference]: the policy's share of its aggregation
 * (`preference[0]`: with "confidence" the mean over valid samples of p(policy), with "majority" the
 * share of valid votes). Throws NoVerdictError when no sample was valid.
 */
export function rewardOf(judgement: Pick<Judgement, "votes" | "preference">): number {
  const { votes, preference } = judgement;
  if (votes[1] + votes[2] === 0) throw new NoVerdictError(votes.invalid);
  return preference[0];
}
