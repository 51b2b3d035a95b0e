#!/usr/bin/env bash
# On the GPU machine (the device tool's `run`, with carry [".whl"]): install the carried wheels and run
# the StableReinforce benchmark; the result lands in $OUT/rl-bench.json.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 training/gpu/rl_bench.py --tokenizer .whl/tokenizer --steps "${STEPS:-6}" --batch "${BATCH:-32}" \
  --new-tokens "${NEW_TOKENS:-256}" --out "${OUT:-/tmp}/rl-bench.json"
