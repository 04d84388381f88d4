//! PVE 9 HA rules semantics: the effective rule set (stored rules plus the synthetic `ha-group-*` rules of
//! unmigrated groups), the feasibility checker's checks (per rule type and between the two types), and per-service
//! node/resource affinity.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::params::split_list;
use crate::state::{Cluster, Obj, Section};

/// Errors per rule, per parameter.
pub type RuleErrors = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn resources_of(s: &Section) -> Vec<String> {
    s.props
        .get("resources")
        .and_then(Value::as_str)
        .map(split_list)
        .unwrap_or_default()
}

fn enabled(s: &Section) -> bool {
    !s.props.contains_key("disable")
}

/// Parse `node[:prio],...` into a map.
pub fn parse_nodes(text: &str) -> BTreeMap<String, i64> {
    split_list(text)
        .into_iter()
        .map(|tok| match tok.split_once(':') {
            Some((n, p)) => (n.to_string(), p.parse().unwrap_or(0)),
            None => (tok, 0),
        })
        .collect()
}

/// Stored rules, plus on PVE 9 before migration a synthetic `ha-group-<g>` rule per group in use.
pub fn effective_rules(c: &Cluster) -> Vec<Section> {
    let mut out = c.rules.sections.clone();
    if c.major != crate::specs::Major::Pve9 || c.groups.sections.is_empty() {
        return out;
    }
    for (i, g) in c.groups.sections.iter().enumerate() {
        let members: Vec<String> = c
            .resources
            .sections
            .iter()
            .filter(|r| r.props.get("group").and_then(Value::as_str) == Some(g.id.as_str()))
            .map(|r| format!("{}:{}", r.kind, r.id))
            .collect();
        if members.is_empty() {
            continue;
        }
        let mut props = Obj::new();
        if let Some(cm) = g.props.get("comment") {
            props.insert("comment".into(), cm.clone());
        } else {
            props.insert(
                "comment".into(),
                json!(format!("Generated from HA group '{}'.", g.id)),
            );
        }
        let nodes = parse_nodes(g.props.get("nodes").and_then(Value::as_str).unwrap_or(""));
        let text: Vec<String> = nodes
            .iter()
            .map(|(n, p)| {
                if *p == 0 {
                    n.clone()
                } else {
                    format!("{n}:{p}")
                }
            })
            .collect();
        props.insert("nodes".into(), json!(text.join(",")));
        let mut sorted = members;
        sorted.sort();
        props.insert("resources".into(), json!(sorted.join(",")));
        if g.props.get("restricted").and_then(Value::as_i64) == Some(1) {
            props.insert("strict".into(), json!(1));
        }
        out.push(Section {
            kind: "node-affinity".into(),
            id: format!("ha-group-{}", g.id),
            props,
            order: 1000 + i as i64,
        });
    }
    out
}

fn add(errors: &mut RuleErrors, rule: &str, msg: String) {
    let list = errors
        .entry(rule.to_string())
        .or_default()
        .entry("resources".into())
        .or_default();
    if !list.contains(&msg) {
        list.push(msg);
    }
}

/// The checker's main feasibility checks over enabled rules.
pub fn check(c: &Cluster, rules: &[Section]) -> RuleErrors {
    let mut errors = RuleErrors::new();
    let enabled: Vec<&Section> = rules.iter().filter(|s| enabled(s)).collect();
    let mut node_aff: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in enabled.iter().filter(|r| r.kind == "node-affinity") {
        for sid in resources_of(r) {
            node_aff.entry(sid).or_default().push(&r.id);
        }
    }
    for (sid, ids) in &node_aff {
        if ids.len() > 1 {
            for id in ids {
                add(
                    &mut errors,
                    id,
                    format!("resource '{sid}' is already used in another node affinity rule"),
                );
            }
        }
    }
    let res_aff: Vec<&&Section> = enabled
        .iter()
        .filter(|r| r.kind == "resource-affinity")
        .collect();
    for r in &res_aff {
        let members = resources_of(r);
        if members.len() < 2 {
            add(
                &mut errors,
                &r.id,
                "rule is ineffective as there are less than two resources".into(),
            );
        }
        let negative = r.props.get("affinity").and_then(Value::as_str) == Some("negative");
        if negative && members.len() > c.nodes.len() {
            add(
                &mut errors,
                &r.id,
                "rule defines more resources than available nodes".into(),
            );
        }
    }
    for p in res_aff
        .iter()
        .filter(|r| r.props.get("affinity").and_then(Value::as_str) == Some("positive"))
    {
        let ps: BTreeSet<String> = resources_of(p).into_iter().collect();
        for n in res_aff
            .iter()
            .filter(|r| r.props.get("affinity").and_then(Value::as_str) == Some("negative"))
        {
            let shared = resources_of(n)
                .into_iter()
                .filter(|s| ps.contains(s))
                .count();
            if shared >= 2 {
                add(
                    &mut errors,
                    &p.id,
                    "rule shares two or more resources with a negative resource affinity rule"
                        .into(),
                );
                add(
                    &mut errors,
                    &n.id,
                    "rule shares two or more resources with a positive resource affinity rule"
                        .into(),
                );
            }
        }
    }
    let node_rules: Vec<&Section> = enabled
        .iter()
        .copied()
        .filter(|r| r.kind == "node-affinity")
        .collect();
    let res_rules: Vec<&Section> = res_aff.iter().map(|r| **r).collect();
    inter_plugin_checks(&mut errors, &node_rules, &res_rules);
    errors
}

fn shares_resources(a: &Section, b: &Section) -> bool {
    let theirs = resources_of(b);
    resources_of(a).iter().any(|s| theirs.contains(s))
}

fn affinity_is(r: &Section, which: &str) -> bool {
    r.props.get("affinity").and_then(Value::as_str) == Some(which)
}

/// Positive rules merged into sets that share no resource (`find_disjoint_rules_resource_sets`): the rule ids
/// and the resources of each set.
fn disjoint_positive_sets<'a>(positive: &[&'a Section]) -> Vec<(Vec<&'a str>, BTreeSet<String>)> {
    let mut sets: Vec<(Vec<&str>, BTreeSet<String>)> = Vec::new();
    for r in positive {
        let mut ids = vec![r.id.as_str()];
        let mut members: BTreeSet<String> = resources_of(r).into_iter().collect();
        // Fold in every earlier set this rule touches, so sets joined only through this rule merge too.
        sets.retain(|(other_ids, other)| {
            if other.is_disjoint(&members) {
                return true;
            }
            ids.extend(other_ids.iter().copied());
            members.extend(other.iter().cloned());
            false
        });
        sets.push((ids, members));
    }
    sets
}

/// The checks between node-affinity and resource-affinity rules (`PVE::HA::Rules`' global checks, in their
/// registration order), which refuse combinations whose placement the CRM cannot decide simply.
fn inter_plugin_checks(errors: &mut RuleErrors, node_rules: &[&Section], res_rules: &[&Section]) {
    for ra in res_rules {
        let paired: Vec<&&Section> = node_rules
            .iter()
            .filter(|na| shares_resources(ra, na))
            .collect();
        let multiple = paired.iter().any(|na| {
            let prios: BTreeSet<i64> =
                parse_nodes(na.props.get("nodes").and_then(Value::as_str).unwrap_or(""))
                    .into_values()
                    .collect();
            prios.len() > 1
        });
        if multiple {
            add(
                errors,
                &ra.id,
                "resources are in node affinity rules with multiple priorities".into(),
            );
            for na in paired {
                add(
                    errors,
                    &na.id,
                    "resources are in a resource affinity rule and cannot be in a node affinity rule \
                     with multiple priorities"
                        .into(),
                );
            }
        }
    }
    let positive: Vec<&Section> = res_rules
        .iter()
        .copied()
        .filter(|r| affinity_is(r, "positive"))
        .collect();
    for (ids, members) in disjoint_positive_sets(&positive) {
        let paired: Vec<&&Section> = node_rules
            .iter()
            .filter(|na| resources_of(na).iter().any(|s| members.contains(s)))
            .collect();
        if paired.len() > 1 {
            for id in ids {
                add(
                    errors,
                    id,
                    "resources are in multiple node affinity rules".into(),
                );
            }
            for na in paired {
                add(
                    errors,
                    &na.id,
                    "at least one resource is in a positive resource affinity rule and there are other \
                     resources in at least one other node affinity rule already"
                        .into(),
                );
            }
        }
    }
    for neg in res_rules.iter().filter(|r| affinity_is(r, "negative")) {
        let members: BTreeSet<String> = resources_of(neg).into_iter().collect();
        let mut located = BTreeSet::new();
        let mut allowed = BTreeSet::new();
        let mut paired = Vec::new();
        for na in node_rules {
            let common: Vec<String> = resources_of(na)
                .into_iter()
                .filter(|s| members.contains(s))
                .collect();
            if common.is_empty() {
                continue;
            }
            located.extend(common);
            allowed.extend(
                parse_nodes(na.props.get("nodes").and_then(Value::as_str).unwrap_or(""))
                    .into_keys(),
            );
            paired.push(na);
        }
        if allowed.len() < located.len() {
            add(
                errors,
                &neg.id,
                "two or more resources are restricted to less nodes than available to the resources"
                    .into(),
            );
            for na in paired {
                add(
                    errors,
                    &na.id,
                    "at least one resource is in a negative resource affinity rule and this rule would \
                     restrict these to less nodes than available to the resources"
                        .into(),
                );
            }
        }
    }
}

/// Enabled, feasible rules only: what the CRM actually applies.
fn applied(c: &Cluster) -> Vec<Section> {
    let all = effective_rules(c);
    let errors = check(c, &all);
    all.into_iter()
        .filter(|s| enabled(s) && !errors.contains_key(&s.id))
        .collect()
}

/// Node preference for a service: PVE 8 group or PVE 9 node-affinity rule (`nodes`, `strict`).
pub fn node_affinity(c: &Cluster, sid: &str) -> Option<(BTreeMap<String, i64>, bool)> {
    let section = c.ha_resource(sid)?;
    if c.major == crate::specs::Major::Pve8 {
        let g = c.groups.get(section.props.get("group")?.as_str()?)?;
        let nodes = parse_nodes(g.props.get("nodes").and_then(Value::as_str).unwrap_or(""));
        let restricted = g.props.get("restricted").and_then(Value::as_i64) == Some(1);
        return Some((nodes, restricted));
    }
    applied(c)
        .into_iter()
        .filter(|r| r.kind == "node-affinity")
        .find(|r| resources_of(r).iter().any(|s| s == sid))
        .map(|r| {
            let nodes = parse_nodes(r.props.get("nodes").and_then(Value::as_str).unwrap_or(""));
            (
                nodes,
                r.props.get("strict").and_then(Value::as_i64) == Some(1),
            )
        })
}

/// Whether the service fails back to a preferred node (group `nofailback` on PVE 8, `failback` on PVE 9).
pub fn failback(c: &Cluster, sid: &str) -> bool {
    let Some(section) = c.ha_resource(sid) else {
        return true;
    };
    if let Some(fb) = section.props.get("failback").and_then(Value::as_i64) {
        return fb == 1;
    }
    if let Some(g) = section
        .props
        .get("group")
        .and_then(Value::as_str)
        .and_then(|g| c.groups.get(g))
    {
        return g.props.get("nofailback").and_then(Value::as_i64) != Some(1);
    }
    true
}

/// Positive and negative resource-affinity partners of a service (PVE 9).
pub fn affinity_partners(c: &Cluster, sid: &str) -> (Vec<String>, Vec<String>) {
    let mut pos = BTreeSet::new();
    let mut neg = BTreeSet::new();
    for r in applied(c).iter().filter(|r| r.kind == "resource-affinity") {
        let members = resources_of(r);
        if !members.iter().any(|s| s == sid) {
            continue;
        }
        let target = if r.props.get("affinity").and_then(Value::as_str) == Some("positive") {
            &mut pos
        } else {
            &mut neg
        };
        target.extend(members.into_iter().filter(|s| s != sid));
    }
    (pos.into_iter().collect(), neg.into_iter().collect())
}
