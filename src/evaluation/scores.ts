// Scores of judged items as a user of /judge gets them: the greedy verdict; Voting@K (the first K of
// one request's samples — sample i has seed + i, odd samples see the responses swapped, so the first
// K are exactly what a request of K samples gives) under each aggregation /judge offers, majority
// and confidence, and Any@K; whether the greedy verdict survives swapping the responses; macro
// accuracy over categories and Acc+ over groups. A tie or no valid vote is never correct.

import { type Aggregation, outcome, sampleWeights } from "../judge/voting.js";

export type Verdict = 1 | 2 | null;

export interface JudgedItem {
  id: string;
  category: string;
  /** Items scored together for Acc+ (absent in results of older runs: the id). */
  group?: string;
  label: 1 | 2;
  /** Greedy verdict with the responses as given, and with them swapped (mapped back). */
  greedy: Verdict;
  greedySwapped: Verdict;
  /** Sampled verdicts in sample order (mapped back to the given order). */
  votes: Verdict[];
  /** Each sample's [p(1), p(2)] in the given order, or null (absent in results of older runs). */
  probabilities?: ([number, number] | null)[];
  completionTokens: number;
  /** Wall time of the item's three requests, ms. */
  ms?: number;
  /** What the judge was shown, for reading its mistakes (absent in results of older runs). */
  question?: string;
  responses?: [string, string];
  /** The greedy samples' reasoning with the responses as given and swapped (absent in older runs). */
  reasoning?: { given: string | null; swapped: string | null };
}

export const AGGREGATIONS: readonly Aggregation[] = ["majority", "confidence"];

/** What /judge answers for the first k samples under `aggregation` (voting.ts: one definition). */
export function vote(item: JudgedItem, k: number, aggregation: Aggregation): Verdict {
  const votes = item.votes.slice(0, k);
  const tally = { 1: 0, 2: 0, invalid: 0 };
  const weights = { 1: 0, 2: 0 };
  votes.forEach((v, i) => {
    if (v === null) tally.invalid++;
    else tally[v]++;
    const w = sampleWeights(v, item.probabilities?.[i] ?? undefined);
    weights[1] += w[1];
    weights[2] += w[2];
  });
  return outcome(tally, aggregation === "confidence" ? weights : undefined).winner;
}

export function majority(votes: readonly Verdict[]): Verdict {
  return vote({ votes } as JudgedItem, votes.length, "majority");
}

export interface Scores {
  items: number;
  greedy: number;
  /** Share of items whose greedy verdict is the same in both orders (position consistency). */
  orderAgreement: number;
  /** Accuracy with the better response shown first, and shown second (greedy). */
  greedyFirst: number;
  greedySecond: number;
  /** Voting@K by aggregation. */
  votingAt: Record<number, number>;
  confidenceAt: Record<number, number>;
  anyAt: Record<number, number>;
  /** Mean of the categories' greedy accuracy, and of their Voting@K (majority). */
  macroGreedy: number;
  macroVotingAt: Record<number, number>;
  /** Share of groups whose items are all right (greedy, and Voting@K majority); null when no group has 2 items. */
  accPlusGreedy: number | null;
  accPlusVotingAt: Record<number, number> | null;
  invalidVotes: number;
  completionTokens: number;
  /** Sum of the items' wall times, ms (items overlap under concurrency). */
  itemMs: number;
}

function shareOf(items: readonly JudgedItem[], right: (j: JudgedItem) => boolean): number {
  return items.filter(right).length / Math.max(items.length, 1);
}

function groupsRight(items: readonly JudgedItem[], right: (j: JudgedItem) => boolean): number | null {
  const groups = new Map<string, JudgedItem[]>();
  for (const j of items) groups.set(j.group ?? j.id, [...(groups.get(j.group ?? j.id) ?? []), j]);
  if (![...groups.values()].some((g) => g.length > 1)) return null;
  const all = [...groups.values()];
  return all.filter((g) => g.every(right)).length / all.length;
}

/** Each category's scores, categories in sorted order (the report's rows, the console's table). */
export function scoreByCategory(
  judged: readonly JudgedItem[],
  ks: readonly number[],
): { category: string; scores: Scores }[] {
  return [...new Set(judged.map((j) => j.category))].sort().map((category) => ({
    category,
    scores: score(
      judged.filter((j) => j.category === category),
      ks,
    ),
  }));
}

export function score(judged: readonly JudgedItem[], ks: readonly number[]): Scores {
  const share = (f: (j: JudgedItem) => boolean) => shareOf(judged, f);
  const categories = [...new Set(judged.map((j) => j.category))];
  const macro = (f: (j: JudgedItem) => boolean) =>
    categories.reduce(
      (sum, c) =>
        sum +
        shareOf(
          judged.filter((j) => j.category === c),
          f,
        ),
      0,
    ) / Math.max(categories.length, 1);
  const votingAt: Record<number, number> = {};
  const confidenceAt: Record<number, number> = {};
  const anyAt: Record<number, number> = {};
  const macroVotingAt: Record<number, number> = {};
  const plus: Record<number, number> = {};
  let accPlusVotingAt: Record<number, number> | null = plus;
  for (const k of ks) {
    const right = (j: JudgedItem) => vote(j, k, "majority") === j.label;
    votingAt[k] = share(right);
    confidenceAt[k] = share((j) => vote(j, k, "confidence") === j.label);
    anyAt[k] = share((j) => j.votes.slice(0, k).includes(j.label));
    macroVotingAt[k] = macro(right);
    const p = groupsRight(judged, right);
    if (p === null) accPlusVotingAt = null;
    else plus[k] = p;
  }
  const votes = judged.reduce((sum, j) => sum + j.votes.length, 0);
  const invalid = judged.reduce((sum, j) => sum + j.votes.filter((v) => v === null).length, 0);
  return {
    items: judged.length,
    greedy: share((j) => j.greedy === j.label),
    orderAgreement: share((j) => j.greedy !== null && j.greedy === j.greedySwapped),
    greedyFirst: share((j) => (j.label === 1 ? j.greedy : j.greedySwapped) === j.label),
    greedySecond: share((j) => (j.label === 2 ? j.greedy : j.greedySwapped) === j.label),
    votingAt,
    confidenceAt,
    anyAt,
    macroGreedy: macro((j) => j.greedy === j.label),
    macroVotingAt,
    accPlusGreedy: groupsRight(judged, (j) => j.greedy === j.label),
    accPlusVotingAt,
    invalidVotes: votes ? invalid / votes : 0,
    completionTokens: judged.reduce((sum, j) => sum + j.completionTokens, 0),
    itemMs: judged.reduce((sum, j) => sum + (j.ms ?? 0), 0),
  };
}
