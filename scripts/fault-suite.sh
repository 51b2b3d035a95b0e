#!/usr/bin/env bash
# The long fault suite (not part of `npm test`, which runs the fast parts): fuzzing every route with
# thousands of cases and a fresh seed, overload, deadlines, SIGTERM under load, a soak of several
# minutes with RSS and event-loop delay, and peak memory under image-heavy requests. Every server it
# starts listens on 127.0.0.1 and every loop is bounded. Figures go to docs/reliability.md.
#   scripts/fault-suite.sh                          # 5,000 fuzz runs, random seed, 5-minute soak
#   FUZZ_RUNS=20000 FUZZ_SEED=7 SOAK_MINUTES=10 scripts/fault-suite.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
runs=${FUZZ_RUNS:-5000}
seed=${FUZZ_SEED:-$RANDOM}
minutes=${SOAK_MINUTES:-5}
echo "== fuzz: $runs runs, seed $seed (rerun with FUZZ_SEED=$seed)"
R1JUDGE_FUZZ_RUNS=$runs R1JUDGE_FUZZ_SEED=$seed R1JUDGE_TELEMETRY_IDLE_MS=14000 \
  node --import tsx --test --test-reporter=spec test/faults/fuzz.test.ts test/faults/overload.test.ts \
  test/server/shutdown.test.ts test/server/reliability.test.ts test/server/telemetry.test.ts
echo "== soak: $minutes minutes"
node --import tsx test/faults/soak.ts --minutes "$minutes"
echo "== peak memory"
node --import tsx bench/memory.ts
