//! The rules as the CRM applies them: infeasible rules dropped, connected positive rules merged, negative affinity
//! inherited across positive groups, and node affinity shared by every member of a positive group.
//!
//! Node affinity arrives per sid, not per rule, so a "rule" here is a sid's entry; checks that upstream runs per
//! node-affinity rule are run per member sid, which drops the same resource-affinity rules.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{Cluster, NodeAffinity, ResourceAffinity};

/// The constraints one service is placed under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compiled {
    /// Effective node affinity per sid.
    pub node_affinity: BTreeMap<String, NodeAffinity>,
    /// Sids each sid must run with.
    pub together: BTreeMap<String, BTreeSet<String>>,
    /// Sids each sid must run apart from.
    pub separate: BTreeMap<String, BTreeSet<String>>,
}

/// Whether a node affinity has more than one priority class among its listed nodes.
fn has_multiple_priorities(affinity: &NodeAffinity) -> bool {
    let mut priorities = affinity.nodes.values();
    match priorities.next() {
        Some(first) => priorities.any(|p| p != first),
        None => false,
    }
}

/// Connected components of the positive rules: (member sids, indices of the rules merged into it).
fn positive_components(rules: &[&ResourceAffinity]) -> Vec<(BTreeSet<String>, Vec<usize>)> {
    let mut components: Vec<(BTreeSet<String>, Vec<usize>)> = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let mut merged = (rule.resources.clone(), vec![index]);
        // Pull in every earlier component that overlaps; what remains is disjoint from the new one.
        let mut rest = Vec::with_capacity(components.len());
        for component in components {
            if component.0.is_disjoint(&merged.0) {
                rest.push(component);
            } else {
                merged.0.extend(component.0);
                merged.1.extend(component.1);
            }
        }
        rest.push(merged);
        components = rest;
    }
    components
}

/// Compiles the cluster's rules the way the CRM does before scheduling (`PVE::HA::Rules::transform` + `compile`).
pub(crate) fn compile(c: &Cluster) -> Compiled {
    let node_count = c.nodes.len();
    let mut node_affinity = c.node_affinity.clone();
    let (positive, negative): (Vec<&ResourceAffinity>, Vec<&ResourceAffinity>) =
        c.resource_affinity.iter().partition(|r| r.positive);

    // Every check sees the original rule set; everything found is dropped together afterwards.
    let mut drop_positive = vec![false; positive.len()];
    let mut drop_negative = vec![false; negative.len()];
    let mut drop_node_affinity: BTreeSet<String> = BTreeSet::new();

    for (i, rule) in positive.iter().enumerate() {
        drop_positive[i] |= rule.resources.len() < 2;
    }
    for (i, rule) in negative.iter().enumerate() {
        drop_negative[i] |= rule.resources.len() < 2 || rule.resources.len() > node_count;
    }

    let components = positive_components(&positive);
    for (members, rule_indices) in &components {
        for (j, rule) in negative.iter().enumerate() {
            if members.intersection(&rule.resources).count() >= 2 {
                drop_negative[j] = true;
                for &i in rule_indices {
                    drop_positive[i] = true;
                }
            }
        }
        // A positive group may take its node affinity from one source only.
        let sources: BTreeSet<_> = members
            .iter()
            .filter_map(|sid| c.node_affinity.get(sid))
            .collect();
        if sources.len() > 1 {
            for &i in rule_indices {
                drop_positive[i] = true;
            }
            drop_node_affinity.extend(
                members
                    .iter()
                    .filter(|sid| c.node_affinity.contains_key(*sid))
                    .cloned(),
            );
        }
    }

    let all_rules = positive
        .iter()
        .zip(drop_positive.iter_mut())
        .chain(negative.iter().zip(drop_negative.iter_mut()));
    for (rule, dropped) in all_rules {
        let with_priorities: Vec<&String> = rule
            .resources
            .iter()
            .filter(|sid| {
                c.node_affinity
                    .get(*sid)
                    .is_some_and(has_multiple_priorities)
            })
            .collect();
        if !with_priorities.is_empty() {
            *dropped = true;
            drop_node_affinity.extend(with_priorities.into_iter().cloned());
        }
    }

    for (rule, dropped) in negative.iter().zip(drop_negative.iter_mut()) {
        let located: Vec<&String> = rule
            .resources
            .iter()
            .filter(|sid| c.node_affinity.contains_key(*sid))
            .collect();
        let allowed: BTreeSet<&String> = located
            .iter()
            .filter_map(|sid| c.node_affinity.get(*sid))
            .flat_map(|a| a.nodes.keys())
            .collect();
        if allowed.len() < located.len() {
            *dropped = true;
            drop_node_affinity.extend(located.into_iter().cloned());
        }
    }

    for sid in &drop_node_affinity {
        node_affinity.remove(sid);
    }

    let kept_positive: Vec<&ResourceAffinity> = positive
        .iter()
        .zip(&drop_positive)
        .filter(|(_, d)| !**d)
        .map(|(r, _)| *r)
        .collect();
    let kept_negative: Vec<&ResourceAffinity> = negative
        .iter()
        .zip(&drop_negative)
        .filter(|(_, d)| !**d)
        .map(|(r, _)| *r)
        .collect();

    let mut compiled = Compiled {
        node_affinity,
        ..Compiled::default()
    };
    let groups: Vec<BTreeSet<String>> = positive_components(&kept_positive)
        .into_iter()
        .map(|(m, _)| m)
        .collect();

    for members in &groups {
        for sid in members {
            let others = members.iter().filter(|o| *o != sid).cloned();
            compiled
                .together
                .entry(sid.clone())
                .or_default()
                .extend(others);
        }
        // Every member shares the node affinity of the (single) member that has one.
        let shared = members
            .iter()
            .find_map(|sid| compiled.node_affinity.get(sid).cloned());
        if let Some(shared) = shared {
            for sid in members {
                compiled.node_affinity.insert(sid.clone(), shared.clone());
            }
        }
    }

    let mut add_separate = |a: &String, b: &String| {
        if a != b {
            compiled
                .separate
                .entry(a.clone())
                .or_default()
                .insert(b.clone());
            compiled
                .separate
                .entry(b.clone())
                .or_default()
                .insert(a.clone());
        }
    };
    for rule in &kept_negative {
        for a in &rule.resources {
            for b in &rule.resources {
                add_separate(a, b);
            }
        }
    }
    // Negative affinity of one positive member holds for all of them (upstream's implicit negative rules).
    for members in &groups {
        for rule in &kept_negative {
            if rule.resources.is_disjoint(members) {
                continue;
            }
            for outsider in rule.resources.iter().filter(|s| !members.contains(*s)) {
                for member in members {
                    add_separate(member, outsider);
                }
            }
        }
    }
    compiled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Node;

    fn rule(name: &str, positive: bool, sids: &[&str]) -> ResourceAffinity {
        ResourceAffinity {
            name: name.to_owned(),
            positive,
            resources: sids.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn cluster(rules: Vec<ResourceAffinity>) -> Cluster {
        Cluster {
            nodes: ["a", "b", "c"]
                .iter()
                .map(|n| Node {
                    name: (*n).to_owned(),
                    online: true,
                    stats: None,
                })
                .collect(),
            resource_affinity: rules,
            ..Cluster::default()
        }
    }

    fn set(sids: &[&str]) -> BTreeSet<String> {
        sids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn connected_positive_rules_merge_and_inherit_negative_partners() {
        let c = cluster(vec![
            rule("p1", true, &["vm:1", "vm:2"]),
            rule("p2", true, &["vm:2", "vm:3"]),
            rule("n", false, &["vm:3", "vm:9"]),
        ]);
        let compiled = compile(&c);
        assert_eq!(compiled.together.get("vm:1"), Some(&set(&["vm:2", "vm:3"])));
        assert_eq!(compiled.separate.get("vm:1"), Some(&set(&["vm:9"])));
        assert_eq!(
            compiled.separate.get("vm:9"),
            Some(&set(&["vm:1", "vm:2", "vm:3"]))
        );
    }

    #[test]
    fn infeasible_rules_are_dropped() {
        let c = cluster(vec![
            rule("single", true, &["vm:1"]),
            rule("too-many", false, &["vm:1", "vm:2", "vm:3", "vm:4"]),
            rule("p", true, &["vm:5", "vm:6"]),
            rule("n", false, &["vm:5", "vm:6"]),
        ]);
        assert_eq!(compile(&c), Compiled::default());
    }

    #[test]
    fn a_positive_group_shares_its_single_node_affinity() {
        let mut c = cluster(vec![rule("p", true, &["vm:1", "vm:2"])]);
        let affinity = NodeAffinity {
            nodes: [("b".to_owned(), 1)].into(),
            strict: true,
        };
        c.node_affinity.insert("vm:2".to_owned(), affinity.clone());
        assert_eq!(compile(&c).node_affinity.get("vm:1"), Some(&affinity));
    }

    #[test]
    fn multiple_priorities_drop_the_resource_rule_and_the_node_affinity() {
        let mut c = cluster(vec![rule("p", true, &["vm:1", "vm:2"])]);
        let affinity = NodeAffinity {
            nodes: [("a".to_owned(), 2), ("b".to_owned(), 1)].into(),
            strict: false,
        };
        c.node_affinity.insert("vm:1".to_owned(), affinity);
        assert_eq!(compile(&c), Compiled::default());
    }
}
