// Evaluation items from JSONL files in the layouts of the public multimodal reward benchmarks and our
// own (docs/evaluation.md has each one's fields and official scoring):
//   demo            question, responses [2], label 1|2, images, kind|task|category
//   generic         question, chosen, rejected, images, category
//   vl-rewardbench  id, query, response [2], image, human_ranking (the official release), or
//                   id, prompt, chosen, rejected, image (R1-Reward's conversion); group by id prefix
//   mmrb            Multimodal RewardBench: ID, Text, Image, Output1, Output2, Better; category by id
//   mm-rlhf         id, image|video, prompt, chosen, rejected; category = the image's first folder,
//                   pairs grouped by the id's prefix for Acc+
// Each row's layout is detected from its fields unless one is given. Image paths are relative to the
// file. A row that cannot be judged (a missing image file, a video, an empty response, an unknown
// category, a bad label) is reported with its line and reason and skipped, never fatal.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";

export const LAYOUTS = ["demo", "generic", "vl-rewardbench", "mmrb", "mm-rlhf"] as const;
export type Layout = (typeof LAYOUTS)[number];

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
  /** Items scored together for Acc+ (MM-RLHF: the pairs of one prompt); the id when alone. */
  group: string;
}

export interface SkippedRow {
  line: number;
  reason: string;
}

type Row = Record<string, unknown>;

const isText = (v: unknown): v is string => typeof v === "string";

/** VL-RewardBench's official groups (183 general / 749 hallucination / 318 reasoning), from the id's source. */
const VL_REWARDBENCH_GROUPS: Record<string, string> = {
  hallucination: "hallucination",
  rlaif: "hallucination",
  rlhf: "hallucination",
  povid: "hallucination",
  wildvision: "general",
  vlfeedback: "general",
  // VLFeedback's sources, as the release's ids name them (183 general items with wildvision).
  jailbreak: "general",
  lrvinstruction: "general",
  politics: "general",
  svit: "general",
  mathverse: "reasoning",
  mmmu: "reasoning",
};

const MM_RLHF_CATEGORIES = new Set(["mcq", "long", "short", "safety"]);

/** Multimodal RewardBench's categories: the id's first segment, two for safety and reasoning. */
function mmrbCategory(id: string): string | undefined {
  const parts = id
    .toLowerCase()
    .split(/[-_/:]/)
    .filter(Boolean);
  const [first, second] = parts;
  if (!first) return undefined;
  if ((first === "safety" || first === "reasoning") && second) return `${first}/${second}`;
  return ["correctness", "preference", "knowledge", "coding", "math", "vqa", "safety", "reasoning"].includes(
    first,
  )
    ? first
    : undefined;
}

export function detectLayout(row: Row): Layout | undefined {
  if ("query" in row && Array.isArray(row.response) && "human_ranking" in row) return "vl-rewardbench";
  if ("Output1" in row && "Output2" in row) return "mmrb";
  if (Array.isArray(row.responses)) return "demo";
  if ("question" in row && "chosen" in row) return "generic";
  if ("prompt" in row && "chosen" in row) {
    const id = isText(row.id) ? row.id : "";
    const image = isText(row.image) ? row.image : "";
    const folder = image.split("/")[0] ?? "";
    if ("video" in row || MM_RLHF_CATEGORIES.has(folder) || /^\d+_\d+$/.test(id)) return "mm-rlhf";
    return "vl-rewardbench";
  }
  return undefined;
}

function imageList(value: unknown): string[] | string {
  if (value === undefined || value === null || value === "") return [];
  if (isText(value)) return [value];
  if (Array.isArray(value) && value.every(isText)) return value;
  return "images must be a path or a list of paths";
}

/** Both responses non-empty, in the order shown, with the better one's position. */
function pair(a: unknown, b: unknown, better: 1 | 2): { responses: [string, string]; label: 1 | 2 } | string {
  if (!isText(a) || !isText(b)) return "a response is missing or not text";
  if (a.trim() === "" || b.trim() === "") return "an empty response";
  return { responses: [a, b], label: better };
}

function parseRow(
  row: Row,
  line: number,
  layout: Layout,
): (Omit<EvalItem, "images"> & { images: string[] }) | string {
  const id = isText(row.id) ? row.id : isText(row.ID) ? row.ID : `line-${line}`;
  switch (layout) {
    case "demo": {
      if (!isText(row.question) || row.question.length === 0) return "no question";
      const responses = row.responses;
      if (!Array.isArray(responses) || responses.length !== 2) return "responses must be two strings";
      if (row.label !== 1 && row.label !== 2) return "label must be 1 or 2";
      const made = pair(responses[0], responses[1], row.label);
      if (typeof made === "string") return made;
      const images = imageList(row.images ?? row.image);
      if (typeof images === "string") return images;
      const category = [row.category, row.task, row.kind].find(isText) ?? "all";
      return { id, question: row.question, ...made, images, category, group: id };
    }
    case "generic": {
      if (!isText(row.question) || row.question.length === 0) return "no question";
      const made = pair(row.chosen, row.rejected, 1);
      if (typeof made === "string") return made;
      const images = imageList(row.images ?? row.image);
      if (typeof images === "string") return images;
      const category = isText(row.category) ? row.category : "all";
      return { id, question: row.question, ...made, images, category, group: id };
    }
    case "vl-rewardbench": {
      const question = isText(row.query) ? row.query : row.prompt;
      if (!isText(question) || question.length === 0) return "no query";
      const source = id.toLowerCase().split(/[-_]/)[0] ?? "";
      const category = VL_REWARDBENCH_GROUPS[source];
      if (!category) return `unknown category: id prefix '${source}'`;
      let made: ReturnType<typeof pair>;
      if (Array.isArray(row.response)) {
        const ranking = row.human_ranking;
        if (!Array.isArray(ranking) || ranking.length !== 2 || ranking[0] === ranking[1])
          return "human_ranking must rank the two responses";
        // Rank 0 is the preferred response.
        made = pair(
          row.response[0],
          row.response[1],
          (ranking[0] as number) < (ranking[1] as number) ? 1 : 2,
        );
      } else made = pair(row.chosen, row.rejected, 1);
      if (typeof made === "string") return made;
      const images = imageList(row.image ?? row.images);
      if (typeof images === "string") return images;
      return { id, question, ...made, images, category, group: id };
    }
    case "mmrb": {
      if (!isText(row.Text) || row.Text.length === 0) return "no Text";
      const better =
        row.Better === "Output1" || row.Better === 1
          ? 1
          : row.Better === "Output2" || row.Better === 2
            ? 2
            : 0;
      if (better === 0) return "Better must be Output1 or Output2";
      const category = mmrbCategory(id);
      if (!category) return `unknown category: id '${id}'`;
      const made = pair(row.Output1, row.Output2, better);
      if (typeof made === "string") return made;
      const images = imageList(row.Image ?? row.image);
      if (typeof images === "string") return images;
      return { id, question: row.Text, ...made, images, category, group: id };
    }
    case "mm-rlhf": {
      if ("video" in row) return "video: not supported (the judge takes images)";
      if (!isText(row.prompt) || row.prompt.length === 0) return "no prompt";
      const images = imageList(row.image);
      if (typeof images === "string") return images;
      const folder = (images[0] ?? "").split("/")[0] ?? "";
      if (!MM_RLHF_CATEGORIES.has(folder)) return `unknown category: image folder '${folder}'`;
      const made = pair(row.chosen, row.rejected, 1);
      if (typeof made === "string") return made;
      return { id, question: row.prompt, ...made, images, category: folder, group: id.split("_")[0] ?? id };
    }
  }
}

export async function readItems(
  file: string,
  layout?: Layout,
): Promise<{ items: EvalItem[]; skipped: SkippedRow[]; layouts: Layout[] }> {
  const text = await readFile(file, "utf8");
  const dir = path.dirname(file);
  const items: EvalItem[] = [];
  const skipped: SkippedRow[] = [];
  const seen = new Set<Layout>();
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch {
      skipped.push({ line, reason: "not JSON" });
      return;
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      skipped.push({ line, reason: "not an object" });
      return;
    }
    const chosen = layout ?? detectLayout(row as Row);
    if (!chosen) {
      skipped.push({ line, reason: "no known layout (docs/evaluation.md)" });
      return;
    }
    const made = parseRow(row as Row, line, chosen);
    if (typeof made === "string") {
      skipped.push({ line, reason: made });
      return;
    }
    const images = made.images.map((p) => path.resolve(dir, p));
    const missing = images.find((p) => !existsSync(p));
    if (missing) {
      skipped.push({ line, reason: `image missing: ${path.relative(dir, missing)}` });
      return;
    }
    seen.add(chosen);
    items.push({ ...made, images });
  });
  return { items, skipped, layouts: [...seen] };
}
