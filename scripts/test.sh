#!/usr/bin/env bash
# Every test of the project, TypeScript and Python, from a fresh clone: `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/test-ts.sh
bash scripts/test-python.sh
