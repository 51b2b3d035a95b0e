// Evaluation items from JSONL files: R1-Reward-shaped records (`question`, `responses`, `label` 1|2,
// `images` as paths relative to the file; the demo task's layout) and the generic preference layout
// (`question`, `chosen`, `rejected`, `images`, `category`). A row that cannot be used is reported with
// its line and reason and skipped, never fatal.

import { readFile } from "node:fs/promises";
import path from "node:path";

export interface EvalItem {
  id: string;
  question: string;
  /** As shown to the judge: response 1, response 2. */
  responses: [string, string];
  /** Which response is the better one. */
  label: 1 | 2;
  /** Image files (absolute paths). */
  images: string[];
  category: string;
}

export interface SkippedRow {
  line: number;
  reason: string;
}

type Row = Record<string, unknown>;

const isText = (v: unknown): v is string => typeof v === "string";

function item(row: Row, line: number, dir: string): EvalItem | string {
  if (!isText(row.question) || row.question.length === 0) return "no question";
  const images = row.images ?? (row.image ? [row.image] : []);
  if (!Array.isArray(images) || !images.every(isText)) return "images must be a list of paths";
  const id = isText(row.id) ? row.id : `line-${line}`;
  const resolved = images.map((p) => path.resolve(dir, p));
  const category = [row.category, row.task, row.kind].find(isText) ?? "all";
  if (Array.isArray(row.responses)) {
    const [a, b] = row.responses;
    if (row.responses.length !== 2 || !isText(a) || !isText(b)) return "responses must be two strings";
    if (row.label !== 1 && row.label !== 2) return "label must be 1 or 2";
    return { id, question: row.question, responses: [a, b], label: row.label, images: resolved, category };
  }
  if (isText(row.chosen) && isText(row.rejected)) {
    if (row.chosen.trim() === "" || row.rejected.trim() === "") return "an empty response";
    return {
      id,
      question: row.question,
      responses: [row.chosen, row.rejected],
      label: 1,
      images: resolved,
      category,
    };
  }
  return "neither responses+label nor chosen+rejected";
}

export async function readItems(file: string): Promise<{ items: EvalItem[]; skipped: SkippedRow[] }> {
  const text = await readFile(file, "utf8");
  const dir = path.dirname(file);
  const items: EvalItem[] = [];
  const skipped: SkippedRow[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch {
      skipped.push({ line: i + 1, reason: "not JSON" });
      return;
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      skipped.push({ line: i + 1, reason: "not an object" });
      return;
    }
    const made = item(row as Row, i + 1, dir);
    if (typeof made === "string") skipped.push({ line: i + 1, reason: made });
    else items.push(made);
  });
  return { items, skipped };
}
