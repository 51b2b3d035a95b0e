// The vision-encoder cache through the real server on the demo model, prefix cache off (it would skip
// an image inside a shared prefix before the encoder cache is asked): a second judgement about the
// same picture runs no vision encoder, and the votes do not depend on where the features came from.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";
import { metric } from "../support/metrics.js";

const PNG = readFileSync(new URL("../../docs/examples/red-circle.png", import.meta.url)).toString("base64");
let server: RunningServer;
let uncached: RunningServer;

before(async () => {
  server = await startServer(
    loadConfig(["--port", "0", "--prefix-cache-mb", "0"], {}),
    pino({ level: "silent" }),
  );
  uncached = await startServer(
    loadConfig(["--port", "0", "--prefix-cache-mb", "0", "--encoder-cache-mb", "0"], {}),
    pino({ level: "silent" }),
  );
  await Promise.all([server.ready, uncached.ready]);
});

after(async () => {
  await Promise.all([server?.stop(), uncached?.stop()]);
});

async function judge(target: RunningServer, question: string) {
  const res = await fetch(`${target.url}/judge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      question,
      responses: ["A red circle.", "A blue square."],
      images: [`data:image/png;base64,${PNG}`],
      samples: 2,
      temperature: 0,
      max_new_tokens: 24,
    }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  // biome-ignore lint/suspicious/noExplicitAny: the fields compared are read by name
  return (await res.json()) as any;
}

const encoder = async (target: RunningServer) => ({
  runs: await metric(target.url, "r1judge_encoder_cache_misses_total"),
  hits: await metric(target.url, "r1judge_encoder_cache_hits_total"),
});

test("a second judgement of the same image does not run the vision encoder", async () => {
  const before = await encoder(server);
  const first = await judge(server, "Which answer names the shape in the picture?");
  const afterFirst = await encoder(server);
  assert.equal(
    afterFirst.runs - before.runs,
    1,
    "both response orders of the first judgement: one encoder run",
  );
  const second = await judge(server, "Describe the picture: which response is right?");
  const afterSecond = await encoder(server);
  assert.equal(afterSecond.runs, afterFirst.runs, "the second judgement ran no vision encoder");
  assert.ok(afterSecond.hits > afterFirst.hits, "its image came from the encoder cache");

  // The same judgements without the cache: the same votes (the features are the same numbers).
  const plainFirst = await judge(uncached, "Which answer names the shape in the picture?");
  const plainSecond = await judge(uncached, "Describe the picture: which response is right?");
  assert.deepEqual([first.votes, second.votes], [plainFirst.votes, plainSecond.votes]);
  assert.ok((await encoder(uncached)).runs >= 2, "without the cache each judgement encodes the image");
});
