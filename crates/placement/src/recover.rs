//! Recovery after fencing: every service on the failed nodes placed anew, one by one in sid order, each placement
//! updating the load the next one sees (upstream `next_state_recovery` within one CRM round).
//!
//! Pure: the input cluster is not modified; the result lists each recovered service and its new node, if any.

use std::collections::BTreeSet;

use crate::affinity::compile;
use crate::select::{select_compiled, Hints, Preference};
use crate::types::{Cluster, CrmState};
use crate::usage::Usage;

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
fn is_recovered(state: CrmState) -> bool {
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
