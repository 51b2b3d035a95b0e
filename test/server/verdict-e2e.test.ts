// The real server on copies of the demo checkpoint whose manifest states another verdict rule: votes
// are read by the manifest's pattern and choices, generation stops on its stop strings, and the
// choice probe sits where its pattern says. The demo model itself was trained to write
// `<answer>k</answer>`, so under a `\boxed{A}` rule its answers are invalid votes.

import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type TestContext, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { startServer } from "../../src/main.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SOURCE = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");
const pair = { question: "What is 7 + 5?", responses: ["It equals 12.", "It equals 13."] };

/** A server on a copy of the checkpoint with `verdict` as its manifest's verdict block. */
async function serve(t: TestContext, verdict: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-verdict-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(SOURCE, dir, { recursive: true });
  // The manifest lists no hash of itself: editing it needs no re-hashing.
  const manifestFile = path.join(dir, "r1judge.json");
  const manifest = JSON.parse(await readFile(manifestFile, "utf8"));
  await writeFile(manifestFile, JSON.stringify({ ...manifest, verdict }));
  const server = await startServer(
    loadConfig(["--model", dir, "--port", "0"], {}),
    pino({ level: "silent" }),
  );
  t.after(() => server.stop());
  await server.ready;
  return server.url;
}

async function judge(url: string, body: unknown) {
  const res = await fetch(`${url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the answer is checked field by field
  return { status: res.status, json: (await res.json()) as any };
}

test("a \\boxed{A}/\\boxed{B} checkpoint: it loads, and the model's <answer> verdicts are invalid votes", async (t) => {
  const verdict = { answer_pattern: "\\\\boxed\\{(.*?)\\}", choices: ["A", "B"], stop_strings: ["}"] };
  const url = await serve(t, verdict);
  const models = (await (await fetch(`${url}/models`)).json()) as {
    models: { manifest: { verdict: unknown } }[];
  };
  assert.deepEqual(models.models[0]?.manifest.verdict, verdict);
  const res = await judge(url, { ...pair, samples: 4, seed: 3, return_reasoning: true, early_stop: false });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.deepEqual(res.json.votes, { "1": 0, "2": 0, invalid: 4 });
  assert.equal(res.json.winner, null);
  for (const sample of res.json.samples) {
    assert.equal(sample.verdict, null);
    // The probe waits for `\boxed{`, which this model never writes.
    assert.equal(sample.probabilities, undefined);
    // The demo's traces end in <answer>k</answer>: the reasoning is still the <think> block.
    assert.ok(sample.reasoning.length > 0 && !sample.reasoning.includes("<answer>"), sample.reasoning);
  }
});

test("the manifest's stop strings end generation: a stop string mid-reasoning cuts every sample there", async (t) => {
  const url = await serve(t, {
    answer_pattern: "<answer>(.*?)</answer>",
    choices: ["1", "2"],
    stop_strings: ["Response 2"],
  });
  const res = await judge(url, { ...pair, samples: 1, temperature: 0, return_reasoning: true });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const [sample] = res.json.samples;
  assert.equal(sample.finish_reason, "stop");
  // Cut before </think> and <answer>: no verdict, and the reasoning is the whole text so far.
  assert.equal(sample.verdict, null);
  assert.match(sample.reasoning, /Response 2$/);
  assert.deepEqual(res.json.votes, { "1": 0, "2": 0, invalid: 1 });
});
