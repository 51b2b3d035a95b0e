// The README's screenshots of the web console (docs/console/*.png): the real server on the demo model,
// each view driven in headless Chromium as the browser tests drive it, the Evaluation view on an
// `r1judge eval` run over the committed demo sample. `npm run console:screenshots`.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import type { Page } from "playwright-core";
import { loadConfig } from "../src/config.js";
import { startServer } from "../src/main.js";
import { launchBrowser } from "../test/support/browser.js";
import {
  evalDemoSample,
  fillJudge,
  judgeBy,
  openServedReport,
  openView,
  rankInPage,
  withConsolePage,
} from "../test/support/console-page.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const OUT = path.join(ROOT, "docs/console");

const reports = await mkdtemp(path.join(tmpdir(), "r1judge-console-shots-"));
const server = await startServer(
  loadConfig(["--port", "0", "--console-reports", reports], {}),
  pino({ level: "silent" }),
);
await server.ready;
const browser = await launchBrowser();
try {
  process.stderr.write("[screenshots] r1judge eval over docs/eval-demo/sample (40 items, K = 8)\n");
  await evalDemoSample(server.url, path.join(reports, "demo-sample"), { k: 8 });

  const shot = async (name: string, drive: (page: Page) => Promise<void>, width = 1100, height = 1200) => {
    await withConsolePage(
      browser,
      server.url,
      async (page) => {
        await drive(page);
        await page.screenshot({ path: path.join(OUT, `${name}.png`) });
      },
      { width, height },
    );
    process.stderr.write(`[screenshots] docs/console/${name}.png\n`);
  };

  const judgeImagePair = async (page: Page) => {
    await fillJudge(page, {
      question: "What colour is the shape?",
      responses: ["The shape is blue.", "The shape is red."],
      samples: 8,
      temperature: 1,
      order: "alternate",
      aggregation: "confidence",
      seed: 1,
      images: [path.join(ROOT, "docs/examples/red-circle.png")],
    });
    await judgeBy(page, "Judge");
    await judgeBy(page, "Swap the responses");
    await page.locator("#judge-result [data-sample] summary").first().click();
  };
  await shot("judge", judgeImagePair, 1100, 1500);
  await shot("judge-360", judgeImagePair, 360, 1400);
  await shot(
    "rank",
    async (page) => {
      await rankInPage(page, {
        question: "Which is larger, 58 or 85?",
        candidates: ["58", "85", "It is 85.", "They are equal."],
        strategy: "round_robin",
        samples: 1,
        seed: 1,
      });
    },
    1100,
    1250,
  );
  await shot(
    "evaluation",
    async (page) => {
      await openServedReport(page, "demo-sample");
      await page.locator("#mistakes > li summary").first().click();
    },
    1100,
    1700,
  );
  await shot(
    "server",
    async (page) => {
      await openView(page, "Server");
      await page.locator('#view-server [data-field="Model"]').waitFor();
    },
    1100,
    580,
  );
} finally {
  await browser.close();
  await server.stop();
  await rm(reports, { recursive: true, force: true });
}
