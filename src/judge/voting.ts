// Majority voting over sampled verdicts, with responses shown in alternating order and early stop.
// Sample i uses seed + i; with order "alternate" odd samples see the responses swapped and their
// verdicts are mapped back, so a position bias cancels out instead of becoming the answer.

import type { Verdict } from "./verdict.js";

export type Order = "alternate" | "fixed";

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

/** The winner of valid votes (null for a tie or no valid vote) and each side's share of them. */
export function outcome(tally: Tally): { winner: Verdict | null; preference: [number, number] } {
  const valid = tally[1] + tally[2];
  if (valid === 0) return { winner: null, preference: [0, 0] };
  const winner = tally[1] === tally[2] ? null : tally[1] > tally[2] ? 1 : 2;
  return { winner, preference: [tally[1] / valid, tally[2] / valid] };
}

/** True once the samples still out cannot change who wins (nor turn a win into a tie). */
export function decided(tally: Tally, outstanding: number): boolean {
  return Math.abs(tally[1] - tally[2]) > outstanding;
}
