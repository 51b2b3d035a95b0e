// Head-of-line blocking: does text-only judging go on while other requests' images are prepared? On a
// fresh server process (the CLI, default settings, the demo model, R1JUDGE_IGNORE_EOS so every sample
// runs to max_new_tokens: work of a known length) it measures
//   1. unloaded: latency of sequential text-only /judge calls (fresh questions, fixed seed and length);
//   2. loaded: 16 requests × 4 images of 1000×1000 (distinct content per request: nothing is cached)
//      sent at once, and text-only /judge calls sent while they are in flight (one at a time, the next
//      100 ms after the last answer, until the last image request is answered): latency and its ratio
//      to the unloaded one;
//   3. meanwhile /metrics polled every 20 ms: the longest time the decode-step counter did not advance
//      while rows were running (r1judge_batch_size > 0) or while one of our text judges waited, and the
//      slowest scrape (the server pulls the engine's stats from its worker with a 1 s timeout: a blocked
//      worker shows up as a slow scrape, with stale values).
// A benchmark: it prints numbers and asserts only that every request was answered 200.
//
//   npm run bench:hol                           # this checkout
//   npm run bench:hol -- --compare ../other     # this checkout, then another, side by side
//   npm run bench:hol -- --root A --root B      # the given checkouts, side by side
// also: --text N (10 unloaded judges), --requests N (16), --images N (4 per request), --size PX (1000),
//       --format png|jpeg, --new-tokens N (64, text judges), --image-new-tokens N (8),
//       --gap MS (100, between loaded text judges), --open (a text judge every --gap ms whether or not
//       the last was answered: they pile up while the engine is blocked), --poll MS (20)

import { execFileSync } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ROOT, startChildServer } from "../test/support/child-server.js";
import { noisyImage } from "./images.js";

const { values } = parseArgs({
  options: {
    root: { type: "string", multiple: true },
    compare: { type: "string" },
    text: { type: "string", default: "10" },
    requests: { type: "string", default: "16" },
    images: { type: "string", default: "4" },
    size: { type: "string", default: "1000" },
    format: { type: "string", default: "png" },
    "new-tokens": { type: "string", default: "64" },
    "image-new-tokens": { type: "string", default: "8" },
    gap: { type: "string", default: "100" },
    open: { type: "boolean", default: false },
    poll: { type: "string", default: "20" },
  },
});
const TEXT = Number(values.text);
const REQUESTS = Number(values.requests);
const IMAGES = Number(values.images);
const SIZE = Number(values.size);
const FORMAT = values.format === "jpeg" ? "jpeg" : "png";
const NEW_TOKENS = Number(values["new-tokens"]);
const IMAGE_NEW_TOKENS = Number(values["image-new-tokens"]);
const GAP_MS = Number(values.gap);
const POLL_MS = Number(values.poll);
const SEED = 1234;
/** The server's STATS_TIMEOUT_MS (src/main.ts): a scrape this slow served stale engine values. */
const STATS_TIMEOUT_MS = 1000;

const roots = values.compare
  ? [ROOT, path.resolve(values.compare)]
  : (values.root ?? [ROOT]).map((r) => path.resolve(r));

/** A w×h image as a base64 data URL (bench/images.ts), its field's colour varied by seed as well. */
function image(width: number, height: number, format: "png" | "jpeg", seed: number): Promise<string> {
  return noisyImage(width, height, format, seed, { r: 40 + (seed % 200), g: 120, b: (200 + seed) % 256 });
}

/** The i-th text-only judgement: a question never asked before on this server (greedy answers are cached). */
function textBody(i: number) {
  return {
    question: `Which is larger, ${1000 + i} or ${2000 + i}? (question ${10_000 + i})`,
    responses: ["The first one.", "The second one."],
    samples: 1,
    seed: SEED,
    max_new_tokens: NEW_TOKENS,
    timeout_ms: 600_000,
  };
}

function imageBody(k: number, images: string[]) {
  return {
    question: `What shape is shown? (request ${k})`,
    responses: ["A circle.", "A square."],
    images,
    samples: 1,
    seed: SEED,
    max_new_tokens: IMAGE_NEW_TOKENS,
    timeout_ms: 600_000,
  };
}

interface Answer {
  status: number | string;
  sent: number;
  answered: number;
}

async function post(url: string, body: unknown): Promise<Answer> {
  const sent = performance.now();
  const status = await fetch(`${url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    (err: Error) => `failed: ${err.message}`,
  );
  return { status, sent, answered: performance.now() };
}

interface Poll {
  /** When the scrape was answered (ms, performance.now()). */
  at: number;
  ms: number;
  ok: boolean;
  steps: number;
  rows: number;
  waiting: number;
  /** How many of our text judges were in flight when the scrape was answered. */
  textInFlight: number;
}

function sample(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

function summary(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/**
 * The longest time the step counter did not advance while `busy` held at every poll in between: from
 * the last poll that saw it advance (or the last poll before the engine got busy) to the poll that saw
 * it advance again, or to the last busy poll. Resolution: one poll interval plus one scrape.
 */
function longestStall(polls: Poll[], busy: (p: Poll) => boolean): number {
  let longest = 0;
  let since: number | undefined;
  let previous: Poll | undefined;
  for (const p of polls) {
    if (!p.ok) continue;
    if (previous && p.steps > previous.steps) {
      if (since !== undefined) longest = Math.max(longest, p.at - since);
      since = busy(p) ? p.at : undefined;
    } else if (busy(p)) {
      since ??= previous?.at ?? p.at;
      longest = Math.max(longest, p.at - since);
    } else since = undefined;
    previous = p;
  }
  return longest;
}

function revision(root: string): string {
  try {
    const head = execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
    }).trim();
    const dirty = execFileSync("git", ["-C", root, "status", "--porcelain", "--", "src"], {
      encoding: "utf8",
    }).trim();
    return dirty ? `${head}+src changes` : head;
  } catch {
    return "?";
  }
}

process.stderr.write(`preparing ${REQUESTS} × ${IMAGES} images of ${SIZE}×${SIZE} ${FORMAT}…\n`);
const imageBodies: unknown[] = [];
for (let k = 0; k < REQUESTS; k++) {
  const images = await Promise.all(
    Array.from({ length: IMAGES }, (_, j) => image(SIZE, SIZE, FORMAT, k * IMAGES + j + 1)),
  );
  imageBodies.push(imageBody(k, images));
}
const warmImage = imageBody(-1, [await image(256, 256, FORMAT, 0)]);

const failures: string[] = [];
const results: Record<string, unknown>[] = [];
for (const root of roots) {
  const label = `${path.relative(process.cwd(), root) || "."} (${revision(root)})`;
  process.stderr.write(`${label}: starting the server…\n`);
  const server = await startChildServer({ root, env: { R1JUDGE_IGNORE_EOS: "true" } });
  const check = (what: string, a: Answer) => {
    if (a.status !== 200) failures.push(`${label}: ${what} answered ${a.status}`);
  };
  let question = 0;
  try {
    // Warm-up: the graphs' first runs (text and vision) are not what is measured.
    for (let i = 0; i < 3; i++) check("warm-up text judge", await post(server.url, textBody(question++)));
    check("warm-up image judge", await post(server.url, warmImage));

    const unloaded: number[] = [];
    for (let i = 0; i < TEXT; i++) {
      const a = await post(server.url, textBody(question++));
      check("unloaded text judge", a);
      unloaded.push(a.answered - a.sent);
    }
    process.stderr.write(`${label}: unloaded ${JSON.stringify(summary(unloaded))}\n`);

    // Loaded: /metrics polled throughout, the image requests at once, text judges while they run.
    let textInFlight = 0;
    let polling = true;
    const polls: Poll[] = [];
    const poller = (async () => {
      while (polling) {
        const started = performance.now();
        let text = "";
        let ok = false;
        try {
          const r = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
          text = await r.text();
          ok = r.status === 200;
        } catch {}
        const at = performance.now();
        polls.push({
          at,
          ms: at - started,
          ok,
          steps: sample(text, "r1judge_decode_steps_total"),
          rows: sample(text, "r1judge_batch_size"),
          waiting: sample(text, "r1judge_engine_requests_waiting"),
          textInFlight,
        });
        await sleep(POLL_MS);
      }
    })();
    await sleep(200); // a few polls of the idle server first

    const started = performance.now();
    let imagesLeft = imageBodies.length;
    const images = Promise.all(
      imageBodies.map((body) =>
        post(server.url, body).then((a) => {
          imagesLeft--;
          return a;
        }),
      ),
    );
    const texts: Promise<Answer>[] = [];
    const judgeText = () => {
      textInFlight++;
      const answer = post(server.url, textBody(question++)).then((a) => {
        textInFlight--;
        return a;
      });
      texts.push(answer);
      return answer;
    };
    // Text judges from right after the image requests were sent until the last image request is answered.
    while (imagesLeft > 0 && texts.length < 1000) {
      const answer = judgeText();
      if (!values.open) await answer;
      await sleep(GAP_MS);
    }
    const imageAnswers = await images;
    const imagesSeconds = (Math.max(...imageAnswers.map((a) => a.answered)) - started) / 1000;
    const textAnswers = await Promise.all(texts);
    await sleep(200);
    polling = false;
    await poller;

    for (const a of imageAnswers) check("image judge", a);
    for (const a of textAnswers) check("loaded text judge", a);
    const loaded = textAnswers.map((a) => a.answered - a.sent);
    const during = polls.filter((p) => p.at >= started);
    const u = summary(unloaded);
    const l = summary(loaded);
    const row = {
      label,
      unloadedN: u.n,
      unloadedP50: u.p50,
      unloadedP90: u.p90,
      loadedN: l.n,
      loadedP50: l.p50,
      loadedP90: l.p90,
      loadedMax: l.max,
      ratioP50: l.p50 / u.p50,
      ratioP90: l.p90 / u.p90,
      ratioMax: l.max / u.p50,
      stallRowsMs: longestStall(during, (p) => p.rows > 0),
      stallTextMs: longestStall(during, (p) => p.textInFlight > 0 || p.rows > 0),
      polls: during.length,
      pollsFailed: during.filter((p) => !p.ok).length,
      pollsStale: during.filter((p) => p.ok && p.ms >= STATS_TIMEOUT_MS).length,
      slowestScrapeMs: Math.max(0, ...during.map((p) => p.ms)),
      maxWaiting: Math.max(0, ...during.filter((p) => p.ok).map((p) => p.waiting)),
      steps: (during.at(-1)?.steps ?? Number.NaN) - (polls.find((p) => p.ok)?.steps ?? Number.NaN),
      imagesSeconds,
      statuses: [...new Set([...imageAnswers, ...textAnswers].map((a) => a.status))].join(" "),
    };
    results.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  } finally {
    const exit = await server.stop();
    if (exit !== 0) failures.push(`${label}: the server exited ${exit}`);
  }
}

const ms = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? String(Math.round(x)) : "–");
const ratio = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? `${x.toFixed(2)}×` : "–");
const lines: [string, (r: Record<string, unknown>) => string][] = [
  [
    "unloaded text judge p50 / p90 ms (n)",
    (r) => `${ms(r.unloadedP50)} / ${ms(r.unloadedP90)} (${r.unloadedN})`,
  ],
  [
    "loaded text judge p50 / p90 / max ms (n)",
    (r) => `${ms(r.loadedP50)} / ${ms(r.loadedP90)} / ${ms(r.loadedMax)} (${r.loadedN})`,
  ],
  [
    "ratio loaded / unloaded: p50, p90, max / p50",
    (r) => `${ratio(r.ratioP50)}, ${ratio(r.ratioP90)}, ${ratio(r.ratioMax)}`,
  ],
  ["longest step stall, rows running (ms)", (r) => ms(r.stallRowsMs)],
  ["longest step stall, rows running or a text judge waiting (ms)", (r) => ms(r.stallTextMs)],
  ["slowest /metrics scrape (ms)", (r) => ms(r.slowestScrapeMs)],
  [
    `scrapes: all / failed / ≥ ${STATS_TIMEOUT_MS} ms (stale)`,
    (r) => `${r.polls} / ${r.pollsFailed} / ${r.pollsStale}`,
  ],
  ["most requests waiting in the engine", (r) => String(r.maxWaiting)],
  ["decode steps during the load", (r) => String(r.steps)],
  [`${REQUESTS} image requests: wall time (s)`, (r) => (r.imagesSeconds as number).toFixed(1)],
  ["statuses", (r) => String(r.statuses)],
];
console.log(
  `${REQUESTS} requests × ${IMAGES} × ${SIZE}×${SIZE} ${FORMAT} (${IMAGE_NEW_TOKENS} new tokens each); text judges: ` +
    `${NEW_TOKENS} new tokens, 1 sample, ${values.open ? `one every ${GAP_MS} ms` : `one at a time, ${GAP_MS} ms apart`}; ` +
    `/metrics every ${POLL_MS} ms`,
);
console.log("");
console.log(`| | ${results.map((r) => r.label).join(" | ")} |`);
console.log(`|---|${results.map(() => "---|").join("")}`);
for (const [name, cell] of lines) console.log(`| ${name} | ${results.map(cell).join(" | ")} |`);
console.log(JSON.stringify(results));
if (failures.length > 0) {
  console.error(`not every request was answered 200:\n${failures.join("\n")}`);
  process.exitCode = 1;
}
