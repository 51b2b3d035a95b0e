#!/usr/bin/env bash
# SwiftShader for the WebGPU tests: Vulkan on the CPU, so the GPU code path (WebGPU execution provider,
# KV cache in device memory) runs on a machine without a GPU. Takes libvk_swiftshader.so and its ICD
# file from Debian's chromium-common and the Vulkan loader from libvulkan1, extracted into
# .cache/swiftshader (nothing is installed system-wide). Idempotent; exits 1 with the reason when
# the packages cannot be fetched (the tests then say they skipped the GPU path and why).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/swiftshader
[ -f "$dest/vk_swiftshader_icd.json" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's _apt user writes the downloads
fetch() { (cd "$work" && apt-get download chromium-common libvulkan1) >"$work/apt.log" 2>&1; }
if ! fetch; then
  apt-get update -qq >>"$work/apt.log" 2>&1 || true
  if ! fetch; then
    echo "setup-swiftshader: could not download chromium-common and libvulkan1 with apt-get:" >&2
    tail -3 "$work/apt.log" >&2
    exit 1
  fi
fi
mkdir -p "$work/root"
dpkg-deb -x "$work"/libvulkan1_*.deb "$work/root"
dpkg-deb --fsys-tarfile "$work"/chromium-common_*.deb |
  tar -x -C "$work/root" ./usr/lib/chromium/libvk_swiftshader.so ./usr/lib/chromium/vk_swiftshader_icd.json
mkdir -p "$dest.tmp"
cp -L "$work"/root/usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$dest.tmp/"
cp "$work"/root/usr/lib/chromium/libvk_swiftshader.so "$work"/root/usr/lib/chromium/vk_swiftshader_icd.json "$dest.tmp/"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "setup-swiftshader: SwiftShader ready in $dest"
