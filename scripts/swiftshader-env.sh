# Sourced by the test scripts: points the Vulkan loader at SwiftShader (scripts/setup-swiftshader.sh)
# and marks the WebGPU tests as required. Without SwiftShader it fails in CI (CI set); elsewhere it says
# so, and they skip.
if [ -f .cache/swiftshader/vk_swiftshader_icd.json ]; then
  export VK_ICD_FILENAMES="$PWD/.cache/swiftshader/vk_swiftshader_icd.json"
  export LD_LIBRARY_PATH="$PWD/.cache/swiftshader${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
  export R1JUDGE_WEBGPU_TESTS=required
elif [ -n "${CI:-}" ]; then
  echo "WebGPU tests are required in CI, but SwiftShader is not in .cache/swiftshader (scripts/setup-swiftshader.sh)" >&2
  exit 1
else
  echo "WebGPU tests will be skipped: SwiftShader is not in .cache/swiftshader (run scripts/setup-swiftshader.sh)" >&2
fi
