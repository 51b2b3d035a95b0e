// The evaluation report as Markdown: overall and per category (greedy, macro, Acc+ where pairs share
// a group, Voting@K, Any@K, position consistency), Voting@K for every K under each aggregation,
// accuracy by the better response's position, tokens and time, and the rows that were skipped.

import type { SkippedRow } from "./items.js";
import { type JudgedItem, type Scores, score, scoreByCategory } from "./scores.js";

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)} %`;

function row(name: string, s: Scores, ks: readonly number[]): string {
  const voting = ks.map((k) => pct(s.confidenceAt[k])).join(" | ");
  const last = ks[ks.length - 1] as number;
  return `| ${name} | ${s.items} | ${pct(s.greedy)} | ${voting} | ${pct(s.anyAt[last])} | ${pct(s.orderAgreement)} |`;
}

export function report(
  title: string,
  judged: readonly JudgedItem[],
  ks: readonly number[],
  skipped: readonly SkippedRow[],
  notes: readonly string[] = [],
): string {
  const headline = ks.filter((k) => [1, 3, 5, 8, 15].includes(k) || k === ks[ks.length - 1]);
  const overall = score(judged, ks);
  const categories = scoreByCategory(judged, headline);
  const last = ks[ks.length - 1] as number;
  const lines = [
    `# ${title}`,
    "",
    ...notes,
    ...(notes.length ? [""] : []),
    "Voting@K as `/judge` answers by default (`aggregation: confidence`); both aggregations below.",
    "",
    `| items | n | greedy | ${headline.map((k) => `Voting@${k}`).join(" | ")} | Any@${last} | same greedy verdict in both orders |`,
    `|---|---|---|${headline.map(() => "---").join("|")}|---|---|`,
    row("all", overall, headline),
    ...(categories.length > 1 ? categories.map((c) => row(c.category, c.scores, headline)) : []),
    "",
    `Macro (mean over ${categories.length} categories): greedy ${pct(overall.macroGreedy)}, ` +
      `Voting@${last} (majority) ${pct(overall.macroVotingAt[last])}.` +
      (overall.accPlusGreedy !== null
        ? ` Acc+ (groups whose pairs are all right): greedy ${pct(overall.accPlusGreedy)}, Voting@${last} (majority) ${pct(overall.accPlusVotingAt?.[last])}.`
        : ""),
    "",
    "Voting@K from the same samples under each aggregation `/judge` offers (`aggregation: majority` counts",
    "verdicts, a tie is wrong; `confidence` sums the samples' probabilities of 1 and 2 at their answer):",
    "",
    "| K | majority | confidence | Any@K |",
    "|---|---|---|---|",
    ...ks.map(
      (k) =>
        `| ${k} | ${pct(overall.votingAt[k])} | ${pct(overall.confidenceAt[k])} | ${pct(overall.anyAt[k])} |`,
    ),
    "",
    `Greedy with the better response first: ${pct(overall.greedyFirst)}; second: ${pct(overall.greedySecond)}; ` +
      `the same verdict in both orders: ${pct(overall.orderAgreement)}. Invalid sampled votes: ${pct(overall.invalidVotes)}.`,
    `Tokens generated: ${overall.completionTokens.toLocaleString("en")} ` +
      `(${(overall.completionTokens / Math.max(judged.length, 1)).toFixed(0)} per item, greedy ×2 + ${last} samples); ` +
      `item time ${(overall.itemMs / Math.max(judged.length, 1) / 1000).toFixed(2)} s on average.`,
  ];
  if (skipped.length) {
    const reasons = new Map<string, number>();
    for (const s of skipped) {
      const key = s.reason.replace(/: .*/, "");
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
    lines.push(
      "",
      `Skipped rows: ${skipped.length} (${[...reasons].map(([r, n]) => `${r}: ${n}`).join("; ")})`,
      "",
    );
    for (const s of skipped.slice(0, 20)) lines.push(`- line ${s.line}: ${s.reason}`);
    if (skipped.length > 20) lines.push(`- … and ${skipped.length - 20} more`);
  }
  return `${lines.join("\n")}\n`;
}
