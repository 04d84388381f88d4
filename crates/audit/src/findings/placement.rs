//! Placement findings: `replicas-colocated` (every replica of a service on one node), `rule-violated` (the current
//! placement breaks an affinity rule or restricted group) and `rule-infeasible` (the server lists errors on a rule
//! or HA resource). Reads the view and the services only.

use std::collections::{BTreeMap, BTreeSet};

use pveha_model::{HaModel, Sid};

use super::{finding, short_list, Ctx};
use crate::remediation::{self as fix, Remediation};
use crate::report::{Finding, Severity};
use crate::services::{Service, Source};

/// Runs the family.
pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    colocated(ctx, out);
    violated(ctx, out);
    infeasible(ctx, out);
}

fn colocated(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for service in ctx.services.list.iter().filter(|s| s.replicated()) {
        let nodes: BTreeSet<&str> = service
            .members
            .iter()
            .filter_map(|m| ctx.view.node_of(m))
            .collect();
        let [node] = nodes.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        let members: Vec<String> = service
            .members
            .iter()
            .map(|m| match ctx.view.guest(m) {
                Some(g) => format!("{m} ({})", g.name),
                None => m.to_string(),
            })
            .collect();
        let origin = match service.source {
            Source::Option => "from the services option",
            Source::Rule => "from its negative resource-affinity rule",
            Source::Inferred => "inferred from the guest names",
            Source::Single => "",
        };
        let severity = if service.critical {
            Severity::Critical
        } else {
            Severity::High
        };
        let mut subjects = vec![service.name.clone()];
        subjects.extend(service.members.iter().map(Sid::to_string));
        subjects.push(node.to_string());
        out.push(finding(
            "replicas-colocated",
            severity,
            format!("Every replica of '{}' runs on {node}", service.name),
            format!(
                "Service '{}' ({origin}) has {} replicas, {}, all on node {node}: a failure of {node} takes the service down entirely.",
                service.name,
                service.members.len(),
                members.join(", ")
            ),
            subjects,
            None,
            spread(ctx, service, node),
        ));
    }
}

/// The objects that put every replica under HA and keep the replicas apart.
pub(crate) fn spread(ctx: &Ctx<'_>, service: &Service, current: &str) -> Vec<Remediation> {
    let mut actions = Vec::new();
    if ctx.view.model == HaModel::Rules {
        for sid in service.members.iter().filter(|m| !ctx.view.is_ha(m)) {
            actions.push(fix::ha_resource(sid, None));
        }
        actions.push(fix::resource_affinity_rule(
            &format!("{}-apart", service.name),
            &service.members,
            false,
            &format!("Keep the replicas of {} on separate nodes.", service.name),
        ));
        return actions;
    }
    // PVE 8 has no anti-affinity: one group per replica, each preferring a different node, away from the node they
    // share now and towards the least loaded.
    let load: BTreeMap<&str, usize> = ctx
        .distribution
        .iter()
        .map(|d| (d.node.as_str(), d.ha_resources))
        .collect();
    let mut preferred: Vec<&str> = ctx.view.online_nodes();
    preferred.sort_by_key(|n| (*n == current, load.get(n).copied().unwrap_or(0), *n));
    if preferred.is_empty() {
        return actions;
    }
    for (i, sid) in service.members.iter().enumerate() {
        let group = format!("{}-{}", service.name, i + 1);
        let first = preferred[i % preferred.len()];
        let nodes: Vec<(String, u32)> = preferred
            .iter()
            .map(|n| (n.to_string(), if *n == first { 2 } else { 1 }))
            .collect();
        actions.push(fix::group(
            &group,
            &nodes,
            false,
            &format!("Replica {} of {} prefers {first}.", i + 1, service.name),
        ));
        actions.push(fix::ha_resource(sid, Some(&group)));
    }
    actions
}

fn violated(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let view = ctx.view;
    let node_of = |r: &str| {
        r.parse::<Sid>()
            .ok()
            .and_then(|sid| view.node_of(&sid).map(|n| (sid, n)))
    };
    if view.model == HaModel::Rules {
        for rule in view.active_rules() {
            let placed: Vec<(Sid, &str)> =
                rule.resources.iter().filter_map(|r| node_of(r)).collect();
            let broken: Option<String> = match (rule.kind.as_str(), rule.affinity.as_deref()) {
                ("resource-affinity", Some("negative")) => {
                    let mut by_node: BTreeMap<&str, Vec<String>> = BTreeMap::new();
                    for (sid, node) in &placed {
                        by_node.entry(node).or_default().push(sid.to_string());
                    }
                    let shared: Vec<String> = by_node
                        .into_iter()
                        .filter(|(_, s)| s.len() > 1)
                        .map(|(n, s)| format!("{} on {n}", s.join(" and ")))
                        .collect();
                    (!shared.is_empty())
                        .then(|| format!("must keep its services apart, but {}", shared.join("; ")))
                }
                ("resource-affinity", Some("positive")) => {
                    let nodes: BTreeSet<&str> = placed.iter().map(|(_, n)| *n).collect();
                    (nodes.len() > 1).then(|| {
                        let spread: Vec<String> =
                            placed.iter().map(|(s, n)| format!("{s} on {n}")).collect();
                        format!("must keep its services together, but {}", spread.join(", "))
                    })
                }
                ("node-affinity", _) if rule.strict == Some(true) => {
                    let allowed = rule.nodes.as_ref().map(|n| &n.0);
                    let outside: Vec<String> = placed
                        .iter()
                        .filter(|(_, n)| allowed.is_none_or(|a| !a.contains_key(*n)))
                        .map(|(s, n)| format!("{s} on {n}"))
                        .collect();
                    (!outside.is_empty())
                        .then(|| format!("allows only its nodes, but {}", outside.join(", ")))
                }
                _ => None,
            };
            if let Some(why) = broken {
                let mut subjects = vec![rule.rule.clone()];
                subjects.extend(placed.iter().map(|(s, _)| s.to_string()));
                out.push(finding(
                    "rule-violated",
                    Severity::High,
                    format!("HA rule '{}' is violated", rule.rule),
                    format!("Rule '{}' ({}) {why}.", rule.rule, rule.kind),
                    subjects,
                    None,
                    Vec::new(),
                ));
            }
        }
        return;
    }
    for (sid, h) in &view.ha {
        let Some(group) = h.group.as_ref().and_then(|g| view.groups.get(g)) else {
            continue;
        };
        let Some(node) = h.node.as_deref() else {
            continue;
        };
        if group.restricted == Some(true) && !group.nodes.0.contains_key(node) {
            out.push(finding(
                "rule-violated",
                Severity::High,
                format!("{sid} runs outside its restricted group '{}'", group.group),
                format!(
                    "{sid} is on {node}, but its restricted group '{}' allows only {}.",
                    group.group, group.nodes
                ),
                vec![group.group.clone(), sid.to_string(), node.to_string()],
                None,
                Vec::new(),
            ));
        }
    }
}

fn infeasible(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for rule in &ctx.view.rules {
        let Some(errors) = rule.errors.as_ref().filter(|e| !e.is_empty()) else {
            continue;
        };
        let messages: Vec<String> = errors
            .iter()
            .map(|(k, v)| format!("{k}: {}", json_text(v)))
            .collect();
        let mut subjects = vec![rule.rule.clone()];
        subjects.extend(rule.resources.iter().cloned());
        out.push(finding(
            "rule-infeasible",
            Severity::Medium,
            format!("HA rule '{}' cannot be applied", rule.rule),
            format!(
                "The server reports for rule '{}': {}. The HA manager ignores it.",
                rule.rule,
                messages.join("; ")
            ),
            subjects,
            None,
            Vec::new(),
        ));
    }
    let broken: Vec<(String, String)> = ctx
        .view
        .ha
        .values()
        .filter_map(|h| h.errors.as_ref().map(|e| (h.sid.to_string(), json_text(e))))
        .collect();
    if !broken.is_empty() {
        let detail: Vec<String> = broken.iter().map(|(s, e)| format!("{s}: {e}")).collect();
        out.push(finding(
            "rule-infeasible",
            Severity::Medium,
            format!("{} HA resource(s) have configuration errors", broken.len()),
            format!("The server reports: {}.", short_list(&detail, 10)),
            broken.into_iter().map(|(s, _)| s).collect(),
            None,
            Vec::new(),
        ));
    }
}

/// A server error value as text: strings as they are, objects as `key: message` pairs.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}: {}", json_text(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
