// SIGTERM under load, on the real CLI process: it stops accepting, reports not ready, finishes every
// request it had accepted, and exits 0.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CHECKPOINT = process.env.R1JUDGE_TEST_CHECKPOINT ?? path.join(ROOT, "models/demo");

test("SIGTERM under load loses no accepted request and exits 0", async () => {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "src/cli.ts"), "serve", "--model", CHECKPOINT, "--port", "0"],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, R1JUDGE_LOG_LEVEL: "info" },
    },
  );
  const lines = createInterface({ input: child.stdout });
  let url = "";
  const logged: string[] = [];
  const ready = new Promise<void>((resolve) => {
    lines.on("line", (line) => {
      logged.push(line);
      const entry = JSON.parse(line) as { msg: string; url?: string };
      if (entry.msg.startsWith("listening")) url = entry.url ?? "";
      if (entry.msg === "ready") resolve();
    });
  });
  await ready;

  const body = JSON.stringify({
    question: "What is 7 + 5?",
    responses: ["12", "13"],
    samples: 16,
    early_stop: false,
    seed: 1,
  });
  const requests = Array.from({ length: 8 }, () =>
    fetch(`${url}/judge`, { method: "POST", headers: { "content-type": "application/json" }, body }).then(
      async (r) => ({
        status: r.status,
        body: (await r.json()) as { votes?: Record<string, number> },
      }),
    ),
  );
  // Let the server accept them all before the signal.
  await new Promise((r) => setTimeout(r, 300));
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 20));
  const duringDrain = await fetch(`${url}/readyz`).then(
    (r) => r.status,
    () => "refused",
  );
  const results = await Promise.all(requests);
  const [code] = (await exited) as [number | null];

  for (const r of results) {
    assert.equal(r.status, 200);
    const votes = r.body.votes as Record<string, number>;
    assert.equal((votes["1"] ?? 0) + (votes["2"] ?? 0) + (votes.invalid ?? 0), 16);
  }
  assert.ok(duringDrain === 503 || duringDrain === "refused", `readyz during drain: ${duringDrain}`);
  assert.equal(code, 0, logged.slice(-5).join("\n"));
  assert.ok(logged.some((l) => l.includes('"msg":"draining"')));
});
