// Soak: the real server (CLI process, demo model, loopback) under a steady mixed load for a few
// minutes — judgements with and without images, batches, rankings, OpenRLHF rewards, requests with
// tiny deadlines and clients that leave — then SIGTERM under that load. It reports, every interval,
// the process's RSS and its event-loop delay (from /metrics), and at the end every status seen and
// how many requests got no HTTP answer at all (lost). Bounded in time and requests; loopback only.
//
//   node --import tsx test/faults/soak.ts [--minutes 5] [--concurrency 12] [--interval 15]

import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ROOT, startChildServer } from "../support/child-server.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "5" },
    concurrency: { type: "string", default: "12" },
    interval: { type: "string", default: "15" },
  },
});
const MINUTES = Number(values.minutes);
const CONCURRENCY = Number(values.concurrency);
const INTERVAL_S = Number(values.interval);
/** A hard cap, so a run can never go on without end. */
const MAX_REQUESTS = 200_000;

const png = (await readFile(path.join(ROOT, "test/fixtures/golden/images/odd-333x127.png"))).toString(
  "base64",
);
const image = `data:image/png;base64,${png}`;
const fresh = () => `Which is larger, ${randomInt(10, 99)} or ${randomInt(100, 999)}? (${randomInt(1e9)})`;
const chatml = (q: string) => `<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;

interface Work {
  route: string;
  body: unknown;
  /** Abort after this many ms (a client that leaves). */
  leaveAfterMs?: number;
}

/** The mix: mostly judgements, some with images; batches, rankings, rewards; deadlines and leavers. */
function nextWork(i: number): Work {
  const q = fresh();
  switch (i % 10) {
    case 0:
      return { route: "/judge", body: { question: q, responses: ["a", "b"], images: [image], samples: 4 } };
    case 1:
      return {
        route: "/judge/batch",
        body: {
          items: Array.from({ length: 6 }, () => ({
            question: fresh(),
            responses: ["x", "y"],
            max_new_tokens: 32,
          })),
        },
      };
    case 2:
      return {
        route: "/rank",
        body: { question: q, candidates: ["1", "2", "3", "4", "5"], max_new_tokens: 32 },
      };
    case 3:
      return {
        route: "/get_reward",
        body: { query: [`${chatml(q)}The first.<|im_end|>`], prompts: [chatml(q)], labels: ["The second."] },
      };
    case 4:
      return {
        route: "/judge",
        body: { question: q, responses: ["a", "b"], samples: 8, timeout_ms: randomInt(1, 400) },
      };
    case 5:
      return {
        route: "/judge",
        body: { question: q, responses: ["a", "b"], samples: 8 },
        leaveAfterMs: randomInt(1, 300),
      };
    default:
      return { route: "/judge", body: { question: q, responses: ["a", "b"], samples: 1 + (i % 8) } };
  }
}

const server = await startChildServer();
const statuses = new Map<string, number>();
let lost = 0;
let sent = 0;
let stopLoad = false;
let drainStarted = false;
const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);

async function send(work: Work): Promise<void> {
  const controller = new AbortController();
  const timer =
    work.leaveAfterMs === undefined ? undefined : setTimeout(() => controller.abort(), work.leaveAfterMs);
  try {
    const res = await fetch(`${server.url}${work.route}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(work.body),
      signal: controller.signal,
    });
    await res.arrayBuffer();
    count(String(res.status));
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (controller.signal.aborted) count("left");
    // Once the drain is over the listener closes: a new connection is refused, which a client retries
    // elsewhere. Nothing was accepted, so nothing was lost.
    else if (drainStarted && code === "ECONNREFUSED") count("refused after the drain");
    else {
      lost++;
      count(`no answer: ${(err as Error).message}`);
    }
  } finally {
    clearTimeout(timer);
  }
}

async function lane(): Promise<void> {
  while (!stopLoad && sent < MAX_REQUESTS) await send(nextWork(sent++));
}

async function sample(): Promise<{ rssMiB: number; lagP99Ms: number; lagMaxMs: number; queue: number }> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
  return {
    rssMiB: Math.round(server.memory().rssMiB),
    lagP99Ms: +(metric("r1judge_nodejs_eventloop_lag_p99_seconds") * 1000).toFixed(1),
    lagMaxMs: +(metric("r1judge_nodejs_eventloop_lag_max_seconds") * 1000).toFixed(1),
    queue: metric("r1judge_num_requests_waiting"),
  };
}

const started = Date.now();
const lanes = Array.from({ length: CONCURRENCY }, lane);
const rows: string[] = [];
await sample(); // resets the lag histogram
console.log(`soak: ${MINUTES} min, ${CONCURRENCY} clients, sample every ${INTERVAL_S} s`);
console.log("| t (s) | requests sent | RSS MiB | event-loop p99 ms | max ms | queue |");
console.log("|---|---|---|---|---|---|");
while (Date.now() - started < MINUTES * 60_000) {
  await sleep(INTERVAL_S * 1000);
  const s = await sample();
  const row = `| ${Math.round((Date.now() - started) / 1000)} | ${sent} | ${s.rssMiB} | ${s.lagP99Ms} | ${s.lagMaxMs} | ${s.queue} |`;
  rows.push(row);
  console.log(row);
}

// SIGTERM under load: accepted requests must still be answered (200, or 503 draining).
const beforeSigterm = sent;
const peakMiB = Math.round(server.memory().peakMiB);
drainStarted = true;
server.child.kill("SIGTERM");
await sleep(1000);
stopLoad = true;
await Promise.all(lanes);
const exit = await server.exited;
console.log(
  `\nrequests: ${sent} (${beforeSigterm} before SIGTERM); lost (no HTTP answer, not a client that left): ${lost}`,
);
console.log(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
console.log(`peak RSS ${peakMiB} MiB; exit ${exit}`);
process.exitCode = lost === 0 && exit === 0 ? 0 : 1;
