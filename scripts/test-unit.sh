#!/usr/bin/env bash
# `npm run test:unit`: the TypeScript tests that need no model, no server and no child process (fakes,
# pure functions, source and manifest checks), in seconds: the inner loop while editing. `npm test`
# runs them again with everything else. A new test belongs here when it loads no checkpoint, starts
# no server (startServer, startChildServer) and spawns nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
files=(
  test/architecture.test.ts
  test/config.test.ts
  test/deploy/manifests.test.ts
  test/engine/device-kv.test.ts
  test/engine/engine.test.ts
  test/engine/fair-queue.test.ts
  test/engine/images/config.test.ts
  test/engine/images/decode.test.ts
  test/engine/images/image-budget.test.ts
  test/engine/images/resize.test.ts
  test/engine/images/smart-resize.test.ts
  test/engine/kv.test.ts
  test/engine/sampling.test.ts
  test/engine/scheduler.test.ts
  test/engine/supervisor.test.ts
  test/evaluation/results.test.ts
  test/judge/compare.test.ts
  test/judge/judging.test.ts
  test/judge/reward.test.ts
  test/server/admission.test.ts
  test/server/chat.test.ts
  test/server/compare-inputs.test.ts
  test/server/schemas.test.ts
)
node --import tsx --test --test-reporter=dot "${files[@]}" "$@"
