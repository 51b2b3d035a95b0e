#!/usr/bin/env bash
# `npm run check`: the static checks of the TypeScript side, in seconds and without the setup step
# (nothing is installed or built): types, the generated API types against openapi.yaml, Biome.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install tsc --noEmit -p .
npx --no-install tsc -p console  # the console's browser JavaScript, checked from its JSDoc types
bash scripts/gen-types.sh --check  # src/api/api.ts must match openapi.yaml
npx --no-install biome ci .
