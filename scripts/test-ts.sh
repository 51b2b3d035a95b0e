#!/usr/bin/env bash
# Type-check, lint and test the TypeScript side (node:test through tsx).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p .
npx biome ci .
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-reporter=spec "${files[@]}"
