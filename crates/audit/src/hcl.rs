//! HCL for the pveha resources that fix a finding (`pveha_resource`, `pveha_group`, `pveha_rule`,
//! `pveha_guest_startup`), rendered as text with the provider's attribute names. Rendering only; no decisions.

use std::fmt::Write;

use pveha_model::Sid;

/// A Terraform block label from any name (`ct:110` → `ct_110`, `kea-dhcp` → `kea-dhcp`).
pub(crate) fn label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn sid_list(sids: &[Sid]) -> String {
    let items: Vec<String> = sids.iter().map(|s| quote(&s.to_string())).collect();
    format!("[{}]", items.join(", "))
}

fn node_map(nodes: &[(String, u32)]) -> String {
    let items: Vec<String> = nodes
        .iter()
        .map(|(n, p)| format!("{} = {p}", quote(n)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// A `pveha_resource` putting a guest under HA, optionally in a PVE 8 group.
pub(crate) fn ha_resource(sid: &Sid, group: Option<&str>) -> String {
    let mut s = format!(
        "resource \"pveha_resource\" \"{}\" {{\n",
        label(&sid.to_string())
    );
    let _ = writeln!(s, "  sid          = {}", quote(&sid.to_string()));
    s.push_str("  state        = \"started\"\n  max_restart  = 3\n  max_relocate = 2\n");
    if let Some(group) = group {
        let _ = writeln!(s, "  group        = pveha_group.{}.name", label(group));
    }
    s.push_str("}\n");
    s
}

/// A `pveha_resource` that moves an HA service to `node`.
pub(crate) fn ha_resource_on(sid: &Sid, node: &str) -> String {
    format!(
        "resource \"pveha_resource\" \"{}\" {{\n  sid  = {}\n  node = {}\n}}\n",
        label(&sid.to_string()),
        quote(&sid.to_string()),
        quote(node)
    )
}

/// A PVE 8 `pveha_group`.
pub(crate) fn group(
    name: &str,
    nodes: &[(String, u32)],
    restricted: bool,
    comment: &str,
) -> String {
    let mut s = format!("resource \"pveha_group\" \"{}\" {{\n", label(name));
    let _ = writeln!(s, "  name       = {}", quote(name));
    let _ = writeln!(s, "  nodes      = {}", node_map(nodes));
    if restricted {
        s.push_str("  restricted = true\n");
    }
    let _ = writeln!(s, "  comment    = {}", quote(comment));
    s.push_str("}\n");
    s
}

/// A PVE 9 resource-affinity `pveha_rule`.
pub(crate) fn resource_affinity_rule(
    name: &str,
    sids: &[Sid],
    positive: bool,
    comment: &str,
) -> String {
    let mut s = format!("resource \"pveha_rule\" \"{}\" {{\n", label(name));
    let _ = writeln!(s, "  name      = {}", quote(name));
    s.push_str("  type      = \"resource-affinity\"\n");
    let _ = writeln!(
        s,
        "  affinity  = \"{}\"",
        if positive { "positive" } else { "negative" }
    );
    let _ = writeln!(s, "  resources = {}", sid_list(sids));
    let _ = writeln!(s, "  comment   = {}", quote(comment));
    s.push_str("}\n");
    s
}

/// A PVE 9 node-affinity `pveha_rule`.
pub(crate) fn node_affinity_rule(
    name: &str,
    sids: &[Sid],
    nodes: &[(String, u32)],
    comment: &str,
) -> String {
    let mut s = format!("resource \"pveha_rule\" \"{}\" {{\n", label(name));
    let _ = writeln!(s, "  name      = {}", quote(name));
    s.push_str("  type      = \"node-affinity\"\n");
    let _ = writeln!(s, "  resources = {}", sid_list(sids));
    let _ = writeln!(s, "  nodes     = {}", node_map(nodes));
    let _ = writeln!(s, "  comment   = {}", quote(comment));
    s.push_str("}\n");
    s
}

/// A `pveha_guest_startup` turning `onboot` on.
pub(crate) fn guest_onboot(sid: &Sid) -> String {
    format!(
        "resource \"pveha_guest_startup\" \"{}\" {{\n  vmid   = {}\n  onboot = true\n}}\n",
        label(&sid.to_string()),
        sid.vmid
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_valid_terraform_identifiers() {
        assert_eq!(label("ct:110"), "ct_110");
        assert_eq!(label("kea-dhcp"), "kea-dhcp");
        assert_eq!(label("1250"), "_1250");
        assert_eq!(label("web (ct:1)"), "web__ct_1_");
    }

    #[test]
    fn resource_names_its_group_by_reference() {
        let sid: Sid = "ct:110".parse().unwrap();
        let hcl = ha_resource(&sid, Some("traefik-a"));
        assert!(hcl.contains("sid          = \"ct:110\""), "{hcl}");
        assert!(
            hcl.contains("group        = pveha_group.traefik-a.name"),
            "{hcl}"
        );
    }
}
