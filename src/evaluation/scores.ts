// Scores of judged items as a user of /judge gets them: the greedy verdict; Voting@K (the majority of
// the first K of one request's samples — sample i has seed + i, odd samples see the responses swapped,
// so the first K are exactly what a request of K samples gives) and Any@K; and whether the greedy
// verdict survives swapping the responses. A tie or no valid vote is never correct.

export type Verdict = 1 | 2 | null;

export interface JudgedItem {
  id: string;
  category: string;
  label: 1 | 2;
  /** Greedy verdict with the responses as given, and with them swapped (mapped back). */
  greedy: Verdict;
  greedySwapped: Verdict;
  /** Sampled verdicts in sample order (mapped back to the given order). */
  votes: Verdict[];
  completionTokens: number;
}

export function majority(votes: readonly Verdict[]): Verdict {
  const ones = votes.filter((v) => v === 1).length;
  const twos = votes.filter((v) => v === 2).length;
  return ones === twos ? null : ones > twos ? 1 : 2;
}

export interface Scores {
  items: number;
  greedy: number;
  /** Share of items whose greedy verdict is the same in both orders. */
  orderAgreement: number;
  /** Accuracy with the better response shown first, and shown second (greedy). */
  greedyFirst: number;
  greedySecond: number;
  votingAt: Record<number, number>;
  anyAt: Record<number, number>;
  invalidVotes: number;
}

export function score(judged: readonly JudgedItem[], ks: readonly number[]): Scores {
  const n = Math.max(judged.length, 1);
  const share = (f: (j: JudgedItem) => boolean) => judged.filter(f).length / n;
  const votingAt: Record<number, number> = {};
  const anyAt: Record<number, number> = {};
  for (const k of ks) {
    votingAt[k] = share((j) => majority(j.votes.slice(0, k)) === j.label);
    anyAt[k] = share((j) => j.votes.slice(0, k).includes(j.label));
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
    anyAt,
    invalidVotes: votes ? invalid / votes : 0,
  };
}
