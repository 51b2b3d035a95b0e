// results.jsonl, the judged items `r1judge eval` appends as they finish: one reader for resuming a run
// and for the console's evaluation view. Each line is checked field by field; a problem names its line
// and field, so a hand-edited or foreign file is refused with a reason rather than scored wrongly.

import { z } from "zod";
import { formatPath } from "../errors.js";
import type { JudgedItem } from "./scores.js";

const verdict = z.union([z.literal(1), z.literal(2), z.null()]);
const probability = z.number().min(0).max(1);

const judgedItem = z.object({
  id: z.string().min(1),
  category: z.string(),
  group: z.string().optional(),
  label: z.union([z.literal(1), z.literal(2)]),
  greedy: verdict,
  greedySwapped: verdict,
  votes: z.array(verdict),
  probabilities: z.array(z.tuple([probability, probability]).nullable()).optional(),
  completionTokens: z.number().int().min(0),
  ms: z.number().min(0).optional(),
  question: z.string().optional(),
  responses: z.tuple([z.string(), z.string()]).optional(),
  reasoning: z.object({ given: z.string().nullable(), swapped: z.string().nullable() }).optional(),
}) satisfies z.ZodType<JudgedItem>;

export interface ResultsProblem {
  /** 1-based line of the file. */
  line: number;
  /** The field at fault (`votes[2]`), or `line` when the line is not a JSON object. */
  field: string;
  message: string;
  /** The line is not JSON at all: what an interrupted write leaves (JSON of another shape is not). */
  unparsable?: true;
}

export interface ParsedResults {
  /** The judged items by first appearance of their id; a later line for the same id replaces it. */
  items: JudgedItem[];
  problems: ResultsProblem[];
}

export function parseResults(text: string): ParsedResults {
  const byId = new Map<string, JudgedItem>();
  const problems: ResultsProblem[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    if (!raw.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      problems.push({ line: i + 1, field: "line", message: "not JSON", unparsable: true });
      return;
    }
    const parsed = judgedItem.safeParse(json);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        problems.push({
          line: i + 1,
          field: issue.path.length ? formatPath(issue.path) : "line",
          message: issue.message,
        });
      return;
    }
    byId.set(parsed.data.id, parsed.data as JudgedItem);
  });
  return { items: [...byId.values()], problems };
}

/**
 * The problems of a results file other than its last line being cut short (not JSON): a run that was
 * interrupted, or is still writing that line, leaves one; its item is simply not there yet.
 */
export function problemsBesidesCutShort(text: string, problems: readonly ResultsProblem[]): ResultsProblem[] {
  const lastLine = text.trimEnd().split("\n").length;
  return problems.filter((p) => !(p.unparsable && p.line === lastLine));
}

/**
 * A run's finished items to resume from: a line cut short by an interruption (the last one, not
 * JSON) is judged again; any other problem means the file is not this run's results, and resuming
 * would mix them in, so it throws naming the line and field.
 */
export function resumableResults(text: string, file: string): JudgedItem[] {
  const { items, problems } = parseResults(text);
  const first = problemsBesidesCutShort(text, problems)[0];
  if (first) throw new Error(`${file}: line ${first.line}, ${first.field}: ${first.message}`);
  return items;
}
