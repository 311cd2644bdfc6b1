#!/usr/bin/env bash
# Build the docloop-api and docloop-trainer images offline and check that they work together:
# a Debian bookworm root made with debootstrap is the base image (nothing is pulled), wheels are
# built on the host first (pip inside the build then needs no network), both images are built
# with podman, the API serves from one container and a trainer worker trains in another on a
# shared home volume (SQLite), and a client runs the Nanonets sample flow against the API.
# Prints each image's size, the readiness check, the prediction and the API's memory.
#
# Needs root, podman, runc and debootstrap (apt-get install podman buildah runc debootstrap
# uidmap fuse-overlayfs slirp4netns). Takes many minutes, so it is not part of CI.
# The base image is kept between runs (REBUILD_BASE=1 makes it again); IMAGE_TEST_DIR (default
# /var/tmp/docloop-image-test) holds the logs and the shared home volume.
set -euo pipefail
cd "$(dirname "$0")/.."

# One function, read whole before it runs: editing this file during a run cannot derail it.
main() {

PYTHON=${PYTHON:-python3}
WORK=${IMAGE_TEST_DIR:-/var/tmp/docloop-image-test}
BASE=localhost/docloop-bookworm:base
TAG=${IMAGE_TAG:-test}
# crun fails on this kind of host (cgroups, rlimits); runc with cgroupfs and explicit limits works.
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
API=docloop-api-smoke
TRAINER=docloop-trainer-smoke

[ "$(id -u)" = 0 ] || { echo "image_test.sh needs root (podman storage, debootstrap)" >&2; exit 2; }
for tool in podman runc debootstrap curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y podman runc debootstrap curl" >&2; exit 2; }
done
mkdir -p "$WORK"
# Resident memory of every process in a container: RSS and PSS now, and the sum of each
# process's peak RSS (VmHWM; an upper bound of the container's peak), leaving out this probe.
MEMORY='
import glob, os
rss = pss = peak = 0
for status in glob.glob("/proc/[0-9]*/status"):
    pid = status.split("/")[2]
    if int(pid) == os.getpid():
        continue
    try:
        fields = dict(line.split(":", 1) for line in open(status))
        rollup = dict(line.split(":", 1) for line in open(f"/proc/{pid}/smaps_rollup") if line[0].isalpha())
    except OSError:
        continue
    kib = lambda d, k: int(d.get(k, "0 kB").split()[0])
    rss, pss, peak = rss + kib(fields, "VmRSS"), pss + kib(rollup, "Pss"), peak + kib(fields, "VmHWM")
print(f"RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB, peak RSS {peak / 1024:.0f} MiB")'
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "base image $BASE"
if "${PODMAN[@]}" image exists "$BASE" && [ -z "${REBUILD_BASE:-}" ]; then
  echo "reusing $BASE"
else
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$WORK/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log"
  # What slim Debian images leave out too: package downloads, apt lists, docs, manuals, locales.
  rm -rf "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/var/cache/apt/"*.bin \
    "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/usr/share/doc/"* \
    "$WORK/rootfs/usr/share/man/"* "$WORK/rootfs/usr/share/locale/"*
  tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$WORK/rootfs"
fi

step "wheelhouse (host pip; the image build installs from it with --no-index)"
"$PYTHON" deploy/docker/requirements.py pyproject.toml --extra train --torch-variant cpu \
  >"$WORK/requirements.txt"
"$PYTHON" -m pip wheel -q -w wheelhouse -r "$WORK/requirements.txt" "setuptools>=77" wheel
du -sh wheelhouse

for target in docloop-api docloop-trainer; do
  step "build $target"
  start=$(date +%s)
  "${PODMAN[@]}" build "${LIMITS[@]}" --network host --format docker \
    --build-arg BASE_IMAGE="$BASE" --build-arg PIP_INSTALL_ARGS=--no-index \
    --target "$target" -t "localhost/$target:$TAG" . >"$WORK/build-$target.log" 2>&1 ||
    { tail -40 "$WORK/build-$target.log"; exit 1; }
  echo "built localhost/$target:$TAG in $(($(date +%s) - start)) s"
done

step "image sizes"
for target in docloop-api docloop-trainer; do
  bytes=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "localhost/$target:$TAG")
  echo "$target: $((bytes / 1000000)) MB ($bytes bytes)"
done

step "api image contents"
"${PODMAN[@]}" run --rm "${LIMITS[@]}" --network host --entrypoint python3 "localhost/docloop-api:$TAG" -c '
import importlib.util, os, shutil
print("user:", os.getuid(), "torch installed:", importlib.util.find_spec("torch") is not None,
      "compilers:", [c for c in ("gcc", "cc", "c++", "clang") if shutil.which(c)])'

step "serve from docloop-api, train in docloop-trainer, on one shared home volume"
cleanup() {
  "${PODMAN[@]}" rm -f "$API" "$TRAINER" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
HOME_DIR="$WORK/home"
rm -rf "$HOME_DIR" && mkdir -p "$HOME_DIR" && chown 10001:10001 "$HOME_DIR"
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KEY=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
"${PODMAN[@]}" run -d --name "$API" "${LIMITS[@]}" --network host -v "$HOME_DIR:/var/lib/docloop" \
  -e DOCLOOP_BOOTSTRAP_API_KEY="$KEY" -e DOCLOOP_PORT="$PORT" \
  "localhost/docloop-api:$TAG" serve --no-worker --host 127.0.0.1 --port "$PORT" >/dev/null
ready=""
for _ in $(seq 1 180); do
  code=$(curl -s -o "$WORK/readyz.json" -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)
  if [ "$code" = 200 ]; then ready=/readyz; break; fi
  if [ "$code" = 404 ] && curl -fs "http://127.0.0.1:$PORT/healthz" >"$WORK/readyz.json"; then
    ready="/healthz (this build has no /readyz)"; break
  fi
  sleep 1
done
[ -n "$ready" ] || { "${PODMAN[@]}" logs "$API" | tail -40; echo "the API never became ready" >&2; exit 1; }
echo "ready on port $PORT: $ready -> $(cat "$WORK/readyz.json")"
"${PODMAN[@]}" healthcheck run "$API" &&
  echo "HEALTHCHECK: $("${PODMAN[@]}" inspect --format '{{.State.Health.Status}}' "$API")"

"${PODMAN[@]}" run -d --name "$TRAINER" "${LIMITS[@]}" --network host -v "$HOME_DIR:/var/lib/docloop" \
  -e DOCLOOP_TRAIN_EPOCHS="${TRAIN_EPOCHS:-20}" -e DOCLOOP_TRAIN_MEMBERS=1 \
  "localhost/docloop-trainer:$TAG" worker >/dev/null
"${PODMAN[@]}" exec -i "$API" python3 - "http://127.0.0.1:$PORT" "$KEY" <scripts/image_smoke.py ||
  { "${PODMAN[@]}" logs "$TRAINER" | tail -40; exit 1; }

step "memory after the prediction: every process of each container, now and at its peak"
for container in "$API" "$TRAINER"; do
  printf '%s: ' "$container"
  "${PODMAN[@]}" exec "$container" python3 -c "$MEMORY"
done
echo "image test passed"
}

main "$@"; exit
