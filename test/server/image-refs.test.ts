// Image references in labels (image-refs.ts): the label convention, the count against the prompt's
// image runs, and every refusal of a path outside the operator's image root — `..`, absolute paths
// and URLs, symbolic links out (to a file, a directory, a device), FIFOs, directories, empty and
// oversized files — each a 422 naming the field.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ApiError } from "../../src/errors.js";
import {
  checkImageCount,
  countImageRuns,
  readUnderRoot,
  resolveImage,
  rewardLabelImages,
  splitLabel,
} from "../../src/server/image-refs.js";
import { LIMITS } from "../../src/server/schemas.js";

const PNG = readFileSync(new URL("../../docs/examples/red-circle.png", import.meta.url));
let base: string;
let root: string;

before(() => {
  base = mkdtempSync(join(tmpdir(), "r1judge-imgroot-"));
  root = join(base, "root");
  mkdirSync(join(root, "sub"), { recursive: true });
  writeFileSync(join(root, "sub", "red.png"), PNG);
  writeFileSync(join(base, "secret.png"), PNG); // outside the root
  symlinkSync(join(base, "secret.png"), join(root, "out.png"));
  symlinkSync(base, join(root, "outdir"));
  symlinkSync("/dev/zero", join(root, "zero.png"));
  symlinkSync("sub/red.png", join(root, "inside.png")); // a link that stays inside is fine
  execFileSync("mkfifo", [join(root, "fifo.png")]);
  writeFileSync(join(root, "empty.png"), "");
  writeFileSync(join(root, "big.png"), "");
  truncateSync(join(root, "big.png"), LIMITS.imageBytes + 1); // sparse: no disk used
});

after(() => rmSync(base, { recursive: true, force: true }));

/** The 422 a call is refused with: its field and message. */
async function refusal(run: () => Promise<unknown>): Promise<{ field: string; message: string }> {
  try {
    await run();
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 422, err.detail);
    return err.errors[0] as { field: string; message: string };
  }
  assert.fail("expected a refusal");
}

test("a regular file under the root, directly or through a link that stays inside, is read", async () => {
  assert.deepEqual(Buffer.from(await readUnderRoot("sub/red.png", root, "f")), PNG);
  assert.deepEqual(Buffer.from(await readUnderRoot("inside.png", root, "f")), PNG);
  assert.deepEqual(Buffer.from(await readUnderRoot("./sub/red.png", root, "f")), PNG);
});

test("each path outside the root, or not a regular file, is refused with a 422 naming the field", async () => {
  const cases: [string, RegExp][] = [
    ["../secret.png", /'\.\.'/],
    ["sub/../../secret.png", /'\.\.'/],
    [join(base, "secret.png"), /relative/],
    ["/etc/passwd", /relative/],
    ["file:///etc/passwd", /relative/],
    ["https://example.com/x.png", /relative/],
    ["out.png", /outside the image root/],
    ["outdir/secret.png", /outside the image root/],
    ["zero.png", /outside the image root/],
    ["fifo.png", /not a regular file/],
    ["sub", /not a regular file/],
    ["empty.png", /empty/],
    ["big.png", /over the 10485760-byte image limit/],
    ["missing.png", /no such file/],
    ["a\0b.png", /NUL/],
  ];
  for (const [ref, message] of cases) {
    const error = await refusal(() => readUnderRoot(ref, root, "labels[2].images[1]"));
    assert.equal(error.field, "labels[2].images[1]", ref);
    assert.match(error.message, message, ref);
  }
});

test("a device inside the root is refused too (a root of /dev: /dev/null is inside it)", async () => {
  const error = await refusal(() => readUnderRoot("null", "/dev", "label.images[0]"));
  assert.match(error.message, /not a regular file/);
});

test("paths are off without an image root; data URLs work either way and are checked", async () => {
  const error = await refusal(() => resolveImage("sub/red.png", undefined, "label.images[0]"));
  assert.match(error.message, /R1JUDGE_IMAGE_ROOT/);
  const url = `data:image/png;base64,${PNG.toString("base64")}`;
  assert.deepEqual(Buffer.from(await resolveImage(url, undefined, "x")), PNG);
  const bad = await refusal(() => resolveImage("data:image/png;base64,@@@", undefined, "label.images[0]"));
  assert.equal(bad.field, "label.images[0]");
});

test("the label convention: an object or its JSON text; anything else is the reference as it is", () => {
  assert.deepEqual(splitLabel("42", "l"), { reference: "42" });
  assert.deepEqual(splitLabel(7, "l"), { reference: 7 });
  assert.deepEqual(splitLabel(null, "l"), { reference: null });
  assert.deepEqual(splitLabel('{"reference": "red", "images": ["a.png"]}', "l"), {
    reference: "red",
    images: ["a.png"],
  });
  assert.deepEqual(splitLabel({ reference: 3, images: ["a.png"] }, "l"), { reference: 3, images: ["a.png"] });
  assert.deepEqual(splitLabel('{"reference": "red"}', "l"), { reference: "red" });
  // JSON with other keys is an ordinary reference (a JSON answer), not the convention.
  assert.deepEqual(splitLabel('{"reference": "red", "x": 1}', "l"), {
    reference: '{"reference": "red", "x": 1}',
  });
  assert.deepEqual(splitLabel({ answer: 1 }, "l"), { reference: '{"answer":1}' });
  assert.throws(() => splitLabel({ reference: "r", images: "a.png" }, "label"), /label\.images/);
  assert.throws(() => splitLabel({ reference: { x: 1 }, images: [] }, "label"), /label\.reference/);
  assert.throws(
    () => splitLabel({ reference: "r", images: new Array(9).fill("a.png") }, "label"),
    /at most 8/,
  );
});

test("image runs are counted in the prompt and the references must match them", async () => {
  const run = "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>";
  assert.equal(countImageRuns(`<|im_start|>user\n${run}${run}Compare.<|im_end|>`), 2);
  assert.equal(countImageRuns("<|vision_start|><|image_pad|><|vision_end|>"), 1);
  assert.equal(countImageRuns("no images"), 0);
  assert.throws(
    () => checkImageCount(["a.png"], 2, "labels[0].images", "prompts[0]"),
    (err: ApiError) => err.status === 422 && err.errors[0]?.field === "labels[0].images",
  );
  const prompt = `<|im_start|>user\n${run}What colour?<|im_end|>\n<|im_start|>assistant\n`;
  const ok = rewardLabelImages(
    ["plain", JSON.stringify({ reference: "red", images: ["sub/red.png"] })],
    ["no image here", prompt],
    ["", ""],
    root,
  );
  assert.deepEqual(ok.labels, ["plain", "red"]);
  assert.equal(ok.images[0], undefined);
  // Read only when the item is judged (its loader), not when the request arrives.
  const loaded = await (ok.images[1] as () => Promise<Uint8Array[]>)();
  assert.deepEqual(Buffer.from(loaded[0] as Uint8Array), PNG);
  const mismatch = await refusal(async () =>
    rewardLabelImages(
      [JSON.stringify({ reference: "red", images: ["sub/red.png"] })],
      ["no image"],
      [""],
      root,
    ),
  );
  assert.equal(mismatch.field, "labels[0].images");
  assert.match(mismatch.message, /names 1 image but prompts\[0\] holds 0/);
});
