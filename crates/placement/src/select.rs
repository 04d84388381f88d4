//! `select_service_node`: the node the CRM's basic scheduler picks for one service.
//!
//! Mirrors upstream's order of steps: node affinity → highest priority class → (stay when failback is off) →
//! failed nodes → negative then positive resource affinity → maintenance fallback → lowest count, ties by name.

use std::collections::{BTreeMap, BTreeSet};

use crate::round::{Frame, Round};
use crate::types::{Cluster, CrmState, Service};
use crate::usage::Usage;

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
    let frame = Frame::with_usage(c, usage);
    let round = Round::new(&frame, []);
    select_in(&round, sid, current, pref, hints).map(|i| frame.name(i).to_owned())
}

/// Where a service in `request_start` should start when the cluster sets `ha-rebalance-on-start`: the best-scored
/// node, if that is not `current` (the CRM then puts it in `request_start_balance` with that target). None: start
/// it where it is (rebalancing off, already on the best node, or no node qualifies).
pub fn rebalance_start_target(
    c: &Cluster,
    usage: &Usage,
    sid: &str,
    current: &str,
    hints: &Hints,
) -> Option<String> {
    if !c.rebalance_on_start {
        return None;
    }
    select_service_node_with(c, usage, sid, current, Preference::BestScore, hints)
        .filter(|best| best != current)
}

/// One CRM round over the services in `request_start`, in sid order: where each starts. `Some(target)`: the CRM
/// puts it in `request_start_balance` towards `target` (`ha-rebalance-on-start`); None: it starts on its node. Each
/// decision loads its node for the ones after it, as upstream's usage update does.
pub fn rebalance_starts(c: &Cluster) -> Vec<(String, Option<String>)> {
    let frame = Frame::from_cluster(c);
    let mut round = Round::new(&frame, []);
    let mut out = Vec::new();
    for (sid, service) in &c.services {
        if service.state != CrmState::RequestStart {
            continue;
        }
        let best = if c.rebalance_on_start {
            let hints = Hints::default();
            select_in(&round, sid, &service.node, Preference::BestScore, &hints)
                .map(|i| frame.name(i))
                .filter(|best| *best != service.node)
        } else {
            None
        };
        let next = match best {
            Some(target) => Service {
                state: CrmState::RequestStartBalance,
                target: Some(target.to_owned()),
                ..service.clone()
            },
            None => Service {
                state: CrmState::Started,
                ..service.clone()
            },
        };
        round.update(sid, next);
        out.push((sid.clone(), best.map(str::to_owned)));
    }
    out
}

/// Candidate nodes, all online: either listed, or every online node but the listed ones (both sorted), so that a
/// service free to go anywhere costs no more than one bound to a few nodes.
enum Candidates {
    Only(Vec<usize>),
    AllBut(Vec<usize>),
}

impl Candidates {
    fn contains(&self, i: usize) -> bool {
        match self {
            Candidates::Only(nodes) => nodes.binary_search(&i).is_ok(),
            Candidates::AllBut(nodes) => nodes.binary_search(&i).is_err(),
        }
    }

    fn remove(&mut self, i: usize) {
        match self {
            Candidates::Only(nodes) => {
                if let Ok(at) = nodes.binary_search(&i) {
                    nodes.remove(at);
                }
            }
            Candidates::AllBut(nodes) => {
                if let Err(at) = nodes.binary_search(&i) {
                    nodes.insert(at, i);
                }
            }
        }
    }

    fn is_empty(&self, round: &Round) -> bool {
        match self {
            Candidates::Only(nodes) => nodes.is_empty(),
            Candidates::AllBut(nodes) => nodes.len() >= round.online_count(),
        }
    }

    /// Every candidate, online in this round (the static scheduler scores them all).
    fn members(&self, round: &Round) -> Vec<usize> {
        match self {
            Candidates::Only(nodes) => nodes.clone(),
            Candidates::AllBut(nodes) => round.online_except(nodes),
        }
    }

    /// Best first: the higher static score, else the lower count; ties by node name, as upstream's `$a cmp $b`.
    fn ranked(&self, round: &Round, scores: Option<&[f64]>) -> Vec<usize> {
        if let Some(scores) = scores {
            let mut ranked = self.members(round);
            ranked.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            return ranked;
        }
        match self {
            Candidates::Only(nodes) => {
                let mut ranked = nodes.clone();
                ranked.sort_unstable_by_key(|&i| (round.count(i), i));
                ranked
            }
            Candidates::AllBut(nodes) => round.ranked_except(nodes),
        }
    }

    /// The first of [`Candidates::ranked`].
    fn best(&self, round: &Round, scores: Option<&[f64]>) -> Option<usize> {
        if let Some(scores) = scores {
            let members = self.members(round);
            return members
                .into_iter()
                .min_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        }
        match self {
            Candidates::Only(nodes) => nodes.iter().copied().min_by_key(|&i| (round.count(i), i)),
            Candidates::AllBut(nodes) => round.best_except(nodes),
        }
    }
}

/// The selection proper, within a round (recovery places many services in one).
pub(crate) fn select_in(
    round: &Round,
    sid: &str,
    current: &str,
    pref: Preference,
    hints: &Hints,
) -> Option<usize> {
    let (allowed, mut candidates) = node_affinity(round, sid);
    if candidates.is_empty(round) {
        return None;
    }

    let (together, separate) = resource_affinity(round, sid);
    let failback = round.service(sid).is_none_or(|s| s.failback);
    let current = round.online(current);
    let current_allowed_by_affinity =
        current.is_none_or(|i| together.contains_key(&i) || !separate.contains(&i));
    if pref == Preference::None && !failback && current_allowed_by_affinity {
        let allowed = |i: &usize| allowed.as_ref().is_none_or(|a| a.binary_search(i).is_ok());
        if let Some(i) = current.filter(allowed) {
            return Some(i);
        }
    }

    if pref == Preference::TryNext {
        for node in &hints.failed_nodes {
            if let Some(i) = round.online(node) {
                candidates.remove(i);
            }
        }
    }

    for &i in &separate {
        candidates.remove(i);
    }
    apply_positive(&together, &mut candidates);

    if let Some(i) = hints
        .maintenance_node
        .as_deref()
        .and_then(|n| round.online(n))
    {
        if candidates.contains(i) {
            return Some(i);
        }
    }
    if pref == Preference::None {
        if let Some(i) = current.filter(|i| candidates.contains(*i)) {
            return Some(i);
        }
    }

    let scores = round.static_scores(sid);
    if pref == Preference::TryNext {
        let ranked = candidates.ranked(round, scores.as_deref());
        let next = match ranked.iter().position(|n| Some(*n) == current) {
            Some(at) if at + 1 < ranked.len() => ranked.get(at + 1),
            _ => ranked.first(),
        };
        return next.copied();
    }
    candidates.best(round, scores.as_deref())
}

/// The online nodes the service may run on at all (None: every one), and its highest priority class among them.
fn node_affinity(round: &Round, sid: &str) -> (Option<Vec<usize>>, Candidates) {
    let Some(affinity) = round.frame.rules.node_affinity.get(sid) else {
        return (None, Candidates::AllBut(Vec::new()));
    };
    let mut listed: Vec<(usize, i64)> = affinity
        .nodes
        .iter()
        .filter_map(|(node, priority)| round.online(node).map(|i| (i, *priority)))
        .collect();
    listed.sort_unstable();
    let top_listed = listed.iter().map(|(_, p)| *p).max();
    let class = |top: i64| -> Vec<usize> {
        let members = listed.iter().filter(|(_, p)| *p == top);
        members.map(|(i, _)| *i).collect()
    };
    if affinity.strict {
        let preferred = top_listed.map(class).unwrap_or_default();
        let members = listed.iter().map(|(i, _)| *i).collect();
        return (Some(members), Candidates::Only(preferred));
    }
    // Non-strict affinity lets every other node in at the lowest priority, -1.
    let others = round.online_count() > listed.len();
    let top = match (top_listed, others) {
        (Some(p), true) => p.max(-1),
        (Some(p), false) => p,
        (None, true) => -1,
        (None, false) => return (None, Candidates::Only(Vec::new())),
    };
    let preferred = if top == -1 {
        let below = listed.iter().filter(|(_, p)| *p < -1);
        Candidates::AllBut(below.map(|(i, _)| *i).collect())
    } else {
        Candidates::Only(class(top))
    };
    (None, preferred)
}

/// Where positive partners run (node → how many) and where negative partners run or are headed.
fn resource_affinity(round: &Round, sid: &str) -> (BTreeMap<usize, u32>, BTreeSet<usize>) {
    let rules = &round.frame.rules;
    let mut together: BTreeMap<usize, u32> = BTreeMap::new();
    let mut separate = BTreeSet::new();
    let partner_nodes = |other: &str| match round.service(other) {
        Some(service) => round.used(service),
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
fn apply_positive(together: &BTreeMap<usize, u32>, candidates: &mut Candidates) {
    let mut majority: Option<(usize, u32)> = None;
    for (&node, &count) in together {
        if !candidates.contains(node) {
            continue;
        }
        // Iteration is in name order, so a strictly greater count is needed to displace an earlier node.
        if majority.is_none_or(|(_, best)| count > best) {
            majority = Some((node, count));
        }
    }
    if let Some((node, _)) = majority {
        *candidates = Candidates::Only(vec![node]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Node, NodeAffinity};

    fn cluster(services: &[(&str, &str)]) -> Cluster {
        Cluster {
            nodes: ["n1", "n2", "n3"]
                .iter()
                .map(|n| Node {
                    name: (*n).to_owned(),
                    online: true,
                    stats: None,
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
                        stats: None,
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
    fn rebalance_on_start_names_a_target_only_when_enabled_and_better() {
        let mut c = cluster(&[("vm:1", "n1"), ("vm:2", "n1"), ("vm:3", "n2")]);
        if let Some(s) = c.services.get_mut("vm:1") {
            s.state = CrmState::RequestStart;
        }
        let start = |c: &Cluster, sid: &str, node: &str| {
            rebalance_start_target(c, &Usage::from_cluster(c), sid, node, &Hints::default())
        };
        assert_eq!(start(&c, "vm:1", "n1"), None);
        c.rebalance_on_start = true;
        // n3 carries nothing; vm:1 itself does not count yet in request_start.
        assert_eq!(start(&c, "vm:1", "n1").as_deref(), Some("n3"));
        assert_eq!(start(&c, "vm:1", "n3"), None);
        let round: Vec<(String, Option<String>)> = rebalance_starts(&c);
        assert_eq!(round, [("vm:1".to_owned(), Some("n3".to_owned()))]);
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
