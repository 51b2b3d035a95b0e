#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine: node modules, the training venv,
# SwiftShader for the WebGPU tests and Chromium for the web console's browser tests.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

venv=training/.venv
stamp=$venv/.installed
if [ ! -f "$stamp" ] || [ training/requirements-cpu.txt -nt "$stamp" ] || [ training/pyproject.toml -nt "$stamp" ] \
  || [ clients/python/pyproject.toml -nt "$stamp" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # The public index is unreachable here: no retries, so pip falls through to the local wheel store at once.
  export PIP_RETRIES=0 PIP_DISABLE_PIP_VERSION_CHECK=1
  "$venv/bin/pip" install -q -r training/requirements-cpu.txt 2> >(grep -v "is ignored: it is neither" >&2)
  "$venv/bin/pip" install -q --no-deps -e training 2> >(grep -v "is ignored: it is neither" >&2)
  "$venv/bin/pip" install -q --no-deps -e clients/python 2> >(grep -v "is ignored: it is neither" >&2)
  touch "$stamp"
fi

# The GPU code path's tests need SwiftShader. In CI (CI set) they are required: no SwiftShader fails
# the run here, with setup-swiftshader's reason. Elsewhere they skip and say why.
if ! bash scripts/setup-swiftshader.sh; then
  if [ -n "${CI:-}" ]; then
    echo "setup: SwiftShader is required in CI (the WebGPU tests must not skip); see the reason above" >&2
    exit 1
  fi
  echo "setup: WebGPU tests will skip on this machine (SwiftShader could not be set up; see above)" >&2
fi

# The web console's browser tests drive Debian's chromium (playwright-core brings no browser). In CI
# they are required: no Chromium fails the run here, with setup-chromium's reason. Elsewhere (not
# root, apt unreachable) they skip and say why.
if ! bash scripts/setup-chromium.sh; then
  if [ -n "${CI:-}" ]; then
    echo "setup: Chromium is required in CI (the browser tests must not skip); see the reason above" >&2
    exit 1
  fi
  echo "setup: browser tests will skip on this machine (Chromium could not be installed; see above)" >&2
fi
