#!/usr/bin/env bash
# Builds the Dockerfile's cpu image for real and runs it, on a machine without a Docker engine or a
# reachable registry: buildah (daemonless, chroot isolation, vfs storage) builds the Dockerfile
# unchanged on a local stand-in for its base image (a Debian bookworm rootfs from debootstrap plus
# this machine's Node 20 and npm, tagged docker.io/library/node:20-bookworm-slim), then the image
# runs with `buildah run` and this script checks: /readyz turns 200, POST /judge answers, SIGTERM
# drains and exits 0. Prints the image size, the time to ready, the /judge answer and the drain.
# With WEBGPU=1 it then builds the webgpu target and runs it with SwiftShader (.cache/swiftshader,
# scripts/setup-swiftshader.sh) mounted as the Vulkan driver: device webgpu, one /judge.
# Needs root and apt (installs buildah and debootstrap). Minutes; not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
base=docker.io/library/node:20-bookworm-slim
image=localhost/r1judge:check
buildlog=$(mktemp)
port=${PORT:-18080}
log() { printf '[container-check] %s\n' "$*"; }

for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || {
    log "installing $tool"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
  }
done

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  log "making the stand-in for $base (debootstrap minbase bookworm + Node $(node -v) + npm)"
  work=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -5 "$work/debootstrap.log"; exit 1; }
  install -m 755 "$(command -v node)" "$work/rootfs/usr/local/bin/node"
  mkdir -p "$work/rootfs/usr/local/lib/node_modules"
  cp -r "$(npm root -g)/npm" "$work/rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  # As in the official image: user and group node (1000).
  chroot "$work/rootfs" groupadd --gid 1000 node
  chroot "$work/rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  # This machine reaches the npm registry through a proxy with its own CA: the stand-in trusts it as
  # the host does (an image built elsewhere needs nothing of the kind).
  # (minbase may come without ca-certificates, so without the folder.)
  mkdir -p "$work/rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/host-ca-certificates.crt"
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  c=$(buildah from scratch)
  buildah add "$c" "$work/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$(node -p process.versions.node)" \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-certificates.crt --cmd node "$c"
  buildah commit -q "$c" "$base" >/dev/null
  buildah rm "$c" >/dev/null
  rm -rf "$work"
fi

log "building $image (target cpu) with buildah"
start=$(date +%s)
buildah bud --pull=never --isolation chroot --layers=false --target cpu -t "$image" . >"$buildlog" 2>&1 \
  || { tail -20 "$buildlog"; exit 1; }
log "built in $(( $(date +%s) - start )) s; image size $(buildah images --format '{{.Size}}' "$image")"

if curl -s -o /dev/null "http://127.0.0.1:$port/healthz"; then log "port $port is taken (PORT=... to choose another)"; exit 1; fi
c=$(buildah from --pull=never "$image")
runner=""
cleanup() {
  [ -z "$runner" ] || kill "$runner" 2>/dev/null || true
  for pid in $(pgrep -f 'dist/cli.js serve' || true); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != node ] || kill "$pid" 2>/dev/null || true
  done
  buildah rm "$c" >/dev/null 2>&1 || true
}
trap cleanup EXIT
log "running it (user $(buildah inspect --format '{{.OCIv1.Config.User}}' "$c"), entrypoint $(buildah inspect --format '{{.OCIv1.Config.Entrypoint}}' "$c"))"
out=$(mktemp)
started=$(date +%s.%N)
buildah run --isolation chroot --network host --env R1JUDGE_PORT="$port" "$c" -- node dist/cli.js serve >"$out" 2>&1 &
runner=$!
ready=""
for _ in $(seq 1 600); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then ready=yes; break; fi
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.2
done
[ -n "$ready" ] || { log "never ready:"; tail -20 "$out"; exit 1; }
log "ready in $(printf '%.1f' "$(echo "$(date +%s.%N) - $started" | bc)") s; /healthz: $(curl -s "http://127.0.0.1:$port/healthz")"
log "/judge: $(curl -s -X POST "http://127.0.0.1:$port/judge" -H 'content-type: application/json' \
  -d '{"question":"What is 7 + 5?","responses":["12","13"],"samples":3,"seed":1}' | head -c 600)"
server=""
for pid in $(pgrep -f 'dist/cli.js serve' || true); do  # the server itself, not `buildah run`
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != node ] || server=$pid
done
[ -n "$server" ] || { log "cannot find the server's process"; exit 1; }
log "SIGTERM to the server (pid $server) with a request in flight"
curl -s -X POST "http://127.0.0.1:$port/judge" -H 'content-type: application/json' \
  -d '{"question":"Which is larger, 37 or 52?","responses":["52","37"],"samples":64,"seed":2}' -o "$out.inflight" -w '%{http_code}' >"$out.code" &
inflight=$!
sleep 0.1
kill -TERM "$server"
wait "$inflight" || true
set +e
wait "$runner"
code=$?
set -e
log "in-flight request (64 samples) answered $(cat "$out.code") with $(head -c 120 "$out.inflight")…; the container exited with $code"
grep -E '"msg":"(draining|stopped|shutting down)[^"]*"' "$out" | tail -3 | cut -c1-300 || true
[ "$code" = 0 ] || { log "FAILED: exit $code"; tail -20 "$out"; exit 1; }
log "ok"

# The web console: off on the image's 0.0.0.0 unless R1JUDGE_CONSOLE=true, its files beside dist/.
for console in "" true; do
  buildah run --isolation chroot --network host --env R1JUDGE_PORT="$port" --env R1JUDGE_CONSOLE="$console" \
    "$c" -- node dist/cli.js serve >"$out" 2>&1 &
  runner=$!
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] && break
    kill -0 "$runner" 2>/dev/null || break
    sleep 0.2
  done
  page=$(curl -s -o "$out.page" -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/")
  script=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/console/js/app.js")
  csp=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/" | grep -i '^content-security-policy' | cut -c1-60 || true)
  log "R1JUDGE_CONSOLE=${console:-unset}: GET / $page, /console/js/app.js $script${csp:+; $csp…}"
  if [ -z "$console" ]; then
    grep -q R1JUDGE_CONSOLE "$out.page" || { log "FAILED: / should be 404 naming R1JUDGE_CONSOLE"; exit 1; }
  else
    case "$page $script" in "200 text/html"*"200 text/javascript"*) ;; *) log "FAILED: the console is not served"; exit 1 ;; esac
  fi
  cleanup_server=$(pgrep -f 'dist/cli.js serve' || true)
  for pid in $cleanup_server; do [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != node ] || kill -TERM "$pid"; done
  wait "$runner" || true
done
log "console ok"

if [ "${WEBGPU:-0}" = 1 ]; then
  log "building the webgpu target"
  buildah bud --pull=never --isolation chroot --layers=false --target webgpu -t "$image-webgpu" . >"$buildlog" 2>&1 \
    || { tail -20 "$buildlog"; exit 1; }
  log "image size $(buildah images --format '{{.Size}}' "$image-webgpu"); running it on SwiftShader"
  buildah rm "$c" >/dev/null
  c=$(buildah from --pull=never "$image-webgpu")
  buildah run --isolation chroot --network host -v "$PWD/.cache/swiftshader:/opt/swiftshader:ro" \
    --env VK_ICD_FILENAMES=/opt/swiftshader/vk_swiftshader_icd.json --env XDG_RUNTIME_DIR=/tmp \
    --env R1JUDGE_PORT="$port" "$c" -- node dist/cli.js serve >"$out" 2>&1 &
  runner=$!
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" != 200 ] || break
    sleep 1
  done
  log "device: $(curl -s "http://127.0.0.1:$port/models" | grep -o '"device":"[^"]*"')"
  log "/judge: $(curl -s -X POST "http://127.0.0.1:$port/judge" -H 'content-type: application/json' \
    -d '{"question":"What is 7 + 5?","responses":["12","13"],"samples":2,"seed":5}' | head -c 300)"
fi
exit 0
