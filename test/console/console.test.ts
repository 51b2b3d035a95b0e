// The web console in a real headless Chromium (Debian's, through playwright-core) against the real
// server on the demo model: what the page shows must be what the API answers (a text pair and an
// image pair judged, the swap, a ranking, an `r1judge eval` report from the server's folder and
// uploaded, the server's state), a server with keys shows a key field and a 401 as a message, every
// view fits 360 px with labelled controls, and no page logs an error or breaks its CSP.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import pino from "pino";
import type { Browser, Page } from "playwright-core";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";
import {
  assertNoProblems,
  browserSkipReason,
  launchBrowser,
  openPage,
  RESULT_TIMEOUT_MS,
} from "../support/browser.js";
import {
  dropFiles,
  evalDemoSample,
  fillJudge,
  type JudgeForm,
  judgeBy,
  lowContrastTexts,
  openServedReport,
  openView,
  rankInPage,
  uploadReport,
  withConsolePage,
} from "../support/console-page.js";
import { httpCall, type Reply } from "../support/http.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const KEY = "console-test-key";
const RED_CIRCLE = path.join(ROOT, "docs/examples/red-circle.png");
const DROPPED = path.join(ROOT, "docs/eval-demo/sample/images/test-000003.png");
const skip = browserSkipReason();

let open: RunningServer;
let keyed: RunningServer;
let browser: Browser;
let reports: string;

before(async () => {
  if (skip) return;
  reports = await mkdtemp(path.join(tmpdir(), "r1judge-console-reports-"));
  const quiet = pino({ level: "silent" });
  open = await startServer(loadConfig(["--port", "0", "--console-reports", reports], {}), quiet);
  keyed = await startServer(loadConfig(["--port", "0"], { R1JUDGE_API_KEYS: KEY }), quiet);
  await Promise.all([open.ready, keyed.ready]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await Promise.all([open?.stop(), keyed?.stop()]);
  if (reports) await rm(reports, { recursive: true, force: true });
});

/** The API's answer to what the page sent (200 expected), to compare with what the page shows. */
async function api(
  server: RunningServer,
  route: string,
  body?: unknown,
  key?: string,
): Promise<Reply["json"]> {
  const reply = await httpCall(server.url, route, { body, ...(key ? { apiKey: key } : {}) });
  assert.equal(reply.status, 200, `${route}: ${reply.text}`);
  return reply.json;
}

const judgeBody = (form: JudgeForm, images: string[] = []) => ({
  question: form.question,
  responses: form.responses,
  ...(images.length ? { images } : {}),
  samples: form.samples,
  temperature: form.temperature,
  order: form.order,
  aggregation: form.aggregation,
  seed: form.seed,
  return_reasoning: true,
});

const dataUrl = async (file: string) => `data:image/png;base64,${(await readFile(file)).toString("base64")}`;

// biome-ignore lint/suspicious/noExplicitAny: a /judge answer
function expectShown(shown: Awaited<ReturnType<typeof judgeBy>>, answer: any): void {
  assert.equal(shown.winner, answer.winner);
  assert.deepEqual(shown.votes, { 1: answer.votes[1], 2: answer.votes[2], invalid: answer.votes.invalid });
  assert.deepEqual(
    shown.samples,
    // biome-ignore lint/suspicious/noExplicitAny: a /judge sample
    answer.samples.map((s: any) => ({ verdict: s.verdict, order: s.order })),
  );
}

/** The arguments a curl line passes (run by bash with a `curl` that prints them), to check its quoting. */
async function curlArguments(line: string, cwd: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)("bash", ["-c", `curl() { printf '%s\\0' "$@"; }; ${line}`], {
    cwd,
    timeout: 10_000,
  });
  return stdout.split("\0").slice(0, -1);
}

const withPage = (
  server: RunningServer,
  run: (page: Page) => Promise<void>,
  viewport?: { width: number; height: number },
) => withConsolePage(browser, server.url, run, viewport);

test("judging a text pair shows the API's winner, votes and samples, and a curl line that sends the same request", {
  skip,
}, async () => {
  const form: JudgeForm = {
    question: "Which is larger, 318 or 381?",
    responses: ["The larger one is 381.", "The larger one is 318."],
    samples: 6,
    temperature: 1,
    order: "alternate",
    aggregation: "majority",
    seed: 4242,
  };
  await withPage(open, async (page) => {
    await fillJudge(page, form);
    const shown = await judgeBy(page, "Judge");
    const answer = await api(open, "/judge", judgeBody(form));
    expectShown(shown, answer);
    assert.equal(shown.samples.length, 6);
    // Each sample's reasoning is there to read.
    const reasoning = await page.locator("#judge-result .reasoning").first().textContent();
    assert.equal(reasoning, answer.samples[0].reasoning);
    const args = await curlArguments((await page.locator("#judge-curl").textContent()) ?? "", ROOT);
    assert.equal(args[1], `${open.url}/judge`);
    assert.deepEqual(JSON.parse(args[args.length - 1] as string), judgeBody(form));
    assert.deepEqual(await lowContrastTexts(page), [], "text below WCAG AA contrast");
  });
});

test("judging an image pair: picked and dropped images show as thumbnails, are sent in order, and the votes are the API's", {
  skip,
}, async () => {
  const form: JudgeForm = {
    question: "What colour is the shape?",
    responses: ["The shape is red.", "The shape is blue."],
    samples: 4,
    temperature: 1,
    order: "alternate",
    aggregation: "confidence",
    seed: 77,
    images: [RED_CIRCLE],
  };
  await withPage(open, async (page) => {
    await fillJudge(page, form);
    // A second image dropped onto the images area, as from a file manager.
    await dropFiles(page, "#judge-images", [DROPPED]);
    const thumbnails = page.locator("#judge-thumbnails img");
    assert.equal(await thumbnails.count(), 2);
    assert.deepEqual(await thumbnails.evaluateAll((imgs) => imgs.map((img) => img.getAttribute("alt"))), [
      "red-circle.png",
      "test-000003.png",
    ]);
    // Thumbnails are drawn (blob: URLs the CSP allows): decode() rejects for a broken image.
    await thumbnails.evaluateAll((imgs) => Promise.all(imgs.map((img) => img.decode())));
    const shown = await judgeBy(page, "Judge");
    const answer = await api(
      open,
      "/judge",
      judgeBody(form, [await dataUrl(RED_CIRCLE), await dataUrl(DROPPED)]),
    );
    expectShown(shown, answer);
    // The curl line reads each image from its file rather than inlining megabytes of base64.
    const curl = (await page.locator("#judge-curl").textContent()) ?? "";
    assert.match(curl, /base64 -w0 'red-circle\.png'/);
    assert.match(curl, /base64 -w0 'test-000003\.png'/);
    // Removing a thumbnail takes its image out of the next request.
    await page.getByRole("button", { name: "Remove test-000003.png" }).click();
    assert.equal(await thumbnails.count(), 1);
    // Keyboard focus stays in the images, not lost to the page.
    assert.equal(await page.locator("#judge-images :focus").count(), 1);
  });
});

test("swapping the responses re-judges with the texts exchanged and says whether the verdict followed the content", {
  skip,
}, async () => {
  const form: JudgeForm = {
    question: "Which is larger, 529 or 592?",
    responses: ["592 is larger.", "529 is larger."],
    samples: 3,
    temperature: 1,
    order: "alternate",
    aggregation: "confidence",
    seed: 9,
  };
  await withPage(open, async (page) => {
    await fillJudge(page, form);
    await judgeBy(page, "Judge");
    const shown = await judgeBy(page, "Swap the responses");
    assert.equal(await page.getByLabel("Response 1", { exact: true }).inputValue(), form.responses[1]);
    assert.equal(await page.getByLabel("Response 2", { exact: true }).inputValue(), form.responses[0]);
    const given = await api(open, "/judge", judgeBody(form));
    const swapped = await api(
      open,
      "/judge",
      judgeBody({ ...form, responses: [form.responses[1], form.responses[0]] }),
    );
    expectShown(shown, swapped);
    const expected =
      given.winner === null || swapped.winner === null
        ? "none"
        : given.winner !== swapped.winner
          ? "content"
          : "position";
    assert.equal(await page.locator(".swap-note").getAttribute("data-follows"), expected);
  });
});

test("ranking candidates shows the API's ranking and every comparison played", { skip }, async () => {
  const form = {
    question: "Which is larger, 61 or 16?",
    candidates: ["16", "It is 61.", "61", '<img src=x onerror="throw 1">Both are <b>equal</b>.'],
    strategy: "round_robin" as const,
    samples: 1,
    seed: 5,
  };
  await withPage(open, async (page) => {
    const shown = await rankInPage(page, form);
    const answer = await api(open, "/rank", form);
    assert.deepEqual(shown.ranking, answer.ranking);
    assert.equal(shown.comparisons, answer.comparisons.length);
    assert.equal(shown.comparisons, 4 * 3);
    // A candidate's markup is shown as its text, never run or rendered (withPage fails on any error).
    const excerpt = page.locator('#rank-result [data-candidate="3"] .excerpt');
    assert.equal(await excerpt.textContent(), form.candidates[3]);
    assert.equal(await page.locator("#rank-result img, #rank-result b").count(), 0);
  });
});

test("an `r1judge eval` report, from the server's folder and uploaded: the Voting@K chart, categories and wrong items", {
  skip,
}, async () => {
  const out = path.join(reports, "sample");
  await evalDemoSample(open.url, out, { limit: 16, k: 4 });

  const view = await api(open, "/console/api/evaluations/sample");
  assert.equal(view.scores.items, 16);
  const checkReport = async (page: Page) => {
    // The chart plots what the server scored: K = 1…4 for each aggregation.
    for (const [series, key] of [
      ["confidence", "confidenceAt"],
      ["majority", "votingAt"],
    ] as const) {
      const points = await page
        .locator(`#voting-chart [data-series="${series}"] circle title`)
        .evaluateAll((titles) => titles.map((t) => t.textContent));
      assert.deepEqual(
        points,
        [1, 2, 3, 4].map((k) => `${series}, K = ${k}: ${(100 * view.scores[key][k]).toFixed(1)} %`),
      );
    }
    assert.equal(await page.locator("#categories tbody tr").count(), view.categories.length);
    const mistakes = page.locator("#mistakes > li");
    assert.equal(await mistakes.count(), view.mistakes.length);
    await page.getByLabel("Only verdicts that flip with order").check();
    // biome-ignore lint/suspicious/noExplicitAny: a view's mistake
    assert.equal(await mistakes.count(), view.mistakes.filter((m: any) => m.flipsWithOrder).length);
    await page.getByLabel("Only verdicts that flip with order").uncheck();
    const category = view.categories[0].category;
    await page.getByLabel("Category", { exact: true }).selectOption(category);
    // biome-ignore lint/suspicious/noExplicitAny: a view's mistake
    assert.equal(await mistakes.count(), view.mistakes.filter((m: any) => m.category === category).length);
  };
  await withPage(open, async (page) => {
    await openServedReport(page, "sample");
    await checkReport(page);
    const summary = await page.locator("#evaluation-result .summary").textContent();
    assert.match(summary ?? "", /^16 items/);
    // A wrong item opens to what the judge was shown and its reasoning in both orders.
    if (view.mistakes.length > 0) {
      await page.getByLabel("Category", { exact: true }).selectOption("");
      const first = page.locator("#mistakes > li").first();
      await first.locator("summary").click();
      assert.match((await first.textContent()) ?? "", /Question: /);
      assert.equal(await first.locator(".reasoning").count(), 2);
    }
    await uploadReport(page, [path.join(out, "results.jsonl"), path.join(out, "scores.json")]);
    assert.equal(await page.locator("#evaluation-result h3").first().textContent(), "results.jsonl");
    assert.equal(await page.locator("#evaluation-result .summary").textContent(), summary);
    await checkReport(page);
    assert.deepEqual(await lowContrastTexts(page), [], "text below WCAG AA contrast");

    // A file that is not a run's results: the error names line and field, and the report shown
    // before does not stay under it as if it were this file's.
    const bad = path.join(reports, "bad.jsonl");
    const item = JSON.parse(
      (await readFile(path.join(out, "results.jsonl"), "utf8")).split("\n")[0] as string,
    );
    await writeFile(bad, `${JSON.stringify(item)}\n${JSON.stringify({ ...item, id: "x", votes: ["x"] })}\n`);
    await page.getByLabel(/Open from this computer/).setInputFiles(bad);
    await page.locator("#evaluation-status", { hasText: "results.jsonl:2.votes[0]" }).waitFor();
    assert.equal(await page.locator("#evaluation-result").isHidden(), true);

    // Text from a file cannot reorder the page's words around it (a right-to-left override).
    const odd = path.join(reports, "odd.jsonl");
    await writeFile(
      odd,
      `${JSON.stringify({ ...item, greedy: item.label === 1 ? 2 : 1, category: "cat\u202e" })}\n`,
    );
    await uploadReport(page, [odd]);
    assert.equal(await page.locator("#mistakes bdi", { hasText: "cat\u202e" }).count(), 1);
  });
});

test("the server view shows the model from /models and the load and caches from /metrics", {
  skip,
}, async () => {
  await withPage(open, async (page) => {
    await openView(page, "Server");
    const models = await api(open, "/models");
    const field = (name: string) => page.locator(`#view-server [data-field="${name}"]`);
    await field("Model").waitFor();
    assert.equal(await field("Model").textContent(), models.models[0].id);
    assert.equal(await field("Device").textContent(), "cpu");
    assert.equal(await field("Dtype").textContent(), models.models[0].dtype);
    assert.equal(await field("Engine").textContent(), "serving");
    assert.match((await field("Queue depth").textContent()) ?? "", /^\d+$/);
    assert.match((await field("Judgement cache hits").textContent()) ?? "", /%|no lookups yet/);
    assert.deepEqual(await lowContrastTexts(page), [], "text below WCAG AA contrast");
  });
});

test("with API keys: the key field shows, a 401 is a message not a blank page, and the key then works", {
  skip,
}, async () => {
  await withPage(keyed, async (page) => {
    const keyField = page.getByLabel("API key");
    await keyField.waitFor({ state: "visible" });
    const form: JudgeForm = {
      question: "Which is larger, 705 or 750?",
      responses: ["750", "705"],
      samples: 2,
      temperature: 1,
      order: "alternate",
      aggregation: "confidence",
      seed: 3,
    };
    await fillJudge(page, form);
    await page.getByRole("button", { name: "Judge", exact: true }).click();
    await page.locator("#judge-status", { hasText: "401" }).waitFor({ timeout: RESULT_TIMEOUT_MS });
    assert.match((await page.locator("#judge-status").textContent()) ?? "", /Unauthorized \(401\).*API key/);
    assert.equal(await page.locator("#judge-result").isHidden(), true);
    await keyField.fill("not-the-key");
    await page.getByRole("button", { name: "Use key" }).click();
    await page.getByRole("button", { name: "Judge", exact: true }).click();
    await page.locator("#judge-status", { hasText: "not valid" }).waitFor({ timeout: RESULT_TIMEOUT_MS });
    await keyField.fill(KEY);
    await page.getByRole("button", { name: "Use key" }).click();
    const shown = await judgeBy(page, "Judge");
    expectShown(shown, await api(keyed, "/judge", judgeBody(form), KEY));
    // The curl line carries the key as a variable, never the key itself.
    const curl = (await page.locator("#judge-curl").textContent()) ?? "";
    assert.match(curl, /Authorization: Bearer \$R1JUDGE_API_KEY/);
    assert.doesNotMatch(curl, new RegExp(KEY));
  });
});

test("form problems are said in the page and nothing is sent: a blank question, a typo in the seed, too many samples", {
  skip,
}, async () => {
  await withPage(open, async (page) => {
    await fillJudge(page, {
      question: " ",
      responses: ["A", "B"],
      samples: 65,
      temperature: 1,
      order: "alternate",
      aggregation: "confidence",
      seed: 1,
    });
    // A number field the browser cannot read ("e") reads as "", which must not mean "random seed".
    await page.locator("#judge-seed").fill("");
    await page.locator("#judge-seed").pressSequentially("e");
    await page.getByRole("button", { name: "Judge", exact: true }).click();
    const status = page.locator("#judge-status", { hasText: "Cannot judge yet" });
    await status.waitFor();
    const text = (await status.textContent()) ?? "";
    assert.match(text, /the question is empty/);
    assert.match(text, /samples must be a whole number from 1 to 64/);
    assert.match(text, /seed must be a whole number/);
    assert.equal(await page.locator("#judge-result").getAttribute("data-rendered"), null);
    assert.equal(await page.locator("#judge-seed").getAttribute("aria-invalid"), "true");
  });
});

test("Cancel stops a judgement the server has not answered, and the form works again", { skip }, async () => {
  await withPage(open, async (page) => {
    // The server is held from answering (the request is intercepted and never let through), so
    // what is tested is the page's cancel, whatever the machine's speed.
    let held = 0;
    await page.route("**/judge", () => {
      held++;
    });
    await fillJudge(page, {
      question: "Which is larger, 12 or 21?",
      responses: ["21", "12"],
      samples: 2,
      temperature: 1,
      order: "alternate",
      aggregation: "confidence",
      seed: 8,
    });
    await page.getByRole("button", { name: "Judge", exact: true }).click();
    const cancel = page.getByRole("button", { name: "Cancel" });
    await cancel.waitFor({ state: "visible" });
    assert.equal(
      await page.getByRole("button", { name: "Judge", exact: true }).getAttribute("aria-disabled"),
      "true",
    );
    await cancel.click();
    await page.locator("#judge-status", { hasText: "Cancelled." }).waitFor();
    await cancel.waitFor({ state: "hidden" });
    assert.equal(held, 1);
    // Let requests through again: the next judgement is answered and shown.
    await page.unroute("**/judge");
    const shown = await judgeBy(page, "Judge");
    assert.equal(shown.samples.length > 0, true);
  });
});

test("a key the browser cannot send (not ASCII) is refused where it is typed, and the key field stays", {
  skip,
}, async () => {
  await withPage(keyed, async (page) => {
    const keyField = page.getByLabel("API key");
    await keyField.fill("ключ");
    await page.getByRole("button", { name: "Use key" }).click();
    await page.locator("#key-state", { hasText: "only visible ASCII" }).waitFor();
    await page.reload();
    await page.locator("body[data-ready]").waitFor();
    await keyField.waitFor({ state: "visible" });
    assert.match((await page.locator("#key-state").textContent()) ?? "", /needs an API key/);
  });
});

test("the server view does not show old readings as current once the server is gone", { skip }, async () => {
  const doomed = await startServer(loadConfig(["--port", "0"], {}), pino({ level: "silent" }));
  await doomed.ready;
  const { page, context, problems } = await openPage(browser, `${doomed.url}/#server`);
  try {
    const model = page.locator('#view-server [data-field="Model"]');
    await model.waitFor();
    await doomed.stop();
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.locator("#server-status", { hasText: "Could not refresh" }).waitFor();
    assert.equal(await model.count(), 0);
    assert.equal(await page.locator("#server-updated").textContent(), "");
    // Refused connections are what this test does; nothing else went wrong.
    assertNoProblems(problems.filter((p) => !/net::ERR_CONNECTION_REFUSED/.test(p)));
  } finally {
    await context.close();
    await doomed.stop();
  }
});

test("every view fits 360 px, every control has a label, and the views switch from the keyboard", {
  skip,
}, async () => {
  await withPage(
    open,
    async (page) => {
      for (const view of ["Judge", "Rank", "Evaluation", "Server"] as const) {
        await openView(page, view);
        const width = await page.locator("html").evaluate((html) => html.scrollWidth);
        assert.ok(Number(width) <= 360, `${view} is ${width} px wide at a 360 px viewport`);
        const unlabelled = await page.locator("input, select, textarea, button").evaluateAll((controls) =>
          controls
            .filter((c) => c.offsetParent !== null)
            .filter(
              (c) => !c.labels?.length && !c.getAttribute("aria-label") && !(c.textContent ?? "").trim(),
            )
            .map((c) => c.id || c.outerHTML.slice(0, 80)),
        );
        assert.deepEqual(unlabelled, [], `${view}: controls without a label`);
      }
      await page.getByRole("link", { name: "Judge", exact: true }).focus();
      await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");
      await page.locator("#view-rank").waitFor({ state: "visible" });
      assert.equal(
        await page.getByRole("link", { name: "Rank", exact: true }).getAttribute("aria-current"),
        "page",
      );
    },
    { width: 360, height: 740 },
  );
});
