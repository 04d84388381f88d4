//! The one place the audit's structured remediation becomes Terraform: HCL for this provider's resources
//! (`pveha_resource`, `pveha_group`, `pveha_rule`, `pveha_guest_startup`, `pveha_ha_settings`), written with the
//! attribute names the provider serves. The `pveha_audit` data source and `pveha audit` both render through it.
//! Rendering only: what to create, and with which values, is the audit's decision.

use std::collections::BTreeSet;
use std::fmt::Write;

use pveha_audit::{Action, Object, Remediation, Report};

/// A Terraform block label from any name (`ct:110` → `ct_110`, `kea-dhcp` → `kea-dhcp`).
pub fn label(name: &str) -> String {
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

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn node_map<'a>(nodes: impl IntoIterator<Item = (&'a String, &'a u32)>) -> String {
    let items: Vec<String> = nodes
        .into_iter()
        .map(|(n, p)| format!("{} = {p}", quote(n)))
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// One resource block: `(attribute, HCL expression)` pairs, aligned like `terraform fmt` aligns them.
fn block(kind: &str, name: &str, attributes: &[(&str, String)]) -> String {
    let width = attributes.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
    let mut s = format!("resource \"{kind}\" \"{}\" {{\n", label(name));
    for (attribute, value) in attributes {
        let _ = writeln!(s, "  {attribute:<width$} = {value}");
    }
    s.push_str("}\n");
    s
}

/// The HCL of one remediation step; `groups` are the PVE 8 groups created by the same fix, referenced by
/// expression so that Terraform creates the group first.
fn render_one(r: &Remediation, groups: &BTreeSet<&str>) -> String {
    match &r.object {
        Object::HaResource {
            sid,
            state,
            max_restart,
            max_relocate,
            group,
            node,
        } => {
            let mut a = vec![("sid", quote(sid))];
            if let Some(s) = state {
                a.push(("state", quote(s)));
            }
            if let Some(n) = max_restart {
                a.push(("max_restart", n.to_string()));
            }
            if let Some(n) = max_relocate {
                a.push(("max_relocate", n.to_string()));
            }
            if let Some(g) = group {
                let value = if groups.contains(g.as_str()) {
                    format!("pveha_group.{}.name", label(g))
                } else {
                    quote(g)
                };
                a.push(("group", value));
            }
            if let Some(n) = node {
                a.push(("node", quote(n)));
            }
            block("pveha_resource", sid, &a)
        }
        Object::HaGroup {
            name,
            nodes,
            restricted,
            comment,
        } => {
            let mut a = vec![("name", quote(name)), ("nodes", node_map(nodes))];
            if *restricted {
                a.push(("restricted", "true".into()));
            }
            a.push(("comment", quote(comment)));
            block("pveha_group", name, &a)
        }
        Object::NodeAffinityRule {
            name,
            resources,
            nodes,
            comment,
        } => block(
            "pveha_rule",
            name,
            &[
                ("name", quote(name)),
                ("type", quote("node-affinity")),
                ("resources", list(resources)),
                ("nodes", node_map(nodes)),
                ("comment", quote(comment)),
            ],
        ),
        Object::ResourceAffinityRule {
            name,
            resources,
            positive,
            comment,
        } => block(
            "pveha_rule",
            name,
            &[
                ("name", quote(name)),
                ("type", quote("resource-affinity")),
                (
                    "affinity",
                    quote(if *positive { "positive" } else { "negative" }),
                ),
                ("resources", list(resources)),
                ("comment", quote(comment)),
            ],
        ),
        Object::GuestStartup { sid, onboot } => {
            let vmid = sid.split_once(':').map_or(sid.as_str(), |(_, v)| v);
            block(
                "pveha_guest_startup",
                sid,
                &[("vmid", vmid.to_string()), ("onboot", onboot.to_string())],
            )
        }
        Object::HaSettings { shutdown_policy } => {
            let mut a = Vec::new();
            if let Some(p) = shutdown_policy {
                a.push(("shutdown_policy", quote(p)));
            }
            block("pveha_ha_settings", "cluster", &a)
        }
    }
}

/// The HCL of a fix, blocks separated by a blank line; `None` when the fix has no step. An update step is written
/// as the whole resource with the values to set: where the object is already managed, merge them into its block.
pub fn hcl(actions: &[Remediation]) -> Option<String> {
    if actions.is_empty() {
        return None;
    }
    let groups: BTreeSet<&str> = actions
        .iter()
        .filter(|r| r.action == Action::Create)
        .filter_map(|r| match &r.object {
            Object::HaGroup { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let blocks: Vec<String> = actions.iter().map(|r| render_one(r, &groups)).collect();
    Some(blocks.join("\n"))
}

/// Fills every finding's `remediation_hcl` from its structured remediation.
pub fn fill(report: &mut Report) {
    for f in &mut report.findings {
        f.remediation_hcl = hcl(&f.remediation_actions);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn labels_are_valid_terraform_identifiers() {
        assert_eq!(label("ct:110"), "ct_110");
        assert_eq!(label("kea-dhcp"), "kea-dhcp");
        assert_eq!(label("1250"), "_1250");
        assert_eq!(label("web (ct:1)"), "web__ct_1_");
    }

    #[test]
    fn a_group_created_by_the_same_fix_is_referenced() {
        let actions = vec![
            Remediation {
                action: Action::Create,
                object: Object::HaGroup {
                    name: "traefik-1".into(),
                    nodes: BTreeMap::from([("pve1".into(), 2), ("pve2".into(), 1)]),
                    restricted: false,
                    comment: "c".into(),
                },
            },
            Remediation {
                action: Action::Create,
                object: Object::HaResource {
                    sid: "ct:110".into(),
                    state: Some("started".into()),
                    max_restart: None,
                    max_relocate: None,
                    group: Some("traefik-1".into()),
                    node: None,
                },
            },
            Remediation {
                action: Action::Create,
                object: Object::HaResource {
                    sid: "ct:121".into(),
                    state: None,
                    max_restart: None,
                    max_relocate: None,
                    group: Some("elsewhere".into()),
                    node: None,
                },
            },
        ];
        let text = hcl(&actions).unwrap_or_default();
        assert!(
            text.contains("  nodes   = { \"pve1\" = 2, \"pve2\" = 1 }"),
            "{text}"
        );
        assert!(
            text.contains("  group = pveha_group.traefik-1.name"),
            "{text}"
        );
        assert!(text.contains("  group = \"elsewhere\""), "{text}");
        assert_eq!(hcl(&[]), None);
    }
}
