// The README's request examples are tests: every `curl` in a fenced block marked `sh tested` runs
// against the demo server, and its `# →` line must match the answer. The command is evaluated by bash
// as a reader would paste it (quoting, `$(base64 …)`), with `curl` a shell function that hands its
// arguments back; the request then goes to an in-process server on models/demo. The shown output is
// JSON where `…` leaves things out: `[…]` any array, `{…}` any object, a last `,…` more keys (or
// items) than shown. Without `,…` an object's keys must be exactly those shown; numbers match to 1e-3
// (probabilities are shown rounded; counts and verdicts are integers, so they match exactly).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";
import { curlArgs, examples, matchShown, parseShown, request } from "../support/readme-examples.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const README = readFileSync(path.join(ROOT, "README.md"), "utf8");

test("the shown-output grammar: elisions, exact keys without them, numbers to 1e-3", () => {
  const shown = parseShown('{"a":[…],"b":{…},"c":[1,…],"d":0.5,…}');
  matchShown({ a: [9], b: { x: 1 }, c: [1, 2], d: 0.5004, e: "extra" }, shown);
  assert.throws(() => matchShown({ a: [], b: {}, c: [2], d: 0.5 }, shown), /\$\.c\[0\]/);
  assert.throws(() => matchShown({ a: [], b: {}, c: [1], d: 0.6 }, shown), /\$\.d: 0\.6/);
  assert.throws(() => matchShown({ w: 1, extra: 2 }, parseShown('{"w":1}')), /keys/);
  assert.throws(() => matchShown([1, 0], parseShown("[1,0,0]")), /2 items/);
  assert.equal(
    examples("```sh tested\ncurl -s x -d '{\n  \"a\": 1}'\n# → {}\n```\n")[0]?.command,
    "curl -s x -d '{\n  \"a\": 1}'",
  );
});

let server: RunningServer;

before(async () => {
  server = await startServer(loadConfig(["--port", "0"]), pino({ level: "silent" }));
  await server.ready;
});

after(async () => {
  await server?.stop();
});

test("every README request example answers what the README shows", async () => {
  const found = examples(README);
  assert.ok(found.length >= 8, `only ${found.length} examples found in blocks marked sh tested`);
  assert.ok(found.filter((e) => e.shown !== undefined).length >= 7);
  for (const example of found) {
    const { url, init } = request(curlArgs(example.command, ROOT), server.url);
    const response = await fetch(url, init);
    const text = await response.text();
    const at = `README.md:${example.line} (${init.method} ${new URL(url).pathname})`;
    assert.equal(response.status, 200, `${at}: ${text}`);
    if (example.shown === undefined) continue;
    try {
      matchShown(JSON.parse(text), parseShown(example.shown));
    } catch (err) {
      throw new Error(`${at}: ${(err as Error).message}\n  answer: ${text.slice(0, 600)}`);
    }
  }
});
