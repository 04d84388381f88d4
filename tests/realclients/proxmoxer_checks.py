"""proxmoxer 2.x against `pveha sim`: what a script written for a real cluster relies on.

Usage: proxmoxer_checks.py URL MAJOR. Prints one line per check and `N passed, N failed`; exits 1 on a failure.
"""

import sys
import urllib.parse

import urllib3
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException

urllib3.disable_warnings()  # loopback simulator with a self-signed certificate

TOKEN = ("root@pam", "terraform", "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b")
PASSWORD = ("root@pam", "homelab-demo")

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))


def refused(call):
    """The ResourceException a call raises (None when it succeeds)."""
    try:
        call()
    except ResourceException as e:
        return e
    return None


def main(url, major):
    u = urllib.parse.urlsplit(url)
    common = dict(host=u.hostname, port=u.port, verify_ssl=False)
    tok = ProxmoxAPI(user=TOKEN[0], token_name=TOKEN[1], token_value=TOKEN[2], **common)
    pw = ProxmoxAPI(user=PASSWORD[0], password=PASSWORD[1], **common)
    pfx = f"pve{major}: "

    check(pfx + "version with a token", tok.version.get()["version"].startswith(str(major)))
    check(pfx + "version with a ticket", pw.version.get()["version"].startswith(str(major)))
    try:
        ProxmoxAPI(user="root@pam", password="wrong", **common)
        check(pfx + "a wrong password is refused", False, "logged in")
    except AuthenticationError:
        check(pfx + "a wrong password is refused", True)

    res = tok.cluster.ha.resources
    sids = [r["sid"] for r in res.get()]
    check(pfx + "HA resources listed", "ct:100" in sids, sids)
    res.post(sid="ct:110", state="started", max_restart=2, comment="web")
    got = res("ct:110").get()
    check(pfx + "resource created as given", (got["state"], got["max_restart"], got["comment"]) == ("started", 2, "web"), got)
    res("ct:110").put(comment="")
    check(pfx + "an empty comment clears it", "comment" not in res("ct:110").get())
    dup = refused(lambda: res.post(sid="ct:110"))
    check(pfx + "a duplicate resource is a 500 with the real text",
          dup is not None and dup.status_code == 500 and "already defined" in dup.content, dup)
    missing = refused(lambda: res("ct:999").get())
    check(pfx + "a missing resource is a 500 'no such resource'",
          missing is not None and missing.status_code == 500 and "no such resource" in missing.content, missing)
    badstate = refused(lambda: res("ct:110").put(state="sideways"))
    check(pfx + "a bad enum is a 400 naming the parameter",
          badstate is not None and badstate.status_code == 400 and "state" in (badstate.errors or {}), badstate)
    try:
        moved = tok.cluster.ha.resources("ct:110").migrate.post(node="nosuchnode")
        check(pfx + "migrate to an unknown node is queued",
              moved is None or moved.get("requested-node") == "nosuchnode", moved)
    except ResourceException as e:
        check(pfx + "migrate to an unknown node is queued", False, e)

    if major == 8:
        groups = tok.cluster.ha.groups
        groups.post(group="rc", nodes="proxmox:2,proxmox2", restricted=1)
        g = groups("rc").get()
        check(pfx + "group created", g["restricted"] == 1 and sorted(g["nodes"].split(",")) == ["proxmox2", "proxmox:2"], g)
        groups("rc").put(comment="x", delete="comment")
        check(pfx + "set and delete of one key deletes", "comment" not in groups("rc").get())
        groups("rc").delete()
        check(pfx + "group deleted", "rc" not in [x["group"] for x in groups.get()])
    else:
        rules = tok.cluster.ha.rules
        rules.post(rule="rc", type="node-affinity", resources="ct:110", nodes="proxmox:2,proxmox2")
        r = rules("rc").get()
        check(pfx + "rule created", sorted(r["nodes"].split(",")) == ["proxmox2", "proxmox:2"] and r["order"] >= 1, r)
        unmanaged = refused(lambda: rules.post(rule="rx", type="node-affinity", resources="ct:121", nodes="proxmox"))
        check(pfx + "an unmanaged resource is a 500 'create ha rule failed'",
              unmanaged is not None and unmanaged.status_code == 500
              and "create ha rule failed: cannot use unmanaged resource(s) ct:121." in unmanaged.content, unmanaged)
        both = refused(lambda: rules("rc").put(type="node-affinity", comment="x", delete="comment"))
        check(pfx + "set and delete of one key is refused",
              both is not None and "cannot set and delete property 'comment'" in both.content, both)
        orders = sorted(x["order"] for x in rules.get())
        check(pfx + "rule order is 1..N", orders == list(range(1, len(orders) + 1)), orders)
        rules("rc").delete()
        check(pfx + "rule deleted", "rc" not in [x["rule"] for x in rules.get()])

    res("ct:110").delete()
    check(pfx + "resource deleted", "ct:110" not in [r["sid"] for r in res.get()])
    lxc = tok.nodes("proxmox").lxc.get()
    check(pfx + "node container list", 110 in [g["vmid"] for g in lxc], lxc)
    st = tok.nodes("proxmox2").lxc(100).status.current.get()
    check(pfx + "guest status with HA state", st["ha"]["managed"] == 1 and st["status"] == "running", st)
    check(pfx + "next free VMID", int(tok.cluster.nextid.get()) == 101)
    nohere = refused(lambda: tok.nodes("proxmox").lxc(100).config.get())
    check(pfx + "a guest on another node is a 500", nohere is not None and nohere.status_code == 500, nohere)

    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
