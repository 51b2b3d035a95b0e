// Best-of-N reranking from pairwise judgements. "knockout": a single-elimination bracket, N−1
// comparisons; "round_robin": every pair in both orders, ranked by win rate. Comparisons share the
// question (and images) as a prompt prefix, which the engine's prefix cache prefills once.

import type { Judgement } from "./judge.js";

export type Strategy = "knockout" | "round_robin";

export interface Comparison {
  /** Candidate indices as shown: a is Response 1, b is Response 2. */
  a: number;
  b: number;
  /** Index of the winner, or null for a tie / no valid vote. */
  winner: number | null;
  judgement: Judgement;
}

export interface Ranking {
  best: number;
  /** Candidate indices, best first. */
  ranking: number[];
  /** Per candidate: share of its comparisons won (ties count half). */
  scores: number[];
  comparisons: Comparison[];
}

export type Compare = (a: number, b: number) => Promise<Judgement>;

function winnerOf(a: number, b: number, judgement: Judgement): number | null {
  return judgement.winner === 1 ? a : judgement.winner === 2 ? b : null;
}

function scoresFrom(n: number, comparisons: readonly Comparison[]): number[] {
  const won = new Array<number>(n).fill(0);
  const played = new Array<number>(n).fill(0);
  for (const c of comparisons) {
    played[c.a] = (played[c.a] as number) + 1;
    played[c.b] = (played[c.b] as number) + 1;
    if (c.winner === null) {
      won[c.a] = (won[c.a] as number) + 0.5;
      won[c.b] = (won[c.b] as number) + 0.5;
    } else {
      won[c.winner] = (won[c.winner] as number) + 1;
    }
  }
  return won.map((w, i) => ((played[i] as number) ? w / (played[i] as number) : 0.5));
}

/** Candidates ordered by score, then by how far they got (knockout), then by index. */
function order(scores: readonly number[], depth: readonly number[]): number[] {
  return scores
    .map((_, i) => i)
    .sort(
      (x, y) =>
        (depth[y] as number) - (depth[x] as number) || (scores[y] as number) - (scores[x] as number) || x - y,
    );
}

export async function roundRobin(n: number, compare: Compare): Promise<Ranking> {
  const pairs: [number, number][] = [];
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) pairs.push([a, b]);
  const comparisons = await Promise.all(
    pairs.map(async ([a, b]) => {
      const judgement = await compare(a, b);
      return { a, b, winner: winnerOf(a, b, judgement), judgement };
    }),
  );
  const scores = scoresFrom(n, comparisons);
  const ranking = order(scores, new Array<number>(n).fill(0));
  return { best: ranking[0] as number, ranking, scores, comparisons };
}

/** A bracket in candidate order; an odd one out gets a bye; a tie sends the lower index on. */
export async function knockout(n: number, compare: Compare): Promise<Ranking> {
  const comparisons: Comparison[] = [];
  const depth = new Array<number>(n).fill(0);
  let round = Array.from({ length: n }, (_, i) => i);
  while (round.length > 1) {
    const matches: Promise<number>[] = [];
    for (let i = 0; i + 1 < round.length; i += 2) {
      const a = round[i] as number;
      const b = round[i + 1] as number;
      matches.push(
        compare(a, b).then((judgement) => {
          const winner = winnerOf(a, b, judgement);
          comparisons.push({ a, b, winner, judgement });
          return winner ?? a;
        }),
      );
    }
    const next = await Promise.all(matches);
    if (round.length % 2 === 1) next.push(round[round.length - 1] as number);
    for (const w of next) depth[w] = (depth[w] as number) + 1;
    round = next;
  }
  comparisons.sort((x, y) => x.a - y.a || x.b - y.b);
  const scores = scoresFrom(n, comparisons);
  const ranking = order(scores, depth);
  return { best: round[0] as number, ranking, scores, comparisons };
}
