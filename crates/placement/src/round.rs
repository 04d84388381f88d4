//! One CRM round on interned nodes: the tracked (online) nodes numbered in name order with their load, the rules
//! compiled once, and what the round has changed so far (failed nodes, moved services, new counts).
//!
//! It only makes the lookups of `select.rs` cheap; it must not decide anything itself. A placement then costs about
//! the service's rules and the nodes the round touched, not the number of nodes or services in the cluster.

use crate::fasthash::FastMap;

use crate::affinity::{compile, Compiled};
use crate::score::{static_scores, Load};
use crate::types::{Cluster, NodeStats, Service, ServiceStats};
use crate::usage::{counted, Usage};

/// What stays fixed for a round: the cluster, its compiled rules, and the tracked nodes with their starting load.
pub(crate) struct Frame<'c> {
    /// The cluster as given (services not yet touched by the round).
    pub cluster: &'c Cluster,
    /// The rules as the CRM compiles them.
    pub rules: Compiled,
    /// Tracked node names, sorted, so index order is name order (upstream breaks ties by name).
    names: Vec<&'c str>,
    index: FastMap<&'c str, usize>,
    /// Load per node at the start of the round.
    base: Vec<u32>,
    /// Node indices by (base load, index): the ranking before the round changes anything.
    ascending: Vec<usize>,
    /// With the static scheduler: each tracked node's capacity and the load committed at the start of the round.
    statics: Option<Vec<(NodeStats, Load)>>,
}

impl<'c> Frame<'c> {
    fn new(
        cluster: &'c Cluster,
        names: Vec<&'c str>,
        base: Vec<u32>,
        statics: Option<Vec<(NodeStats, Load)>>,
    ) -> Frame<'c> {
        let index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut ascending: Vec<usize> = (0..names.len()).collect();
        ascending.sort_unstable_by_key(|&i| (base[i], i));
        Frame {
            cluster,
            rules: compile(cluster),
            names,
            index,
            base,
            ascending,
            statics,
        }
    }

    /// The capacity of each named node, if the cluster schedules statically and every one of them has stats.
    fn capacities(cluster: &Cluster, names: &[&str]) -> Option<Vec<NodeStats>> {
        if !cluster.uses_static() {
            return None;
        }
        let stats: FastMap<&str, NodeStats> = cluster
            .nodes
            .iter()
            .filter_map(|n| n.stats.map(|s| (n.name.as_str(), s)))
            .collect();
        names.iter().map(|n| stats.get(n).copied()).collect()
    }

    /// A frame over the nodes and load a caller tracks in `usage`.
    pub fn with_usage(cluster: &'c Cluster, usage: &'c Usage) -> Frame<'c> {
        let names: Vec<&str> = usage.nodes().collect();
        let base = names
            .iter()
            .map(|n| usage.count(n).unwrap_or(u32::MAX))
            .collect();
        let statics = Frame::capacities(cluster, &names).map(|caps| {
            let load = |(n, cap): (&&str, NodeStats)| {
                (cap, usage.static_load(n, &cap).unwrap_or_default())
            };
            names.iter().zip(caps).map(load).collect()
        });
        Frame::new(cluster, names, base, statics)
    }

    /// A frame with the cluster's online nodes and the load the CRM computes at the start of a round
    /// (the same counts as [`Usage::from_cluster`]).
    pub fn from_cluster(cluster: &'c Cluster) -> Frame<'c> {
        let names: Vec<&str> = cluster.online_nodes().into_iter().collect();
        let index: FastMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut base = vec![0u32; names.len()];
        for service in cluster.services.values() {
            let (current, target) = used(service, |n| index.get(n).copied());
            for i in current
                .into_iter()
                .chain(target.filter(|t| Some(*t) != current))
            {
                base[i] = base[i].saturating_add(1);
            }
        }
        if cluster.count_non_ha {
            for (node, count) in &cluster.non_ha_running {
                if let Some(&i) = index.get(node.as_str()) {
                    base[i] = base[i].saturating_add(*count);
                }
            }
        }
        let statics = Frame::capacities(cluster, &names).map(|caps| {
            let mut statics: Vec<(NodeStats, Load)> =
                caps.into_iter().map(|c| (c, Load::default())).collect();
            for service in cluster.services.values() {
                let Some(stats) = &service.stats else {
                    continue;
                };
                let (current, target) = used(service, |n| index.get(n).copied());
                for i in current
                    .into_iter()
                    .chain(target.filter(|t| Some(*t) != current))
                {
                    let (cap, load) = &mut statics[i];
                    *load = load.with(cap, stats, 1.0);
                }
            }
            if cluster.count_non_ha {
                for (node, guests) in &cluster.non_ha_stats {
                    if let Some(&i) = index.get(node.as_str()) {
                        let (cap, load) = &mut statics[i];
                        *load = guests.iter().fold(*load, |sum, g| sum.with(cap, g, 1.0));
                    }
                }
            }
            statics
        });
        Frame::new(cluster, names, base, statics)
    }

    /// The name of tracked node `i`.
    pub fn name(&self, i: usize) -> &'c str {
        self.names[i]
    }
}

/// The indices of the nodes `service` loads, as `index` finds them (upstream `get_used_service_nodes`).
fn used(
    service: &Service,
    index: impl Fn(&str) -> Option<usize>,
) -> (Option<usize>, Option<usize>) {
    let (counts_current, counts_target) = counted(service.state);
    let current = counts_current.then(|| index(&service.node)).flatten();
    let target = if counts_target {
        service.target.as_deref().and_then(index)
    } else {
        None
    };
    (current, target)
}

/// A round in progress over a [`Frame`]: failed nodes, services the round moved, and load that changed.
pub(crate) struct Round<'f, 'c> {
    pub frame: &'f Frame<'c>,
    /// Tracked nodes taken offline for this round, sorted.
    down: Vec<usize>,
    /// Services the round changed, by sid; everything else reads from the frame's cluster.
    moved: FastMap<&'c str, Service>,
    /// Load of the nodes the round changed.
    load: FastMap<usize, u32>,
    /// Static load of the nodes the round changed (static scheduler only).
    static_load: FastMap<usize, Load>,
}

impl<'f, 'c> Round<'f, 'c> {
    /// A round on `frame` with the named nodes offline.
    pub fn new<'n>(frame: &'f Frame<'c>, offline: impl IntoIterator<Item = &'n str>) -> Self {
        let mut down: Vec<usize> = offline
            .into_iter()
            .filter_map(|n| frame.index.get(n).copied())
            .collect();
        down.sort_unstable();
        down.dedup();
        Round {
            frame,
            down,
            moved: FastMap::default(),
            load: FastMap::default(),
            static_load: FastMap::default(),
        }
    }

    /// The index of `name` if it is online in this round.
    pub fn online(&self, name: &str) -> Option<usize> {
        self.frame
            .index
            .get(name)
            .copied()
            .filter(|i| self.down.binary_search(i).is_err())
    }

    /// How many nodes are online in this round.
    pub fn online_count(&self) -> usize {
        self.frame.names.len() - self.down.len()
    }

    /// The basic score of online node `i`.
    pub fn count(&self, i: usize) -> u32 {
        self.load.get(&i).copied().unwrap_or(self.frame.base[i])
    }

    /// The service `sid` as the round sees it now.
    pub fn service(&self, sid: &str) -> Option<&Service> {
        self.moved
            .get(sid)
            .or_else(|| self.frame.cluster.services.get(sid))
    }

    /// The online nodes `service` loads in this round.
    pub fn used(&self, service: &Service) -> (Option<usize>, Option<usize>) {
        used(service, |n| self.online(n))
    }

    /// Replaces the round's view of `sid` and moves its load accordingly (upstream `remove_service_usage` then
    /// `add_service_usage`).
    pub fn update(&mut self, sid: &'c str, service: Service) {
        if let Some(old) = self.service(sid) {
            let (current, target) = self.used(old);
            let stats = old.stats;
            self.shift(current, target, stats.as_ref(), false);
        }
        let (current, target) = self.used(&service);
        self.shift(current, target, service.stats.as_ref(), true);
        self.moved.insert(sid, service);
    }

    /// Adds (or removes) one service's load on the nodes it uses.
    fn shift(
        &mut self,
        current: Option<usize>,
        target: Option<usize>,
        stats: Option<&ServiceStats>,
        add: bool,
    ) {
        for i in current
            .into_iter()
            .chain(target.filter(|t| Some(*t) != current))
        {
            let count = if add {
                self.count(i).saturating_add(1)
            } else {
                self.count(i).saturating_sub(1)
            };
            self.load.insert(i, count);
            if let (Some(statics), Some(stats)) = (&self.frame.statics, stats) {
                let (cap, base) = &statics[i];
                let load = self.static_load.get(&i).copied().unwrap_or(*base);
                let sign = if add { 1.0 } else { -1.0 };
                self.static_load.insert(i, load.with(cap, stats, sign));
            }
        }
    }

    /// With the static scheduler, the score of every tracked node for placing `sid` (higher is better; offline
    /// nodes score -inf). None under basic, or when `sid` has no stats (upstream then falls back to counts too).
    pub fn static_scores(&self, sid: &str) -> Option<Vec<f64>> {
        let statics = self.frame.statics.as_ref()?;
        let stats = self.service(sid)?.stats?;
        let online: Vec<usize> = (0..statics.len())
            .filter(|i| self.down.binary_search(i).is_err())
            .collect();
        let nodes: Vec<(NodeStats, Load)> = online
            .iter()
            .map(|&i| {
                let (cap, base) = statics[i];
                (cap, self.static_load.get(&i).copied().unwrap_or(base))
            })
            .collect();
        let mut scores = vec![f64::NEG_INFINITY; statics.len()];
        for (i, score) in online.into_iter().zip(static_scores(&nodes, &stats)) {
            scores[i] = score;
        }
        Some(scores)
    }

    /// The online node with the lowest (count, name) that is not in `excluded` (sorted), if any.
    pub fn best_except(&self, excluded: &[usize]) -> Option<usize> {
        let skip =
            |i: &usize| self.down.binary_search(i).is_ok() || excluded.binary_search(i).is_ok();
        // The first untouched node in the frame's order beats every other untouched node; only the few nodes
        // whose load the round changed need comparing besides.
        let untouched = self
            .frame
            .ascending
            .iter()
            .copied()
            .find(|i| !skip(i) && !self.load.contains_key(i));
        let touched = self.load.keys().copied().filter(|i| !skip(i));
        untouched
            .into_iter()
            .chain(touched)
            .min_by_key(|&i| (self.count(i), i))
    }

    /// Every online node not in `excluded` (sorted), in index order.
    pub fn online_except(&self, excluded: &[usize]) -> Vec<usize> {
        (0..self.frame.names.len())
            .filter(|i| self.down.binary_search(i).is_err() && excluded.binary_search(i).is_err())
            .collect()
    }

    /// Every online node not in `excluded` (sorted), by (count, name).
    pub fn ranked_except(&self, excluded: &[usize]) -> Vec<usize> {
        let mut ranked = self.online_except(excluded);
        ranked.sort_unstable_by_key(|&i| (self.count(i), i));
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CrmState, Node, Scheduler, ServiceStats};

    /// A static cluster whose services are in every CRM state, some moving, with uneven stats.
    fn static_cluster() -> Cluster {
        let names = ["a", "b", "c", "d"];
        let nodes = names
            .iter()
            .enumerate()
            .map(|(i, n)| Node {
                name: (*n).to_owned(),
                online: i != 3,
                stats: Some(NodeStats {
                    cpus: 4.0 * (i as f64 + 1.0),
                    memory: 16_000_000_000 * (i as u64 + 1),
                }),
            })
            .collect();
        let services = CrmState::ALL
            .iter()
            .cycle()
            .take(30)
            .enumerate()
            .map(|(i, state)| {
                let sid = format!("vm:{}", 100 + i);
                let service = Service {
                    sid: sid.clone(),
                    node: names[i % 4].to_owned(),
                    state: *state,
                    target: (i % 3 == 0).then(|| names[(i + 1) % 4].to_owned()),
                    failback: true,
                    stats: Some(ServiceStats {
                        maxcpu: (i % 5) as f64 * 0.5,
                        maxmem: 1_000_000_000 * (i as u64 % 7 + 1),
                    }),
                };
                (sid, service)
            })
            .collect();
        let guest = |gb: u64| ServiceStats {
            maxcpu: 1.0,
            maxmem: gb * 1_000_000_000,
        };
        Cluster {
            nodes,
            services,
            scheduler: Scheduler::Static,
            count_non_ha: true,
            non_ha_stats: [
                ("a".to_owned(), vec![guest(3), guest(5)]),
                ("c".to_owned(), vec![guest(2)]),
                ("d".to_owned(), vec![guest(9)]),
            ]
            .into(),
            ..Cluster::default()
        }
    }

    #[test]
    fn a_frame_from_usage_commits_what_a_frame_from_the_cluster_does() {
        let c = static_cluster();
        assert!(c.uses_static());
        let usage = Usage::from_cluster(&c);
        let direct = Frame::from_cluster(&c);
        let via_usage = Frame::with_usage(&c, &usage);
        assert_eq!(direct.names, via_usage.names);
        assert_eq!(direct.base, via_usage.base);
        assert!(direct.statics.is_some());
        assert_eq!(direct.statics, via_usage.statics);
        // Non-HA guests count only from pve-ha-manager 5.1.2 on.
        let mut older = c.clone();
        older.count_non_ha = false;
        assert_ne!(Frame::from_cluster(&older).statics, direct.statics);
        // Positive control: without stats on one service the cluster falls back to basic.
        let mut basic = c.clone();
        if let Some(s) = basic.services.values_mut().next() {
            s.stats = None;
        }
        assert!(Frame::from_cluster(&basic).statics.is_none());
    }

    #[test]
    fn moving_a_service_and_back_restores_the_static_load() {
        let c = static_cluster();
        let frame = Frame::from_cluster(&c);
        let mut round = Round::new(&frame, []);
        let (sid, original) = c
            .services
            .iter()
            .find(|(_, s)| s.state == CrmState::Started)
            .map(|(k, s)| (k.as_str(), s.clone()))
            .expect("a started service");
        let before = round.static_scores(sid);
        let moved = Service {
            node: "c".to_owned(),
            ..original.clone()
        };
        round.update(sid, moved);
        assert_ne!(round.static_scores(sid), before);
        round.update(sid, original);
        assert_eq!(round.static_scores(sid), before);
    }
}
