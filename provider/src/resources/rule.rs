//! `pveha_rule`: a PVE 9 HA rule, `/cluster/ha/rules/{rule}` (node affinity or resource affinity).
//! All I/O goes through `pveha_pve::ha::rules`. Plan runs the cluster's feasibility checks against the
//! rules already on the server plus this change, so an infeasible rule fails in `plan`, not silently in
//! the HA manager. On PVE 8, plan fails and points to `pveha_group`.

use std::collections::{BTreeMap, BTreeSet};

use pveha_model::{HaModel, HaRule, Sid};
use pveha_pve::ha::rules::{self, HaRuleUpdate, NewHaRule, RuleKind};
use pveha_pve::Change;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{async_trait, AttributePath, Context, Diagnostics, Plan, Value};

use super::lifecycle::{found, known_id, lifecycle_resource, Lifecycle};
use super::{
    change, check_config_id, check_nodes_exist, check_one_of, check_priorities, check_sid_format,
    from_priorities, to_priorities,
};
use crate::diag::{self, ParamMap};
use crate::provider::Pve;

const NODE_AFFINITY: &str = "node-affinity";
const RESOURCE_AFFINITY: &str = "resource-affinity";

/// API parameters and the attributes that set them.
const PARAMS: ParamMap<'static> = &[
    ("rule", "name"),
    ("type", "type"),
    ("resources", "resources"),
    ("nodes", "nodes"),
    ("strict", "strict"),
    ("affinity", "affinity"),
    ("disable", "enabled"),
    ("comment", "comment"),
];

/// An HA rule (Proxmox VE 9): where services prefer to run (`node-affinity`) or whether they run together
/// or apart (`resource-affinity`). On PVE 8 use `pveha_group`. Import with the rule name, e.g.
/// `terraform import pveha_rule.apart reverse-proxy-apart`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RuleModel {
    /// Rule name: a letter, then letters, digits, `-` or `_` (at least 2 characters). Changing it replaces
    /// the rule.
    #[schemars(extend("x-tf-required" = true, "x-tf-replace" = true))]
    pub name: Value<String>,
    /// `node-affinity` or `resource-affinity`. Changing it replaces the rule.
    #[serde(rename = "type")]
    #[schemars(extend("x-tf-required" = true, "x-tf-replace" = true))]
    pub kind: Value<String>,
    /// The HA resources the rule applies to, as sids (`ct:110`, `vm:100`); each must be HA-managed
    /// (a `pveha_resource`). Resource affinity needs at least two.
    #[schemars(extend("x-tf-required" = true))]
    pub resources: Value<BTreeSet<String>>,
    /// Node affinity only (required there): nodes and their priority, 0–1000 (higher is preferred).
    pub nodes: Value<BTreeMap<String, i64>>,
    /// Node affinity only: run the resources only on the listed nodes. Defaults to `false` for node
    /// affinity; always null for resource affinity.
    #[schemars(extend("x-tf-computed" = true, "x-tf-optional" = true))]
    pub strict: Value<bool>,
    /// Resource affinity only (required there): `positive` keeps the resources on one node, `negative` on
    /// different nodes.
    pub affinity: Value<String>,
    /// Whether the rule is in effect. Defaults to `true`.
    #[schemars(extend("x-tf-default" = true))]
    pub enabled: Value<bool>,
    /// Free-form comment.
    pub comment: Value<String>,
}

/// The `pveha_rule` type.
pub struct RuleResource;

lifecycle_resource!(RuleResource);

#[async_trait]
impl Lifecycle for RuleResource {
    type Model = RuleModel;
    const TYPE_NAME: &'static str = "pveha_rule";
    type Id = String;
    const PARAMS: ParamMap<'static> = PARAMS;

    fn validate(&self, config: &RuleModel, diags: &mut Diagnostics) {
        check_config_id(diags, "name", "rule", &config.name);
        check_one_of(
            diags,
            "type",
            &config.kind,
            &[NODE_AFFINITY, RESOURCE_AFFINITY],
        );
        check_one_of(
            diags,
            "affinity",
            &config.affinity,
            &["positive", "negative"],
        );
        if let Some(nodes) = config.nodes.as_ref() {
            check_priorities(diags, "nodes", nodes);
        }
        if let Some(resources) = config.resources.as_ref() {
            if resources.is_empty() {
                diags.error_at(
                    "resources",
                    "No resources",
                    "A rule needs at least one HA resource.",
                );
            }
            for r in resources {
                check_sid_format(diags, AttributePath::root("resources"), r);
            }
        }
        match config.kind.as_str() {
            Some(NODE_AFFINITY) => {
                if !config.affinity.is_null() {
                    diags.error_at(
                        "affinity",
                        "affinity applies only to resource-affinity rules",
                        "A node-affinity rule places services on nodes; remove affinity, or use type = \
                         \"resource-affinity\" to keep services together or apart.",
                    );
                }
                if config.nodes.is_null() {
                    diags.error_at(
                        "nodes",
                        "Missing nodes",
                        "A node-affinity rule needs nodes, e.g. { proxmox2 = 2, proxmox3 = 1 }.",
                    );
                }
            }
            Some(RESOURCE_AFFINITY) => {
                for (attr, set) in [
                    ("nodes", !config.nodes.is_null()),
                    ("strict", !config.strict.is_null()),
                ] {
                    if set {
                        diags.error_at(
                            attr,
                            format!("{attr} applies only to node-affinity rules"),
                            format!("A resource-affinity rule keeps services together or apart; remove {attr}, or use a \
                                     separate pveha_rule of type \"node-affinity\" for node preferences."),
                        );
                    }
                }
                if config.affinity.is_null() {
                    diags.error_at(
                        "affinity",
                        "Missing affinity",
                        "A resource-affinity rule needs affinity = \"positive\" or \"negative\".",
                    );
                }
                if config.resources.as_ref().is_some_and(|r| r.len() < 2) {
                    diags.error_at(
                        "resources",
                        "Resource affinity needs two resources",
                        "The rule is ineffective with fewer than two resources; list at least two sids.",
                    );
                }
            }
            _ => {}
        }
    }

    async fn plan(&self, ctx: &Context<Pve>, plan: &mut Plan<RuleModel>, diags: &mut Diagnostics) {
        let Some(pve) = ctx.client() else { return };
        match pve.ha_model().await {
            Ok(HaModel::Rules) => {}
            Ok(HaModel::Groups) => {
                diags.error_at(
                    "type",
                    "HA rules need Proxmox VE 9",
                    "This cluster runs Proxmox VE 8, which has no HA rules. Use pveha_group for node preferences \
                     (set group on each pveha_resource); PVE 8 has no resource affinity.",
                );
                return;
            }
            Err(e) => return diag::api_error(diags, "read", "the cluster's version", &e, &[]),
        }
        plan.planned.strict = match plan.config.kind.as_str() {
            Some(NODE_AFFINITY) if plan.config.strict.is_null() => Value::Known(false),
            Some(NODE_AFFINITY) => plan.config.strict.clone(),
            _ => Value::Null,
        };
        if let Some(nodes) = plan.config.nodes.as_ref() {
            check_nodes_exist(pve, "nodes", nodes.keys(), diags).await;
        }
        if !diags.has_errors() {
            feasibility(pve, &plan.planned, diags).await;
        }
    }

    fn id(&self, model: &RuleModel, diags: &mut Diagnostics) -> Option<String> {
        known_id(&model.name, "name", diags)
    }

    fn import_id(&self, raw: &str, _diags: &mut Diagnostics) -> Option<String> {
        Some(raw.trim().to_string())
    }

    fn object(&self, name: &String) -> String {
        format!("HA rule \"{name}\"")
    }

    async fn fetch(
        &self,
        pve: &Pve,
        name: &String,
        diags: &mut Diagnostics,
    ) -> pveha_pve::Result<Option<RuleModel>> {
        Ok(found(rules::get(pve.api(), name).await)?.map(|r| {
            warn_if_infeasible(&r, diags);
            to_model(&r)
        }))
    }

    async fn send_create(
        &self,
        pve: &Pve,
        name: &String,
        planned: &RuleModel,
    ) -> pveha_pve::Result<()> {
        let new = NewHaRule {
            rule: name.clone(),
            kind: kind_of(planned),
            resources: sids(planned),
            nodes: planned.nodes.as_ref().map(to_priorities),
            strict: planned.strict.as_ref().copied().filter(|b| *b),
            affinity: planned.affinity.as_ref().cloned(),
            disable: planned.enabled.as_ref() == Some(&false),
            comment: planned.comment.as_ref().cloned(),
        };
        rules::create(pve.api(), &new).await
    }

    async fn send_update(
        &self,
        pve: &Pve,
        name: &String,
        prior: &RuleModel,
        planned: &RuleModel,
    ) -> pveha_pve::Result<()> {
        let mut update = HaRuleUpdate::new(kind_of(planned));
        if prior.resources != planned.resources {
            update.resources = Some(sids(planned));
        }
        if prior.nodes != planned.nodes {
            update.nodes = planned.nodes.as_ref().map(to_priorities);
        }
        if prior.affinity != planned.affinity {
            update.affinity = planned.affinity.as_ref().cloned();
        }
        update.strict = change(&prior.strict, &planned.strict);
        update.disable = match (prior.enabled.as_ref(), planned.enabled.as_ref()) {
            (a, b) if a == b => Change::Keep,
            (_, Some(false)) => Change::Set(true),
            // The API drops a falsy `disable`; the client re-enables with `delete=disable`.
            _ => Change::Unset,
        };
        update.comment = change(&prior.comment, &planned.comment);
        // Compare-before-write guards the update; the file-wide digest would fail parallel updates.
        update.digest = None;
        rules::update(pve.api(), name, &update).await
    }

    async fn remove(&self, pve: &Pve, name: &String) -> pveha_pve::Result<()> {
        rules::delete(pve.api(), name).await
    }

    fn changed(&self, current: &RuleModel, prior: &RuleModel) -> Vec<(&'static str, bool)> {
        vec![
            ("resources", current.resources != prior.resources),
            ("nodes", current.nodes != prior.nodes),
            ("strict", current.strict != prior.strict),
            ("affinity", current.affinity != prior.affinity),
            ("enabled", current.enabled != prior.enabled),
            ("comment", current.comment != prior.comment),
        ]
    }
}

/// The rule's kind (validation admits only the two names).
fn kind_of(m: &RuleModel) -> RuleKind {
    match m.kind.as_str() {
        Some(RESOURCE_AFFINITY) => RuleKind::ResourceAffinity,
        _ => RuleKind::NodeAffinity,
    }
}

fn sids(m: &RuleModel) -> Vec<Sid> {
    m.resources
        .as_ref()
        .map(|r| r.iter().filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_default()
}

/// The state of a rule; absent keys read as their defaults (`strict` false, enabled).
fn to_model(r: &HaRule) -> RuleModel {
    let node_affinity = r.kind == NODE_AFFINITY;
    RuleModel {
        name: Value::Known(r.rule.clone()),
        kind: Value::Known(r.kind.clone()),
        resources: Value::Known(r.resources.iter().cloned().collect()),
        nodes: r.nodes.as_ref().map(from_priorities).into(),
        strict: if node_affinity {
            Value::Known(r.strict.unwrap_or(false))
        } else {
            Value::Null
        },
        affinity: r.affinity.clone().into(),
        // The HA manager treats any stored `disable` key as disabled, whatever its value.
        enabled: Value::Known(r.disable.is_none()),
        comment: r.comment.clone().into(),
    }
}

/// Rules the server marks with `errors` are dropped by the HA manager at runtime: say so on refresh.
fn warn_if_infeasible(r: &HaRule, diags: &mut Diagnostics) {
    let Some(errors) = r.errors.as_ref().filter(|e| !e.is_empty()) else {
        return;
    };
    let text: Vec<String> = errors
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}: {}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            )
        })
        .collect();
    diags.warning_at(
        "resources",
        format!("HA rule \"{}\" is not in effect", r.rule),
        format!(
            "The cluster reports this rule as infeasible, so the HA manager ignores it: {}. Change this rule or the \
             rules it conflicts with.",
            text.join("; ")
        ),
    );
}

/// One rule as the feasibility checks see it.
struct Candidate {
    name: String,
    kind: String,
    resources: BTreeSet<String>,
    affinity: Option<String>,
    enabled: bool,
}

/// The cluster's feasibility checks, run against the rules on the server with this one replaced by the plan.
async fn feasibility(pve: &Pve, planned: &RuleModel, diags: &mut Diagnostics) {
    let (Some(name), Some(kind), Some(resources)) = (
        planned.name.as_str(),
        planned.kind.as_str(),
        planned.resources.as_ref(),
    ) else {
        return;
    };
    let this = Candidate {
        name: name.to_string(),
        kind: kind.to_string(),
        resources: resources.clone(),
        affinity: planned.affinity.as_ref().cloned(),
        enabled: planned.enabled.as_ref() != Some(&false),
    };
    let others: Vec<Candidate> = match rules::shared(pve.api()).await {
        Ok(list) => list
            .iter()
            .filter(|r| r.rule != name)
            .map(|r| Candidate {
                enabled: r.disable.is_none(),
                resources: r.resources.iter().cloned().collect(),
                name: r.rule.clone(),
                kind: r.kind.clone(),
                affinity: r.affinity.clone(),
            })
            .collect(),
        Err(e) => return diag::api_error(diags, "read", "the cluster's HA rules", &e, &[]),
    };
    let node_count = match pve.node_names().await {
        Ok(n) => n.len(),
        Err(e) => return diag::api_error(diags, "read", "the cluster's nodes", &e, &[]),
    };
    for problem in problems(&this, &others, node_count) {
        diags.error_at(
            AttributePath::root("resources"),
            "Infeasible HA rule",
            problem,
        );
    }
    unmanaged(pve, resources, diags).await;
}

/// What the cluster would reject about `this` next to `others`, as sentences.
fn problems(this: &Candidate, others: &[Candidate], node_count: usize) -> Vec<String> {
    let mut out = Vec::new();
    if !this.enabled {
        return out;
    }
    let active = || others.iter().filter(|o| o.enabled);
    if this.kind == NODE_AFFINITY {
        for other in active().filter(|o| o.kind == NODE_AFFINITY) {
            for sid in this.resources.intersection(&other.resources) {
                out.push(format!(
                    "{sid} is already in node-affinity rule \"{}\"; a resource may be in only one node-affinity rule.",
                    other.name
                ));
            }
        }
    }
    if this.kind == RESOURCE_AFFINITY {
        if this.affinity.as_deref() == Some("negative") && this.resources.len() > node_count {
            out.push(format!(
                "The rule keeps {} resources on different nodes, but the cluster has only {node_count} nodes.",
                this.resources.len()
            ));
        }
        for other in active().filter(|o| o.kind == RESOURCE_AFFINITY && o.affinity != this.affinity)
        {
            let shared = this.resources.intersection(&other.resources).count();
            if shared >= 2 {
                out.push(format!(
                    "The rule shares {shared} resources with {} resource-affinity rule \"{}\": they cannot be both \
                     together and apart.",
                    other.affinity.as_deref().unwrap_or("another"),
                    other.name
                ));
            }
        }
    }
    out
}

/// Rules may name only guests that exist. A guest that is not HA-managed yet is accepted here, because a
/// `pveha_resource` in the same configuration usually adds it before the rule is created; the server
/// still refuses the rule at apply if nothing does.
async fn unmanaged(pve: &Pve, resources: &BTreeSet<String>, diags: &mut Diagnostics) {
    for raw in resources {
        let Ok(sid) = raw.parse::<Sid>() else {
            continue;
        };
        match pve.guest(sid.vmid).await {
            Ok(Some(g)) if g.guest_kind() == Some(sid.kind) => {}
            Ok(_) => diags.error_at(
                "resources",
                "No such guest",
                format!("{sid} does not name a guest of this cluster, so the rule cannot use it."),
            ),
            Err(e) => return diag::api_error(diags, "read", "the cluster's guests", &e, &[]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, kind: &str, resources: &[&str], affinity: Option<&str>) -> Candidate {
        Candidate {
            name: name.into(),
            kind: kind.into(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            affinity: affinity.map(str::to_string),
            enabled: true,
        }
    }

    #[test]
    fn negative_affinity_needs_a_node_per_resource() {
        let this = candidate(
            "apart",
            RESOURCE_AFFINITY,
            &["ct:1", "ct:2", "ct:3", "ct:4"],
            Some("negative"),
        );
        assert_eq!(problems(&this, &[], 3).len(), 1);
        assert!(problems(&this, &[], 4).is_empty());
    }

    #[test]
    fn a_resource_in_two_node_affinity_rules_is_refused_unless_the_other_is_disabled() {
        let this = candidate("a", NODE_AFFINITY, &["ct:1", "ct:2"], None);
        let mut other = candidate("b", NODE_AFFINITY, &["ct:2"], None);
        let found = problems(&this, std::slice::from_ref(&other), 3);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].contains("ct:2") && found[0].contains("\"b\""),
            "{found:?}"
        );
        other.enabled = false;
        assert!(problems(&this, &[other], 3).is_empty());
    }

    #[test]
    fn together_and_apart_cannot_share_two_resources() {
        let this = candidate(
            "apart",
            RESOURCE_AFFINITY,
            &["ct:1", "ct:2"],
            Some("negative"),
        );
        let other = candidate(
            "together",
            RESOURCE_AFFINITY,
            &["ct:1", "ct:2", "ct:3"],
            Some("positive"),
        );
        assert_eq!(problems(&this, &[other], 3).len(), 1);
    }

    #[test]
    fn server_rules_read_with_defaults_and_disable_as_enabled() {
        let r: HaRule = serde_json::from_value(serde_json::json!({
            "rule": "r", "type": "node-affinity", "resources": "ct:2,ct:1", "nodes": "b,a:2", "digest": "x", "order": 1
        }))
        .expect("rule");
        let m = to_model(&r);
        assert_eq!(m.strict, Value::Known(false));
        assert_eq!(m.enabled, Value::Known(true));
        assert_eq!(m.resources.as_ref().map(|s| s.len()), Some(2));
        assert_eq!(m.nodes.as_ref().and_then(|n| n.get("a")), Some(&2));
        let disabled: HaRule = serde_json::from_value(serde_json::json!({
            "rule": "r", "type": "resource-affinity", "resources": "ct:1,ct:2", "affinity": "negative", "disable": 1
        }))
        .expect("rule");
        let m = to_model(&disabled);
        assert_eq!((m.enabled, m.strict), (Value::Known(false), Value::Null));
    }

    #[test]
    fn infeasible_rules_warn_on_refresh() {
        let r: HaRule = serde_json::from_value(serde_json::json!({
            "rule": "r", "type": "resource-affinity", "resources": "ct:1", "affinity": "negative",
            "errors": {"resources": ["rule is ineffective as there are less than two resources"]}
        }))
        .expect("rule");
        let mut diags = Diagnostics::new();
        warn_if_infeasible(&r, &mut diags);
        assert!(!diags.has_errors());
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all.len(), 1);
        assert!(
            all[0].detail.contains("less than two resources"),
            "{}",
            all[0].detail
        );
    }
}
