#!/usr/bin/env bash
# `npm run bench`: the engine benchmark (bench/engine.bench.ts). With SwiftShader set up (npm test's
# setup) the WebGPU rows run on it: correctness and transfers, not GPU speed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/swiftshader-env.sh 2>/dev/null || true
exec node --import tsx bench/engine.bench.ts "$@"
