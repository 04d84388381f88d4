"""Ansible's community.proxmox HA modules against `pveha sim`: the playbooks in ansible/, each run twice.

Usage: ansible_checks.py URL MAJOR. Each `assert` task in a playbook is one check; prints one line per check and
`N passed, N failed`; exits 1 on a failure. Run with the venv's python (its ansible-playbook sits beside it).
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent / "ansible"
PLAYBOOKS = {8: ["groups.yml", "resources.yml", "teardown.yml"], 9: ["resources.yml", "rules.yml", "teardown.yml"]}
TOKEN = ("root@pam", "terraform", "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b")


def play(book, run, extra, home):
    """The per-task results of one ansible-playbook run (json callback), or an exception text."""
    env = dict(os.environ, ANSIBLE_HOME=home, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(home, "collections"), ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(HERE / book),
           "-e", json.dumps(dict(extra, run=run))]
    out = subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return f"ansible-playbook exited {out.returncode}: {out.stderr.strip() or out.stdout.strip()}"


def main(url, major):
    u = urllib.parse.urlsplit(url)
    pve = dict(api_host=u.hostname, api_port=u.port, api_user=TOKEN[0], api_token_id=TOKEN[1],
               api_token_secret=TOKEN[2], validate_certs=False)
    extra = dict(pve=pve, major=major, ansible_python_interpreter=sys.executable)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as home:
        for book in PLAYBOOKS[major]:
            for run in (1, 2):
                pfx = f"pve{major} {book} run {run}: "
                res = play(book, run, extra, home)
                if isinstance(res, str):
                    print("FAIL " + pfx + res)
                    failed += 1
                    continue
                subject = ""
                for task in (t for p in res["plays"] for t in p["tasks"]):
                    r = task["hosts"].get("localhost", {})
                    if r.get("action") != "ansible.builtin.assert":
                        subject = task["task"]["name"]
                        continue
                    if r.get("skipped"):
                        continue
                    name = f"{subject}: {task['task']['name']}"
                    if r.get("failed"):
                        failed += 1
                        print(f"FAIL {pfx}{name}: {r.get('assertion')} (module said: {prev_msg(res, subject)})")
                    else:
                        passed += 1
                        print(f"ok   {pfx}{name}")
                stats = res["stats"]["localhost"]
                print(f"     {pfx}changed={stats['changed']}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def prev_msg(res, subject):
    """What the module task a failed check looked at returned, to show the divergence."""
    for task in (t for p in res["plays"] for t in p["tasks"]):
        if task["task"]["name"] == subject:
            r = task["hosts"].get("localhost", {})
            return json.dumps({k: r.get(k) for k in ("changed", "failed", "msg") if k in r})
    return "?"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
