//! Per-node load as the basic scheduler counts it: the number of services (HA and, from pve-ha-manager 5.1.2,
//! running non-HA guests) that put load on each online node.
//!
//! Only online nodes are tracked; load on any other node is silently not counted, as upstream does. Each counted
//! service keeps its static stats, so the static scheduler can sum what a node commits.

use std::collections::BTreeMap;

use crate::score::Load;
use crate::types::{Cluster, CrmState, NodeStats, Service, ServiceStats};

/// The load one node carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NodeLoad {
    /// HA services counted here with their static stats (a map: a service whose source and target are the same node
    /// counts once).
    sids: BTreeMap<String, Option<ServiceStats>>,
    /// Anonymous load: non-HA guests and whatever callers `add`.
    extra: u32,
    /// Static stats of the non-HA guests counted here.
    extra_stats: Vec<ServiceStats>,
}

/// Per-node service counts used by the basic scheduler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    nodes: BTreeMap<String, NodeLoad>,
}

impl Usage {
    /// Usage with the given nodes online and nothing running.
    pub fn with_nodes<'a>(nodes: impl IntoIterator<Item = &'a str>) -> Usage {
        let nodes = nodes
            .into_iter()
            .map(|n| (n.to_owned(), NodeLoad::default()))
            .collect();
        Usage { nodes }
    }

    /// The usage the CRM computes at the start of a round: every HA service by its state, plus running non-HA
    /// guests when `count_non_ha` is set.
    pub fn from_cluster(c: &Cluster) -> Usage {
        let mut usage = Usage::with_nodes(c.online_nodes());
        for service in c.services.values() {
            usage.add_service(service);
        }
        if c.count_non_ha {
            for (node, count) in &c.non_ha_running {
                if let Some(load) = usage.nodes.get_mut(node) {
                    load.extra = load.extra.saturating_add(*count);
                }
            }
            for (node, stats) in &c.non_ha_stats {
                if let Some(load) = usage.nodes.get_mut(node) {
                    load.extra_stats.extend(stats.iter().copied());
                }
            }
        }
        usage
    }

    /// Adds one anonymous unit of load (e.g. a guest placement just decided) to `node`, if it is online.
    pub fn add(&mut self, node: &str) {
        if let Some(load) = self.nodes.get_mut(node) {
            load.extra = load.extra.saturating_add(1);
        }
    }

    /// Removes one anonymous unit of load from `node` (never below zero).
    pub fn remove(&mut self, node: &str) {
        if let Some(load) = self.nodes.get_mut(node) {
            load.extra = load.extra.saturating_sub(1);
        }
    }

    /// Counts `service` on the nodes its state puts load on (upstream `add_service_usage`).
    pub fn add_service(&mut self, service: &Service) {
        let (current, target) = self.used_nodes(service);
        for node in [current, target].into_iter().flatten() {
            if let Some(load) = self.nodes.get_mut(&node) {
                load.sids.insert(service.sid.clone(), service.stats);
            }
        }
    }

    /// Forgets every load counted for `sid` (upstream `remove_service_usage`).
    pub fn remove_service(&mut self, sid: &str) {
        for load in self.nodes.values_mut() {
            load.sids.remove(sid);
        }
    }

    /// The basic score of `node`: how many services it carries; `None` if the node is not online.
    pub fn count(&self, node: &str) -> Option<u32> {
        self.nodes.get(node).map(|load| {
            let sids = u32::try_from(load.sids.len()).unwrap_or(u32::MAX);
            sids.saturating_add(load.extra)
        })
    }

    /// The CPU and memory the counted services commit on `node` (a node of capacity `stats`): HA services in sid
    /// order, then the non-HA guests, as upstream adds them. Units from `add` and services without stats commit
    /// nothing. `None` if the node is not online.
    pub(crate) fn static_load(&self, node: &str, stats: &NodeStats) -> Option<Load> {
        self.nodes.get(node).map(|load| {
            load.sids
                .values()
                .flatten()
                .chain(&load.extra_stats)
                .fold(Load::default(), |sum, s| sum.with(stats, s, 1.0))
        })
    }

    /// Whether `node` is tracked (online).
    pub fn contains(&self, node: &str) -> bool {
        self.nodes.contains_key(node)
    }

    /// The tracked (online) nodes, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// The online nodes `service` puts load on: its current node and its migration target (upstream
    /// `get_used_service_nodes`).
    pub fn used_nodes(&self, service: &Service) -> (Option<String>, Option<String>) {
        used_nodes(service, |n| self.contains(n))
    }
}

/// The nodes a service in its CRM state loads, keeping only those `online` accepts.
pub(crate) fn used_nodes(
    service: &Service,
    online: impl Fn(&str) -> bool,
) -> (Option<String>, Option<String>) {
    let (counts_current, counts_target) = counted(service.state);
    let current = (counts_current && online(&service.node)).then(|| service.node.clone());
    let target = if counts_target {
        service
            .target
            .as_deref()
            .filter(|t| online(t))
            .map(str::to_owned)
    } else {
        None
    };
    (current, target)
}

/// Whether a service in `state` loads its current node and its migration target (upstream
/// `get_used_service_nodes`).
pub(crate) fn counted(state: CrmState) -> (bool, bool) {
    use CrmState::*;
    let current = matches!(
        state,
        Started | RequestStop | Fence | Freeze | Error | Recovery | Migrate | Relocate
    );
    let target = matches!(state, Migrate | Relocate | RequestStartBalance);
    (current, target)
}
