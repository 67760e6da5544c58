# Podman with the project's configuration. Sourced after common.sh.
export CONTAINERS_CONF="$ROOT/images/podman/containers.conf"
command -v podman >/dev/null || die "podman not found" "run \`npm run tools\` (installs podman, runc, iptables, debootstrap from Debian)"
