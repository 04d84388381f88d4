#!/usr/bin/env bash
# Installs the pinned real clients into tools/realclients (a git-ignored venv; wheels only, hashes required,
# so no package code runs before its hash is checked), starts `pveha sim` on loopback for each PVE major and
# runs the proxmoxer checks, then (on a fresh simulator) the Ansible community.proxmox playbooks, each twice.
# Usage: tests/realclients/run.sh [path/to/pveha]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/target/debug/pveha}
venv=${REALCLIENTS_VENV:-$root/tools/realclients}
req=$root/tests/realclients/requirements.txt
if [ ! -f "$venv/.installed" ] || [ "$req" -nt "$venv/.installed" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # --no-compile: byte-compiling the ansible package's 21,000 files costs more than the checks themselves.
  "$venv/bin/pip" install -q --no-compile --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes -r "$req"
  touch "$venv/.installed"
fi
work=$(mktemp -d)
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
status=0
start_sim() {
  "$bin" sim --snapshot "$root/examples/homelab/cluster-pve$major.json" --listen 127.0.0.1:0 --time-scale 0 \
    >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  for _ in $(seq 1 100); do
    [ "$(wc -l <"$work/sim.out")" -ge 2 ] && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
    sleep 0.1
  done
  url=$(sed -n '1s/^listening on //p' "$work/sim.out")
  [ -n "$url" ] || { echo "simulator did not start" >&2; cat "$work/sim.err" >&2; exit 1; }
}
stop_sim() {
  kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=""
}
for major in 8 9; do
  start_sim
  "$venv/bin/python" "$root/tests/realclients/proxmoxer_checks.py" "$url" "$major" || status=1
  stop_sim
  start_sim
  "$venv/bin/python" "$root/tests/realclients/ansible_checks.py" "$url" "$major" || status=1
  stop_sim
done
exit $status
