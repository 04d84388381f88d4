# The HA audit of the cluster, recomputed at every plan.
data "pveha_audit" "ha" {
  critical_tags          = ["critical"]
  critical_name_patterns = ["^traefik"]
  services = {
    dns = [1250, 116] # adguard, adguard-2
  }
  journal_window = "24h"

  # Uncomment to make `terraform plan` fail in CI while any critical finding remains:
  # fail_on = "critical"
}

# Critical findings always appear as warnings in plan output; this check block also reports them as a
# failed check (Terraform >= 1.5), with the list of codes.
check "no_critical_ha_findings" {
  assert {
    condition     = data.pveha_audit.ha.counts.critical == 0
    error_message = "HA audit risk ${data.pveha_audit.ha.risk}: critical findings ${join(", ", [for f in data.pveha_audit.ha.findings : f.code if f.severity == "critical"])}."
  }
}

output "risk" {
  value = data.pveha_audit.ha.risk
}

# The Markdown report, e.g. for a CI artifact: terraform output -raw audit_report > audit.md
output "audit_report" {
  value = data.pveha_audit.ha.report
}
