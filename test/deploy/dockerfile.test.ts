// The Dockerfiles, checked without a container engine: dockerfile-utils finds no problem, every image
// target runs as a non-root user with a health check on /healthz, binds 0.0.0.0, starts the compiled
// server as PID 1 in exec form; what they COPY exists and .dockerignore keeps the heavy local folders
// out. And the image's entry point works: the production build (`npm run build`) starts and answers
// --version without tsx. scripts/container-check.sh builds and runs the image for real.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { validate } from "dockerfile-utils";

const ROOT = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

/** The Dockerfile's stages, each with its instructions (continuation lines joined). */
function stages(file: string): Stage[] {
  const text = readFileSync(file, "utf8").replace(/\\\n\s*/g, " ");
  const out: Stage[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ from: from[1] as string, name: from[2] ?? `(stage ${out.length})`, lines: [] });
    else out[out.length - 1]?.lines.push(line);
  }
  return out;
}

/** The instructions in effect for `stage`: its own after those of the stages it is built FROM. */
function effective(all: Stage[], stage: Stage): string[] {
  const parent = all.find((s) => s.name === stage.from);
  return [...(parent ? effective(all, parent) : []), ...stage.lines];
}

for (const file of ["Dockerfile", "training/Dockerfile"]) {
  test(`${file}: dockerfile-utils reports nothing`, () => {
    const diagnostics = validate(readFileSync(path.join(ROOT, file), "utf8"));
    assert.deepEqual(
      diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    );
  });

  test(`${file}: every file it copies from the build context exists and is not ignored`, () => {
    const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const stage of stages(path.join(ROOT, file)))
      for (const line of stage.lines) {
        const copy = /^COPY\s+(?!--from)(?:--\S+\s+)*(.+)\s+\S+$/i.exec(line);
        if (!copy) continue;
        for (const source of (copy[1] as string).split(/\s+/)) {
          assert.ok(existsSync(path.join(ROOT, source)), `${file} (${stage.name}): COPY ${source}: missing`);
          assert.ok(!ignored.includes(source), `${file}: COPY ${source}, which .dockerignore leaves out`);
        }
      }
  });
}

test("Dockerfile: each image target runs the server as non-root PID 1 with a health check", () => {
  const all = stages(path.join(ROOT, "Dockerfile"));
  for (const target of ["cpu", "webgpu", "cuda"]) {
    const stage = all.find((s) => s.name === target);
    assert.ok(stage, `no '${target}' target`);
    const lines = effective(all, stage);
    const last = (prefix: string) => [...lines].reverse().find((l) => l.toUpperCase().startsWith(prefix));
    const user = last("USER ");
    assert.ok(user && !/\b(root|0)\b/.test(user), `${target}: runs as ${user ?? "root"}`);
    assert.match(last("HEALTHCHECK ") ?? "", /\/healthz/, `${target}: no HEALTHCHECK on /healthz`);
    assert.match(lines.join("\n"), /R1JUDGE_HOST=0\.0\.0\.0/, `${target}: does not bind 0.0.0.0`);
    // Exec form: node itself is PID 1 and gets SIGTERM (a shell would not pass it on).
    assert.equal(last("ENTRYPOINT "), 'ENTRYPOINT ["node", "dist/cli.js", "serve"]', target);
    assert.match(
      lines.join("\n"),
      /COPY .*models\/demo \.\/models\/demo/,
      `${target}: the demo model baked in`,
    );
    assert.match(lines.join("\n"), /R1JUDGE_MODEL=\/app\/models\/demo/, target);
    // The web console's files (served only with R1JUDGE_CONSOLE=true on 0.0.0.0), next to dist/.
    assert.match(lines.join("\n"), /COPY .*console \.\/console/, `${target}: the console's files`);
  }
  const gpu = effective(all, all.find((s) => s.name === "webgpu") as Stage).join("\n");
  assert.match(gpu, /libvulkan1/);
  assert.match(gpu, /NVIDIA_DRIVER_CAPABILITIES=\S*graphics/);
  const cuda = all
    .filter((s) => s.name.startsWith("cuda"))
    .flatMap((s) => s.lines)
    .join("\n");
  assert.match(cuda, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  // Production dependencies only in what the images copy.
  assert.match(all.find((s) => s.name === "deps")?.lines.join("\n") ?? "", /npm ci --omit=dev/);
});

test("the linter is live: it reports a broken Dockerfile", () => {
  const problems = validate("FROM node:20 AS a\nRUNN echo\nEXPOSE http\nHEALTHCHECK CMD\n");
  assert.ok(problems.length >= 2, JSON.stringify(problems.map((p) => p.message)));
});

test(".dockerignore keeps the local heavy folders out of the build context", () => {
  const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n");
  for (const entry of [".git", "node_modules", "training/.venv", "bench/out"])
    assert.ok(ignored.includes(entry), `${entry} is not in .dockerignore`);
});

test("the production build starts without tsx: dist/cli.js --version", async (t) => {
  // Where the image has it: dist/ beside package.json, models/ and openapi.yaml.
  const out = path.join(ROOT, "dist");
  rmSync(out, { recursive: true, force: true });
  t.after(() => rmSync(out, { recursive: true, force: true }));
  await run("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", out], { cwd: ROOT });
  const { stdout } = await run(process.execPath, [path.join(out, "cli.js"), "--version"], { cwd: ROOT });
  const version = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).version as string;
  assert.match(stdout, new RegExp(version.replaceAll(".", "\\.")));
  // The engine's worker is found as compiled JavaScript next to its client.
  assert.ok(existsSync(path.join(out, "engine/worker.js")));
});
