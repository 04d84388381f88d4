//! Node lifecycle events (crash, planned reboot or shutdown, maintenance) and what the HA stack does with the
//! node's services under the cluster's `shutdown_policy`.
//!
//! Upstream splits this between the LRM (`shutdown_request` turns the policy into a mode: freeze, stop, or
//! maintenance) and the CRM (frozen services wait; a stopped node is fenced and its services recovered; a node in
//! maintenance has its running services migrated away in sid order, each move loading its target).

use std::collections::BTreeMap;

use crate::fasthash::FastMap;
use std::fmt;
use std::str::FromStr;

use crate::recover::Recoverer;
use crate::round::{Frame, Round};
use crate::select::{select_in, Hints, Preference};
use crate::types::{Cluster, CrmState, Service};

/// `datacenter.cfg` `ha: shutdown_policy=` (default conditional). FromStr/as_str in the CRM's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ShutdownPolicy {
    /// A reboot freezes the node's services; a poweroff stops them and they are recovered after fencing.
    #[default]
    Conditional,
    /// Reboot and poweroff both freeze the services until the node is back.
    Freeze,
    /// Reboot and poweroff both stop the services; a node that stays down is fenced and they are recovered.
    Failover,
    /// The node goes into maintenance first: its running services migrate away (and back when it returns).
    Migrate,
}

impl ShutdownPolicy {
    /// Every policy, in declaration order.
    pub const ALL: [ShutdownPolicy; 4] = [
        ShutdownPolicy::Conditional,
        ShutdownPolicy::Freeze,
        ShutdownPolicy::Failover,
        ShutdownPolicy::Migrate,
    ];

    /// The spelling in `datacenter.cfg`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownPolicy::Conditional => "conditional",
            ShutdownPolicy::Freeze => "freeze",
            ShutdownPolicy::Failover => "failover",
            ShutdownPolicy::Migrate => "migrate",
        }
    }
}

impl fmt::Display for ShutdownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a shutdown policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown shutdown policy '{0}'")]
pub struct ParseShutdownPolicyError(pub String);

impl FromStr for ShutdownPolicy {
    type Err = ParseShutdownPolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShutdownPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ParseShutdownPolicyError(s.to_owned()))
    }
}

/// A node event the HA stack reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeEvent {
    /// The node fails: it is fenced and its services recovered (the policy does not apply).
    Crash,
    /// A planned reboot (`reboot`, the LRM sees a reboot).
    Reboot,
    /// A planned poweroff.
    Shutdown,
    /// `ha-manager crm-command node-maintenance enable NODE` (the policy does not apply).
    Maintenance,
}

/// What an event does to one HA service of the node (or to a service elsewhere that has to move).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fate {
    /// Stopped and frozen on the node until it is back (state `freeze`).
    Frozen,
    /// Live-migrated (or relocated) away while the node is still up.
    Migrated {
        /// The node it moves to.
        to: String,
    },
    /// Stopped with the node, fenced, and recovered; `to` None when no node qualifies (it waits in `recovery`).
    Recovered {
        /// The recovery node.
        to: Option<String>,
    },
    /// Stopped with the node and started again on it when it is back, not recovered elsewhere: a reboot under
    /// `failover` (upstream's tester reboots at once; a reboot that outlasts the fence delay is a shutdown).
    Stopped,
    /// Nothing happens to it. `node_event` leaves such services out; the variant is for callers listing every
    /// service.
    Unaffected,
    /// It should migrate away for maintenance but no node qualifies, so it keeps running on the node (a shutdown
    /// under `migrate` then waits for it).
    Stays,
}

/// What the node's LRM and the CRM make of an event under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fence,
    Freeze,
    Stop,
    Maintenance,
}

fn action(event: NodeEvent, policy: ShutdownPolicy) -> Action {
    use NodeEvent::*;
    use ShutdownPolicy::*;
    match (event, policy) {
        (Crash, _) => Action::Fence,
        (Maintenance, _) | (Reboot | Shutdown, Migrate) => Action::Maintenance,
        (Reboot, Conditional) | (Reboot | Shutdown, Freeze) => Action::Freeze,
        (Reboot, Failover) => Action::Stop,
        (Shutdown, Conditional | Failover) => Action::Fence,
    }
}

/// The outcome of one event on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    /// The node the event happens to.
    pub node: String,
    /// The event.
    pub event: NodeEvent,
    /// The policy it was predicted under.
    pub policy: ShutdownPolicy,
    /// by sid, only services the event touches
    pub services: BTreeMap<String, Fate>,
}

/// Predicts what pve-ha-manager does with the node's services when `node` crashes / is rebooted / shut down /
/// put into maintenance under `policy`, with the scheduler the cluster runs.
///
/// A node already in maintenance keeps its LRM in maintenance mode through a reboot or shutdown whatever the policy
/// (upstream logs "ignore ... policy as manual maintenance mode is enabled"), so only what still waits to move
/// away is placed again.
pub fn node_event(
    c: &Cluster,
    node: &str,
    event: NodeEvent,
    policy: ShutdownPolicy,
) -> EventOutcome {
    NodeEvents::new(c).node_event(node, event, policy)
}

/// [`node_event`] for many nodes of one cluster. It indexes the cluster once (where each service is, the rules,
/// each node's load), so one node's event costs about that node's services: predicting every node stays linear in
/// the cluster's size instead of nodes × services.
pub struct NodeEvents<'c> {
    cluster: &'c Cluster,
    recoverer: Recoverer<'c>,
    /// Sids by node, each list in sid order (the order the CRM walks them in).
    on_node: FastMap<&'c str, Vec<&'c str>>,
}

impl<'c> NodeEvents<'c> {
    /// Indexes `c` for [`NodeEvents::node_event`].
    pub fn new(c: &'c Cluster) -> NodeEvents<'c> {
        let mut on_node: FastMap<&str, Vec<&str>> = FastMap::default();
        for (sid, service) in &c.services {
            on_node
                .entry(service.node.as_str())
                .or_default()
                .push(sid.as_str());
        }
        NodeEvents {
            cluster: c,
            recoverer: Recoverer::new(c),
            on_node,
        }
    }

    /// [`node_event`] on the indexed cluster.
    pub fn node_event(&self, node: &str, event: NodeEvent, policy: ShutdownPolicy) -> EventOutcome {
        let c = self.cluster;
        let planned = matches!(event, NodeEvent::Reboot | NodeEvent::Shutdown);
        let action = if planned && c.maintenance.contains(node) {
            Action::Maintenance
        } else {
            action(event, policy)
        };
        let here = self.services_on(node);
        let services = match action {
            Action::Fence => fence(&self.recoverer, node),
            Action::Freeze => freeze(c, here),
            Action::Stop => stop(here),
            Action::Maintenance => maintenance(self.recoverer.frame(), node, here),
        };
        EventOutcome {
            node: node.to_owned(),
            event,
            policy,
            services,
        }
    }

    /// The recovery index inside, so that crash predictions over the same cluster need not index it again.
    pub fn recoverer(&self) -> &Recoverer<'c> {
        &self.recoverer
    }

    /// The services on `node`, in sid order.
    fn services_on<'s>(&'s self, node: &str) -> impl Iterator<Item = (&'c str, &'c Service)> + 's {
        let services = &self.cluster.services;
        self.on_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(move |sid| services.get(*sid).map(|s| (*sid, s)))
    }
}

fn fence(recoverer: &Recoverer<'_>, node: &str) -> BTreeMap<String, Fate> {
    let failed = [node.to_owned()].into();
    recoverer
        .recover(&failed)
        .into_iter()
        .filter(|r| r.from == node)
        .map(|r| (r.sid, Fate::Recovered { to: r.to }))
        .collect()
}

/// The LRM's `restart` mode: the CRM freezes what is started, stopped or being stopped on the node. A service in
/// `request_start` becomes `started` earlier in the same round (unless rebalance-on-start may send it away), so it
/// is frozen too.
fn freeze<'c>(
    c: &Cluster,
    here: impl Iterator<Item = (&'c str, &'c Service)>,
) -> BTreeMap<String, Fate> {
    use CrmState::*;
    let frozen = |state: CrmState| {
        matches!(state, Started | Stopped | RequestStop)
            || (state == RequestStart && !c.rebalance_on_start)
    };
    here.filter(|(_, s)| frozen(s.state))
        .map(|(sid, _)| (sid.to_owned(), Fate::Frozen))
        .collect()
}

/// The LRM's `shutdown` mode on a node that comes back at once: what runs there is stopped and started again.
fn stop<'c>(here: impl Iterator<Item = (&'c str, &'c Service)>) -> BTreeMap<String, Fate> {
    use CrmState::*;
    here.filter(|(_, s)| matches!(s.state, Started | RequestStart))
        .map(|(sid, _)| (sid.to_owned(), Fate::Stopped))
        .collect()
}

/// The CRM's maintenance handling: the node leaves the online set and every service that is (or is about to be)
/// started there is placed anew, in sid order, as a normal round with the current node gone.
fn maintenance<'c>(
    frame: &Frame<'c>,
    node: &str,
    here: impl Iterator<Item = (&'c str, &'c Service)>,
) -> BTreeMap<String, Fate> {
    use CrmState::*;
    let mut round = Round::new(frame, [node]);
    let mut out = BTreeMap::new();
    for (sid, service) in here {
        if !matches!(service.state, Started | RequestStart) {
            continue;
        }
        let hints = Hints {
            failed_nodes: Vec::new(),
            maintenance_node: Some(node.to_owned()),
        };
        let fate = match select_in(&round, sid, node, Preference::None, &hints) {
            Some(i) => {
                let to = frame.name(i);
                let moving = Service {
                    state: Migrate,
                    target: Some(to.to_owned()),
                    ..service.clone()
                };
                round.update(sid, moving);
                Fate::Migrated { to: to.to_owned() }
            }
            None => Fate::Stays,
        };
        out.insert(sid.to_owned(), fate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_policies_round_trip_through_their_crm_spelling() {
        for policy in ShutdownPolicy::ALL {
            assert_eq!(policy.to_string().parse::<ShutdownPolicy>(), Ok(policy));
        }
        assert_eq!(ShutdownPolicy::default(), ShutdownPolicy::Conditional);
        assert!("Migrate".parse::<ShutdownPolicy>().is_err());
    }

    #[test]
    fn a_node_in_maintenance_ignores_the_policy_on_reboot() {
        use crate::types::Node;
        let node = |name: &str, online: bool| Node {
            name: name.to_owned(),
            online,
            stats: None,
        };
        let stopped = Service {
            sid: "vm:1".to_owned(),
            node: "n1".to_owned(),
            state: CrmState::Stopped,
            failback: true,
            ..Service::default()
        };
        let mut c = Cluster {
            nodes: vec![node("n1", false), node("n2", true)],
            services: [("vm:1".to_owned(), stopped)].into(),
            ..Cluster::default()
        };
        // Positive control: out of maintenance, a conditional reboot freezes the stopped service.
        let frozen = node_event(&c, "n1", NodeEvent::Reboot, ShutdownPolicy::Conditional);
        assert_eq!(frozen.services.get("vm:1"), Some(&Fate::Frozen));
        c.maintenance.insert("n1".to_owned());
        for event in [NodeEvent::Reboot, NodeEvent::Shutdown] {
            let out = node_event(&c, "n1", event, ShutdownPolicy::Conditional);
            assert!(out.services.is_empty(), "{event:?}: {:?}", out.services);
        }
    }

    #[test]
    fn the_policy_decides_between_freeze_fence_and_maintenance() {
        use NodeEvent::*;
        use ShutdownPolicy::*;
        assert_eq!(action(Reboot, Conditional), Action::Freeze);
        assert_eq!(action(Shutdown, Conditional), Action::Fence);
        assert_eq!(action(Shutdown, Freeze), Action::Freeze);
        assert_eq!(action(Reboot, Failover), Action::Stop);
        assert_eq!(action(Shutdown, Failover), Action::Fence);
        assert_eq!(action(Reboot, Migrate), Action::Maintenance);
        assert_eq!(action(Crash, Freeze), Action::Fence);
        assert_eq!(action(Maintenance, Failover), Action::Maintenance);
    }
}
