//! The placement steps written the direct way, on sets of node names rebuilt for every service: slow, but a
//! line-by-line reading of upstream's `select_service_node` and recovery loop. Test-only: the indexed implementation
//! must agree with it on random clusters.

use std::collections::{BTreeMap, BTreeSet};

use crate::affinity::{compile, Compiled};
use crate::recover::{is_recovered, Recovery};
use crate::select::{Hints, Preference};
use crate::types::{Cluster, CrmState};
use crate::usage::{used_nodes, Usage};

/// The selection proper, on rules already compiled (recovery compiles once for many services).
pub(super) fn select_compiled(
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

/// Recovery of every service on the failed nodes on a copy of the whole cluster.
pub(super) fn recover(c: &Cluster, failed: &BTreeSet<String>) -> Vec<Recovery> {
    let mut cluster = c.clone();
    for node in &mut cluster.nodes {
        if failed.contains(&node.name) {
            node.online = false;
        }
    }

    let mut pending = Vec::new();
    for (sid, service) in &mut cluster.services {
        // Services already in `recovery` (from an earlier round) are retried wherever their node is.
        let fenced = failed.contains(&service.node) && is_recovered(service.state);
        if fenced || service.state == CrmState::Recovery {
            // Fencing resets the service to its node alone: a migration target is forgotten.
            service.state = CrmState::Recovery;
            service.target = None;
            pending.push(sid.clone());
        }
    }

    let rules = compile(&cluster);
    let mut usage = Usage::from_cluster(&cluster);
    let mut result = Vec::with_capacity(pending.len());
    for sid in pending {
        let Some(from) = cluster.services.get(&sid).map(|s| s.node.clone()) else {
            continue;
        };
        let to = select_compiled(
            &cluster,
            &rules,
            &usage,
            &sid,
            &from,
            Preference::BestScore,
            &Hints::default(),
        );
        if let (Some(node), Some(service)) = (&to, cluster.services.get_mut(&sid)) {
            // A recovered service is `started` or `request_stop` on its new node; both count there.
            service.node = node.clone();
            service.state = if c
                .services
                .get(&sid)
                .is_some_and(|s| s.state == CrmState::Stopped)
            {
                CrmState::RequestStop
            } else {
                CrmState::Started
            };
            usage.remove_service(&sid);
            usage.add_service(service);
        }
        result.push(Recovery { sid, from, to });
    }
    result
}

mod tests {
    use super::*;
    use crate::recover::Recoverer;
    use crate::select::select_service_node_with;
    use crate::types::{Node, NodeAffinity, ResourceAffinity, Service};

    /// A small deterministic generator, so the comparison needs no extra crate.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % bound.max(1)
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.next(items.len() as u64) as usize]
        }
    }

    fn names(count: usize) -> Vec<String> {
        // Not zero-padded, so name order differs from number order.
        (0..count).map(|i| format!("n{}", (i * 7) % 11)).collect()
    }

    fn random_cluster(rng: &mut Lcg) -> Cluster {
        let names = names(3 + rng.next(5) as usize);
        let nodes = names
            .iter()
            .map(|n| Node {
                name: n.clone(),
                online: rng.next(6) != 0,
                stats: None,
            })
            .collect();
        let mut services = BTreeMap::new();
        let mut node_affinity = BTreeMap::new();
        for i in 0..rng.next(40) {
            let sid = format!(
                "{}:{}",
                if rng.next(3) == 0 { "ct" } else { "vm" },
                100 + i * 13
            );
            let state = *rng.pick(&CrmState::ALL);
            let target = (rng.next(2) == 0).then(|| rng.pick(&names).clone());
            if rng.next(3) == 0 {
                let mut members = BTreeMap::new();
                for name in &names {
                    if rng.next(2) == 0 {
                        members.insert(name.clone(), rng.next(4) as i64 - 2);
                    }
                }
                let strict = rng.next(2) == 0;
                node_affinity.insert(
                    sid.clone(),
                    NodeAffinity {
                        nodes: members,
                        strict,
                    },
                );
            }
            let service = Service {
                sid: sid.clone(),
                node: rng.pick(&names).clone(),
                state,
                target,
                failback: rng.next(4) != 0,
                stats: None,
            };
            services.insert(sid, service);
        }
        let sids: Vec<String> = services.keys().cloned().collect();
        let resource_affinity = if sids.is_empty() {
            Vec::new()
        } else {
            (0..rng.next(8))
                .map(|r| ResourceAffinity {
                    name: format!("r{r}"),
                    positive: rng.next(2) == 0,
                    resources: (0..1 + rng.next(4))
                        .map(|_| rng.pick(&sids).clone())
                        .collect(),
                })
                .collect()
        };
        let non_ha_running = names
            .iter()
            .map(|n| (n.clone(), rng.next(4) as u32))
            .collect();
        Cluster {
            nodes,
            services,
            node_affinity,
            resource_affinity,
            non_ha_running,
            count_non_ha: rng.next(2) == 0,
            ..Cluster::default()
        }
    }

    #[test]
    fn indexed_recovery_matches_the_direct_one_for_every_failure() {
        let mut rng = Lcg(7);
        let mut placed = 0;
        for _ in 0..400 {
            let c = random_cluster(&mut rng);
            let recoverer = Recoverer::new(&c);
            let mut scenarios: Vec<BTreeSet<String>> = vec![BTreeSet::new()];
            scenarios.extend(c.nodes.iter().map(|n| BTreeSet::from([n.name.clone()])));
            let pair = [
                rng.pick(&c.nodes).name.clone(),
                rng.pick(&c.nodes).name.clone(),
            ];
            scenarios.push(pair.into_iter().collect());
            scenarios.push(BTreeSet::from(["unknown".to_owned()]));
            for failed in &scenarios {
                let want = recover(&c, failed);
                placed += want.iter().filter(|r| r.to.is_some()).count();
                assert_eq!(recoverer.recover(failed), want, "{c:?} failing {failed:?}");
            }
        }
        assert!(
            placed > 2_000,
            "the generator must exercise placements, got {placed}"
        );
    }

    #[test]
    fn indexed_selection_matches_the_direct_one_for_every_preference() {
        let mut rng = Lcg(11);
        let mut chosen = 0;
        for _ in 0..300 {
            let c = random_cluster(&mut rng);
            let mut usage = Usage::from_cluster(&c);
            for node in &c.nodes {
                if rng.next(3) == 0 {
                    usage.add(&node.name);
                }
            }
            let rules = compile(&c);
            let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
            let mut sids: Vec<String> = c.services.keys().cloned().collect();
            sids.push("vm:999".to_owned());
            for sid in &sids {
                let current = c
                    .services
                    .get(sid)
                    .map(|s| s.node.clone())
                    .unwrap_or_default();
                for pref in [Preference::BestScore, Preference::None, Preference::TryNext] {
                    let hints = Hints {
                        failed_nodes: (0..rng.next(3)).map(|_| rng.pick(&names).clone()).collect(),
                        maintenance_node: (rng.next(4) == 0).then(|| rng.pick(&names).clone()),
                    };
                    let want = select_compiled(&c, &rules, &usage, sid, &current, pref, &hints);
                    chosen += usize::from(want.is_some());
                    let got = select_service_node_with(&c, &usage, sid, &current, pref, &hints);
                    assert_eq!(got, want, "{c:?} {sid} {pref:?} {hints:?}");
                }
            }
        }
        assert!(
            chosen > 5_000,
            "the generator must exercise selections, got {chosen}"
        );
    }
}
