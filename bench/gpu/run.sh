#!/usr/bin/env bash
# On the GPU machine (see prepare.sh): builds the Qwen2.5-0.5B-shaped random checkpoint (fp32, fp16,
# int4) where Python can import onnx and onnxruntime (else it says so and measures models/demo),
# times it in PyTorch eager on the GPU, then in our engine on cpu and webgpu (KV cache on the
# device), and writes every measurement as JSON lines to $OUT/gpu-bench.jsonl (and the log beside it).
#   device run: carry [".gpubench"], command "bash bench/gpu/run.sh", timeout 600
# Locally, without a GPU (checks the kit): MODEL=models/demo TORCH=0 OUT=/tmp/gpu bash bench/gpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=$PWD/.gpubench
OUT=${OUT:-/tmp/gpu-bench}; mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-bench.log") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
work=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

# Vulkan loader and the NVIDIA ICD for WebGPU
if ! ldconfig -p | grep -q libvulkan.so.1; then dpkg -x "$kit"/libvulkan1_*.deb / && ldconfig; fi
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work}

node=$work/node
xz -dc "$kit/node.xz" > "$node" && chmod +x "$node"
lib=$kit/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
[ -f "$lib/libonnxruntime.so.1" ] || xz -dk "$lib/libonnxruntime.so.1.xz"

[ -f "$kit/tokenizer/tokenizer.json" ] || xz -dk "$kit/tokenizer/tokenizer.json.xz"
python=${PYTHON:-python3}
"$python" -m pip install -q --no-deps "$kit"/wheels/*.whl || echo "the carried wheels do not install on $("$python" -V)"
export PYTHONPATH=$PWD/training/src${PYTHONPATH:+:$PYTHONPATH}
model=${MODEL:-$work/qwen2.5-0.5b}
if [ -n "${MODEL:-}" ]; then
  model=$(realpath "$MODEL")
elif "$python" -c "import onnx, onnxscript, onnxruntime" 2>/dev/null; then
  echo "== building $model"
  "$python" -m r1judge_train.cli random "$model" --tokenizer "$kit/tokenizer" --variants fp32 fp16
  "$python" -m r1judge_train.cli quantize "$model" --variants int4
else
  echo "== cannot build the 0.5B-shaped model: $("$python" -V) cannot import onnx, onnxscript and onnxruntime; measuring models/demo"
  model=$PWD/models/demo
  TORCH=0
fi

if [ "${TORCH:-1}" = 1 ]; then
  echo "== pytorch eager"
  "$python" bench/gpu/torch_reference.py --tokenizer "$kit/tokenizer" | tee -a "$OUT/gpu-bench.jsonl"
fi
echo "== our engine"
(cd "$kit" && "$node" bench.mjs --model "$model" --devices "${DEVICES:-webgpu,cpu}" --variants fp32,fp16,int4 \
  --new-tokens "${NEW_TOKENS:-64}" --runs "${RUNS:-3}") | tee -a "$OUT/gpu-bench.jsonl"
