#!/usr/bin/env python3
"""Lays release zips (scripts/release.sh output) out as a Terraform provider mirror.

  mirror.py network    DIST OUT   the provider network mirror protocol, as static files: serve OUT over HTTPS
                                  and set provider_installation { network_mirror { url = "https://host/" } }
  mirror.py filesystem DIST OUT   a filesystem mirror in the packed layout (the zips themselves), for
                                  provider_installation { filesystem_mirror { path = "OUT" } } on an
                                  air-gapped machine

Both check every zip against DIST's SHA256SUMS first and refuse a mismatch, so a mirror never publishes a
package its release did not sum. The network layout is, under OUT:
  <hostname>/<namespace>/<type>/index.json        {"versions": {"<v>": {}, ...}}, merged with what is there
  <hostname>/<namespace>/<type>/<v>.json          {"archives": {"<os>_<arch>": {"url": <zip>, "hashes": ["zh:..."]}}}
  <hostname>/<namespace>/<type>/<zip>             urls are relative to the JSON document, so OUT can be served
                                                  under any base URL
The packed filesystem layout is <hostname>/<namespace>/<type>/terraform-provider-<type>_<v>_<os>_<arch>.zip.
The hostname and namespace are the provider's source address (registry.terraform.io/pveha/pveha by default).
Standard library only.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile

ZIP_NAME = re.compile(r"^terraform-provider-(?P<type>[a-z0-9-]+)_(?P<version>[^_]+)_(?P<os>[a-z0-9]+)_(?P<arch>[a-z0-9]+)\.zip$")


class MirrorError(Exception):
    """A release directory that cannot be mirrored, with the reason."""


def sha256_of(path):
    """The lowercase hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_sums(path):
    """SHA256SUMS as {file name: hex digest}."""
    sums = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def release_packages(dist, provider_type):
    """The zips in `dist` with their version, platform and checked digest, from each version's SHA256SUMS."""
    packages = []
    sums_cache = {}
    for entry in sorted(os.listdir(dist)):
        m = ZIP_NAME.match(entry)
        if not m or m["type"] != provider_type:
            continue
        version = m["version"]
        sums_file = os.path.join(dist, f"terraform-provider-{provider_type}_{version}_SHA256SUMS")
        if sums_file not in sums_cache:
            if not os.path.isfile(sums_file):
                raise MirrorError(f"{entry} has no {os.path.basename(sums_file)} beside it")
            sums_cache[sums_file] = read_sums(sums_file)
        expected = sums_cache[sums_file].get(entry)
        if expected is None:
            raise MirrorError(f"{entry} is not listed in {os.path.basename(sums_file)}")
        actual = sha256_of(os.path.join(dist, entry))
        if actual != expected:
            raise MirrorError(f"{entry} has SHA-256 {actual}, but {os.path.basename(sums_file)} says {expected}")
        packages.append({"file": entry, "version": version, "platform": f"{m['os']}_{m['arch']}", "sha256": actual})
    if not packages:
        raise MirrorError(f"no terraform-provider-{provider_type}_*.zip in {dist}")
    return packages


def write_json(path, value):
    """Writes JSON atomically, so a server never hands out half a document."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def load_json(path, key):
    """The object under `key` of an existing index document, or {} when there is none yet."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f).get(key, {})
    except FileNotFoundError:
        return {}
    except (ValueError, AttributeError) as e:
        raise MirrorError(f"{path} exists but is not a mirror index: {e}") from e
    if not isinstance(value, dict):
        raise MirrorError(f"{path}: {key!r} is not an object")
    return value


def copy_into(src, dest_dir):
    dest = os.path.join(dest_dir, os.path.basename(src))
    shutil.copyfile(src, dest + ".part")
    os.replace(dest + ".part", dest)


def network(dist, out, address):
    """Writes the network mirror; returns the provider directory under `out`."""
    hostname, namespace, provider_type = address
    base = os.path.join(out, hostname, namespace, provider_type)
    os.makedirs(base, exist_ok=True)
    packages = release_packages(dist, provider_type)
    by_version = {}
    for p in packages:
        copy_into(os.path.join(dist, p["file"]), base)
        by_version.setdefault(p["version"], []).append(p)
    for version, pkgs in by_version.items():
        doc = os.path.join(base, f"{version}.json")
        archives = load_json(doc, "archives")
        for p in pkgs:
            archives[p["platform"]] = {"url": p["file"], "hashes": [f"zh:{p['sha256']}"]}
        write_json(doc, {"archives": archives})
    index = os.path.join(base, "index.json")
    versions = load_json(index, "versions")
    for version in by_version:
        versions[version] = {}
    write_json(index, {"versions": versions})
    return base


def filesystem(dist, out, address):
    """Writes the packed filesystem mirror; returns the provider directory under `out`."""
    hostname, namespace, provider_type = address
    base = os.path.join(out, hostname, namespace, provider_type)
    os.makedirs(base, exist_ok=True)
    for p in release_packages(dist, provider_type):
        copy_into(os.path.join(dist, p["file"]), base)
    return base


def parse_address(text):
    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not hostname/namespace/type")
    return tuple(parts)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("layout", choices=["network", "filesystem"])
    parser.add_argument("dist", help="the release directory (scripts/release.sh --out)")
    parser.add_argument("out", help="the mirror directory to create or add to")
    parser.add_argument("--address", type=parse_address, default=("registry.terraform.io", "pveha", "pveha"),
                        help="the provider's source address (default registry.terraform.io/pveha/pveha)")
    args = parser.parse_args(argv)
    try:
        base = (network if args.layout == "network" else filesystem)(args.dist, args.out, args.address)
    except (MirrorError, OSError) as e:
        print(f"mirror.py: {e}", file=sys.stderr)
        return 1
    print(base)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
