//! `select_service_node`: the node the CRM's basic scheduler picks for one service.
//!
//! Mirrors upstream's order of steps: node affinity → highest priority class → (stay when failback is off) →
//! failed nodes → negative then positive resource affinity → maintenance fallback → lowest count, ties by name.

use std::collections::{BTreeMap, BTreeSet};

use crate::affinity::{compile, Compiled};
use crate::types::Cluster;
use crate::usage::{used_nodes, Usage};

/// How `select_service_node` weighs the service's current node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// Pick the best-scored node (recovery, rebalance on start).
    #[default]
    BestScore,
    /// Normal rounds: stay on the current node if it is still allowed (failback rules decide).
    None,
    /// After a start failure: the next best node that has not failed yet.
    TryNext,
}

/// Per-service CRM state that only some selections read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// Nodes the service already failed to start on (`failed_nodes`), avoided by `TryNext`.
    pub failed_nodes: Vec<String>,
    /// The node the service left for maintenance (`maintenance_node`), preferred when it is a candidate.
    pub maintenance_node: Option<String>,
}

/// The node a service should run on, or None when no node qualifies.
pub fn select_service_node(
    c: &Cluster,
    usage: &Usage,
    sid: &str,
    current: &str,
    pref: Preference,
) -> Option<String> {
    select_service_node_with(c, usage, sid, current, pref, &Hints::default())
}

/// [`select_service_node`] with the service's failed nodes and maintenance node.
pub fn select_service_node_with(
    c: &Cluster,
    usage: &Usage,
    sid: &str,
    current: &str,
    pref: Preference,
    hints: &Hints,
) -> Option<String> {
    select_compiled(c, &compile(c), usage, sid, current, pref, hints)
}

/// The selection proper, on rules already compiled (recovery compiles once for many services).
pub(crate) fn select_compiled(
    c: &Cluster,
    rules: &Compiled,
    usage: &Usage,
    sid: &str,
    current: &str,
    pref: Preference,
    hints: &Hints,
) -> Option<String> {
    let (allowed, mut candidates) = node_affinity(rules, usage, sid);
    if candidates.is_empty() {
        return None;
    }

    let (together, separate) = resource_affinity(c, rules, usage, sid);
    let failback = c.services.get(sid).is_none_or(|s| s.failback);
    let current_allowed_by_affinity = together.contains_key(current) || !separate.contains(current);
    if pref == Preference::None
        && !failback
        && allowed.contains(current)
        && current_allowed_by_affinity
    {
        return Some(current.to_owned());
    }

    if pref == Preference::TryNext {
        for node in &hints.failed_nodes {
            candidates.remove(node.as_str());
        }
    }

    candidates.retain(|node| !separate.contains(*node));
    apply_positive(&together, &mut candidates);

    if let Some(node) = hints.maintenance_node.as_deref() {
        if candidates.contains(node) {
            return Some(node.to_owned());
        }
    }
    if pref == Preference::None && candidates.contains(current) {
        return Some(current.to_owned());
    }

    let mut ranked: Vec<(u32, &str)> = candidates
        .iter()
        .map(|node| (usage.count(node).unwrap_or(u32::MAX), *node))
        .collect();
    // Lower count first; ties by node name, as upstream's `$a cmp $b`.
    ranked.sort_unstable();
    let ranked: Vec<&str> = ranked.into_iter().map(|(_, node)| node).collect();

    let pick = match pref {
        Preference::TryNext => match ranked.iter().position(|n| *n == current) {
            Some(i) if i + 1 < ranked.len() => ranked.get(i + 1),
            _ => ranked.first(),
        },
        _ => ranked.first(),
    };
    pick.map(|node| (*node).to_owned())
}

/// Online nodes the service may run on, and those of them in its highest priority class.
fn node_affinity<'u>(
    rules: &Compiled,
    usage: &'u Usage,
    sid: &str,
) -> (BTreeSet<&'u str>, BTreeSet<&'u str>) {
    let Some(affinity) = rules.node_affinity.get(sid) else {
        let online: BTreeSet<&str> = usage.nodes().collect();
        return (online.clone(), online);
    };
    let mut by_priority: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for node in usage.nodes() {
        let priority = match affinity.nodes.get(node) {
            Some(priority) => *priority,
            // Non-strict affinity lets every other node in at the lowest priority.
            None if !affinity.strict => -1,
            None => continue,
        };
        by_priority.entry(priority).or_default().insert(node);
    }
    let allowed = by_priority.values().flatten().copied().collect();
    let preferred = by_priority
        .pop_last()
        .map(|(_, nodes)| nodes)
        .unwrap_or_default();
    (allowed, preferred)
}

/// Where positive partners run (node → how many) and where negative partners run or are headed.
fn resource_affinity(
    c: &Cluster,
    rules: &Compiled,
    usage: &Usage,
    sid: &str,
) -> (BTreeMap<String, u32>, BTreeSet<String>) {
    let mut together: BTreeMap<String, u32> = BTreeMap::new();
    let mut separate = BTreeSet::new();
    let partner_nodes = |other: &str| match c.services.get(other) {
        Some(service) => used_nodes(service, |n| usage.contains(n)),
        None => (None, None),
    };
    for other in rules.together.get(sid).into_iter().flatten() {
        let (current, target) = partner_nodes(other);
        // Only the target counts for a moving partner, so moved services do not pull back to the source (#6801).
        if let Some(node) = target.or(current) {
            *together.entry(node).or_default() += 1;
        }
    }
    for other in rules.separate.get(sid).into_iter().flatten() {
        let (current, target) = partner_nodes(other);
        separate.extend(current);
        separate.extend(target);
    }
    (together, separate)
}

/// Keeps only the candidate holding most positive partners (ties by name), if any partner runs on a candidate.
fn apply_positive(together: &BTreeMap<String, u32>, candidates: &mut BTreeSet<&str>) {
    let mut majority: Option<(&str, u32)> = None;
    for (node, count) in together {
        if !candidates.contains(node.as_str()) {
            continue;
        }
        // Iteration is by name, so a strictly greater count is needed to displace an earlier node.
        if majority.is_none_or(|(_, best)| *count > best) {
            majority = Some((node.as_str(), *count));
        }
    }
    if let Some((node, _)) = majority {
        candidates.retain(|n| *n == node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CrmState, Node, NodeAffinity, Service};

    fn cluster(services: &[(&str, &str)]) -> Cluster {
        Cluster {
            nodes: ["n1", "n2", "n3"]
                .iter()
                .map(|n| Node {
                    name: (*n).to_owned(),
                    online: true,
                })
                .collect(),
            services: services
                .iter()
                .map(|(sid, node)| {
                    let service = Service {
                        sid: (*sid).to_owned(),
                        node: (*node).to_owned(),
                        state: CrmState::Started,
                        target: None,
                        failback: true,
                    };
                    ((*sid).to_owned(), service)
                })
                .collect(),
            ..Cluster::default()
        }
    }

    fn select(c: &Cluster, sid: &str, pref: Preference, hints: &Hints) -> Option<String> {
        let current = c
            .services
            .get(sid)
            .map(|s| s.node.clone())
            .unwrap_or_default();
        select_service_node_with(c, &Usage::from_cluster(c), sid, &current, pref, hints)
    }

    #[test]
    fn none_stays_put_when_all_nodes_are_equal() {
        let c = cluster(&[("vm:1", "n3"), ("vm:2", "n3")]);
        assert_eq!(
            select(&c, "vm:1", Preference::None, &Hints::default()).as_deref(),
            Some("n3")
        );
        assert_eq!(
            select(&c, "vm:1", Preference::BestScore, &Hints::default()).as_deref(),
            Some("n1")
        );
    }

    #[test]
    fn try_next_skips_failed_nodes_and_takes_the_next_ranked() {
        let c = cluster(&[("vm:1", "n1"), ("vm:2", "n2")]);
        let hints = Hints {
            failed_nodes: vec!["n1".to_owned()],
            maintenance_node: None,
        };
        // Ranked n3 (0), n2 (1); the current node n1 is gone, so the best remaining wins.
        assert_eq!(
            select(&c, "vm:1", Preference::TryNext, &hints).as_deref(),
            Some("n3")
        );
        let nowhere = Hints {
            failed_nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            maintenance_node: None,
        };
        assert_eq!(select(&c, "vm:1", Preference::TryNext, &nowhere), None);
    }

    #[test]
    fn try_next_without_failures_moves_past_the_current_node() {
        let c = cluster(&[("vm:1", "n1")]);
        // Ranked n2 (0), n3 (0), n1 (1): n1 is last, so upstream wraps to the first.
        assert_eq!(
            select(&c, "vm:1", Preference::TryNext, &Hints::default()).as_deref(),
            Some("n2")
        );
        let c = cluster(&[("vm:1", "n2"), ("vm:2", "n1"), ("vm:3", "n1")]);
        // Ranked n3 (0), n2 (1), n1 (2): the one after the current n2 is n1.
        assert_eq!(
            select(&c, "vm:1", Preference::TryNext, &Hints::default()).as_deref(),
            Some("n1")
        );
    }

    #[test]
    fn maintenance_node_wins_when_it_is_a_candidate() {
        let c = cluster(&[("vm:1", "n2"), ("vm:2", "n1"), ("vm:3", "n1")]);
        let hints = Hints {
            failed_nodes: vec![],
            maintenance_node: Some("n1".to_owned()),
        };
        assert_eq!(
            select(&c, "vm:1", Preference::BestScore, &hints).as_deref(),
            Some("n1")
        );
    }

    #[test]
    fn offline_nodes_are_never_chosen_and_unknown_services_may_go_anywhere() {
        let mut c = cluster(&[]);
        c.nodes[0].online = false;
        assert_eq!(
            select(&c, "vm:9", Preference::BestScore, &Hints::default()).as_deref(),
            Some("n2")
        );
    }

    #[test]
    fn strict_affinity_to_offline_nodes_gives_none() {
        let mut c = cluster(&[("vm:1", "n1")]);
        c.nodes[0].online = false;
        let affinity = NodeAffinity {
            nodes: [("n1".to_owned(), 0)].into(),
            strict: true,
        };
        c.node_affinity.insert("vm:1".to_owned(), affinity);
        assert_eq!(
            select(&c, "vm:1", Preference::BestScore, &Hints::default()),
            None
        );
    }

    #[test]
    fn only_the_highest_online_priority_class_is_considered() {
        let mut c = cluster(&[("vm:2", "n2"), ("vm:3", "n2")]);
        let nodes = [
            ("n1".to_owned(), 5),
            ("n2".to_owned(), 3),
            ("n3".to_owned(), 3),
        ]
        .into();
        c.node_affinity.insert(
            "vm:1".to_owned(),
            NodeAffinity {
                nodes,
                strict: false,
            },
        );
        c.nodes[0].online = false;
        // n1 is offline, so the class at 3 counts: n3 carries less than n2.
        assert_eq!(
            select(&c, "vm:1", Preference::BestScore, &Hints::default()).as_deref(),
            Some("n3")
        );
    }
}
