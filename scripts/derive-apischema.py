#!/usr/bin/env python3
"""Derive the compact API description the simulator's conformance test reads.

The official Proxmox VE API schema (pve-docs' apidata.js, as JSON) is large and not part of this
repository, so a bare clone could not run the conformance test. This script keeps, for the paths the
simulator serves or the client calls, only the facts the tests check (parameter names, types, formats,
enums, optional, bounds, patterns, defaults and the shape of what is returned) in our own sorted format.

Usage: scripts/derive-apischema.py PVE8_SCHEMA.json PVE9_SCHEMA.json [OUT_DIR]
OUT_DIR defaults to crates/sim/tests/apischema. Standard library only.
"""

import json
import os
import sys

FORMAT = "pveha-apischema/1"

# (method, path) the simulator serves or the client calls; a path absent from one version is skipped.
ENDPOINTS = [
    ("POST", "/access/ticket"),
    ("GET", "/version"),
    ("GET", "/cluster/status"),
    ("GET", "/cluster/resources"),
    ("GET", "/cluster/nextid"),
    ("GET", "/cluster/options"),
    ("PUT", "/cluster/options"),
    ("GET", "/cluster/backup"),
    ("GET", "/cluster/backup/{id}"),
    ("GET", "/cluster/replication"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{node}/journal"),
    ("GET", "/nodes/{node}/syslog"),
    ("GET", "/nodes/{node}/lxc"),
    ("GET", "/nodes/{node}/qemu"),
    ("GET", "/nodes/{node}/lxc/{vmid}/config"),
    ("PUT", "/nodes/{node}/lxc/{vmid}/config"),
    ("GET", "/nodes/{node}/lxc/{vmid}/status/current"),
    ("GET", "/nodes/{node}/qemu/{vmid}/config"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"),
    ("POST", "/nodes/{node}/qemu/{vmid}/config"),
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"),
    ("GET", "/cluster/ha"),
    ("GET", "/cluster/ha/status"),
    ("GET", "/cluster/ha/status/current"),
    ("GET", "/cluster/ha/status/manager_status"),
    ("GET", "/cluster/ha/groups"),
    ("POST", "/cluster/ha/groups"),
    ("GET", "/cluster/ha/groups/{group}"),
    ("PUT", "/cluster/ha/groups/{group}"),
    ("DELETE", "/cluster/ha/groups/{group}"),
    ("GET", "/cluster/ha/resources"),
    ("POST", "/cluster/ha/resources"),
    ("GET", "/cluster/ha/resources/{sid}"),
    ("PUT", "/cluster/ha/resources/{sid}"),
    ("DELETE", "/cluster/ha/resources/{sid}"),
    ("POST", "/cluster/ha/resources/{sid}/migrate"),
    ("POST", "/cluster/ha/resources/{sid}/relocate"),
    ("GET", "/cluster/ha/rules"),
    ("POST", "/cluster/ha/rules"),
    ("GET", "/cluster/ha/rules/{rule}"),
    ("PUT", "/cluster/ha/rules/{rule}"),
    ("DELETE", "/cluster/ha/rules/{rule}"),
]

# Scalar facts kept verbatim from a schema node.
SCALARS = (
    "type", "format", "enum", "minimum", "maximum", "maxLength", "pattern", "default", "default_key", "requires",
)
# Nesting kept for return values; deeper levels only keep their type.
MAX_DEPTH = 3


# Property-string options the simulator parses itself (the rest it stores verbatim): their keys keep their facts.
PARSED_FORMATS = {("/cluster/options", "ha"), ("/cluster/options", "crs"), ("/cluster/options", "migration")}


def compact(node, depth=0, detail=False):
    """The facts of one schema node, without prose; `detail` keeps a property-string format's per-key facts."""
    out = {}
    if not isinstance(node, dict):
        return out
    for key in SCALARS:
        if key not in node:
            continue
        value = node[key]
        if key == "format" and isinstance(value, dict):
            # A property-string format: its key names, and for the options the simulator parses, each key's facts.
            keys = {"keys": sorted(value)}
            if detail:
                keys["properties"] = {k: compact(v, MAX_DEPTH) for k, v in sorted(value.items())}
            value = keys
        out[key] = value
    if "optional" in node:
        out["optional"] = node["optional"] == 1
    if depth < MAX_DEPTH:
        if isinstance(node.get("items"), dict):
            out["items"] = compact(node["items"], depth + 1)
        if isinstance(node.get("properties"), dict):
            out["properties"] = {
                k: compact(v, depth + 1) for k, v in sorted(node["properties"].items())
            }
    return out


def derive(official):
    """The compact description of ENDPOINTS present in one official schema document."""
    paths = {}
    for method, path in ENDPOINTS:
        entry = official["paths"].get(path, {}).get(method)
        if entry is None:
            continue
        params = entry.get("parameters") or {}
        item = {
            "additionalProperties": params.get("additionalProperties", 1) == 1,
            "parameters": {
                name: compact(spec, detail=(path, name) in PARSED_FORMATS)
                for name, spec in sorted((params.get("properties") or {}).items())
            },
        }
        if "returns" in entry:
            item["returns"] = compact(entry["returns"])
        paths.setdefault(path, {})[method] = item
    return {
        "format": FORMAT,
        "source": official.get("source", ""),
        "paths": {p: dict(sorted(m.items())) for p, m in sorted(paths.items())},
    }


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    out_dir = argv[3] if len(argv) == 4 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "crates", "sim", "tests", "apischema"
    )
    os.makedirs(out_dir, exist_ok=True)
    for name, src in (("pve8.json", argv[1]), ("pve9.json", argv[2])):
        with open(src, encoding="utf-8") as f:
            official = json.load(f)
        doc = derive(official)
        dest = os.path.join(out_dir, name)
        with open(dest, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        print(f"{dest}: {sum(len(m) for m in doc['paths'].values())} endpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
