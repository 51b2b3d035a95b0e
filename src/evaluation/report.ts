// The evaluation report as Markdown: overall and per category, greedy, order agreement, Voting@K and
// Any@K, and the rows that were skipped.

import type { SkippedRow } from "./items.js";
import { type JudgedItem, type Scores, score } from "./scores.js";

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function row(name: string, s: Scores, ks: readonly number[]): string {
  const voting = ks.map((k) => pct(s.votingAt[k] ?? 0)).join(" | ");
  return `| ${name} | ${s.items} | ${pct(s.greedy)} | ${voting} | ${pct(s.anyAt[ks[ks.length - 1] as number] ?? 0)} | ${pct(s.orderAgreement)} |`;
}

export function report(
  title: string,
  judged: readonly JudgedItem[],
  ks: readonly number[],
  skipped: readonly SkippedRow[],
  notes: readonly string[] = [],
): string {
  const overall = score(judged, ks);
  const categories = [...new Set(judged.map((j) => j.category))].sort();
  const lines = [
    `# ${title}`,
    "",
    ...notes,
    ...(notes.length ? [""] : []),
    `| items | n | greedy | ${ks.map((k) => `Voting@${k}`).join(" | ")} | Any@${ks[ks.length - 1]} | same greedy verdict in both orders |`,
    `|---|---|---|${ks.map(() => "---").join("|")}|---|---|`,
    row("all", overall, ks),
    ...(categories.length > 1
      ? categories.map((c) =>
          row(
            c,
            score(
              judged.filter((j) => j.category === c),
              ks,
            ),
            ks,
          ),
        )
      : []),
    "",
    `Greedy with the better response first: ${pct(overall.greedyFirst)}; second: ${pct(overall.greedySecond)}. ` +
      `Invalid sampled votes: ${pct(overall.invalidVotes)}.`,
  ];
  if (skipped.length) {
    lines.push("", `Skipped rows: ${skipped.length}`, "");
    for (const s of skipped.slice(0, 20)) lines.push(`- line ${s.line}: ${s.reason}`);
  }
  return `${lines.join("\n")}\n`;
}
