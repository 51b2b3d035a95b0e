// An evaluation as the console shows it: the scores (scores.ts, the one definition of the judge's
// accuracy), one row per category, and the items the judge got wrong with what it was shown and why
// it decided, marked where the greedy verdict flips with the order of the responses.

import { type JudgedItem, type Scores, score, type Verdict, vote } from "./scores.js";

export interface CategoryRow {
  category: string;
  items: number;
  greedy: number;
  /** Voting@K at the run's largest K, under each aggregation. */
  votingAtK: number;
  confidenceAtK: number;
  orderAgreement: number;
}

export interface Mistake {
  id: string;
  category: string;
  label: 1 | 2;
  greedy: Verdict;
  /** The greedy verdict with the responses swapped, mapped back to the given order. */
  greedySwapped: Verdict;
  /** What /judge answers with all K samples by default (confidence). */
  votedAtK: Verdict;
  /** The greedy verdict follows the position, not the content. */
  flipsWithOrder: boolean;
  question?: string;
  responses?: [string, string];
  reasoning?: { given: string | null; swapped: string | null };
}

export interface EvaluationView {
  /** The run's samples per item: Voting@K is scored for K = 1 … k. */
  k: number;
  scores: Scores;
  categories: CategoryRow[];
  /** Items whose greedy verdict or Voting@K is wrong, in the file's order. */
  mistakes: Mistake[];
}

export function evaluationView(judged: readonly JudgedItem[]): EvaluationView {
  const k = Math.max(1, ...judged.map((j) => j.votes.length));
  const ks = Array.from({ length: k }, (_, i) => i + 1);
  const categories = [...new Set(judged.map((j) => j.category))].sort().map((category) => {
    const mine = judged.filter((j) => j.category === category);
    const s = score(mine, [k]);
    return {
      category,
      items: s.items,
      greedy: s.greedy,
      votingAtK: s.votingAt[k] as number,
      confidenceAtK: s.confidenceAt[k] as number,
      orderAgreement: s.orderAgreement,
    };
  });
  const mistakes = judged.flatMap((j): Mistake[] => {
    const votedAtK = vote(j, k, "confidence");
    if (j.greedy === j.label && votedAtK === j.label) return [];
    return [
      {
        id: j.id,
        category: j.category,
        label: j.label,
        greedy: j.greedy,
        greedySwapped: j.greedySwapped,
        votedAtK,
        flipsWithOrder: j.greedy !== j.greedySwapped,
        ...(j.question === undefined ? {} : { question: j.question }),
        ...(j.responses === undefined ? {} : { responses: j.responses }),
        ...(j.reasoning === undefined ? {} : { reasoning: j.reasoning }),
      },
    ];
  });
  return { k, scores: score(judged, ks), categories, mistakes };
}
