// Driving the web console's views as a person would (labels, buttons, files), and reading back what
// they show: shared by the browser tests and the script that takes the README's screenshots.

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { assertNoProblems, openPage, RESULT_TIMEOUT_MS } from "./browser.js";

/**
 * Opens the console of the server at `baseUrl` in a fresh context, waits until it is ready, runs
 * `run`, then fails if the page logged an error, broke its CSP or had a request fail.
 */
export async function withConsolePage(
  browser: Browser,
  baseUrl: string,
  run: (page: Page) => Promise<void>,
  viewport?: { width: number; height: number },
): Promise<void> {
  const { page, context, problems } = await openPage(browser, `${baseUrl}/`, viewport);
  try {
    await page.locator("body[data-ready]").waitFor();
    await run(page);
    assertNoProblems(problems);
  } finally {
    await context.close();
  }
}

export interface JudgeForm {
  question: string;
  responses: [string, string];
  samples: number;
  temperature: number;
  order: "alternate" | "fixed";
  aggregation: "confidence" | "majority";
  seed: number;
  /** Image files to pick. */
  images?: string[];
}

export interface ShownJudgement {
  winner: 1 | 2 | null;
  votes: { 1: number; 2: number; invalid: number };
  samples: { verdict: 1 | 2 | null; order: string }[];
}

const verdictOf = (text: string | null): 1 | 2 | null => (text === "1" ? 1 : text === "2" ? 2 : null);

/** Waits until a view's result area has shown one more answer than `before` (no page-side eval: the CSP forbids it). */
export async function waitForRender(page: Page, resultId: string, before: number): Promise<void> {
  await page
    .locator(`#${resultId}[data-rendered]:not([data-rendered="${before}"])`)
    .waitFor({ state: "attached", timeout: RESULT_TIMEOUT_MS });
}

export async function renderedCount(page: Page, resultId: string): Promise<number> {
  return Number((await page.locator(`#${resultId}`).getAttribute("data-rendered")) ?? 0);
}

/** Drops files onto an element as a file manager would (a drop event carrying them). */
export async function dropFiles(page: Page, selector: string, files: string[]): Promise<void> {
  const payload = await Promise.all(
    files.map(async (file) => ({
      name: path.basename(file),
      base64: (await readFile(file)).toString("base64"),
    })),
  );
  await page.locator(selector).evaluate((zone, dropped) => {
    const win = zone.ownerDocument.defaultView;
    const transfer = new win.DataTransfer();
    for (const { name, base64 } of dropped) {
      const bytes = Uint8Array.from(win.atob(base64), (c: string) => c.charCodeAt(0));
      transfer.items.add(new win.File([bytes], name, { type: "image/png" }));
    }
    zone.dispatchEvent(
      new win.DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }),
    );
  }, payload);
}

/** The view's section: labels repeat across views (each has a Question), and hidden views stay in the page. */
const inView = (page: Page, view: string) => page.locator(`#view-${view}`);

export async function openView(page: Page, name: "Judge" | "Rank" | "Evaluation" | "Server"): Promise<void> {
  await page.getByRole("link", { name, exact: true }).click();
  await page.locator(`#view-${name.toLowerCase()}`).waitFor({ state: "visible" });
}

export async function fillJudge(page: Page, form: JudgeForm): Promise<void> {
  await openView(page, "Judge");
  const view = inView(page, "judge");
  await view.getByLabel("Question", { exact: true }).fill(form.question);
  await view.getByLabel("Response 1", { exact: true }).fill(form.responses[0]);
  await view.getByLabel("Response 2", { exact: true }).fill(form.responses[1]);
  await view.getByLabel("Samples", { exact: true }).fill(String(form.samples));
  await view.getByLabel("Temperature", { exact: true }).fill(String(form.temperature));
  await view.getByLabel("Order", { exact: true }).selectOption(form.order);
  await view.getByLabel("Aggregation", { exact: true }).selectOption(form.aggregation);
  await view.getByLabel("Seed", { exact: true }).fill(String(form.seed));
  if (form.images?.length) await view.getByLabel("Pick images").setInputFiles(form.images);
}

/** Clicks a button of the Judge view (Judge, or Swap the responses) and waits for the new answer. */
export async function judgeBy(page: Page, button: "Judge" | "Swap the responses"): Promise<ShownJudgement> {
  const before = await renderedCount(page, "judge-result");
  await page.getByRole("button", { name: button, exact: true }).click();
  await waitForRender(page, "judge-result", before);
  return readJudgement(page);
}

export async function readJudgement(page: Page): Promise<ShownJudgement> {
  const result = page.locator("#judge-result");
  const count = async (kind: string) => Number(await result.locator(`[data-votes="${kind}"]`).textContent());
  const winner = await result.locator("[data-winner]").getAttribute("data-winner");
  const samples = await result
    .locator("[data-sample]")
    .evaluateAll((items) =>
      items.map((li) => [li.getAttribute("data-verdict"), li.getAttribute("data-order")]),
    );
  return {
    winner: verdictOf(winner),
    votes: { 1: await count("1"), 2: await count("2"), invalid: await count("invalid") },
    samples: samples.map(([verdict, order]) => ({ verdict: verdictOf(verdict ?? null), order: order ?? "" })),
  };
}

export interface RankForm {
  question: string;
  candidates: string[];
  strategy: "knockout" | "round_robin";
  samples: number;
  seed: number;
}

export async function rankInPage(
  page: Page,
  form: RankForm,
): Promise<{ ranking: number[]; comparisons: number }> {
  await openView(page, "Rank");
  const view = inView(page, "rank");
  await view.getByLabel("Question", { exact: true }).fill(form.question);
  const shown = () => view.locator("#rank-candidates textarea").count();
  while ((await shown()) < form.candidates.length)
    await view.getByRole("button", { name: "Add a candidate" }).click();
  for (const [i, text] of form.candidates.entries())
    await view.getByLabel(`Candidate ${i}`, { exact: true }).fill(text);
  await view.getByLabel("Strategy").selectOption(form.strategy);
  await view.getByLabel("Samples per comparison").fill(String(form.samples));
  await view.getByLabel("Seed", { exact: true }).fill(String(form.seed));
  const before = await renderedCount(page, "rank-result");
  await page.getByRole("button", { name: "Rank", exact: true }).click();
  await waitForRender(page, "rank-result", before);
  const ranking = await page
    .locator("#rank-result .ranking [data-candidate]")
    .evaluateAll((items) => items.map((li) => Number(li.getAttribute("data-candidate"))));
  const comparisons = await page.locator("#rank-result table.comparisons tbody tr").count();
  return { ranking, comparisons };
}

const ROOT = path.resolve(import.meta.dirname, "../..");

/**
 * `bin/r1judge eval` over the committed demo sample against a running server, as a user runs it, into
 * `out` (a report folder the Evaluation view opens). Not in this process: the server here must answer.
 */
export async function evalDemoSample(url: string, out: string, options: { limit?: number; k: number }) {
  const limit = options.limit === undefined ? [] : ["--limit", String(options.limit)];
  const data = "docs/eval-demo/sample/test.jsonl";
  const args = ["eval", "--data", data, "--url", url, ...limit, "--k", String(options.k), "--out", out];
  await promisify(execFile)(path.join(ROOT, "bin/r1judge"), args, { cwd: ROOT, timeout: 600_000 });
}

/** Opens a report of the server's reports folder in the Evaluation view. */
export async function openServedReport(page: Page, name: string): Promise<void> {
  await openView(page, "Evaluation");
  await page.getByLabel("Report on the server").selectOption(name);
  const before = await renderedCount(page, "evaluation-result");
  await page.getByRole("button", { name: "Open", exact: true }).click();
  await waitForRender(page, "evaluation-result", before);
}

/** Uploads a report's files (results.jsonl, scores.json) in the Evaluation view. */
export async function uploadReport(page: Page, files: string[]): Promise<void> {
  await openView(page, "Evaluation");
  const before = await renderedCount(page, "evaluation-result");
  await page.getByLabel(/Open from this computer/).setInputFiles(files);
  await waitForRender(page, "evaluation-result", before);
}

/**
 * Visible text whose colour against its background is below WCAG AA: 4.5:1, or 3:1 for large text
 * (24 px, or 18.66 px bold). The background is the nearest ancestor's opaque background colour.
 */
export async function lowContrastTexts(page: Page): Promise<string[]> {
  return page.locator("body *").evaluateAll((elements) => {
    const win = elements[0]?.ownerDocument.defaultView;
    if (!win) return [];
    // tsx (esbuild's keepNames) wraps the named functions below in __name(), a Node-side helper.
    win.__name ??= (f: unknown) => f;
    const rgb = (css: string) => {
      const [r = 0, g = 0, b = 0, a = 1] = (css.match(/[\d.]+/g) ?? []).map(Number);
      return { r, g, b, a };
    };
    const luminance = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const channel = (c: number) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const background = (el: (typeof elements)[number]) => {
      for (let node: typeof el | null = el; node; node = node.parentElement) {
        const color = rgb(win.getComputedStyle(node).backgroundColor);
        if (color.a === 1) return color;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const low: string[] = [];
    for (const el of elements) {
      const text = [...el.childNodes]
        .filter((n) => n.nodeType === 3)
        .map((n) => n.textContent ?? "")
        .join("")
        .trim();
      if (!text || el.getClientRects().length === 0 || el.closest("svg")) continue;
      const style = win.getComputedStyle(el);
      if (style.visibility === "hidden") continue;
      const back = background(el);
      const [fg, bg] = [luminance(rgb(style.color)), luminance(back)];
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      const size = Number.parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5))
        low.push(
          `${ratio.toFixed(2)}:1 "${text.slice(0, 40)}" (${style.color} on rgb(${back.r}, ${back.g}, ${back.b}))`,
        );
    }
    return low;
  });
}
