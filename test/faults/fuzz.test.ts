// Property-based fuzzing of every route in openapi.yaml against the real server (the CLI process,
// the demo model): bodies built from each route's schema, mostly valid, often hostile, sent one to
// four at a time. Every answer must be a status the route documents, never a 5xx (a 504 only when
// the body set a deadline; /get_reward's documented 502 no_verdict when 8 tokens held no verdict),
// errors as problem+json (on /v1/*, OpenAI's error shape); afterwards the process is alive, its queue
// empty, and a fresh judgement answers.
//
// R1JUDGE_FUZZ_RUNS (default 600) and R1JUDGE_FUZZ_SEED (default 1) size and reproduce a run;
// scripts/fault-suite.sh runs thousands with a random seed.

import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { type ChildServer, ROOT, startChildServer } from "../support/child-server.js";
import { waitForMetric } from "../support/metrics.js";
import { arbitraryFor, bodySchema, documentedStatuses, loadSpec } from "../support/openapi-arbitrary.js";

const RUNS = Number(process.env.R1JUDGE_FUZZ_RUNS ?? 600);
const SEED = Number(process.env.R1JUDGE_FUZZ_SEED ?? 1);
const spec = loadSpec(ROOT);
let server: ChildServer;
const seen = new Map<string, number>();

before(async () => {
  // Small caps keep valid requests cheap; a small queue makes 429s part of the run.
  server = await startChildServer({
    args: ["--max-new-tokens", "8", "--max-queue", "16", "--max-body-bytes", "2mb"],
  });
});

after(async () => {
  console.log(
    `fuzz: ${RUNS} runs, seed ${SEED}; statuses seen: ${JSON.stringify(Object.fromEntries([...seen].sort()))}`,
  );
  assert.equal(await server?.stop(), 0);
});

interface Call {
  route: string;
  method: string;
  /** The JSON body, or raw text. */
  body?: unknown;
  raw?: string;
  contentType?: string;
}

const chatml = (q: string) => `<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`;

/** /get_reward bodies whose queries hold their prompts, so the judging path runs too. */
const coherentReward = fc
  .array(
    fc.record({
      q: fc.string({ maxLength: 40 }),
      r: fc.string({ maxLength: 20 }),
      l: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
    }),
    {
      maxLength: 5,
    },
  )
  .map((items) => ({
    query: items.map(({ q, r }) => `${chatml(q)}${r}<|im_end|>`),
    prompts: items.map(({ q }) => chatml(q)),
    labels: items.map(({ l }) => l),
    max_new_tokens: 4,
  }));

const POST_ROUTES = Object.keys(spec.paths).filter((route) => bodySchema(spec, route, "post"));
const GET_ROUTES = Object.keys(spec.paths).filter((route) => spec.paths[route]?.get);

const call: fc.Arbitrary<Call> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .constantFrom(...POST_ROUTES)
      .chain((route) =>
        (route === "/get_reward"
          ? fc.oneof(arbitraryFor(bodySchema(spec, route, "post") ?? {}, spec), coherentReward)
          : arbitraryFor(bodySchema(spec, route, "post") ?? {}, spec)
        ).map((body) => ({ route, method: "post", body })),
      ),
  },
  { weight: 1, arbitrary: fc.constantFrom(...GET_ROUTES).map((route) => ({ route, method: "get" })) },
  {
    weight: 1,
    arbitrary: fc.record({
      route: fc.constantFrom(...POST_ROUTES, "/nope", "/judge/", "/JUDGE", "/judge?x=1"),
      method: fc.constantFrom("post", "put", "delete", "patch", "get"),
      raw: fc.oneof(
        fc.string({ maxLength: 50 }),
        fc.constantFrom("{", "[]", "null", "1", '"x"', '{"question":', "\u00ff\u00fe"),
      ),
      contentType: fc.constantFrom(
        "application/json",
        "text/plain",
        "application/json; charset=latin1",
        "application/x-www-form-urlencoded",
      ),
    }),
  },
);

async function send(c: Call): Promise<{ status: number; type: string; text: string }> {
  const headers: Record<string, string> = { "content-type": c.contentType ?? "application/json" };
  const body = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
  const init: RequestInit = { method: c.method.toUpperCase(), headers };
  if (body !== undefined && c.method !== "get") init.body = body;
  const res = await fetch(`${server.url}${c.route}`, init);
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

/** The statuses this call may get: what its route documents; 404/405 for what the spec does not list. */
function allowed(c: Call): Set<number> {
  // Express routes ignore case and a trailing slash, and the query string is not part of the path.
  const route = (c.route.split("?")[0] as string).toLowerCase().replace(/(.)\/+$/, "$1");
  const path = spec.paths[route];
  if (!path) return new Set([404, 405]);
  if (!path[c.method]) return new Set([405, 404]);
  const statuses = documentedStatuses(spec, route, c.method);
  statuses.delete(500);
  statuses.delete(503); // documented for loading and draining: neither happens here
  const deadline =
    typeof c.body === "object" && c.body !== null && JSON.stringify(c.body).includes('"timeout_ms"');
  if (!deadline) statuses.delete(504);
  return statuses;
}

test(`${RUNS} fuzzed calls over every route: documented statuses only, never a 5xx, errors as problem+json`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 4 }), async (calls) => {
      const answers = await Promise.all(calls.map(send));
      answers.forEach((answer, i) => {
        const c = calls[i] as Call;
        seen.set(String(answer.status), (seen.get(String(answer.status)) ?? 0) + 1);
        const expected = allowed(c);
        // /compare answers a judgement without a valid vote (likely at 8 new tokens) with 503 by
        // design (NeMo-Gym's own answer): a failed judgement is never reported as a reward.
        if (answer.status === 503 && /the judgement failed/.test(answer.text)) {
          assert.ok(c.route === "/compare", `${c.route}: ${answer.text.slice(0, 200)}`);
          expected.add(503);
        }
        assert.ok(
          expected.has(answer.status),
          `${c.method.toUpperCase()} ${c.route} → ${answer.status} (allowed ${[...expected]}): ${answer.text.slice(0, 300)}\nbody: ${String(JSON.stringify(c.body ?? c.raw)).slice(0, 500)}`,
        );
        if (answer.status >= 400 && c.route.startsWith("/v1/")) {
          // The OpenAI-compatible routes answer in OpenAI's error shape.
          assert.match(answer.type, /^application\/json/, answer.text.slice(0, 200));
          const { error } = JSON.parse(answer.text) as { error: Record<string, unknown> };
          assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"]);
        } else if (answer.status >= 400) {
          assert.match(answer.type, /^application\/problem\+json/, answer.text.slice(0, 200));
          const problem = JSON.parse(answer.text) as { status: number; errors: unknown[] };
          assert.equal(problem.status, answer.status);
          assert.ok(Array.isArray(problem.errors));
        } else if (["/metrics", "/openapi.yaml", "/"].includes(c.route)) {
          // Text, YAML and the console's HTML page.
          assert.doesNotMatch(answer.type, /json/, `${c.route}: ${answer.type}`);
        } else {
          assert.match(answer.type, /^application\/json/, `${c.route}: ${answer.type}`);
          JSON.parse(answer.text);
        }
      });
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
});

test("after the fuzzing: alive, ready, the queue empty, and a fresh judgement answers", async () => {
  assert.ok(server.alive);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  await waitForMetric(server.url, "r1judge_num_requests_waiting", (n) => n === 0);
  const res = await fetch(`${server.url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      question: `Which is larger, ${randomInt(1e6)} or 7?`,
      responses: ["a", "b"],
      samples: 2,
      seed: 1,
    }),
  });
  assert.equal(res.status, 200, await res.text());
});
