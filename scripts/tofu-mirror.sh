#!/usr/bin/env bash
# Lays out the Terraform providers built from source as an OpenTofu filesystem mirror and writes a CLI
# config that installs providers only from it, so `tofu init` (and `cdktf deploy`) never reach a registry.
#
#   scripts/tofu-mirror.sh      prints the CLI config path; use it as TF_CLI_CONFIG_FILE
#
# hcloud comes from `npm run tools`; aws only when built (`npm run tools:providers`). A provider that is
# absent is simply not in the mirror, so `tofu init` names it as missing.
LOG_PREFIX=tofu-mirror
source "$(dirname "$0")/lib/common.sh"

MIRROR="$TOOLS/tofu-mirror"
RC="$TOOLS/tofurc"
# Unqualified sources ("aws", "hetznercloud/hcloud") resolve to this host in OpenTofu.
HOST=registry.opentofu.org

# link NAMESPACE TYPE VERSION BINARY: the "unpacked" mirror layout, HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/.
link() {
  local dir="$MIRROR/$HOST/$1/$2/$3/linux_amd64"
  mkdir -p "$dir"
  ln -sfn "$4" "$dir/terraform-provider-$2_v$3"
}

rm -rf "$MIRROR"
[[ -x "$BIN/terraform-provider-hcloud" ]] || die "terraform-provider-hcloud is not built" "npm run tools"
link hetznercloud hcloud "${HCLOUD_PROVIDER_VERSION#v}" "$BIN/terraform-provider-hcloud"
built="$CACHE/providers/aws/$AWS_PROVIDER_MODULE_VERSION"
[[ -x "$built/terraform-provider-aws" ]] && link hashicorp aws "$(cat "$built/VERSION")" "$built/terraform-provider-aws"

cat >"$RC" <<RC
# Written by scripts/tofu-mirror.sh: providers come only from the local mirror.
provider_installation {
  filesystem_mirror {
    path = "$MIRROR"
  }
}
RC
echo "$RC"
