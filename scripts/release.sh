#!/usr/bin/env bash
# `make release`: the artifacts a Terraform registry, a network mirror or an air-gapped homelab installs from,
# built with cargo alone (no Go toolchain). Output in dist/ (or --out DIR):
#   terraform-provider-pveha_<v>_<os>_<arch>.zip   one per target; holds terraform-provider-pveha_v<v>
#   terraform-provider-pveha_<v>_manifest.json     terraform-registry-manifest.json (protocol versions)
#   terraform-provider-pveha_<v>_SHA256SUMS        the zips and the manifest, as registries expect
#   terraform-provider-pveha_<v>_SHA256SUMS.sig    detached binary signature, only when GPG_FINGERPRINT is set
#   pveha_<v>_<os>_<arch>.tar.gz + pveha_<v>_SHA256SUMS   the CLI (audit, snapshot, sim)
#
# Usage: scripts/release.sh [--out DIR] [--provider-bin PATH [--cli-bin PATH]]
#        scripts/release.sh --version          prints the version (the one place: workspace Cargo.toml)
# --provider-bin packages an already built binary for this machine instead of building: the acceptance test
# packages the debug build this way, through the same code path as a release.
# Targets: RELEASE_TARGETS (rust triples) if set, else x86_64-unknown-linux-gnu plus aarch64-unknown-linux-gnu
# when its rustup target and a cross linker (aarch64-linux-gnu-gcc) are installed; a target named in
# RELEASE_TARGETS that cannot be built is an error, a default one that cannot is skipped with a warning.
# Archives are reproducible: entries carry SOURCE_DATE_EPOCH (default: the last commit's time).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cargo=${CARGO:-cargo}

workspace_version() {
  python3 - "$root/Cargo.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f)["workspace"]["package"]["version"])
EOF
}

die() { echo "release.sh: $*" >&2; exit 1; }

out="$root/dist"
provider_bin=""
cli_bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) workspace_version; exit 0 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --provider-bin) provider_bin=${2:?--provider-bin needs a path}; shift 2 ;;
    --cli-bin) cli_bin=${2:?--cli-bin needs a path}; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

version=$(workspace_version)
name="terraform-provider-pveha_${version}"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 315532800)}

# Terraform's platform name for a rust target triple.
platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu|x86_64-unknown-linux-musl) echo linux_amd64 ;;
    aarch64-unknown-linux-gnu|aarch64-unknown-linux-musl) echo linux_arm64 ;;
    *) die "no Terraform platform known for target $1" ;;
  esac
}

host_triple() { rustc -vV | sed -n 's/^host: //p'; }

# Why `$1` cannot be cross-built here, or nothing when it can.
missing_for() {
  local triple=$1
  [ "$triple" = "$(host_triple)" ] && return 0
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    echo "rust target not installed (rustup target add $triple)"
    return 0
  fi
  case "$triple" in
    aarch64-unknown-linux-gnu)
      command -v aarch64-linux-gnu-gcc >/dev/null || echo "no cross linker (apt-get install gcc-aarch64-linux-gnu)" ;;
  esac
}

# Writes a zip or tar.gz holding one executable, with fixed timestamps and modes so rebuilds hash the same.
archive() {
  python3 - "$@" <<'EOF'
import os, sys, tarfile, time, zipfile
kind, dest, src, member = sys.argv[1:5]
epoch = int(os.environ["SOURCE_DATE_EPOCH"])
tmp = dest + ".part"
if kind == "zip":
    info = zipfile.ZipInfo(member, date_time=time.gmtime(max(epoch, 315532800))[:6])
    info.external_attr = (0o100755 << 16)
    info.create_system = 3  # unix, so the mode above is honoured on extraction
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(tmp, "w") as z, open(src, "rb") as f:
        z.writestr(info, f.read())
else:
    def clean(t):
        t.uid = t.gid = 0
        t.uname = t.gname = ""
        t.mtime = epoch
        t.mode = 0o755
        return t
    import gzip
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=epoch, filename="") as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as t:
            t.add(src, arcname=member, filter=clean)
os.replace(tmp, dest)
EOF
}

mkdir -p "$out"
rm -f "$out/${name}"_* "$out/pveha_${version}"_*

# (target triple, provider binary, cli binary) per platform to package.
builds=()
if [ -n "$provider_bin" ]; then
  [ -x "$provider_bin" ] || die "--provider-bin $provider_bin is not an executable"
  [ -z "$cli_bin" ] || [ -x "$cli_bin" ] || die "--cli-bin $cli_bin is not an executable"
  builds+=("$(host_triple) $provider_bin ${cli_bin:--}")
else
  if [ -n "${RELEASE_TARGETS:-}" ]; then
    explicit=1
    read -r -a targets <<<"$RELEASE_TARGETS"
  else
    explicit=0
    targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)
  fi
  for triple in "${targets[@]}"; do
    platform_of "$triple" >/dev/null
    why=$(missing_for "$triple")
    if [ -n "$why" ]; then
      [ "$explicit" = 1 ] && die "cannot build $triple: $why"
      echo "release.sh: skipping $triple: $why" >&2
      continue
    fi
    env_linker=()
    if [ "$triple" = aarch64-unknown-linux-gnu ] && [ "$(host_triple)" != "$triple" ]; then
      env_linker=(CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
                  CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
                  AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar)
    fi
    echo "release.sh: building $triple" >&2
    (cd "$root" && env "${env_linker[@]}" "$cargo" build --release --locked --target "$triple" \
      -p terraform-provider-pveha -p pveha)
    dir="$root/target/$triple/release"
    builds+=("$triple $dir/terraform-provider-pveha $dir/pveha")
  done
  [ ${#builds[@]} -gt 0 ] || die "no target could be built"
fi

for build in "${builds[@]}"; do
  read -r triple pbin cbin <<<"$build"
  platform=$(platform_of "$triple")
  archive zip "$out/${name}_${platform}.zip" "$pbin" "terraform-provider-pveha_v${version}"
  if [ "$cbin" != "-" ]; then
    archive tar.gz "$out/pveha_${version}_${platform}.tar.gz" "$cbin" "pveha"
  fi
done

cp "$root/terraform-registry-manifest.json" "$out/${name}_manifest.json"
(cd "$out" && sha256sum "${name}"_*.zip "${name}_manifest.json" >"${name}_SHA256SUMS")
if compgen -G "$out/pveha_${version}_*.tar.gz" >/dev/null; then
  (cd "$out" && sha256sum "pveha_${version}"_*.tar.gz >"pveha_${version}_SHA256SUMS")
fi

if [ -n "${GPG_FINGERPRINT:-}" ]; then
  # Registries verify a binary (not armored) detached signature of the SHA256SUMS file.
  gpg --batch --yes --local-user "$GPG_FINGERPRINT" --output "$out/${name}_SHA256SUMS.sig" \
    --detach-sign "$out/${name}_SHA256SUMS"
  gpg --batch --verify "$out/${name}_SHA256SUMS.sig" "$out/${name}_SHA256SUMS" 2>/dev/null \
    || die "the signature just made does not verify"
else
  echo "release.sh: GPG_FINGERPRINT not set; ${name}_SHA256SUMS is not signed" >&2
fi

(cd "$out" && find . -maxdepth 1 -type f \( -name "${name}_*" -o -name "pveha_${version}_*" \) -printf '%f\n' | sort)
