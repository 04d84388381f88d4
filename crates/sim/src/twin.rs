//! The simulator in-process, without a listener: a digital twin that `pveha drill` loads from a snapshot, triggers
//! one node event on, and steps through the HA manager's rounds on a frozen clock. It calls the same functions the
//! control API does (`/_sim/nodes/...`, `/_sim/advance`, `/_sim/timeline`), so a drill sees what a test of the
//! served simulator sees.

use std::collections::BTreeMap;

use crate::ha_manager::{self, ROUND};
use crate::lifecycle::{self, LifecycleError, ShutdownPolicy};
use crate::state::Cluster;
use crate::Simulator;

/// One change of a guest between running and not running, on the twin's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Simulated epoch seconds.
    pub at: f64,
    /// Running after the change.
    pub running: bool,
    /// The node it is on after the change.
    pub node: String,
}

/// Where a guest is and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestState {
    /// `ct:130`, `vm:100`.
    pub sid: String,
    /// The node it is on.
    pub node: String,
    /// Whether it runs.
    pub running: bool,
    /// Whether the HA manager tracks it.
    pub ha: bool,
}

/// A simulated cluster stepped in-process on a frozen clock.
#[derive(Debug, Clone)]
pub struct Twin {
    cluster: Cluster,
    /// Changes of guests the HA manager does not track, which its own timeline leaves out; sampled at every step.
    others: BTreeMap<String, Vec<Change>>,
    last: BTreeMap<String, (bool, String)>,
}

impl Twin {
    /// A twin of the loaded simulator, its clock frozen at the snapshot's time (only [`Twin::advance`] moves it).
    pub fn new(sim: Simulator) -> Twin {
        let mut cluster = sim.cluster;
        cluster.clock.set_scale(0.0);
        ha_manager::catch_up(&mut cluster);
        let mut twin = Twin {
            cluster,
            others: BTreeMap::new(),
            last: BTreeMap::new(),
        };
        twin.last = twin.sample();
        twin
    }

    /// The simulated time, epoch seconds.
    pub fn now(&self) -> f64 {
        self.cluster.clock.now()
    }

    /// Seconds between the HA manager's rounds.
    pub fn round_seconds(&self) -> f64 {
        ROUND
    }

    /// Node names, in snapshot order.
    pub fn nodes(&self) -> Vec<String> {
        self.cluster.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Whether the node exists and is powered on.
    pub fn node_online(&self, node: &str) -> bool {
        self.cluster.node_online(node)
    }

    /// The cluster's `shutdown_policy`.
    pub fn shutdown_policy(&self) -> ShutdownPolicy {
        lifecycle::HaSettings::read(&self.cluster).shutdown_policy
    }

    /// Moves the clock forward and runs every round that falls due (`/_sim/advance`).
    pub fn advance(&mut self, seconds: f64) {
        self.cluster.clock.advance(seconds);
        ha_manager::catch_up(&mut self.cluster);
        self.record_others();
    }

    /// Moves the clock to the next round and runs it.
    pub fn step(&mut self) {
        let next = self.cluster.manager.next_round;
        let now = self.now();
        self.advance((next - now).max(0.0));
    }

    /// The node loses power at once (`/_sim/nodes/N/power` off).
    pub fn crash(&mut self, node: &str) -> Result<(), LifecycleError> {
        if !self.cluster.node_online(node) {
            return Err(match self.cluster.node(node) {
                None => LifecycleError::NoSuchNode(node.into()),
                Some(_) => LifecycleError::AlreadyOff(node.into()),
            });
        }
        ha_manager::power(&mut self.cluster, node, false);
        self.record_others();
        Ok(())
    }

    /// A planned reboot that keeps the node off for `down_seconds` once it has powered off
    /// (`/_sim/nodes/N/reboot`).
    pub fn reboot(
        &mut self,
        node: &str,
        down_seconds: f64,
    ) -> Result<ShutdownPolicy, LifecycleError> {
        lifecycle::request_shutdown(&mut self.cluster, node, Some(down_seconds.max(0.0)))
    }

    /// A planned poweroff (`/_sim/nodes/N/shutdown`).
    pub fn shutdown(&mut self, node: &str) -> Result<ShutdownPolicy, LifecycleError> {
        lifecycle::request_shutdown(&mut self.cluster, node, None)
    }

    /// Manual maintenance on or off (`/_sim/nodes/N/maintenance`).
    pub fn maintenance(&mut self, node: &str, enable: bool) -> Result<(), LifecycleError> {
        lifecycle::set_maintenance(&mut self.cluster, node, enable)
    }

    /// Whether nothing is under way: no service between states or started on a node that is off (about to be
    /// fenced), no planned event waiting, no node waiting to boot. A service with no recovery node stays in
    /// `recovery` and keeps the twin unsettled, as it keeps the real CRM trying.
    pub fn settled(&self) -> bool {
        let m = &self.cluster.manager;
        if !m.boot_at.is_empty() || m.planned.keys().any(|n| self.cluster.node_online(n)) {
            return false;
        }
        m.services.values().all(|s| match s.state.as_str() {
            "started" => self.cluster.node_online(&s.node),
            "stopped" | "freeze" | "error" | "disabled" | "ignored" => true,
            _ => false,
        })
    }

    /// Every guest's node and running state, in VMID order.
    pub fn guests(&self) -> Vec<GuestState> {
        let mut out: Vec<GuestState> = self
            .cluster
            .guests
            .iter()
            .map(|g| {
                let sid = g.sid();
                GuestState {
                    ha: self.cluster.manager.services.contains_key(&sid),
                    sid,
                    node: g.node.clone(),
                    running: g.running,
                }
            })
            .collect();
        out.sort_by_key(|g| {
            g.sid
                .split_once(':')
                .and_then(|(_, id)| id.parse::<u64>().ok())
        });
        out
    }

    /// Every guest's running changes so far: the HA manager's timeline for its services, the twin's own samples
    /// (taken at every step, so on the round) for the rest.
    pub fn timeline(&self) -> BTreeMap<String, Vec<Change>> {
        let mut out: BTreeMap<String, Vec<Change>> = self
            .cluster
            .manager
            .timeline
            .iter()
            .map(|(sid, list)| {
                let list = list
                    .iter()
                    .map(|c| Change {
                        at: c.at,
                        running: c.running,
                        node: c.node.clone(),
                    })
                    .collect();
                (sid.clone(), list)
            })
            .collect();
        for (sid, list) in &self.others {
            out.entry(sid.clone())
                .or_default()
                .extend(list.iter().cloned());
        }
        out
    }

    /// The HA manager's log, oldest first.
    pub fn log(&self) -> &[String] {
        &self.cluster.manager.log
    }

    /// The current state as a `pveha-snapshot/1` document.
    pub fn snapshot(&self) -> serde_json::Value {
        crate::snapshot::dump(&self.cluster)
    }

    fn sample(&self) -> BTreeMap<String, (bool, String)> {
        self.cluster
            .guests
            .iter()
            .map(|g| (g.sid(), (g.running, g.node.clone())))
            .filter(|(sid, _)| !self.cluster.manager.services.contains_key(sid))
            .collect()
    }

    fn record_others(&mut self) {
        let now = self.sample();
        let at = self.now();
        for (sid, (running, node)) in &now {
            let changed = self.last.get(sid).is_none_or(|(was, _)| was != running);
            if changed && self.last.contains_key(sid) {
                self.others.entry(sid.clone()).or_default().push(Change {
                    at,
                    running: *running,
                    node: node.clone(),
                });
            }
        }
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn homelab() -> Twin {
        let sim = crate::load_snapshot(include_str!("../../../examples/homelab/cluster-pve8.json"))
            .expect("fixture loads");
        let mut twin = Twin::new(sim);
        for _ in 0..30 {
            twin.step();
        }
        twin
    }

    #[test]
    fn a_crash_is_unsettled_until_the_ha_services_run_elsewhere_and_the_timeline_shows_both_kinds_of_guest(
    ) {
        let mut twin = homelab();
        assert!(twin.settled(), "the fixture settles before the event");
        let on_node: Vec<GuestState> = twin
            .guests()
            .into_iter()
            .filter(|g| g.running && g.node == "proxmox2")
            .collect();
        assert!(on_node.iter().any(|g| g.ha) && on_node.iter().any(|g| !g.ha));
        let t0 = twin.now();
        twin.crash("proxmox2").expect("crash");
        assert_eq!(
            twin.crash("proxmox2"),
            Err(LifecycleError::AlreadyOff("proxmox2".into()))
        );
        twin.step();
        assert!(
            !twin.settled(),
            "services still started on a node that is off"
        );
        while !twin.settled() && twin.now() - t0 < 900.0 {
            twin.step();
        }
        let after: BTreeMap<String, GuestState> = twin
            .guests()
            .into_iter()
            .map(|g| (g.sid.clone(), g))
            .collect();
        let timeline = twin.timeline();
        for g in &on_node {
            let now = &after[&g.sid];
            let changes = &timeline[&g.sid];
            assert_eq!(
                (changes[0].at, changes[0].running),
                (t0, false),
                "{}",
                g.sid
            );
            if g.ha {
                assert!(now.running && now.node != "proxmox2", "{now:?}");
                let back = changes.iter().find(|c| c.running).expect("started again");
                assert!(back.at - t0 >= ha_manager::LOCK_EXPIRY, "{changes:?}");
            } else {
                assert!(!now.running, "{now:?}");
            }
        }
    }

    #[test]
    fn unknown_nodes_are_refused() {
        let mut twin = homelab();
        assert!(matches!(
            twin.crash("nope"),
            Err(LifecycleError::NoSuchNode(_))
        ));
        assert!(twin.reboot("nope", 60.0).is_err());
        assert!(twin.maintenance("nope", true).is_err());
    }
}
