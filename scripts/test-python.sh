#!/usr/bin/env bash
# Lint and test training/ offline (no model hub here; every model is built from a config).
set -euo pipefail
cd "$(dirname "$0")/../training"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check src tests gpu ../clients/python ../bench
.venv/bin/ruff format --check src tests gpu ../clients/python ../bench
# Types of the training algorithm, trainers and checkpoint code (pyright, an npm dev dependency;
# training/pyrightconfig.json names the folders and the venv it resolves imports in).
../node_modules/.bin/pyright -p .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
