// An evaluation as the console shows it: the scores (scores.ts, the one definition of the judge's
// accuracy), one row per category, and the items the judge got wrong with what it was shown and why
// it decided, marked where the greedy verdict flips with the order of the responses.

import type { components } from "../api/api.js";
import { type JudgedItem, score, scoreByCategory, vote } from "./scores.js";

type Schemas = components["schemas"];
export type CategoryRow = Schemas["EvaluationCategory"];
export type Mistake = Schemas["EvaluationMistake"];
/** The view the console's evaluation routes answer (openapi.yaml's EvaluationView), less its name. */
export type EvaluationView = Omit<Schemas["EvaluationView"], "name" | "skipped">;

export function evaluationView(judged: readonly JudgedItem[]): EvaluationView {
  const k = Math.max(1, ...judged.map((j) => j.votes.length));
  const ks = Array.from({ length: k }, (_, i) => i + 1);
  const categories = scoreByCategory(judged, [k]).map(({ category, scores: s }) => ({
    category,
    items: s.items,
    greedy: s.greedy,
    votingAtK: s.votingAt[k] as number,
    confidenceAtK: s.confidenceAt[k] as number,
    orderAgreement: s.orderAgreement,
  }));
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
