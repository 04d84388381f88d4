//! The managed resource types, one file each, plus the few helpers three of them share: the change a
//! planned value makes to a prior one, node-priority maps, and plan-time checks against cluster nodes.

pub mod group;
pub mod guest_startup;
pub mod ha_settings;
pub mod resource;
pub mod rule;

use std::collections::BTreeMap;

use pveha_model::NodePriorities;
use pveha_pve::Change;
use tfplugin::{AttributePath, Diagnostics, Value};

use crate::diag;
use crate::provider::Pve;

/// Highest node priority accepted (the Proxmox web UI's limit; the API has none).
pub const MAX_PRIORITY: i64 = 1000;

/// What a planned value changes relative to the prior one: nothing, a new value, or unset.
pub fn change<T: PartialEq + Clone>(prior: &Value<T>, planned: &Value<T>) -> Change<T> {
    match planned {
        _ if prior == planned => Change::Keep,
        Value::Known(v) => Change::Set(v.clone()),
        Value::Null => Change::Unset,
        Value::Unknown => Change::Keep,
    }
}

/// A known non-negative integer as `u64`.
pub fn known_u64(v: &Value<i64>) -> Option<u64> {
    v.as_ref().and_then(|n| u64::try_from(*n).ok())
}

/// Checks that `value`, when known, lies in `lo..=hi`.
pub fn check_range(
    diags: &mut Diagnostics,
    path: &str,
    value: &Value<i64>,
    lo: i64,
    hi: i64,
    unit: &str,
) {
    if let Value::Known(n) = value {
        if !(lo..=hi).contains(n) {
            diags.error_at(
                path,
                format!("Invalid {path}"),
                format!("{path} must be between {lo} and {hi}{unit}; got {n}."),
            );
        }
    }
}

/// Checks that `value`, when known, is one of `allowed`.
pub fn check_one_of(diags: &mut Diagnostics, path: &str, value: &Value<String>, allowed: &[&str]) {
    if let Value::Known(v) = value {
        if !allowed.contains(&v.as_str()) {
            diags.error_at(
                path,
                format!("Invalid {path}"),
                format!("{path} must be one of {}; got {v:?}.", allowed.join(", ")),
            );
        }
    }
}

/// Checks a node → priority map: valid node names, priorities 0–1000, at least one node.
pub fn check_priorities(diags: &mut Diagnostics, path: &str, nodes: &BTreeMap<String, i64>) {
    if nodes.is_empty() {
        diags.error_at(
            path,
            format!("Invalid {path}"),
            format!("{path} must name at least one node."),
        );
    }
    for (node, prio) in nodes {
        let here = AttributePath::root(path).key(node);
        if !pveha_model::property::is_node_name(node) {
            diags.error_at(
                here.clone(),
                "Invalid node name",
                format!("{node:?} is not a valid Proxmox VE node name."),
            );
        }
        if !(0..=MAX_PRIORITY).contains(prio) {
            diags.error_at(
                here,
                "Node priority out of range",
                format!("The priority of node {node:?} is {prio}; priorities must be between 0 and {MAX_PRIORITY} (higher is preferred)."),
            );
        }
    }
}

/// Converts a checked node map to the API's node list.
pub fn to_priorities(nodes: &BTreeMap<String, i64>) -> NodePriorities {
    NodePriorities(
        nodes
            .iter()
            .map(|(n, p)| (n.clone(), u32::try_from(*p).unwrap_or(0)))
            .collect(),
    )
}

/// Converts the API's node list to the attribute's map.
pub fn from_priorities(nodes: &NodePriorities) -> BTreeMap<String, i64> {
    nodes
        .0
        .iter()
        .map(|(n, p)| (n.clone(), i64::from(*p)))
        .collect()
}

/// Plan-time check that every node of `nodes` is a cluster member; errors point at the map entry.
pub async fn check_nodes_exist<'a>(
    pve: &Pve,
    path: &str,
    nodes: impl IntoIterator<Item = &'a String>,
    diags: &mut Diagnostics,
) {
    let members = match pve.node_names().await {
        Ok(m) => m,
        Err(e) => {
            diag::api_error(diags, "read", "the cluster's nodes", &e, &[]);
            return;
        }
    };
    for node in nodes {
        if !members.contains(node) {
            diags.error_at(
                AttributePath::root(path).key(node),
                "Unknown node",
                format!(
                    "{node:?} is not a node of this cluster; its nodes are {}.",
                    members.join(", ")
                ),
            );
        }
    }
}

/// The model with every unknown value replaced by null, for returning a partial state after a failure
/// (Terraform refuses unknown values in a state).
pub fn settle<T>(v: Value<T>) -> Value<T> {
    match v {
        Value::Unknown => Value::Null,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_derives_with_its_flags_and_documents_every_attribute() {
        use tfplugin::Schema;
        let schemas = [
            Schema::of::<resource::HaResourceModel>(0),
            Schema::of::<group::GroupModel>(0),
            Schema::of::<rule::RuleModel>(0),
            Schema::of::<guest_startup::GuestStartupModel>(0),
            Schema::of::<ha_settings::HaSettingsModel>(0),
        ];
        for s in &schemas {
            let s = s.as_ref().expect("schema");
            assert!(!s.block.description.is_empty());
            for a in &s.block.attributes {
                assert!(!a.description.is_empty(), "{} has no description", a.name);
            }
        }
        let r = schemas[0].as_ref().expect("schema");
        let attr = |name: &str| {
            r.block
                .attributes
                .iter()
                .find(|a| a.name == name)
                .expect(name)
                .clone()
        };
        assert!(attr("sid").required && attr("sid").requires_replace);
        assert!(attr("node").optional && attr("node").computed);
        assert!(attr("type").computed && !attr("type").optional);
        assert!(attr("state").optional && attr("state").default.is_some());
        assert!(attr("group").optional && !attr("group").computed);
    }

    #[test]
    fn change_sends_only_what_differs() {
        assert_eq!(change(&Value::Known(1), &Value::Known(1)), Change::Keep);
        assert_eq!(change(&Value::Known(1), &Value::Known(2)), Change::Set(2));
        assert_eq!(change(&Value::Known(1), &Value::Null), Change::Unset);
        assert_eq!(change::<i64>(&Value::Null, &Value::Null), Change::Keep);
    }

    #[test]
    fn priorities_out_of_range_point_at_the_node() {
        let mut diags = Diagnostics::new();
        check_priorities(
            &mut diags,
            "nodes",
            &BTreeMap::from([("pve1".to_string(), 1001), ("pve2".to_string(), 5)]),
        );
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(
            all[0].attribute.as_ref().map(|p| p.to_string()).as_deref(),
            Some("nodes[\"pve1\"]")
        );
        assert!(all[0].detail.contains("between 0 and 1000"));
    }

    #[test]
    fn node_maps_round_trip_through_the_api_list() {
        let map = BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 0)]);
        let list = to_priorities(&map);
        assert_eq!(list.to_string(), "a:2,b");
        assert_eq!(from_priorities(&list), map);
    }
}
