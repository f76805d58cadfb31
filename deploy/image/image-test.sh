#!/usr/bin/env bash
# `make image-test`: build the container image with podman and run it as a deployment would.
#   1. podman, debootstrap and runc (apt-get, as root) when missing;
#   2. the base image: $BASE, or a stand-in for python:3.11-slim-bookworm built with
#      debootstrap (bookworm-base.sh) and kept for the next run;
#   3. the Dockerfile's default target (chroot isolation, docker format to keep HEALTHCHECK);
#   4. the image runs with a read-only root filesystem, a tmpfs /tmp and keys auth:
#      /readyz and /livez answer 200, the HEALTHCHECK passes, one legacy session with a key
#      gets a final (the project's own client), the key is in no log line, SIGTERM → exit 0.
# Every step is bounded in time. Environment: PYTHON (a python with this project installed,
# default .venv/bin/python), IMAGE (tag to build), TARGET (Dockerfile target, default server),
# BASE (base image; default the debootstrap stand-in).
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
PYTHON=${PYTHON:-.venv/bin/python}
IMAGE=${IMAGE:-localhost/translator-speech-shim:image-test}
TARGET=${TARGET:-server}
BASE_LOCAL=localhost/shim-base:python3.11-bookworm
name=shim-image-test-$$
work=$(mktemp -d)
say() { echo "image-test [$(($(date +%s) - started)) s]: $*"; }
fail() { say "FAILED: $*"; exit 1; }
cleanup() {
  podman rm --force --time 0 "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# This host (like many CI runners) has no systemd for podman's cgroups or health timers.
pod() { podman --cgroup-manager=cgroupfs "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }

# ---- 1. tools --------------------------------------------------------------------------------
missing=""
for tool in podman:podman debootstrap:debootstrap runc:runc; do
  command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || fail "missing:$missing (run: sudo apt-get install$missing)"
  say "installing$missing"
  timeout 300 apt-get update -qq || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
    $missing uidmap slirp4netns fuse-overlayfs >"$work/apt.log" 2>&1 \
    || { tail -20 "$work/apt.log"; fail "apt-get install$missing"; }
fi

# ---- 2. base image ---------------------------------------------------------------------------
# BASE=python:3.11-slim-bookworm uses the real image where a registry is reachable; by default
# a stand-in is built with debootstrap (from Debian's mirror) and kept for the next run.
base=${BASE:-$BASE_LOCAL}
if [ "$base" = "$BASE_LOCAL" ] && ! podman image exists "$BASE_LOCAL"; then
  say "building the base image $BASE_LOCAL with debootstrap"
  timeout 900 deploy/image/bookworm-base.sh "$BASE_LOCAL"
fi

# ---- 3. build ----------------------------------------------------------------------------------
# Where pip must trust a CA of this host's (a TLS-inspecting proxy), the build's RUN steps see
# it through read-only mounts; the mounts end up in no layer of the image.
mounts=()
cert=${PIP_CERT:-$("$PYTHON" -m pip config get global.cert 2>/dev/null || true)}
if [ -n "$cert" ] && [ -f "$cert" ]; then
  printf '[global]\ncert = /run/host-ca.pem\n' >"$work/pip.conf"
  mounts=(-v "$work/pip.conf:/etc/pip.conf:ro" -v "$cert:/run/host-ca.pem:ro")
fi
say "building $IMAGE (target $TARGET, base $base)"
if ! timeout 1800 podman build --isolation=chroot --format docker --target "$TARGET" \
    --build-arg "BASE=$base" "${mounts[@]}" --tag "$IMAGE" . >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  fail "podman build"
fi
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "built $IMAGE: $(numfmt --to=si --suffix=B "$size") ($size bytes)"

# ---- 4. run --------------------------------------------------------------------------------
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=image-test-$("$PYTHON" -c 'import secrets; print(secrets.token_hex(12))')
secret=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')
pod run --detach --name "$name" --read-only --tmpfs /tmp \
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
  --publish "127.0.0.1:$port:5000" \
  --env SHIM_AUTH=keys --env "SHIM_CLIENT_KEYS=$key" --env "SHIM_TOKEN_SECRET=$secret" \
  --env SHIM_DRAIN_TIMEOUT=10 \
  "$IMAGE" >/dev/null
url=http://127.0.0.1:$port

status() {  # HTTP status of GET $1, 000 when nothing answers
  "$PYTHON" - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("000")
PY
}
for _ in $(seq 120); do
  [ "$(status "$url/readyz")" = 200 ] && break
  [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] \
    || { podman logs "$name" | tail -20; fail "the container exited before it was ready"; }
  sleep 0.5
done
[ "$(status "$url/readyz")" = 200 ] || { podman logs "$name" | tail -20; fail "/readyz never answered 200"; }
say "/readyz 200"
[ "$(status "$url/livez")" = 200 ] || fail "/livez"
say "/livez 200"
pod healthcheck run "$name" >/dev/null || fail "the image's HEALTHCHECK did not pass"
say "HEALTHCHECK healthy"

audio=../shared/audio/en-US_whatstheweatherlike.wav
[ -f "$audio" ] || audio=""  # without the shared recordings the client speaks with espeak-ng
timeout 120 "$PYTHON" -m shim client --url "$url" --key "$key" --from en-US --to es \
  --features partial --profile whole-file $audio | tee "$work/client.out" \
  || fail "the legacy session (client exit $?)"
grep -q '^final' "$work/client.out" || fail "the session gave no final"
say "legacy session with a key: $(grep -c '^final' "$work/client.out") final(s)"

pod kill --signal TERM "$name" >/dev/null
code=$(timeout 60 podman wait "$name") || fail "still running 60 s after SIGTERM"
podman logs "$name" >"$work/container.log" 2>&1
[ "$code" = 0 ] || { tail -20 "$work/container.log"; fail "exit $code after SIGTERM"; }
say "SIGTERM: exit 0"
if grep -qF -e "$key" -e "$secret" "$work/container.log"; then
  fail "a client key or the token secret appears in the container's log"
fi
say "no key or secret in the container's log ($(wc -l <"$work/container.log") lines)"
say "passed: image $(numfmt --to=si --suffix=B "$size"), $(($(date +%s) - started)) s"
