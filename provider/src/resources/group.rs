//! `pveha_group`: a PVE 8 HA group, `/cluster/ha/groups/{group}`.
//! All I/O goes through `pveha_pve::ha::groups`. On PVE 9, plan fails and shows the equivalent `pveha_rule`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pveha_model::{HaGroup, HaModel};
use pveha_pve::ha::groups::{self, HaGroupUpdate, NewHaGroup};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{async_trait, Context, Diagnostics, Plan, Value};

use super::lifecycle::{found, known_id, lifecycle_resource, Lifecycle};
use super::{
    change, check_config_id, check_nodes_exist, check_priorities, from_priorities, to_priorities,
};
use crate::diag::{self, ParamMap};
use crate::provider::Pve;

/// API parameters and the attributes that set them.
const PARAMS: ParamMap<'static> = &[
    ("group", "name"),
    ("nodes", "nodes"),
    ("restricted", "restricted"),
    ("nofailback", "nofailback"),
    ("comment", "comment"),
];

/// An HA group (Proxmox VE 8): the nodes its services may run on, by priority. On PVE 9 groups became
/// node-affinity rules; use `pveha_rule` there. Import with the group name, e.g.
/// `terraform import pveha_group.web web`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GroupModel {
    /// Group name: a letter, then letters, digits, `-` or `_` (at least 2 characters). Changing it
    /// replaces the group.
    #[schemars(extend("x-tf-required" = true, "x-tf-replace" = true))]
    pub name: Value<String>,
    /// Member nodes and their priority, 0–1000 (higher is preferred), e.g. `{ proxmox2 = 2, proxmox3 = 1 }`.
    /// Every node must be a member of the cluster.
    #[schemars(extend("x-tf-required" = true))]
    pub nodes: Value<BTreeMap<String, i64>>,
    /// Services may run only on member nodes; with no member online they stay stopped. Defaults to `false`.
    #[schemars(extend("x-tf-default" = false))]
    pub restricted: Value<bool>,
    /// Do not move services back when a higher-priority member returns. Defaults to `false`.
    #[schemars(extend("x-tf-default" = false))]
    pub nofailback: Value<bool>,
    /// Free-form comment.
    pub comment: Value<String>,
}

/// The `pveha_group` type.
pub struct GroupResource;

lifecycle_resource!(GroupResource);

#[async_trait]
impl Lifecycle for GroupResource {
    type Model = GroupModel;
    const TYPE_NAME: &'static str = "pveha_group";
    type Id = String;
    const PARAMS: ParamMap<'static> = PARAMS;

    fn validate(&self, config: &GroupModel, diags: &mut Diagnostics) {
        check_config_id(diags, "name", "group", &config.name);
        if let Some(nodes) = config.nodes.as_ref() {
            check_priorities(diags, "nodes", nodes);
        }
    }

    async fn plan(&self, ctx: &Context<Pve>, plan: &mut Plan<GroupModel>, diags: &mut Diagnostics) {
        let Some(pve) = ctx.client() else { return };
        match pve.ha_model().await {
            Ok(HaModel::Groups) => {}
            Ok(HaModel::Rules) => {
                let used_by = users_of(pve, plan.config.name.as_str().unwrap_or_default()).await;
                diags.error_at(
                    "name",
                    "HA groups became rules in Proxmox VE 9",
                    format!(
                        "This cluster runs Proxmox VE 9, which has no HA groups: they became node-affinity rules. \
                         Replace this pveha_group with a pveha_rule, for example:\n\n{}",
                        equivalent_rule(&plan.config, &used_by)
                    ),
                );
                return;
            }
            Err(e) => return diag::api_error(diags, "read", "the cluster's version", &e, &[]),
        }
        if let Some(nodes) = plan.config.nodes.as_ref() {
            check_nodes_exist(pve, "nodes", nodes.keys(), diags).await;
        }
    }

    fn id(&self, model: &GroupModel, diags: &mut Diagnostics) -> Option<String> {
        known_id(&model.name, "name", diags)
    }

    fn import_id(&self, raw: &str, _diags: &mut Diagnostics) -> Option<String> {
        Some(raw.trim().to_string())
    }

    fn object(&self, name: &String) -> String {
        format!("HA group \"{name}\"")
    }

    async fn fetch(
        &self,
        pve: &Pve,
        name: &String,
        _diags: &mut Diagnostics,
    ) -> pveha_pve::Result<Option<GroupModel>> {
        Ok(found(groups::get(pve.api(), name).await)?.map(|g| to_model(&g)))
    }

    async fn send_create(
        &self,
        pve: &Pve,
        name: &String,
        planned: &GroupModel,
    ) -> pveha_pve::Result<()> {
        let new = NewHaGroup {
            group: name.clone(),
            nodes: planned
                .nodes
                .as_ref()
                .map(to_priorities)
                .unwrap_or_default(),
            restricted: planned.restricted.as_ref().copied().filter(|b| *b),
            nofailback: planned.nofailback.as_ref().copied().filter(|b| *b),
            comment: planned.comment.as_ref().cloned(),
        };
        groups::create(pve.api(), &new).await
    }

    async fn send_update(
        &self,
        pve: &Pve,
        name: &String,
        prior: &GroupModel,
        planned: &GroupModel,
    ) -> pveha_pve::Result<()> {
        let update = HaGroupUpdate {
            nodes: planned
                .nodes
                .as_ref()
                .filter(|n| Some(*n) != prior.nodes.as_ref())
                .map(to_priorities),
            restricted: change(&prior.restricted, &planned.restricted),
            nofailback: change(&prior.nofailback, &planned.nofailback),
            comment: change(&prior.comment, &planned.comment),
            // Compare-before-write guards the update; the file-wide digest would fail parallel updates.
            digest: None,
        };
        groups::update(pve.api(), name, &update).await
    }

    async fn remove(&self, pve: &Pve, name: &String) -> pveha_pve::Result<()> {
        groups::delete(pve.api(), name).await
    }

    fn changed(&self, current: &GroupModel, prior: &GroupModel) -> Vec<(&'static str, bool)> {
        vec![
            ("nodes", current.nodes != prior.nodes),
            ("restricted", current.restricted != prior.restricted),
            ("nofailback", current.nofailback != prior.nofailback),
            ("comment", current.comment != prior.comment),
        ]
    }
}

/// The state of a group; absent flags read as their defaults.
fn to_model(g: &HaGroup) -> GroupModel {
    GroupModel {
        name: Value::Known(g.group.clone()),
        nodes: Value::Known(from_priorities(&g.nodes)),
        restricted: Value::Known(g.restricted.unwrap_or(false)),
        nofailback: Value::Known(g.nofailback.unwrap_or(false)),
        comment: g.comment.clone().into(),
    }
}

/// The HA resources that name `group` (a PVE 9 cluster migrated from 8 may still show some); best effort.
async fn users_of(pve: &Pve, group: &str) -> Vec<String> {
    match pveha_pve::ha::resources::shared(pve.api()).await {
        Ok(list) => list
            .iter()
            .filter(|r| r.group.as_deref() == Some(group))
            .map(|r| r.sid.to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The `pveha_rule` that does what `group` does, as HCL to paste.
fn equivalent_rule(group: &GroupModel, used_by: &[String]) -> String {
    let name = group.name.as_str().unwrap_or("my-group");
    let label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut hcl = format!("resource \"pveha_rule\" \"{label}\" {{\n  name      = \"{name}\"\n  type      = \"node-affinity\"\n");
    let resources = if used_by.is_empty() {
        "# the sids of the services that used this group, e.g. \"ct:110\"".to_string()
    } else {
        used_by
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(hcl, "  resources = [{resources}]");
    if let Some(nodes) = group.nodes.as_ref() {
        let list: Vec<String> = nodes.iter().map(|(n, p)| format!("{n} = {p}")).collect();
        let _ = writeln!(hcl, "  nodes     = {{ {} }}", list.join(", "));
    }
    if group.restricted.as_ref() == Some(&true) {
        let _ = writeln!(hcl, "  strict    = true");
    }
    if let Some(c) = group.comment.as_str() {
        let _ = writeln!(
            hcl,
            "  comment   = {}",
            serde_json::Value::String(c.to_string())
        );
    }
    hcl.push('}');
    if group.nofailback.as_ref() == Some(&true) {
        hcl.push_str("\n\nand, for nofailback, set failback = false on each of those services' pveha_resource.");
    }
    hcl
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(json: serde_json::Value) -> HaGroup {
        serde_json::from_value(json).expect("group")
    }

    #[test]
    fn absent_flags_read_as_false_and_node_order_does_not_matter() {
        let a = to_model(&group(
            serde_json::json!({"group": "web", "type": "group", "nodes": "b:1,a:2"}),
        ));
        let b = to_model(&group(
            serde_json::json!({"group": "web", "type": "group", "nodes": "a:2,b:1"}),
        ));
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.restricted, Value::Known(false));
        assert_eq!(a.nofailback, Value::Known(false));
        assert_eq!(a.comment, Value::Null);
    }

    #[test]
    fn the_equivalent_rule_carries_nodes_strictness_and_services() {
        let mut g = to_model(&group(serde_json::json!({
            "group": "reverse-proxy", "nodes": "proxmox2:2,proxmox3:1", "restricted": 1, "nofailback": 1
        })));
        g.comment = Value::Known("Traefik".into());
        let hcl = equivalent_rule(&g, &["ct:110".to_string()]);
        assert!(
            hcl.contains("resource \"pveha_rule\" \"reverse_proxy\""),
            "{hcl}"
        );
        assert!(hcl.contains("type      = \"node-affinity\""), "{hcl}");
        assert!(hcl.contains("resources = [\"ct:110\"]"), "{hcl}");
        assert!(
            hcl.contains("nodes     = { proxmox2 = 2, proxmox3 = 1 }"),
            "{hcl}"
        );
        assert!(hcl.contains("strict    = true"), "{hcl}");
        assert!(hcl.contains("failback = false"), "{hcl}");
    }
}
