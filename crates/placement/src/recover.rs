//! Recovery after fencing: every service on the failed nodes placed anew, one by one in sid order, each placement
//! updating the load the next one sees (upstream `next_state_recovery` within one CRM round).
//!
//! Pure: the input cluster is not modified; the result lists each recovered service and its new node, if any.

use std::collections::BTreeSet;

use crate::fasthash::FastMap;

use crate::round::{Frame, Round};
use crate::select::{select_in, Hints, Preference};
use crate::types::{Cluster, CrmState, Service};

/// Where one service of a failed node goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The recovered service.
    pub sid: String,
    /// The fenced node it was on.
    pub from: String,
    /// Its recovery node, or None when no node qualifies (it then stays in `recovery`).
    pub to: Option<String>,
}

/// Whether the CRM fences (and so recovers) a service in this state when its node fails.
pub(crate) fn is_recovered(state: CrmState) -> bool {
    use CrmState::*;
    // `error`, `freeze` and disabled services stay where they are; everything else is fenced first.
    matches!(
        state,
        Started
            | Stopped
            | RequestStop
            | RequestStart
            | RequestStartBalance
            | Migrate
            | Relocate
            | Fence
            | Recovery
    )
}

/// Recovery of every service on the failed (fenced) nodes, in sid string order, greedily updating usage.
///
/// The failed nodes count as offline. Services already in `recovery` are placed too, wherever their node is, since
/// the CRM retries them every round (a node coming back may take its service again).
pub fn recover(c: &Cluster, failed: &BTreeSet<String>) -> Vec<Recovery> {
    Recoverer::new(c).recover(failed)
}

/// [`recover`] for many failure scenarios of one cluster: the cluster is indexed once, and each scenario then costs
/// about the failed nodes' services rather than the whole cluster.
pub struct Recoverer<'c> {
    frame: Frame<'c>,
    /// Sids by the node they are on (any node, online or not).
    on_node: FastMap<&'c str, Vec<&'c str>>,
    /// Sids already in `recovery`, retried in every scenario.
    in_recovery: Vec<&'c str>,
}

impl<'c> Recoverer<'c> {
    /// Indexes `c`: its online nodes, their load, its compiled rules and where each service is.
    pub fn new(c: &'c Cluster) -> Recoverer<'c> {
        let mut on_node: FastMap<&str, Vec<&str>> = FastMap::default();
        let mut in_recovery = Vec::new();
        for (sid, service) in &c.services {
            on_node
                .entry(service.node.as_str())
                .or_default()
                .push(sid.as_str());
            if service.state == CrmState::Recovery {
                in_recovery.push(sid.as_str());
            }
        }
        Recoverer {
            frame: Frame::from_cluster(c),
            on_node,
            in_recovery,
        }
    }

    /// The round's frame (rules, load and names indexed once), for other predictions over the same cluster.
    pub(crate) fn frame(&self) -> &Frame<'c> {
        &self.frame
    }

    /// [`recover`] of `failed` on the indexed cluster.
    pub fn recover(&self, failed: &BTreeSet<String>) -> Vec<Recovery> {
        let services = &self.frame.cluster.services;
        let mut round = Round::new(&self.frame, failed.iter().map(String::as_str));
        let fenced = failed
            .iter()
            .filter_map(|node| self.on_node.get(node.as_str()))
            .flatten()
            .copied()
            .filter(|sid| services.get(*sid).is_some_and(|s| is_recovered(s.state)));
        let mut pending: Vec<&str> = fenced.chain(self.in_recovery.iter().copied()).collect();
        // The CRM walks its services in sid string order.
        pending.sort_unstable();
        pending.dedup();

        for &sid in &pending {
            if let Some(service) = services.get(sid) {
                // Fencing resets the service to its node alone: a migration target is forgotten.
                let fenced = Service {
                    state: CrmState::Recovery,
                    target: None,
                    ..service.clone()
                };
                round.update(sid, fenced);
            }
        }

        let mut result = Vec::with_capacity(pending.len());
        for sid in pending {
            let Some(original) = services.get(sid) else {
                continue;
            };
            let from = original.node.clone();
            let to = select_in(&round, sid, &from, Preference::BestScore, &Hints::default());
            let to = to.map(|i| self.frame.name(i));
            if let Some(node) = to {
                // A recovered service is `started` or `request_stop` on its new node; both count there.
                let state = if original.state == CrmState::Stopped {
                    CrmState::RequestStop
                } else {
                    CrmState::Started
                };
                let placed = Service {
                    node: node.to_owned(),
                    state,
                    target: None,
                    ..original.clone()
                };
                round.update(sid, placed);
            }
            result.push(Recovery {
                sid: sid.to_owned(),
                from,
                to: to.map(str::to_owned),
            });
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::types::{Node, Service};

    fn cluster(nodes: &[&str], services: &[(&str, &str, CrmState)]) -> Cluster {
        Cluster {
            nodes: nodes
                .iter()
                .map(|n| Node {
                    name: (*n).to_owned(),
                    online: true,
                    stats: None,
                })
                .collect(),
            services: services
                .iter()
                .map(|(sid, node, state)| {
                    let service = Service {
                        sid: (*sid).to_owned(),
                        node: (*node).to_owned(),
                        state: *state,
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

    fn failed(nodes: &[&str]) -> BTreeSet<String> {
        nodes.iter().map(|n| (*n).to_owned()).collect()
    }

    fn placements(recoveries: &[Recovery]) -> Vec<(&str, Option<&str>)> {
        recoveries
            .iter()
            .map(|r| (r.sid.as_str(), r.to.as_deref()))
            .collect()
    }

    #[test]
    fn sids_are_recovered_in_string_order_not_numeric() {
        use CrmState::Started;
        let c = cluster(
            &["a", "b", "c"],
            &[
                ("vm:200", "c", Started),
                ("vm:1000", "c", Started),
                ("ct:300", "c", Started),
            ],
        );
        let got = recover(&c, &failed(&["c"]));
        // ct:300 < vm:1000 < vm:200 as strings; each placement loads its node, so they alternate a, b, a.
        assert_eq!(
            placements(&got),
            [
                ("ct:300", Some("a")),
                ("vm:1000", Some("b")),
                ("vm:200", Some("a"))
            ]
        );
    }

    #[test]
    fn ties_go_to_the_first_node_name() {
        let c = cluster(
            &["node3", "node10", "node2", "dead"],
            &[("vm:100", "dead", CrmState::Started)],
        );
        let got = recover(&c, &failed(&["dead"]));
        // String order: "node10" < "node2" < "node3".
        assert_eq!(placements(&got), [("vm:100", Some("node10"))]);
    }

    #[test]
    fn stopped_services_do_not_count_but_request_stop_does() {
        use CrmState::*;
        let c = cluster(
            &["a", "b", "c", "dead"],
            &[
                ("vm:1", "a", Stopped),
                ("vm:2", "b", RequestStop),
                ("vm:3", "dead", Started),
                ("vm:4", "c", Started),
            ],
        );
        let got = recover(&c, &failed(&["dead"]));
        assert_eq!(placements(&got), [("vm:3", Some("a"))]);
    }

    #[test]
    fn a_recovered_stopped_service_loads_its_new_node() {
        use CrmState::*;
        let c = cluster(
            &["a", "b", "dead"],
            &[("vm:1", "dead", Stopped), ("vm:2", "dead", Started)],
        );
        let got = recover(&c, &failed(&["dead"]));
        // vm:1 becomes request_stop on a, which counts, so vm:2 goes to b.
        assert_eq!(placements(&got), [("vm:1", Some("a")), ("vm:2", Some("b"))]);
    }

    #[test]
    fn error_freeze_and_disabled_services_are_not_recovered() {
        use CrmState::*;
        let c = cluster(
            &["a", "dead"],
            &[
                ("vm:1", "dead", Error),
                ("vm:2", "dead", Freeze),
                ("vm:3", "dead", Disabled),
                ("vm:4", "dead", Migrate),
            ],
        );
        let got = recover(&c, &failed(&["dead"]));
        assert_eq!(placements(&got), [("vm:4", Some("a"))]);
        assert_eq!(got[0].from, "dead");
    }

    #[test]
    fn non_ha_guests_count_only_when_enabled() {
        let mut c = cluster(&["a", "b", "dead"], &[("vm:1", "dead", CrmState::Started)]);
        c.non_ha_running = BTreeMap::from([("a".to_owned(), 2)]);
        assert_eq!(
            placements(&recover(&c, &failed(&["dead"]))),
            [("vm:1", Some("a"))]
        );
        c.count_non_ha = true;
        assert_eq!(
            placements(&recover(&c, &failed(&["dead"]))),
            [("vm:1", Some("b"))]
        );
    }

    #[test]
    fn a_migration_towards_the_failed_node_is_forgotten_and_its_source_keeps_the_load() {
        use CrmState::*;
        let mut c = cluster(
            &["a", "b", "dead"],
            &[("vm:1", "a", Migrate), ("vm:2", "dead", Started)],
        );
        if let Some(s) = c.services.get_mut("vm:1") {
            s.target = Some("dead".to_owned());
        }
        let got = recover(&c, &failed(&["dead"]));
        assert_eq!(placements(&got), [("vm:2", Some("b"))]);
    }

    #[test]
    fn nothing_fails_nothing_moves() {
        let c = cluster(&["a", "b"], &[("vm:1", "a", CrmState::Started)]);
        assert!(recover(&c, &BTreeSet::new()).is_empty());
    }
}
