#!/usr/bin/env bash
# `make demo`: the seed's story on the embedded simulator. A 3-node homelab whose two Traefik
# instances share one node; audit it (including what a planned reboot of that node does), apply the
# blueprint, audit again, then fail that node.
# Leaves nothing running; exits non-zero if any step fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/release"
fixture="$root/examples/homelab/cluster-pve8.json"
work=$(mktemp -d)
sim_pid=""

cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

summary() {
  python3 -c '
import json, sys
r = json.load(sys.stdin)
print("Risk: %s   (%s)" % (r["risk"], ", ".join("%d %s" % (n, s) for s, n in r["counts"].items() if n)))
for f in r["findings"]:
    print("  %-9s %-24s %s" % (f["severity"], f["code"], f["title"]))'
}

# Reads an audit's JSON and prints what a planned reboot of 'proxmox' does; exits 1 unless Traefik's fate is
# the expected one ("lost": no replica runs during the reboot, "kept": one does).
reboot_of_proxmox() {
  python3 -c '
import json, sys
expect = sys.argv[1]
r = json.load(sys.stdin)
row = next((i for i in r["node_reboot_impact"] if i["node"] == "proxmox"), None)
if row is None:
    sys.exit("no planned-reboot row for proxmox")
print("Planned reboot of proxmox (shutdown_policy %s): frozen %s, migrated %s, services lost: %s"
      % (row["policy"], row["frozen"] or "none", row["migrated"] or "none", ", ".join(row["lost_services"]) or "none"))
outage = [f for f in r["findings"] if f["code"] == "reboot-outage" and f["subjects"][:1] == ["proxmox"]]
lost = "traefik" in row["lost_services"]
if lost != (expect == "lost") or (expect == "lost" and not outage):
    sys.exit("expected Traefik %s on a reboot of proxmox" % expect)
print("Traefik is %s." % ("down for the whole reboot (reboot-outage)" if lost else "kept running through it"))' "$1"
}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

terraform_bin() {
  if [ -n "${TF_ACC_TERRAFORM_PATH:-}" ]; then echo "$TF_ACC_TERRAFORM_PATH"
  elif command -v terraform >/dev/null 2>&1; then command -v terraform
  else echo "$root/tools/terraform-1.0.3/terraform"; fi
}
tf=$(terraform_bin)

step "Starting the Proxmox VE simulator with the seed's homelab (PVE 8, 3 nodes, 13 guests)"
"$bin/pveha" sim --snapshot "$fixture" --listen 127.0.0.1:0 --time-scale 10 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 1 100); do
  [ "$(wc -l <"$work/sim.out")" -ge 2 ] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n '1s/^listening on //p' "$work/sim.out")
fingerprint=$(sed -n '2s/^fingerprint //p' "$work/sim.out")
[ -n "$url" ] && [ -n "$fingerprint" ] || { echo "simulator did not start" >&2; cat "$work/sim.err" >&2; exit 1; }
echo "simulator at $url (certificate $fingerprint)"

export PROXMOX_VE_ENDPOINT="$url"
export PROXMOX_VE_API_TOKEN='root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b'
export PROXMOX_VE_TLS_FINGERPRINT="$fingerprint"
sim() { curl -fsS -X "$1" "$url/_sim/$2" -H 'Content-Type: application/json' ${3:+-d "$3"} -k; }

step "Audit before: what the seed's outage report found"
"$bin/pveha" audit --format json >"$work/before.json"
summary <"$work/before.json"

step "Before: what a planned reboot of proxmox does (the seed's outage began with one)"
reboot_of_proxmox lost <"$work/before.json"

step "terraform import + apply of examples/homelab (the blueprint as HCL)"
mirror="$work/mirror/registry.terraform.io/pveha/pveha/0.1.0/linux_amd64"
mkdir -p "$mirror"
cp "$bin/terraform-provider-pveha" "$mirror/terraform-provider-pveha_v0.1.0"
cat >"$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["pveha/*"]
  }
}
RC
cp "$root/examples/homelab/main.tf" "$work/main.tf"
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
(cd "$work" && "$tf" init -input=false -no-color >/dev/null)
# Seven services are HA-managed already: adopt them instead of creating them twice.
for sid in ct:100 ct:113 ct:116 ct:122 ct:131 ct:1250; do
  (cd "$work" && "$tf" import -input=false -no-color "pveha_resource.service[\"$sid\"]" "$sid" >/dev/null)
  echo "imported $sid"
done
(cd "$work" && "$tf" import -input=false -no-color pveha_resource.mqtt_prod ct:130 >/dev/null) && echo "imported ct:130"
(cd "$work" && "$tf" apply -input=false -auto-approve -no-color)

step "Letting the HA manager run its rounds (simulated 2 minutes)"
sim POST advance '{"seconds":120}' && echo

step "Audit after: what remains, and why"
"$bin/pveha" audit --format json >"$work/after.json"
summary <"$work/after.json"

step "After: the same planned reboot of proxmox"
reboot_of_proxmox kept <"$work/after.json"
echo "(pveha audit --format markdown prints the full report with the remediation HCL.)"

step "Drift check: terraform plan -detailed-exitcode (0 = cluster matches the code)"
(cd "$work" && "$tf" plan -input=false -detailed-exitcode -no-color >/dev/null) && echo "no drift"

step "Powering off node 'proxmox' (the node that took everything down in the seed)"
sim POST nodes/proxmox/power '{"on":false}' && echo
sim POST advance '{"seconds":300}' && echo
curl -fsS -k -H "Authorization: PVEAPIToken=$PROXMOX_VE_API_TOKEN" "$url/api2/json/cluster/resources?type=vm" |
  python3 -c '
import json, sys
guests = [g for g in json.load(sys.stdin)["data"] if g.get("name", "").startswith("traefik")]
for g in sorted(guests, key=lambda g: g["vmid"]):
    print("  ct:%-5s %-10s on %-9s %s" % (g["vmid"], g["name"], g["node"], g["status"]))
running = [g for g in guests if g["status"] == "running" and g["node"] != "proxmox"]
sys.exit(0 if len(running) == 2 else 1)'
echo "Both Traefik instances are running on the surviving nodes."

step "Done: stopping the simulator"
