"""Ansible's community.proxmox HA modules against `pveha sim`: the playbooks in ansible/, each run twice.

Usage: ansible_checks.py URL MAJOR. Every task names what a real cluster does after ` | expect `:
`changed once` (run 1 changes, run 2 does not), `changed every run`, or `refused: <text in the error>`; a loop's
items are judged one by one. Prints one line per task and run, then `N passed, N failed`; exits 1 on a failure.
Run it with the venv's python: its ansible-playbook sits beside it.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent / "ansible"
# Per major: the playbooks run twice together (run 1, run 2 on the state run 1 left), then teardown twice.
PLAYBOOKS = {8: ["groups.yml", "resources.yml"], 9: ["resources.yml", "rules.yml"]}
TOKEN = ("root@pam", "terraform", "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b")


def play(books, extra, home):
    """The json callback's report of one ansible-playbook run, or the reason there is none."""
    env = dict(os.environ, ANSIBLE_HOME=home, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(home, "collections"), ANSIBLE_NOCOLOR="1")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-e", json.dumps(extra)]
    out = subprocess.run(cmd + [str(HERE / b) for b in books], env=env, cwd=home, capture_output=True, text=True)
    # The callback prints a report after each playbook file, each holding the plays so far: keep the last.
    reports, text, at = [], out.stdout, 0
    try:
        while text[at:].strip():
            report, at = json.JSONDecoder().raw_decode(text, len(text) - len(text[at:].lstrip()))
            reports.append(report)
    except json.JSONDecodeError:
        reports = []
    if len(reports) != len(books):
        return f"ansible-playbook exited {out.returncode}: {(out.stderr.strip() or out.stdout.strip())[-2000:]}"
    return reports[-1]


def judge(expect, result, run):
    """Why a task's result is not what a real cluster gives on this run (None when it is)."""
    if expect.startswith("refused: "):
        want = expect.removeprefix("refused: ")
        return None if result.get("failed") and want in result.get("msg", "") else "not refused with that text"
    if result.get("failed"):
        return "failed"
    if expect == "changed every run":
        return None if result.get("changed") else "unchanged"
    if expect == "changed once":
        return None if bool(result.get("changed")) == (run == 1) else f"changed={result.get('changed')}"
    return "no expectation in the task name"


def main(url, major):
    u = urllib.parse.urlsplit(url)
    pve = dict(api_host=u.hostname, api_port=u.port, api_user=TOKEN[0], api_token_id=TOKEN[1],
               api_token_secret=TOKEN[2], validate_certs=False)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as home:
        for books in (PLAYBOOKS[major], ["teardown.yml"]):
            for run in (1, 2):
                pfx = f"pve{major} {'+'.join(books)} run {run}: "
                extra = dict(pve=pve, major=major, run=run, ansible_python_interpreter=sys.executable)
                report = play(books, extra, home)
                if isinstance(report, str):
                    print("FAIL " + pfx + report)
                    failed += 1
                    continue
                for task in (t for p in report["plays"] for t in p["tasks"]):
                    result = task["hosts"].get("localhost", {})
                    name, _, expect = task["task"]["name"].partition(" | expect ")
                    items = [r for r in result.get("results", [result]) if not r.get("skipped")]
                    if not items:
                        continue
                    why = [w for w in (judge(expect, r, run) for r in items) if w]
                    if why:
                        failed += 1
                        said = [{k: r[k] for k in ("changed", "failed", "msg") if k in r} for r in items]
                        print(f"FAIL {pfx}{name}: expected {expect}, {', '.join(why)}: {json.dumps(said)}")
                    else:
                        passed += 1
                        print(f"ok   {pfx}{name}: {expect}")
                print(f"     {pfx}changed={report['stats']['localhost']['changed']}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
