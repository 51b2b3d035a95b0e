// OpenRLHF's /get_reward with images named by its labels (OpenRLHF sends no pixels; its prompts hold
// only `<|vision_start|><|image_pad|>…<|vision_end|>` runs): the label convention as a JSON string,
// paths under R1JUDGE_IMAGE_ROOT, the count against each prompt's runs, and the file's bytes
// reaching the engine (a file that is not an image fails in its decoder).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import sharp from "sharp";
import { loadConfig } from "../../src/config.js";
import { type RunningServer, startServer } from "../../src/main.js";

const PNG = readFileSync(new URL("../../docs/examples/red-circle.png", import.meta.url));
let base: string;
let server: RunningServer;
let noRoot: RunningServer;

before(async () => {
  base = mkdtempSync(join(tmpdir(), "r1judge-reward-images-"));
  const root = join(base, "root");
  mkdirSync(root);
  writeFileSync(join(root, "red.png"), PNG);
  writeFileSync(join(root, "notes.png"), "not an image");
  writeFileSync(join(base, "outside.png"), PNG);
  symlinkSync(join(base, "outside.png"), join(root, "link-out.png"));
  const common = ["--port", "0"];
  server = await startServer(loadConfig([...common, "--image-root", root], {}), pino({ level: "silent" }));
  noRoot = await startServer(loadConfig(common, {}), pino({ level: "silent" }));
  await Promise.all([server.ready, noRoot.ready]);
});

after(async () => {
  await Promise.all([server?.stop(), noRoot?.stop()]);
  rmSync(base, { recursive: true, force: true });
});

const RUN = "<|vision_start|><|image_pad|><|vision_end|>";
const prompt = (q: string) => `<|im_start|>user\n${RUN}${q}<|im_end|>\n<|im_start|>assistant\n`;

async function reward(target: RunningServer, items: { response: string; label: unknown }[]) {
  const q = "What colour is the shape?"; // fixed: greedy judgements are deterministic
  const res = await fetch(`${target.url}/get_reward`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: items.map((i) => `${prompt(q)}${i.response}<|im_end|>`),
      prompts: items.map(() => prompt(q)),
      labels: items.map((i) => i.label),
    }),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: checked field by field
  return { status: res.status, text, json: JSON.parse(text) as any };
}

const label = (reference: string, images: string[]) => JSON.stringify({ reference, images });

test("labels name each prompt's image (a path under the root or a data URL); plain labels still work", async () => {
  const dataUrl = `data:image/png;base64,${PNG.toString("base64")}`;
  const res = await reward(server, [
    { response: "The shape is red.", label: label("The shape is blue.", ["red.png"]) },
    { response: "The shape is blue.", label: label("The shape is red.", [dataUrl]) },
    { response: "The shape is red.", label: "The shape is blue." },
  ]);
  assert.equal(res.status, 200, res.text);
  // The judge's probability for the policy's response over both orders: near 1, 0, 1.
  assert.deepEqual(
    res.json.rewards.map((r: number) => Math.round(r * 1000) / 1000),
    [1, 0, 1],
  );
});

test("the file's bytes reach the judge: one that is not an image fails in the engine's decoder", async () => {
  const res = await reward(server, [{ response: "red", label: label("blue", ["notes.png"]) }]);
  assert.equal(res.status, 422, res.text);
  assert.match(res.json.detail, /cannot decode image/);
  assert.equal(res.json.errors[0].field, "labels[0].images[0]");
});

test("refusals: a count that does not match the prompt's runs, links out of the root, paths without a root", async () => {
  const mismatch = await reward(server, [
    { response: "red", label: "blue" },
    { response: "red", label: label("blue", ["red.png", "red.png"]) },
  ]);
  assert.equal(mismatch.status, 422, mismatch.text);
  assert.equal(mismatch.json.errors[0].field, "labels[1].images");
  const out = await reward(server, [{ response: "red", label: label("blue", ["link-out.png"]) }]);
  assert.equal(out.status, 422);
  assert.equal(out.json.errors[0].field, "labels[0].images[0]");
  assert.match(out.json.errors[0].message, /outside the image root/);
  const off = await reward(noRoot, [{ response: "red", label: label("blue", ["red.png"]) }]);
  assert.equal(off.status, 422);
  assert.match(off.json.errors[0].message, /R1JUDGE_IMAGE_ROOT/);
});

test("a label's data URL may be as large as an image (not a response's 100,000 characters); its reference may not", async () => {
  // A 200×200 PNG of noise: ~120 KB, ~160,000 base64 characters inside the label's JSON text.
  const noise = Buffer.alloc(200 * 200 * 3);
  let x = 2463534242; // xorshift32: noise that PNG cannot compress, the same every run
  for (let i = 0; i < noise.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    noise[i] = x & 0xff;
  }
  const png = await sharp(noise, { raw: { width: 200, height: 200, channels: 3 } })
    .png()
    .toBuffer();
  const dataUrl = `data:image/png;base64,${png.toString("base64")}`;
  assert.ok(dataUrl.length > 150_000, `${dataUrl.length} characters`);
  const res = await reward(server, [
    { response: "The shape is red.", label: label("The shape is blue.", [dataUrl]) },
  ]);
  assert.equal(res.status, 200, res.text.slice(0, 300));
  const long = await reward(server, [{ response: "red", label: label("x".repeat(100_001), [dataUrl]) }]);
  assert.equal(long.status, 422, long.text.slice(0, 300));
  assert.equal(long.json.errors[0].field, "labels[0].reference");
});
