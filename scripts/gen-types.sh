#!/usr/bin/env bash
# Generates src/api/api.ts from openapi.yaml with openapi-typescript.
#   scripts/gen-types.sh           write the generated file
#   scripts/gen-types.sh --check   regenerate to a temp file and diff; exit 1 when the committed file is stale
# openapi-typescript is pinned to 6.7.6: 7.x needs TypeScript 5's compiler API as a peer, and this
# project uses TypeScript 7 (no JS API). 6.x prints types itself and supports OpenAPI 3.1.
set -euo pipefail
cd "$(dirname "$0")/.."

spec=openapi.yaml
target=src/api/api.ts

generate() {
  local out=$1 raw
  raw=$(mktemp)
  npx --no-install openapi-typescript "$spec" --output "$raw" --support-array-length --export-type >/dev/null
  {
    echo "// GENERATED FILE — DO NOT EDIT. Source: $spec. Regenerate with \`npm run gen:types\`;"
    echo "// CI runs \`npm run check:types\` and fails when this file is stale."
    echo
    cat "$raw"
  } >"$out"
  rm -f "$raw"
}

if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  generate "$tmp"
  if ! diff -u "$target" "$tmp"; then
    echo "error: $target is stale; run \`npm run gen:types\` and commit the result" >&2
    exit 1
  fi
  echo "$target is up to date"
else
  mkdir -p "$(dirname "$target")"
  generate "$target"
  echo "wrote $target"
fi
