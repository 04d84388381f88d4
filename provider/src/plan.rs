//! Reading a saved Terraform plan (`terraform show -json tfplan`, format 1.x, or 0.2 from Terraform 1.0) into the audit's planned changes in
//! Proxmox terms. This is where the attribute names of this provider's resources meet the audit's vocabulary, so
//! `pveha review` and a later provider feature read plans the same way. Resources of other providers are counted,
//! not read.

use std::collections::{BTreeMap, BTreeSet};

use pveha_audit::plan::{
    ChangeAction, GroupSpec, HaResourceSpec, PlannedChange, PlannedObject, RuleSpec, SettingsSpec,
    StartupSpec,
};
use serde_json::Value;

/// Why a file is not a plan this reader understands.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Not JSON (often a truncated file).
    #[error(
        "the plan is not valid JSON ({0}); was it written completely by `terraform show -json`?"
    )]
    Syntax(#[from] serde_json::Error),
    /// JSON, but no `format_version`: not a `terraform show -json` document.
    #[error("the file is not a Terraform JSON plan (no format_version); write it with `terraform show -json tfplan`")]
    NotAPlan,
    /// Another major format version.
    #[error("the plan's format_version is '{0}', this pveha reads 1.x (and Terraform 1.0's 0.2)")]
    Version(String),
    /// A `terraform show -json` of a state, not of a saved plan.
    #[error("the file is a Terraform state, not a plan (no planned_values); run `terraform plan -out tfplan` first")]
    State,
    /// A change of one of this provider's resources that does not have the expected shape.
    #[error("{address}: {message}")]
    Malformed {
        /// The resource address.
        address: String,
        /// What is wrong.
        message: String,
    },
}

/// The planned changes of this provider's resources, and how many of other providers' were left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedPlan {
    /// The `terraform_version` that wrote the plan.
    pub terraform_version: Option<String>,
    /// Changes of `pveha_*` resources that do something (no-op and read are left out).
    pub changes: Vec<PlannedChange>,
    /// Managed resources of other providers (any action).
    pub other_providers: usize,
}

/// Parses `terraform show -json` output.
pub fn parse(text: &str) -> Result<ParsedPlan, PlanError> {
    let doc: Value = serde_json::from_str(text)?;
    let version = doc
        .get("format_version")
        .and_then(Value::as_str)
        .ok_or(PlanError::NotAPlan)?;
    // Terraform 1.0 writes 0.2, the same document that 1.1 declared stable as 1.0.
    if version.split('.').next() != Some("1") && version != "0.2" {
        return Err(PlanError::Version(version.to_string()));
    }
    if doc.get("planned_values").is_none() && doc.get("resource_changes").is_none() {
        return Err(PlanError::State);
    }
    let mut plan = ParsedPlan {
        terraform_version: doc
            .get("terraform_version")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..ParsedPlan::default()
    };
    for rc in doc
        .get("resource_changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if rc.get("mode").and_then(Value::as_str) == Some("data") {
            continue;
        }
        let address = rc
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let kind = rc.get("type").and_then(Value::as_str).unwrap_or_default();
        if !kind.starts_with("pveha_") {
            plan.other_providers += 1;
            continue;
        }
        if let Some(change) = parse_change(&address, kind, rc.get("change"))? {
            plan.changes.push(change);
        }
    }
    Ok(plan)
}

fn malformed(address: &str, message: impl Into<String>) -> PlanError {
    PlanError::Malformed {
        address: address.to_string(),
        message: message.into(),
    }
}

fn parse_change(
    address: &str,
    kind: &str,
    change: Option<&Value>,
) -> Result<Option<PlannedChange>, PlanError> {
    let change = change.ok_or_else(|| malformed(address, "the change has no `change` object"))?;
    let actions: Vec<&str> = change
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(address, "the change has no actions"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let action = match actions.as_slice() {
        ["create"] => ChangeAction::Create,
        ["update"] => ChangeAction::Update,
        ["delete"] => ChangeAction::Delete,
        ["delete", "create"] | ["create", "delete"] => ChangeAction::Replace,
        ["no-op"] | ["read"] | [] => return Ok(None),
        other => return Err(malformed(address, format!("unknown actions {other:?}"))),
    };
    let unknown_doc = change.get("after_unknown").cloned().unwrap_or(Value::Null);
    let is_unknown = |attr: &str| {
        unknown_doc
            .get(attr)
            .is_some_and(|v| v != &Value::Bool(false))
    };
    let read = |side: &str| -> Result<Option<PlannedObject>, PlanError> {
        match change.get(side) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => object(address, kind, v, side == "after", &is_unknown).map(Some),
        }
    };
    let before = read("before")?;
    let after = read("after")?;
    if before.is_none() && after.is_none() {
        return Ok(None);
    }
    let mut unknown = BTreeSet::new();
    if after.is_some() {
        for (tf, pve) in attribute_names(kind) {
            if is_unknown(tf) && !COMPUTED_ONLY.contains(&(kind, *tf)) {
                unknown.insert((*pve).to_string());
            }
        }
    }
    Ok(Some(PlannedChange {
        address: address.to_string(),
        action,
        before,
        after,
        unknown,
    }))
}

/// Attributes that are unknown in every create because the server computes them; not worth a note, and their
/// absence means "no move requested".
const COMPUTED_ONLY: &[(&str, &str)] = &[("pveha_resource", "node")];

/// Terraform attribute → Proxmox attribute, per resource type (only those the audit reads).
fn attribute_names(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "pveha_resource" => &[
            ("sid", "sid"),
            ("state", "state"),
            ("group", "group"),
            ("max_restart", "max_restart"),
            ("max_relocate", "max_relocate"),
            ("failback", "failback"),
            ("comment", "comment"),
            ("node", "node"),
        ],
        "pveha_group" => &[
            ("name", "group"),
            ("nodes", "nodes"),
            ("restricted", "restricted"),
            ("nofailback", "nofailback"),
            ("comment", "comment"),
        ],
        "pveha_rule" => &[
            ("name", "rule"),
            ("resources", "resources"),
            ("nodes", "nodes"),
            ("strict", "strict"),
            ("affinity", "affinity"),
            ("enabled", "disable"),
            ("comment", "comment"),
        ],
        "pveha_guest_startup" => &[
            ("vmid", "vmid"),
            ("onboot", "onboot"),
            ("order", "order"),
            ("up", "up"),
            ("down", "down"),
        ],
        "pveha_ha_settings" => &[
            ("shutdown_policy", "shutdown_policy"),
            ("crs", "crs"),
            ("rebalance_on_start", "rebalance_on_start"),
            ("fencing", "fencing"),
        ],
        _ => &[],
    }
}

/// One side of a change as the audit's object; on the `after` side unknown attributes read as unset.
fn object(
    address: &str,
    kind: &str,
    v: &Value,
    after: bool,
    is_unknown: &dyn Fn(&str) -> bool,
) -> Result<PlannedObject, PlanError> {
    let known = |attr: &str| {
        if after && is_unknown(attr) {
            None
        } else {
            v.get(attr).filter(|x| !x.is_null())
        }
    };
    let text = |attr: &str| known(attr).and_then(Value::as_str).map(str::to_string);
    let num = |attr: &str| known(attr).and_then(Value::as_u64);
    let flag = |attr: &str| known(attr).and_then(Value::as_bool);
    let nodes = |attr: &str| -> Option<BTreeMap<String, i64>> {
        known(attr)?.as_object().map(|m| {
            m.iter()
                .filter_map(|(k, p)| Some((k.clone(), p.as_i64()?)))
                .collect()
        })
    };
    let required = |attr: &str| {
        text(attr).ok_or_else(|| malformed(address, format!("{attr} is missing or unknown")))
    };
    Ok(match kind {
        "pveha_resource" => PlannedObject::HaResource(HaResourceSpec {
            sid: required("sid")?,
            state: text("state"),
            group: text("group"),
            max_restart: num("max_restart"),
            max_relocate: num("max_relocate"),
            failback: flag("failback"),
            comment: text("comment"),
            node: text("node"),
        }),
        "pveha_group" => PlannedObject::Group(GroupSpec {
            name: required("name")?,
            nodes: nodes("nodes"),
            restricted: flag("restricted"),
            nofailback: flag("nofailback"),
            comment: text("comment"),
        }),
        "pveha_rule" => PlannedObject::Rule(RuleSpec {
            name: required("name")?,
            kind: required("type")?,
            resources: known("resources").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }),
            nodes: nodes("nodes"),
            strict: flag("strict"),
            affinity: text("affinity"),
            disable: flag("enabled").map(|e| !e),
            comment: text("comment"),
        }),
        "pveha_guest_startup" => PlannedObject::GuestStartup(StartupSpec {
            vmid: num("vmid").ok_or_else(|| malformed(address, "vmid is missing or unknown"))?,
            onboot: flag("onboot"),
            order: num("order"),
            up: num("up"),
            down: num("down"),
        }),
        "pveha_ha_settings" => PlannedObject::HaSettings(SettingsSpec {
            shutdown_policy: text("shutdown_policy"),
            crs: text("crs"),
            rebalance_on_start: flag("rebalance_on_start"),
            fencing: text("fencing"),
        }),
        other => {
            return Err(malformed(
                address,
                format!("pveha does not know resource type {other}"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(changes: &str) -> String {
        format!(
            r#"{{"format_version":"1.2","terraform_version":"1.11.4","planned_values":{{}},"resource_changes":[{changes}]}}"#
        )
    }

    #[test]
    fn reads_each_action_and_counts_other_providers() {
        let text = plan(
            r#"{"address":"pveha_resource.a","mode":"managed","type":"pveha_resource","change":{"actions":["create"],"before":null,"after":{"sid":"ct:110","state":"started","group":"g","max_restart":3},"after_unknown":{"node":true,"type":true}}},
               {"address":"pveha_group.g","mode":"managed","type":"pveha_group","change":{"actions":["delete","create"],"before":{"name":"g","nodes":{"a":1}},"after":{"name":"g","nodes":{"a":1,"b":2},"restricted":true},"after_unknown":{}}},
               {"address":"pveha_rule.r","mode":"managed","type":"pveha_rule","change":{"actions":["update"],"before":{"name":"r","type":"resource-affinity","resources":["ct:1","ct:2"],"affinity":"negative","enabled":true},"after":{"name":"r","type":"resource-affinity","resources":["ct:1","ct:2"],"affinity":"negative","enabled":false},"after_unknown":{}}},
               {"address":"pveha_guest_startup.s","mode":"managed","type":"pveha_guest_startup","change":{"actions":["delete"],"before":{"vmid":133,"order":2},"after":null}},
               {"address":"pveha_resource.same","mode":"managed","type":"pveha_resource","change":{"actions":["no-op"],"before":{"sid":"ct:1"},"after":{"sid":"ct:1"}}},
               {"address":"data.pveha_audit.a","mode":"data","type":"pveha_audit","change":{"actions":["read"]}},
               {"address":"null_resource.x","mode":"managed","type":"null_resource","change":{"actions":["create"]}}"#,
        );
        let p = parse(&text).unwrap();
        assert_eq!(p.other_providers, 1);
        let actions: Vec<ChangeAction> = p.changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [
                ChangeAction::Create,
                ChangeAction::Replace,
                ChangeAction::Update,
                ChangeAction::Delete
            ]
        );
        let PlannedObject::HaResource(r) = p.changes[0].after.clone().unwrap() else {
            panic!("not a resource")
        };
        assert_eq!(
            (r.sid.as_str(), r.group.as_deref(), r.max_restart, r.node),
            ("ct:110", Some("g"), Some(3), None)
        );
        assert!(
            p.changes[0].unknown.is_empty(),
            "a computed node is not an unknown worth a note"
        );
        let Some(PlannedObject::Group(g)) = &p.changes[1].after else {
            panic!()
        };
        assert_eq!(g.nodes.as_ref().map(|n| n.len()), Some(2));
        let Some(PlannedObject::Rule(rule)) = &p.changes[2].after else {
            panic!()
        };
        assert_eq!(rule.disable, Some(true));
    }

    #[test]
    fn unknown_attributes_are_named_in_proxmox_terms() {
        let text = plan(
            r#"{"address":"pveha_resource.a","mode":"managed","type":"pveha_resource","change":{"actions":["update"],"before":{"sid":"ct:110","group":"old"},"after":{"sid":"ct:110"},"after_unknown":{"group":true}}},
               {"address":"pveha_rule.r","mode":"managed","type":"pveha_rule","change":{"actions":["create"],"before":null,"after":{"name":"r","type":"node-affinity"},"after_unknown":{"resources":[true]}}}"#,
        );
        let p = parse(&text).unwrap();
        assert_eq!(p.changes[0].unknown, BTreeSet::from(["group".to_string()]));
        let Some(PlannedObject::HaResource(r)) = &p.changes[0].after else {
            panic!()
        };
        assert_eq!(r.group, None);
        assert_eq!(
            p.changes[1].unknown,
            BTreeSet::from(["resources".to_string()])
        );
    }

    #[test]
    fn ha_settings_are_read_with_their_attribute_names() {
        let text = plan(
            r#"{"address":"pveha_ha_settings.this","mode":"managed","type":"pveha_ha_settings","change":{"actions":["update"],"before":{"id":"cluster","shutdown_policy":"conditional"},"after":{"id":"cluster","shutdown_policy":"migrate","crs":"static","rebalance_on_start":true,"fencing":null},"after_unknown":{}}}"#,
        );
        let p = parse(&text).unwrap();
        let Some(PlannedObject::HaSettings(s)) = &p.changes[0].after else {
            panic!("not settings")
        };
        assert_eq!(
            (
                s.shutdown_policy.as_deref(),
                s.crs.as_deref(),
                s.rebalance_on_start,
                s.fencing.as_deref()
            ),
            (Some("migrate"), Some("static"), Some(true), None)
        );
    }

    #[test]
    fn bad_documents_name_the_problem() {
        let cases = [
            (
                r#"{"format_version":"1.2","resource_chan"#.to_string(),
                "not valid JSON",
            ),
            (
                r#"{"resource_changes":[]}"#.to_string(),
                "no format_version",
            ),
            (
                r#"{"format_version":"2.0","planned_values":{}}"#.to_string(),
                "format_version is '2.0'",
            ),
            (
                r#"{"format_version":"1.0","values":{}}"#.to_string(),
                "state, not a plan",
            ),
            (
                plan(
                    r#"{"address":"pveha_group.g","type":"pveha_group","change":{"actions":["create"],"after":{"nodes":{}}}}"#,
                ),
                "pveha_group.g: name is missing",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
