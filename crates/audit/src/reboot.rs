//! Planned-reboot impact: for each online node, what a reboot does to its guests under the cluster's
//! `shutdown_policy` (predicted with `pveha-placement`'s `node_event`, the project's one model of the HA stack's
//! reaction), which services have no running replica while the node is down, and each affected service's outage.
//!
//! What `rto_seconds` means here: the seconds a service has no running replica because of the reboot.
//! - 0: a replica keeps running elsewhere, or the service is a VM the HA manager live-migrates away first.
//! - [`CT_RELOCATE_SECONDS`]: a container the HA manager relocates away first (containers cannot live-migrate: it
//!   is stopped, moved and started again on the target).
//! - [`RECOVERY_SECONDS`]: a service stopped with the node and recovered elsewhere after fencing.
//! - null: down until the node is back (frozen by the policy, not HA-managed, or with nowhere to go): as long as the
//!   node takes to reboot, which the audit cannot know.

use std::collections::BTreeMap;

use pveha_model::{GuestKind, Sid};
use pveha_placement::{Fate, NodeEvent, NodeEvents, ShutdownPolicy};

use crate::impact::{GuestIndex, RECOVERY_SECONDS};
use crate::report::NodeRebootImpact;
use crate::services::Services;
use crate::view::ClusterView;

/// Seconds a relocated container is down: its shutdown, the move of its config and its start on the target. An
/// estimate for small service containers; a container with a slow shutdown or start takes longer.
pub const CT_RELOCATE_SECONDS: u64 = 30;

/// The policy the prediction uses: the cluster's, read by the view (unknown spellings were noted there).
pub(crate) fn policy(view: &ClusterView) -> ShutdownPolicy {
    view.settings
        .shutdown_policy
        .parse()
        .unwrap_or(ShutdownPolicy::Conditional)
}

/// The impact of a planned reboot of each online node, in node order.
pub(crate) fn node_reboot_impact(
    view: &ClusterView,
    services: &Services,
    events: &NodeEvents<'_>,
    index: &GuestIndex<'_>,
) -> Vec<NodeRebootImpact> {
    view.nodes
        .iter()
        .filter(|n| n.online)
        .map(|n| node_event_impact(view, services, events, index, &n.name, NodeEvent::Reboot))
        .collect()
}

/// What a planned event (reboot, shutdown or maintenance) of one node does, in the reboot impact's terms: a
/// crash is [`crate::impact::node_failure_impact`]'s. Under maintenance the node stays up, so guests the HA stack
/// leaves alone keep running.
pub(crate) fn node_event_impact(
    view: &ClusterView,
    services: &Services,
    events: &NodeEvents<'_>,
    index: &GuestIndex<'_>,
    node: &str,
    event: NodeEvent,
) -> NodeRebootImpact {
    let policy = policy(view);
    let GuestIndex {
        on_node,
        running_total,
        ..
    } = index;
    {
        let outcome = events.node_event(node, event, policy);
        let mut impact = NodeRebootImpact {
            node: node.to_string(),
            policy: policy.as_str().to_string(),
            frozen: Vec::new(),
            recovered: BTreeMap::new(),
            migrated: BTreeMap::new(),
            down: Vec::new(),
            lost_services: Vec::new(),
            rto_seconds: BTreeMap::new(),
        };
        // Per service: running members here, and the best outage among them.
        let mut affected: BTreeMap<usize, (usize, Option<u64>)> = BTreeMap::new();
        for &gi in on_node.get(node).into_iter().flatten() {
            let g = &view.guests[gi];
            if !g.running {
                continue;
            }
            let key = g.sid.to_string();
            let outage = match outcome.services.get(&key) {
                Some(Fate::Migrated { to }) => {
                    impact.migrated.insert(key.clone(), to.clone());
                    Some(relocation_seconds(&g.sid))
                }
                Some(Fate::Recovered { to: Some(to) }) => {
                    impact.recovered.insert(key.clone(), to.clone());
                    Some(RECOVERY_SECONDS)
                }
                Some(Fate::Frozen) => {
                    impact.frozen.push(key.clone());
                    None
                }
                Some(Fate::Unaffected) if !view.is_ha(&g.sid) => None,
                // An HA service the event leaves alone keeps running (it is not on this node after all).
                Some(Fate::Unaffected) => continue,
                // Maintenance moves HA services only; the node stays up with everything else on it, and with
                // what has nowhere to go.
                None | Some(Fate::Stays) if event == NodeEvent::Maintenance => continue,
                // Stopped, stuck in recovery, or kept on the node it cannot leave: down until the node is back.
                Some(Fate::Stopped | Fate::Recovered { to: None } | Fate::Stays) | None => None,
            };
            if outage.is_none() {
                impact.down.push(key);
            }
            if let Some(&s) = services.of_guest.get(&g.sid) {
                let entry = affected.entry(s).or_insert((0, None));
                entry.0 += 1;
                entry.1 = match (entry.1, outage) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        for (s, (running_here, best)) in affected {
            let service = &services.list[s];
            let rto = if running_total[s] > running_here {
                Some(0)
            } else {
                best
            };
            if rto.is_none() {
                impact.lost_services.push(service.name.clone());
            }
            impact.rto_seconds.insert(service.name.clone(), rto);
        }
        impact
    }
}

/// A VM live-migrates; a container relocates (stop, move, start).
fn relocation_seconds(sid: &Sid) -> u64 {
    match sid.kind {
        GuestKind::Vm => 0,
        GuestKind::Ct => CT_RELOCATE_SECONDS,
    }
}
