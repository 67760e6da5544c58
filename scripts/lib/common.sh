# Shared helpers for scripts/*.sh. Sourced, not executed.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../versions.env
source "$ROOT/scripts/versions.env"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
# Go caches live outside the repository so a fresh clone reuses them and `git clean` does not wipe them.
CACHE="${SPILLWAY_CACHE:-$HOME/.cache/spillway}"
mkdir -p "$BIN" "$TOOLS/stamps" "$CACHE"

log() { printf '[%s] %s\n' "${LOG_PREFIX:-spillway}" "$*" >&2; }
# die CAUSE FIX: one line naming the cause, one naming the fix.
die() { printf '[%s] ERROR: %s\n' "${LOG_PREFIX:-spillway}" "$1" >&2; [[ -n "${2:-}" ]] && printf '[%s]   fix: %s\n' "${LOG_PREFIX:-spillway}" "$2" >&2; exit "${3:-1}"; }

# port_free PORT: fails when something listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DESC TIMEOUT_S CMD...: polls CMD every 0.2 s.
wait_for() {
  local desc="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
