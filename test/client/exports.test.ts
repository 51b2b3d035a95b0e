// `r1-judge/client` as another project imports it, from a fresh clone (no dist/, no build step):
// the default export condition is the TypeScript source, which tsx (and TypeScript-aware bundlers)
// load as is; a plain-JavaScript consumer builds once and opts into dist/ with the `r1judge-dist`
// condition (README, "Clients and evaluation").

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");

test("import('r1-judge/client') works in a consumer of a fresh clone, without npm run build", async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "r1judge-consumer-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The clone: package.json and the sources, no dist/.
  const clone = path.join(dir, "r1-judge");
  await mkdir(clone);
  await copyFile(path.join(ROOT, "package.json"), path.join(clone, "package.json"));
  await symlink(path.join(ROOT, "src"), path.join(clone, "src"));
  await symlink(path.join(ROOT, "node_modules"), path.join(clone, "node_modules"));
  // The consumer: the clone installed as its dependency.
  const consumer = path.join(dir, "consumer");
  await mkdir(path.join(consumer, "node_modules"), { recursive: true });
  await symlink(clone, path.join(consumer, "node_modules", "r1-judge"));
  await writeFile(path.join(consumer, "package.json"), '{"type": "module"}\n');
  await writeFile(
    path.join(consumer, "probe.js"),
    [
      'const client = await import("r1-judge/client");',
      'const judge = new client.R1JudgeClient("http://127.0.0.1:9");',
      "console.log(JSON.stringify({ keys: Object.keys(client).sort(), batchLimit: client.BATCH_LIMIT, ok: typeof judge.judge }));",
    ].join("\n"),
  );
  const out = spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), "probe.js"], {
    cwd: consumer,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(out.status, 0, out.stderr);
  const probe = JSON.parse(out.stdout) as { keys: string[]; batchLimit: number; ok: string };
  assert.deepEqual(probe.keys, ["BATCH_LIMIT", "ProblemError", "R1JudgeClient", "retryDelay"]);
  assert.equal(probe.batchLimit, 256);
  assert.equal(probe.ok, "function");
});
