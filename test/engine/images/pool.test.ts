// The image pool: what it gives is bit-for-bit what decoding in the calling thread gives (the golden
// fixtures included), its errors are the same classes with the same fields, and a thread that dies
// fails only the job it ran while the pool goes on with a new thread.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import sharp from "sharp";
import type { EngineError } from "../../../src/engine/errors.js";
import { parsePreprocessorConfig } from "../../../src/engine/images/config.js";
import { probeImage } from "../../../src/engine/images/decode.js";
import { ImageDecodeError, ImageSizeError } from "../../../src/engine/images/errors.js";
import { ImagePool } from "../../../src/engine/images/pool.js";
import { type PrepareJob, prepareImage } from "../../../src/engine/images/prepare.js";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const GOLDEN = path.join(ROOT, "test/fixtures/golden");
const config = parsePreprocessorConfig(
  JSON.parse(readFileSync(path.join(ROOT, "models/demo/preprocessor_config.json"), "utf8")),
);
const cases = (
  JSON.parse(readFileSync(path.join(GOLDEN, "images.json"), "utf8")) as {
    cases: { image: string; grid_thw: [number, number, number]; pixel_values: string }[];
  }
).cases;

const pool = new ImagePool(2);
const crashing = new ImagePool(1, 60_000, new URL("./crashing-pool-worker.ts", import.meta.url));
after(() => Promise.all([pool.close(), crashing.close()]));

async function job(bytes: Uint8Array, field = "images[0]"): Promise<PrepareJob> {
  const header = await probeImage(bytes, { field });
  return { bytes, header, preprocessor: config, maxInputPixels: 50_000_000, field };
}

const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

test("the pool's patches are bit-for-bit the calling thread's, for every golden image", async () => {
  await Promise.all(
    cases.map(async (c) => {
      const j = await job(readFileSync(path.join(GOLDEN, c.image)));
      const [pooled, local] = await Promise.all([pool.prepare(j), prepareImage(j)]);
      assert.deepEqual(pooled.grid, c.grid_thw, c.image);
      assert.deepEqual(pooled.grid, local.grid, c.image);
      assert.ok(sameBits(pooled.pixelValues, local.pixelValues), `${c.image}: the pool's patches differ`);
      const expected = readFileSync(path.join(GOLDEN, c.pixel_values));
      let worst = 0;
      for (let i = 0; i < pooled.pixelValues.length; i++)
        worst = Math.max(worst, Math.abs((pooled.pixelValues[i] ?? 0) - expected.readFloatLE(i * 4)));
      assert.ok(worst <= 1e-5, `${c.image}: worst |delta| ${worst} from Python`);
    }),
  );
});

test("errors cross the thread boundary as the same classes, codes and fields", async () => {
  const png = await sharp({ create: { width: 40, height: 40, channels: 3, background: "#123" } })
    .png()
    .toBuffer();
  const good = await job(png, "images[3]");
  // A truncated body after a valid header: the probe passes, the decode fails in the thread.
  const truncated = { ...good, bytes: png.subarray(0, 60) };
  await assert.rejects(pool.prepare(truncated), (err: EngineError) => {
    assert.ok(err instanceof ImageDecodeError, `got ${err.name}`);
    assert.equal(err.name, "ImageDecodeError");
    assert.equal(err.code, "invalid_image");
    assert.equal(err.field, "images[3]");
    assert.match(err.message, /^images\[3\]: cannot decode image/);
    return true;
  });
  // A header that disagrees with the pixels (the prompt was sized from it) fails the same way.
  await assert.rejects(
    pool.prepare({ ...good, header: { ...good.header, width: 41 } }),
    (err: EngineError) => err instanceof ImageDecodeError && /header says 41x40/.test(err.message),
  );
  // A shape the model cannot take (aspect ratio over 200) fails in preprocessing.
  const wide = await sharp({ create: { width: 6000, height: 28, channels: 3, background: "#123" } })
    .png()
    .toBuffer();
  await assert.rejects(pool.prepare(await job(wide, "images[1]")), (err: EngineError) => {
    assert.ok(err instanceof ImageSizeError, `got ${err.name}`);
    assert.equal(err.field, "images[1]");
    assert.match(err.message, /aspect ratio/);
    return true;
  });
});

test("a thread that dies fails only its own job, and the pool goes on with a new thread", async () => {
  const png = await sharp({ create: { width: 30, height: 30, channels: 3, background: "#456" } })
    .png()
    .toBuffer();
  const ok = await job(png);
  for (const field of ["crash-exit", "crash-throw"]) {
    const dying = crashing.prepare({ ...ok, field });
    const next = crashing.prepare(ok); // queued behind the crash on the pool's only thread
    await assert.rejects(dying, (err: EngineError) => {
      assert.equal(err.code, "engine_failed");
      assert.match(err.message, new RegExp(`^${field}: the image thread died`));
      return true;
    });
    const done = await next;
    assert.ok(sameBits(done.pixelValues, (await prepareImage(ok)).pixelValues));
  }
  assert.equal(crashing.deaths, 2);
});

test("an idle thread ends (no death), and the next job starts a new one", async () => {
  const quick = new ImagePool(1, 0);
  const j = await job(readFileSync(path.join(GOLDEN, cases[0]?.image ?? "")));
  await quick.prepare(j);
  for (let k = 0; k < 10_000 && quick.threads > 0; k++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(quick.threads, 0);
  assert.equal((await quick.prepare(j)).grid.length, 3);
  assert.equal(quick.deaths, 0);
  await quick.close();
});

test("a closed pool refuses jobs", async () => {
  const closed = new ImagePool(1);
  await closed.close();
  await assert.rejects(closed.prepare(await job(readFileSync(path.join(GOLDEN, cases[0]?.image ?? "")))), {
    code: "engine_unavailable",
  });
});
