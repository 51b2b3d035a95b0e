#!/usr/bin/env bash
# Chromium for the web console's browser tests (driven by playwright-core, which ships no browser):
# Debian's `chromium` package, installed system-wide with apt because Chromium needs ~25 shared
# libraries (GTK, NSS, fonts...) that only the package manager resolves. About 113 MB downloaded and
# a minute or two on first run; nothing to do when /usr/bin/chromium is already there.
# Needs root (CI and the dev containers run as root). Exits 1 with the reason when it cannot install
# (the browser tests then skip and say why, except in CI where they are required).
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "setup-chromium: chromium is not installed and installing it needs root: apt-get install chromium" >&2
  exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# No recommends: chromium-sandbox and the extra fonts are not needed headless (the tests run
# Chromium with --no-sandbox as root).
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "setup-chromium: apt-get could not install chromium:" >&2
  tail -5 "$log" >&2
  exit 1
fi
echo "setup-chromium: $(chromium --version 2>/dev/null || echo chromium) installed"
