#!/usr/bin/env bash
# Type-check, check the generated API types are current, lint and test the TypeScript side
# (node:test through tsx).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check.sh  # tsc, the generated API types, Biome (`npm run check`)
# The WebGPU tests run on SwiftShader (Vulkan on the CPU) where setup could fetch it.
source scripts/swiftshader-env.sh
mapfile -t files < <(find test -name '*.test.ts' | sort)
# A test that waits on a server that hangs fails after 10 minutes instead of holding CI.
node --import tsx --test --test-reporter=spec --test-timeout=600000 "${files[@]}"
