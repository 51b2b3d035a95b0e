// docs/evaluation.md's `sh tested` command works on a fresh clone as written: its data is committed
// (docs/eval-demo/sample) and it runs through bin/r1judge, here on its first two items with K = 2
// (appended flags win over the documented ones) into a temporary --out.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");

function testedCommands(markdown: string): string[] {
  const blocks = markdown.split(/^```sh tested\n/m).slice(1);
  return blocks.flatMap((block) =>
    (block.split(/^```/m)[0] as string).split("\n").filter((line) => line.startsWith("bin/r1judge ")),
  );
}

test("the documented evaluation command runs as written, on two items", async (t) => {
  const docs = await readFile(path.join(ROOT, "docs/evaluation.md"), "utf8");
  const [command, ...others] = testedCommands(docs);
  assert.ok(command, "docs/evaluation.md has no `sh tested` block with a bin/r1judge command");
  assert.deepEqual(others, []);
  assert.match(command, /^bin\/r1judge eval --data docs\/eval-demo\/sample\/test\.jsonl /);
  const out = await mkdtemp(path.join(tmpdir(), "r1judge-eval-doc-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const run = spawnSync("bash", ["-c", `${command} --limit 2 --k 2 --out "$1"`, "bash", out], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const results = (await readFile(path.join(out, "results.jsonl"), "utf8")).trim().split("\n");
  assert.equal(results.length, 2);
  const scores = JSON.parse(await readFile(path.join(out, "scores.json"), "utf8")) as Record<string, unknown>;
  assert.ok(Object.keys(scores).length > 0);
  assert.match(await readFile(path.join(out, "report.md"), "utf8"), /docs\/eval-demo\/sample\/test\.jsonl/);
  assert.ok((await stat(path.join(out, "accuracy-vs-k.png"))).size > 0);
});
