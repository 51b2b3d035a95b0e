// Nothing leaves the box: libonnxruntime's Linux build carries a telemetry client that, unless
// ORT_DISABLE_TELEMETRY is set, opens a cache under ~/.cache/Microsoft at start and looks up
// mobile.events.data.microsoft.com about 10 s later. The server sets the switch before any worker
// loads the library; here the real server runs with an empty HOME (and, where strace is installed,
// under strace) through start-up and a judgement with an image. The lookup ~10 s later is watched by
// `npm run faults`, which sets R1JUDGE_TELEMETRY_IDLE_MS=14000 to idle that long before stopping.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ROOT, startChildServer } from "../support/child-server.js";

const STRACE = spawnSync("strace", ["-V"]).status === 0;
const IDLE_MS = Number(process.env.R1JUDGE_TELEMETRY_IDLE_MS ?? 0);

/** Every connect() that is not to a Unix socket or a loopback address. */
function outboundConnects(trace: string): string[] {
  return trace
    .split("\n")
    .filter(
      (line) =>
        /\bconnect\(/.test(line) &&
        !/AF_UNIX|AF_LOCAL|inet_addr\("127\.|inet_pton\(AF_INET6, "::1"/.test(line),
    );
}

test("no telemetry: no cache under HOME and (with strace) no outbound connection, idle or busy", async (t) => {
  const home = await mkdtemp(path.join(tmpdir(), "r1judge-home-"));
  t.after(() => rm(home, { recursive: true, force: true }));
  const trace = path.join(home, "strace.txt");
  if (!STRACE) t.diagnostic("strace is not installed: only the telemetry cache is checked");
  const server = await startChildServer({
    env: { HOME: home, XDG_CACHE_HOME: path.join(home, ".cache") },
    ...(STRACE ? { wrap: ["strace", "-f", "-qq", "-e", "trace=connect", "-o", trace] } : {}),
  });
  try {
    const png = await readFile(path.join(ROOT, "test/fixtures/golden/images/square-70.png"));
    const res = await fetch(`${server.url}/judge`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        question: "What colour is the shape?",
        responses: ["red", "blue"],
        images: [`data:image/png;base64,${png.toString("base64")}`],
        max_new_tokens: 16,
      }),
    });
    assert.equal(res.status, 200);
    if (IDLE_MS > 0) await sleep(IDLE_MS);
  } finally {
    // Under strace the child is strace: the signal goes to the server it runs.
    const pid = STRACE
      ? Number(
          (await readFile(`/proc/${server.child.pid}/task/${server.child.pid}/children`, "utf8"))
            .trim()
            .split(" ")[0],
        )
      : undefined;
    if (pid) process.kill(pid, "SIGTERM");
    assert.equal(await server.stop(), 0);
  }
  assert.equal(
    existsSync(path.join(home, ".cache", "Microsoft")),
    false,
    "onnxruntime's telemetry cache was created",
  );
  if (STRACE) {
    const connects = outboundConnects(await readFile(trace, "utf8"));
    assert.deepEqual(connects, [], "outbound connections");
  }
});
