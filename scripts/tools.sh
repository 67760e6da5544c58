#!/usr/bin/env bash
# Installs Spillway's pinned external tools into .tools/ (see scripts/versions.env).
#
#   scripts/tools.sh            all tools
#   scripts/tools.sh kube opa   only these
#
# Idempotent: a tool whose stamp matches its pinned version and whose smoke check passes is skipped.
# A tool is built into a temporary folder and moved into place only after its smoke check passed, so a
# failed or interrupted install never leaves a binary that a later run would trust.
LOG_PREFIX=tools
source "$(dirname "$0")/lib/common.sh"

ALL_TOOLS=(apt kube etcd kwok opa helm fake-gcs-server tofu tflint actionlint hcloud-provider moto checkov gce-discovery)
[[ "${SPILLWAY_LOCALSTACK:-0}" == 1 ]] && ALL_TOOLS+=(localstack)

export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -trimpath"
export GOCACHE="$CACHE/go-build"
export GOMODCACHE="$CACHE/go-mod"
export CGO_ENABLED=0

CURRENT_TOOL=""
CURRENT_STEP=""
on_error() { die "tool '$CURRENT_TOOL' failed at step '$CURRENT_STEP' (log: $TOOLS/logs/$CURRENT_TOOL.log)" \
  "read the log's last lines; a fetch failure means the pinned version in scripts/versions.env is not on the Go module proxy / PyPI"; }
trap on_error ERR
mkdir -p "$TOOLS/logs"

step() { CURRENT_STEP="$1"; }
# run CMD...: appends output to the tool's log; the ERR trap reports the step.
run() { "$@" >>"$TOOLS/logs/$CURRENT_TOOL.log" 2>&1; }

stamp_ok() { [[ -f "$TOOLS/stamps/$1" && "$(cat "$TOOLS/stamps/$1")" == "$2" ]]; }

require_go() {
  command -v go >/dev/null || die "go not found" "install Go >= $GO_MIN_VERSION (https://go.dev/dl or your distribution)"
  local have; have="$(go env GOVERSION)"; have="${have#go}"
  [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$have" | sort -V | head -1)" == "$GO_MIN_VERSION" ]] ||
    die "Go $have is older than $GO_MIN_VERSION, which the pinned tools need" "install Go >= $GO_MIN_VERSION; GOTOOLCHAIN=local forbids automatic toolchain downloads"
}

# wrapper_module NAME REQUIRE... : prints a fresh wrapper module dir whose go.mod requires the given
# "module version" pairs. Replaces are added by the caller.
wrapper_module() {
  local name="$1"; shift
  local dir="$CACHE/wrappers/$name"
  rm -rf "$dir"; mkdir -p "$dir"
  { echo "module spillway.dev/tools/$name"; echo; echo "go $GO_MIN_VERSION"; echo; for r in "$@"; do echo "require $r"; done; } >"$dir/go.mod"
  echo "$dir"
}

# promote TOOL VERSION STAGE "BINARY SMOKE-ARGS..."...: smoke-checks each built binary, then moves them
# from the staging dir into .tools/bin and writes the stamp.
promote() {
  local tool="$1" version="$2" stage="$3"; shift 3
  local spec b
  for spec in "$@"; do
    b="${spec%% *}"; step "smoke check: $spec"
    # shellcheck disable=SC2086
    run "$stage/$b" ${spec#"$b"}
  done
  step "install"
  for spec in "$@"; do b="${spec%% *}"; mv -f "$stage/$b" "$BIN/$b"; done
  echo "$version" >"$TOOLS/stamps/$tool"
  rm -rf "$stage"
}

tool_apt() {
  local missing=()
  for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  step "apt-get install ${missing[*]}"
  local sudo=""; ((EUID == 0)) || sudo="sudo"
  if [[ -n "$sudo" ]] && ! command -v sudo >/dev/null; then
    die "missing Debian packages: ${missing[*]}" "as root: apt-get install -y ${missing[*]}"
  fi
  run $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive run $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

tool_kube() {
  local v="$KUBERNETES_VERSION" stage="$TOOLS/stage/kube"
  stamp_ok kube "$v" && [[ -x "$BIN/kube-apiserver" && -x "$BIN/kubectl" && -x "$BIN/kubelet" && -x "$BIN/kube-proxy" ]] && return 0
  require_go
  step "fetch k8s.io/kubernetes $v go.mod"
  local dir staging_v="v0.${v#v1.}" mod
  dir="$(wrapper_module kube "k8s.io/kubernetes $v")"
  mod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  # k8s.io/kubernetes points each staging module at ./staging/src/...; a wrapper module must re-point
  # each one to its published v0.x release, or the build cannot resolve them.
  step "write staging replaces"
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$mod" | awk '{print $1}' | while read -r m; do
    echo "replace $m => $m $staging_v" >>"$dir/go.mod"
  done
  [[ "$(grep -c '^replace' "$dir/go.mod")" -gt 20 ]]
  step "go build (control plane, kubelet, kube-proxy, kubectl; ~20-30 min cold on 2 cores)"
  local vpkg=k8s.io/component-base/version minor="${v#v1.}"; minor="${minor%%.*}"
  local ld="-s -w -X $vpkg.gitVersion=$v -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  rm -rf "$stage"; mkdir -p "$stage"
  (cd "$dir" && run go mod edit -require="k8s.io/kubernetes@$v" && GOFLAGS="$GOFLAGS -mod=mod" run go build -ldflags "$ld" -o "$stage/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  promote kube "$v" "$stage" "kube-apiserver --version" "kube-controller-manager --version" \
    "kube-scheduler --version" "kubectl version --client" "kubelet --version" "kube-proxy --version"
}

tool_etcd() {
  local v="$ETCD_VERSION" stage="$TOOLS/stage/etcd"
  stamp_ok etcd "$v" && [[ -x "$BIN/etcd" ]] && return 0
  require_go
  step "write wrapper module"
  local dir; dir="$(wrapper_module etcd "go.etcd.io/etcd/server/v3 $v")"
  # etcd's server module replaces its sibling modules with ../ paths; point them at the same release.
  for m in go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3; do
    echo "replace $m => $m $v" >>"$dir/go.mod"
  done
  step "go build"
  rm -rf "$stage"; mkdir -p "$stage"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" run go build -ldflags "-s -w" -o "$stage/etcd" go.etcd.io/etcd/server/v3)
  promote etcd "$v" "$stage" "etcd --version"
}

# go_install TOOL VERSION PKG BINARY [SMOKE_ARG]: plain `go install` of a module without local replaces.
go_install() {
  local tool="$1" v="$2" pkg="$3" binary="$4" smoke="${5:---version}" stage="$TOOLS/stage/$1"
  stamp_ok "$tool" "$v" && [[ -x "$BIN/$binary" ]] && return 0
  require_go
  step "go install $pkg@$v"
  rm -rf "$stage"; mkdir -p "$stage"
  GOBIN="$stage" run go install -ldflags "-s -w ${LDFLAGS_EXTRA:-}" "$pkg@$v"
  [[ -x "$stage/$binary" ]] || mv "$stage/$(ls "$stage" | head -1)" "$stage/$binary"
  promote "$tool" "$v" "$stage" "$binary $smoke"
}

tool_kwok() { go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok kwok --version; }
tool_opa() { LDFLAGS_EXTRA="-X github.com/open-policy-agent/opa/v1/version.Version=${OPA_VERSION#v}" go_install opa "$OPA_VERSION" github.com/open-policy-agent/opa opa version; }
tool_helm() { LDFLAGS_EXTRA="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm version; }
tool_tflint() { go_install tflint "$TFLINT_VERSION" github.com/terraform-linters/tflint tflint --version; }
# actionlint reads its version from the module's build info, which `go install mod@v` records.
tool_actionlint() { go_install actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint actionlint --version; }
tool_fake-gcs-server() { go_install fake-gcs-server "$FAKE_GCS_SERVER_VERSION" github.com/fsouza/fake-gcs-server fake-gcs-server -help; }

tool_hcloud-provider() {
  # Terraform providers are plugins: run bare they print a notice and exit 1, so the smoke check
  # only confirms the binary executes. The filesystem-mirror layout is done by the infra scripts.
  local v="$HCLOUD_PROVIDER_VERSION" stage="$TOOLS/stage/hcloud-provider" binary="terraform-provider-hcloud"
  stamp_ok hcloud-provider "$v" && [[ -x "$BIN/$binary" ]] && return 0
  require_go
  local mod=github.com/hetznercloud/terraform-provider-hcloud sum
  export GONOSUMDB="$mod"
  step "download $mod@$v"
  sum="$(go mod download -json "$mod@$v" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')"
  step "verify pinned hash ($HCLOUD_PROVIDER_SUM)"
  [[ "$sum" == "$HCLOUD_PROVIDER_SUM" ]] || { echo "got $sum" >>"$TOOLS/logs/$CURRENT_TOOL.log"; false; }
  # A wrapper module, because `go install mod@v` also reads the module's version list (for deprecation
  # notices), which the proxy refuses for this module.
  step "go build"
  local dir; dir="$(wrapper_module hcloud "$mod $v")"
  rm -rf "$stage"; mkdir -p "$stage"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" run go build -ldflags "-s -w" -o "$stage/$binary" "$mod")
  step "smoke check"
  local out; out="$("$stage/$binary" 2>&1 || true)"
  grep -qi 'plugin' <<<"$out"
  mv -f "$stage/$binary" "$BIN/$binary"; echo "$v" >"$TOOLS/stamps/hcloud-provider"; rm -rf "$stage"
}

# cloud_provider NAME MODULE_VERSION: builds github.com/hashicorp/terraform-provider-NAME into
# $CACHE/providers/NAME/<module version>/, where scripts/tofu-mirror.sh finds it. Opt-in: never part of
# ALL_TOOLS.
cloud_provider() {
  local name="$1" v="$2" mod="github.com/hashicorp/terraform-provider-$1"
  local out="$CACHE/providers/$name/$v" binary="terraform-provider-$name"
  [[ -x "$out/$binary" && -f "$out/VERSION" ]] && { echo "$v" >"$TOOLS/stamps/$name-provider"; return 0; }
  require_go
  step "download $mod@$v"
  local dir; dir="$(go mod download -json "$mod@$v" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  step "read the release from CHANGELOG.md"
  local release; release="$(grep -m1 -oE '^## [0-9]+\.[0-9]+\.[0-9]+' "$dir/CHANGELOG.md" | cut -c4-)"
  [[ -n "$release" ]]
  step "go build (aws: 45-90 min on 2 cores)"
  local wrapper; wrapper="$(wrapper_module "$name-provider" "$mod $v")"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  (cd "$wrapper" && GOFLAGS="$GOFLAGS -mod=mod" run go build -ldflags "-s -w" -o "$out.tmp/$binary" "$mod")
  step "smoke check"
  local smoke; smoke="$("$out.tmp/$binary" 2>&1 || true)"
  grep -qi 'plugin' <<<"$smoke"
  echo "$release" >"$out.tmp/VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  echo "$v" >"$TOOLS/stamps/$name-provider"
}
tool_aws-provider() { cloud_provider aws "$AWS_PROVIDER_MODULE_VERSION"; }

# llama.cpp's own server, the reference `npm run bench:inference` compares against: built from the
# llama.cpp source node-llama-cpp's npm package carries (its gitRelease.bundle), so both run the same
# llama.cpp. Opt-in (`npm run tools -- llama-server`), never part of ALL_TOOLS: ~10-20 min on 2 cores.
tool_llama-server() {
  local pkg="$ROOT/node_modules/node-llama-cpp" stage="$TOOLS/stage/llama-server"
  [[ -f "$pkg/llama/gitRelease.bundle" ]] || die "node-llama-cpp's llama.cpp source is missing" "run \`npm ci\` first"
  local v; v="node-llama-cpp-$(node -p "require('$pkg/package.json').version")-$(git bundle list-heads "$pkg/llama/gitRelease.bundle" | cut -c1-12)"
  stamp_ok llama-server "$v" && [[ -x "$BIN/llama-server" ]] && return 0
  command -v cmake >/dev/null && command -v g++ >/dev/null || die "cmake and g++ are needed to build llama-server" "apt-get install cmake g++"
  local src="$CACHE/llama.cpp/$v"
  step "clone the bundled llama.cpp source"
  [[ -d "$src/.git" ]] || { rm -rf "$src"; run git clone --quiet "$pkg/llama/gitRelease.bundle" "$src"; }
  step "cmake configure (Release, this CPU, static, no curl)"
  run cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
  step "cmake build llama-server (10-20 min on 2 cores)"
  run cmake --build "$src/build" --target llama-server -j "$(nproc)"
  rm -rf "$stage"; mkdir -p "$stage"; cp "$src/build/bin/llama-server" "$stage/"
  promote llama-server "$v" "$stage" "llama-server --version"
}

tool_tofu() {
  local v="$OPENTOFU_VERSION" stage="$TOOLS/stage/tofu"
  stamp_ok tofu "$v" && [[ -x "$BIN/tofu" ]] && return 0
  require_go
  step "write wrapper module"
  local dir; dir="$(wrapper_module tofu "github.com/opentofu/opentofu $v")"
  echo "replace $OPENTOFU_HCL_REPLACE" >>"$dir/go.mod"
  step "go build"
  rm -rf "$stage"; mkdir -p "$stage"
  (cd "$dir" && GOFLAGS="$GOFLAGS -mod=mod" run go build \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no -X github.com/opentofu/opentofu/version.Version=${v#v}" \
    -o "$stage/tofu" github.com/opentofu/opentofu/cmd/tofu)
  promote tofu "$v" "$stage" "tofu version"
}

# py_venv_tool TOOL VERSION SPECS BINARY SMOKE [VENV]: pip-installs SPECS (space-separated) into .tools/VENV (default venv)
# and links BINARY into .tools/bin. A tool whose pins clash with another's gets a venv of its own.
py_venv_tool() {
  local tool="$1" v="$2" spec="$3" binary="$4" smoke="$5" venv="${6:-venv}"
  stamp_ok "$tool" "$v" && [[ -x "$TOOLS/$venv/bin/$binary" ]] && return 0
  step "create $venv"
  [[ -x "$TOOLS/$venv/bin/python" ]] || run python3 -m venv "$TOOLS/$venv"
  local specs; read -ra specs <<<"$spec"
  step "pip install $spec"
  run "$TOOLS/$venv/bin/pip" install --disable-pip-version-check -q "${specs[@]}"
  step "pip check"
  run "$TOOLS/$venv/bin/pip" check --disable-pip-version-check
  step "smoke check"
  run "$TOOLS/$venv/bin/$binary" $smoke
  ln -sf "../$venv/bin/$binary" "$BIN/$binary"
  echo "$v" >"$TOOLS/stamps/$tool"
}

tool_moto() { py_venv_tool moto "$MOTO_VERSION" "moto[server]==$MOTO_VERSION" moto_server --help; }
# LocalStack in host mode, without Docker: localstack-core's runtime under its own supervisor, in a venv of
# its own. localstack-core leaves these unpinned and breaks with their current releases: cbor2 6 (no
# cbor2._decoder), pyOpenSSL 25 (no X509.add_extensions) with the cryptography it needs, which moto's
# joserfc cannot share; twisted's TLS wants service_identity. The `localstack` CLI's --host mode cannot
# find this runtime (its 4.14 looks for localstack_cli.runtime), so the supervisor is run directly.
tool_localstack() {
  local v="$LOCALSTACK_VERSION" venv="$TOOLS/venv-localstack"
  stamp_ok localstack "$v" && [[ -x "$venv/bin/localstack-supervisor" ]] && return 0
  step "create venv-localstack"
  [[ -x "$venv/bin/python" ]] || run python3 -m venv "$venv"
  step "pip install localstack-core[runtime]==$v"
  run "$venv/bin/pip" install --disable-pip-version-check -q "localstack-core[runtime]==$v" \
    "cbor2<6" "pyOpenSSL<25" "cryptography<45" service_identity
  step "pip check"
  run "$venv/bin/pip" check --disable-pip-version-check
  step "smoke check"
  run "$venv/bin/python" -c "import localstack.runtime.main, cbor2._decoder, OpenSSL.crypto, service_identity"
  ln -sf ../venv-localstack/bin/localstack-supervisor "$BIN/localstack-supervisor"
  echo "$v" >"$TOOLS/stamps/localstack"
}
# checkov pins boto3 and caps networkx and packaging below what moto needs: its own venv.
tool_checkov() { CKV_SKIP_PACKAGE_UPDATE_CHECK=true py_venv_tool checkov "$CHECKOV_VERSION" "checkov==$CHECKOV_VERSION" checkov --version venv-checkov; }

# Google's Compute Engine API schema for the test bed's Compute stand-in: compute.v1.json, the discovery
# document Google's own Python client ships in its wheel. REST paths, query parameters and JSON shapes as the
# public API has them (the npm client's protos would need the REST mapping rebuilt). Only the one file is
# kept; the wheel is cached outside the clone, keyed by version, and checked against the pinned sha256.
tool_gce-discovery() {
  local v="$GCE_DISCOVERY_CLIENT_VERSION" out="$TOOLS/share/gce/compute.v1.json" stage="$TOOLS/stage/gce-discovery"
  stamp_ok gce-discovery "$v" && [[ -s "$out" ]] && return 0
  local wheel="$CACHE/pypi/google_api_python_client-$v-py3-none-any.whl"
  if ! [[ -f "$wheel" ]] || ! sha256sum -c --status <<<"$GCE_DISCOVERY_WHEEL_SHA256  $wheel"; then
    step "create venv"
    [[ -x "$TOOLS/venv/bin/python" ]] || run python3 -m venv "$TOOLS/venv"
    step "pip download google-api-python-client==$v (hash-checked)"
    rm -rf "$stage"; mkdir -p "$stage" "$CACHE/pypi"
    echo "google-api-python-client==$v --hash=sha256:$GCE_DISCOVERY_WHEEL_SHA256" >"$stage/requirements.txt"
    run "$TOOLS/venv/bin/pip" download --disable-pip-version-check -q --no-deps --only-binary=:all: \
      --require-hashes -r "$stage/requirements.txt" -d "$stage"
    mv -f "$stage/$(basename "$wheel")" "$wheel"
  fi
  step "verify pinned sha256"
  run sha256sum -c <<<"$GCE_DISCOVERY_WHEEL_SHA256  $wheel"
  step "extract compute.v1.json"
  rm -rf "$stage"; mkdir -p "$stage" "$(dirname "$out")"
  run python3 -c 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$wheel" googleapiclient/discovery_cache/documents/compute.v1.json "$stage/compute.v1.json"
  step "smoke check"
  run python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert (d["name"], d["version"]) == ("compute", "v1"); print("revision", d["revision"])' \
    "$stage/compute.v1.json"
  mv -f "$stage/compute.v1.json" "$out"
  echo "$v" >"$TOOLS/stamps/gce-discovery"
  rm -rf "$stage"
}

main() {
  local tools=("$@"); ((${#tools[@]})) || tools=("${ALL_TOOLS[@]}")
  local total_start=$SECONDS
  for t in "${tools[@]}"; do
    declare -F "tool_$t" >/dev/null || die "unknown tool '$t'" "one of: ${ALL_TOOLS[*]} localstack aws-provider llama-server"
    CURRENT_TOOL="$t"; : >"$TOOLS/logs/$t.log"
    local start=$SECONDS before=""
    [[ -f "$TOOLS/stamps/$t" ]] && before="$(cat "$TOOLS/stamps/$t")"
    "tool_$t"
    local after=""; [[ -f "$TOOLS/stamps/$t" ]] && after="$(cat "$TOOLS/stamps/$t")"
    if [[ "$t" == apt ]]; then log "$(printf '%-16s %-10s %4ss' "$t" ok $((SECONDS - start)))"
    elif [[ $((SECONDS - start)) -eq 0 && "$before" == "$after" ]]; then log "$(printf '%-16s %-10s cached' "$t" "$after")"
    else log "$(printf '%-16s %-10s %4ss' "$t" "$after" $((SECONDS - start)))"; fi
  done
  log "all done in $((SECONDS - total_start))s"
}

main "$@"
