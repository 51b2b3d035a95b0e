// Voting over sampled verdicts, with responses shown in alternating order and early stop. Sample i uses
// seed + i; with order "alternate" odd samples see the responses swapped and their verdicts are mapped
// back, so a position bias cancels out instead of becoming the answer. Two aggregations: "majority"
// counts verdicts; "confidence" sums each sample's probabilities of 1 and 2 at its answer (soft
// voting: the average of the samples' predictive distributions), which also settles the ties an even
// number of hard votes leaves; a sample without probabilities counts as a hard vote.

import type { Verdict } from "./verdict.js";

export type Order = "alternate" | "fixed";
export type Aggregation = "majority" | "confidence";

/** A verdict about the order the sample saw, mapped back to the request's order. */
export function unswap(verdict: Verdict | null, swapped: boolean): Verdict | null {
  if (verdict === null || !swapped) return verdict;
  return verdict === 1 ? 2 : 1;
}

export interface Tally {
  1: number;
  2: number;
  invalid: number;
}

export function emptyTally(): Tally {
  return { 1: 0, 2: 0, invalid: 0 };
}

export function addVote(tally: Tally, verdict: Verdict | null): void {
  if (verdict === null) tally.invalid++;
  else tally[verdict]++;
}

/** What "confidence" sums: each valid sample's [p(1), p(2)] (normalized over the two). */
export interface Weights {
  1: number;
  2: number;
}

/** A sample's weight for each side: its probabilities when known, else its verdict as a hard vote. */
export function sampleWeights(verdict: Verdict | null, probabilities?: readonly [number, number]): Weights {
  if (verdict === null) return { 1: 0, 2: 0 };
  if (probabilities) return { 1: probabilities[0], 2: probabilities[1] };
  return verdict === 1 ? { 1: 1, 2: 0 } : { 1: 0, 2: 1 };
}

/** The winner (null for a tie or nothing valid) and each side's share of the votes or weights. */
export function outcome(
  tally: Tally,
  weights?: Weights,
): { winner: Verdict | null; preference: [number, number] } {
  const side = weights ?? tally;
  const valid = side[1] + side[2];
  if (valid === 0) return { winner: null, preference: [0, 0] };
  const winner = side[1] === side[2] ? null : side[1] > side[2] ? 1 : 2;
  return { winner, preference: [side[1] / valid, side[2] / valid] };
}

/**
 * True once the samples still out cannot change who wins (nor turn a win into a tie): each can add
 * at most 1 to either side, as a vote or as weight.
 */
export function decided(side: Tally | Weights, outstanding: number): boolean {
  return Math.abs(side[1] - side[2]) > outstanding;
}
