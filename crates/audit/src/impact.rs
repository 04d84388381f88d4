//! Node-failure impact: for each online node, where the HA manager would recover its HA services (via
//! `pveha-placement`, the project's one implementation of HA placement), what stays down, which services lose every
//! replica, the survivors' memory afterwards and each affected service's predicted recovery time.
//!
//! Each failure is planned on a reduced cluster: the failed node's services and everything linked to them by rules
//! are kept as they are, and all other load is folded into per-node counts. The placement result is the same as on
//! the whole cluster (a test proves it), but the cost no longer grows with nodes × services.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use pveha_model::{HaModel, Sid};
use pveha_placement::{
    recover, Cluster, CrmState, Node, NodeAffinity, Recovery, ResourceAffinity, Service, Usage,
};

use crate::report::NodeFailureImpact;
use crate::services::Services;
use crate::view::ClusterView;

/// Seconds from a node failure to an HA service running again elsewhere: the fence delay plus the expiry of the
/// failed node's HA lock (pve-api.md §11, "about two minutes").
pub const RECOVERY_SECONDS: u64 = 120;

/// The placement model's view of the cluster.
pub(crate) fn placement_cluster(view: &ClusterView) -> Cluster {
    let nodes = view
        .nodes
        .iter()
        .map(|n| Node {
            name: n.name.clone(),
            online: n.online,
        })
        .collect();
    let mut services = BTreeMap::new();
    let mut node_affinity = BTreeMap::new();
    for (sid, h) in &view.ha {
        let Some(node) = h.node.clone() else { continue };
        let group = h
            .group
            .as_ref()
            .and_then(|g| view.groups.get(g))
            .filter(|_| view.model == HaModel::Groups);
        let state = if h.request_state == "disabled" {
            CrmState::Disabled
        } else {
            match h.crm_state.as_deref().and_then(|s| s.parse().ok()) {
                Some(state) => state,
                None if h.request_state == "stopped" => CrmState::Stopped,
                None => CrmState::Started,
            }
        };
        let failback = match group {
            Some(g) => !g.nofailback.unwrap_or(false),
            None => h.failback,
        };
        let key = sid.to_string();
        if let Some(g) = group {
            node_affinity.insert(
                key.clone(),
                NodeAffinity {
                    nodes: g
                        .nodes
                        .0
                        .iter()
                        .map(|(n, p)| (n.clone(), i64::from(*p)))
                        .collect(),
                    strict: g.restricted.unwrap_or(false),
                },
            );
        }
        services.insert(
            key.clone(),
            Service {
                sid: key,
                node,
                state,
                target: h.target.clone(),
                failback,
            },
        );
    }
    let mut resource_affinity = Vec::new();
    if view.model == HaModel::Rules {
        for rule in view.active_rules() {
            let resources: BTreeSet<String> = rule.resources.iter().cloned().collect();
            match rule.kind.as_str() {
                "node-affinity" => {
                    let Some(nodes) = &rule.nodes else { continue };
                    let affinity = NodeAffinity {
                        nodes: nodes
                            .0
                            .iter()
                            .map(|(n, p)| (n.clone(), i64::from(*p)))
                            .collect(),
                        strict: rule.strict.unwrap_or(false),
                    };
                    for sid in resources {
                        node_affinity.insert(sid, affinity.clone());
                    }
                }
                "resource-affinity" => resource_affinity.push(ResourceAffinity {
                    name: rule.rule.clone(),
                    positive: rule.affinity.as_deref() == Some("positive"),
                    resources,
                }),
                _ => {}
            }
        }
    }
    let mut non_ha_running: BTreeMap<String, u32> = BTreeMap::new();
    for g in view
        .guests
        .iter()
        .filter(|g| g.running && !view.is_ha(&g.sid))
    {
        *non_ha_running.entry(g.node.clone()).or_default() += 1;
    }
    // Counting non-HA guests arrived in pve-ha-manager 5.1.2, which no supported PVE release is known to ship yet.
    Cluster {
        nodes,
        services,
        node_affinity,
        resource_affinity,
        non_ha_running,
        count_non_ha: false,
    }
}

/// Plans recoveries one failed node at a time on reduced clusters.
pub(crate) struct Planner<'c> {
    cluster: &'c Cluster,
    base: Usage,
    rules_of: HashMap<&'c str, Vec<usize>>,
    on_node: HashMap<&'c str, Vec<&'c str>>,
}

impl<'c> Planner<'c> {
    /// Indexes the cluster once.
    pub fn new(cluster: &'c Cluster) -> Planner<'c> {
        let mut rules_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, rule) in cluster.resource_affinity.iter().enumerate() {
            for sid in &rule.resources {
                rules_of.entry(sid.as_str()).or_default().push(i);
            }
        }
        let mut on_node: HashMap<&str, Vec<&str>> = HashMap::new();
        for s in cluster.services.values() {
            on_node
                .entry(s.node.as_str())
                .or_default()
                .push(s.sid.as_str());
        }
        Planner {
            cluster,
            base: Usage::from_cluster(cluster),
            rules_of,
            on_node,
        }
    }

    /// Where each HA service of `node` would be recovered if `node` failed.
    pub fn recover_node(&self, node: &str) -> Vec<Recovery> {
        let full = self.cluster;
        let mut keep: BTreeSet<&str> = self
            .on_node
            .get(node)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if keep.is_empty() {
            return Vec::new();
        }
        // Everything reachable through resource-affinity rules decides where the kept services may go.
        let mut rules: BTreeSet<usize> = BTreeSet::new();
        let mut stack: Vec<&str> = keep.iter().copied().collect();
        while let Some(sid) = stack.pop() {
            for &i in self.rules_of.get(sid).into_iter().flatten() {
                if !rules.insert(i) {
                    continue;
                }
                for member in &full.resource_affinity[i].resources {
                    if keep.insert(member.as_str()) {
                        stack.push(member.as_str());
                    }
                }
            }
        }
        let mut reduced = Cluster {
            nodes: full.nodes.clone(),
            services: keep
                .iter()
                .filter_map(|sid| full.services.get(*sid).map(|s| (s.sid.clone(), s.clone())))
                .collect(),
            node_affinity: keep
                .iter()
                .filter_map(|sid| {
                    full.node_affinity
                        .get(*sid)
                        .map(|a| (sid.to_string(), a.clone()))
                })
                .collect(),
            resource_affinity: rules
                .iter()
                .map(|i| full.resource_affinity[*i].clone())
                .collect(),
            non_ha_running: BTreeMap::new(),
            count_non_ha: false,
        };
        // The load of everything left out, per node, as anonymous counts.
        let kept_usage = Usage::from_cluster(&reduced);
        for n in self.base.nodes() {
            let all = self.base.count(n).unwrap_or(0);
            let kept = kept_usage.count(n).unwrap_or(0);
            if all > kept {
                reduced.non_ha_running.insert(n.to_string(), all - kept);
            }
        }
        reduced.count_non_ha = true;
        recover(&reduced, &BTreeSet::from([node.to_string()]))
    }
}

/// HA services (sids) that would find no recovery node, per failed node.
pub(crate) type Unplaced = BTreeMap<String, Vec<String>>;

/// The impact of each online node's failure, in node order, and the HA services that would find no node.
pub(crate) fn node_failure_impact(
    view: &ClusterView,
    services: &Services,
    cluster: &Cluster,
) -> (Vec<NodeFailureImpact>, Unplaced) {
    let planner = Planner::new(cluster);
    let mut committed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut on_node: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut running_total: Vec<usize> = vec![0; services.list.len()];
    for (i, g) in view.guests.iter().enumerate() {
        on_node.entry(g.node.as_str()).or_default().push(i);
        if g.running {
            *committed.entry(g.node.as_str()).or_default() += g.maxmem;
            if let Some(&s) = services.of_guest.get(&g.sid) {
                running_total[s] += 1;
            }
        }
    }

    let mut out = Vec::new();
    let mut unplaced = Unplaced::new();
    for failed in view.nodes.iter().filter(|n| n.online) {
        let recoveries = planner.recover_node(&failed.name);
        let mut recovered = BTreeMap::new();
        let mut restarted: HashSet<Sid> = HashSet::new();
        let mut memory_after: BTreeMap<String, u64> = view
            .nodes
            .iter()
            .filter(|n| n.online && n.name != failed.name)
            .map(|n| {
                (
                    n.name.clone(),
                    committed.get(n.name.as_str()).copied().unwrap_or(0),
                )
            })
            .collect();
        for r in recoveries.iter().filter(|r| r.to.is_none()) {
            unplaced
                .entry(failed.name.clone())
                .or_default()
                .push(r.sid.clone());
        }
        for r in &recoveries {
            let (Some(to), Ok(sid)) = (&r.to, r.sid.parse::<Sid>()) else {
                continue;
            };
            recovered.insert(r.sid.clone(), to.clone());
            let Some(guest) = view.guest(&sid) else {
                continue;
            };
            // A service configured `stopped` is recovered stopped: it neither runs nor uses memory there.
            if guest.running
                && view
                    .ha
                    .get(&sid)
                    .is_none_or(|h| h.request_state == "started")
            {
                restarted.insert(sid);
                if let Some(m) = memory_after.get_mut(to) {
                    *m += guest.maxmem;
                }
            }
        }

        let mut down = Vec::new();
        let mut affected: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for &gi in on_node.get(failed.name.as_str()).into_iter().flatten() {
            let g = &view.guests[gi];
            if !g.running {
                continue;
            }
            let back = restarted.contains(&g.sid);
            if !back {
                down.push(g.sid.to_string());
            }
            if let Some(&s) = services.of_guest.get(&g.sid) {
                let entry = affected.entry(s).or_default();
                entry.0 += 1;
                entry.1 += usize::from(back);
            }
        }
        let mut lost_services = Vec::new();
        let mut rto_seconds = BTreeMap::new();
        for (s, (running_here, back)) in affected {
            let service = &services.list[s];
            let rto = if running_total[s] > running_here {
                Some(0)
            } else if back > 0 {
                Some(RECOVERY_SECONDS)
            } else {
                lost_services.push(service.name.clone());
                None
            };
            rto_seconds.insert(service.name.clone(), rto);
        }
        out.push(NodeFailureImpact {
            node: failed.name.clone(),
            recovered,
            down,
            lost_services,
            memory_after,
            rto_seconds,
        });
    }
    (out, unplaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the equivalence test needs no extra crate.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % bound.max(1)
        }
    }

    fn random_cluster(seed: u64) -> Cluster {
        let mut rng = Lcg(seed);
        let names: Vec<String> = (0..6).map(|i| format!("node{i}")).collect();
        let nodes: Vec<Node> = names
            .iter()
            .map(|n| Node {
                name: n.clone(),
                online: rng.next(8) != 0,
            })
            .collect();
        let states = [
            CrmState::Started,
            CrmState::Stopped,
            CrmState::Migrate,
            CrmState::Error,
            CrmState::Disabled,
        ];
        let mut services = BTreeMap::new();
        let mut node_affinity = BTreeMap::new();
        for i in 0..60u64 {
            let sid = format!(
                "{}:{}",
                if rng.next(3) == 0 { "ct" } else { "vm" },
                100 + i * 7
            );
            let state = states[rng.next(states.len() as u64) as usize];
            let target = (state == CrmState::Migrate).then(|| names[rng.next(6) as usize].clone());
            let node = names[rng.next(6) as usize].clone();
            if rng.next(3) == 0 {
                let mut members = BTreeMap::new();
                for name in &names {
                    if rng.next(2) == 0 {
                        members.insert(name.clone(), rng.next(3) as i64);
                    }
                }
                node_affinity.insert(
                    sid.clone(),
                    NodeAffinity {
                        nodes: members,
                        strict: rng.next(2) == 0,
                    },
                );
            }
            services.insert(
                sid.clone(),
                Service {
                    sid,
                    node,
                    state,
                    target,
                    failback: rng.next(4) != 0,
                },
            );
        }
        let sids: Vec<String> = services.keys().cloned().collect();
        let resource_affinity = (0..8)
            .map(|r| ResourceAffinity {
                name: format!("r{r}"),
                positive: rng.next(2) == 0,
                resources: (0..2 + rng.next(3))
                    .map(|_| sids[rng.next(sids.len() as u64) as usize].clone())
                    .collect(),
            })
            .collect();
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
        }
    }

    #[test]
    fn reduced_planning_matches_recovery_on_the_whole_cluster() {
        let mut compared = 0;
        for seed in 1..=60 {
            let cluster = random_cluster(seed);
            let planner = Planner::new(&cluster);
            for node in cluster.nodes.iter().filter(|n| n.online) {
                let whole = recover(&cluster, &BTreeSet::from([node.name.clone()]));
                assert_eq!(
                    planner.recover_node(&node.name),
                    whole,
                    "seed {seed}, failure of {}",
                    node.name
                );
                compared += whole.len();
            }
        }
        assert!(
            compared > 500,
            "the generator must exercise recoveries, got {compared}"
        );
    }
}
