//! What `--observe` sees, poll by poll: each poll of `/cluster/ha/status/current` and `/cluster/resources` read into
//! one `Poll` at the cluster's clock, the node event the user caused told apart from the polls (a crash, a planned
//! reboot or shutdown, maintenance), and every HA service's running changes kept as the drill's `Timeline`.
//! Pure: no I/O and no clock of its own, so every rule here is tested with hand-made polls.

use std::collections::BTreeMap;

use pveha_audit::{Event, Outage};
use pveha_model::{ClusterResource, HaStatusEntry};

use crate::drill::timeline::{Timeline, Transition};

/// What one LRM's status line says (`proxmox3 (maintenance mode, Thu Dec  3 06:00:00 2026)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lrm {
    /// `active` or `idle`: the node runs normally.
    Active,
    /// `maintenance mode`: manual maintenance, or a reboot or shutdown under the `migrate` policy.
    Maintenance,
    /// `restart mode`: a reboot (or a shutdown under the `freeze` policy) that freezes the services.
    Restart,
    /// `shutdown mode`: a shutdown (or a reboot under the `failover` policy) that stops the services.
    Shutdown,
    /// `old timestamp - dead?`, unreadable, or no entry at all: the LRM is not running.
    Dead,
}

impl Lrm {
    /// Reads the state between the parenthesis and the first comma of an LRM status line.
    pub fn from_status(text: &str) -> Lrm {
        let state = text
            .split_once('(')
            .map(|(_, rest)| rest.split([',', ')']).next().unwrap_or(""))
            .unwrap_or("")
            .trim();
        match state {
            "active" | "idle" => Lrm::Active,
            "maintenance mode" => Lrm::Maintenance,
            "restart mode" => Lrm::Restart,
            "shutdown mode" => Lrm::Shutdown,
            _ => Lrm::Dead,
        }
    }
}

/// One node as a poll saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    /// `/cluster/resources` calls it `online`.
    pub online: bool,
    /// Its LRM's state.
    pub lrm: Lrm,
}

/// One guest as a poll saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSeen {
    /// It runs: `running` in `/cluster/resources` on a node that is online.
    pub running: bool,
    /// The node it is on (the inventory's, else the HA manager's).
    pub node: Option<String>,
    /// The HA manager's state (`started`, `fence`, `recovery`, `freeze`, `migrate`...); None outside HA.
    pub ha: Option<String>,
}

/// Both reads of one poll, at the cluster's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    /// The cluster's clock: the newest master or LRM timestamp (seconds since the epoch).
    pub at: f64,
    /// Every node, by name.
    pub nodes: BTreeMap<String, NodeSeen>,
    /// Every guest (HA-managed or not), by sid.
    pub guests: BTreeMap<String, GuestSeen>,
}

impl Poll {
    /// One poll from its two reads; None when the HA status carries no clock (no HA manager has run).
    pub fn read(
        status: &[HaStatusEntry],
        clock: Option<i64>,
        resources: &[ClusterResource],
    ) -> Option<Poll> {
        let at = clock? as f64;
        let mut nodes: BTreeMap<String, NodeSeen> = resources
            .iter()
            .filter(|r| r.kind == "node")
            .filter_map(|r| {
                let name = r.node.clone()?;
                let online = r.status.as_deref() == Some("online");
                Some((
                    name,
                    NodeSeen {
                        online,
                        lrm: Lrm::Dead,
                    },
                ))
            })
            .collect();
        for e in status.iter().filter(|e| e.kind == "lrm") {
            let Some(name) = &e.node else { continue };
            let lrm = Lrm::from_status(e.status.as_deref().unwrap_or(""));
            nodes
                .entry(name.clone())
                .or_insert(NodeSeen {
                    online: false,
                    lrm: Lrm::Dead,
                })
                .lrm = lrm;
        }
        let online = |node: &str| nodes.get(node).is_some_and(|n| n.online);
        let mut guests: BTreeMap<String, GuestSeen> = resources
            .iter()
            .filter(|r| r.template != Some(true))
            .filter_map(|r| {
                let sid = r.sid()?.to_string();
                let running =
                    r.status.as_deref() == Some("running") && r.node.as_deref().is_some_and(online);
                Some((
                    sid,
                    GuestSeen {
                        running,
                        node: r.node.clone(),
                        ha: None,
                    },
                ))
            })
            .collect();
        for e in status.iter().filter(|e| e.kind == "service") {
            let Some(sid) = e.sid.clone() else { continue };
            let state = e
                .crm_state
                .clone()
                .or_else(|| e.state.clone())
                .unwrap_or_default();
            let g = guests.entry(sid).or_insert_with(|| GuestSeen {
                running: false,
                node: e.node.clone(),
                ha: None,
            });
            g.ha = Some(state);
        }
        Some(Poll { at, nodes, guests })
    }

    fn node_up(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.online && n.lrm != Lrm::Dead)
    }
}

/// The event on one node: when it was first seen and how it went on.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The node the user acted on.
    pub node: String,
    /// The cluster time of the first poll that showed it.
    pub t0: f64,
    /// The LRM mode it began with (None for a crash).
    pub planned: Option<Lrm>,
    /// When the node was first seen off (a planned event may end with the node off).
    pub off_at: Option<f64>,
    /// When the node was seen back after being off.
    pub back_at: Option<f64>,
}

/// A watch in progress: the first poll (the state before the user acted), the event once seen, and the timeline.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The first poll.
    pub baseline: Poll,
    /// The latest poll.
    pub last: Poll,
    /// The event, once a poll showed it.
    pub event: Option<Change>,
    /// Every HA service's running changes, the baseline's state first.
    pub timeline: Timeline,
    /// Polls read, the first one included.
    pub polls: u64,
    /// The largest step of the cluster clock between two polls after the event: how finely the measurement
    /// could place a change.
    pub resolution: f64,
    /// Other nodes that changed after the event (only the first event is measured).
    pub others: Vec<String>,
    /// The cluster's `shutdown_policy` from the capture (it tells a shutdown from a reboot in `shutdown mode`).
    pub policy: String,
}

impl Watch {
    /// A watch from its first poll, which must show every node up (the user has not acted yet).
    pub fn new(first: Poll) -> Watch {
        let timeline = first
            .guests
            .iter()
            .map(|(sid, s)| {
                let start = Transition {
                    at: first.at,
                    running: s.running,
                    node: s.node.clone(),
                };
                (sid.clone(), vec![start])
            })
            .collect();
        Watch {
            baseline: first.clone(),
            last: first,
            event: None,
            timeline,
            polls: 1,
            resolution: 0.0,
            others: Vec::new(),
            policy: String::new(),
        }
    }

    /// Nodes that were not up at the start: an event there is not the user's (or began before the watch).
    pub fn down_at_start(&self) -> Vec<String> {
        self.baseline
            .nodes
            .iter()
            .filter(|(_, n)| !n.online || n.lrm != Lrm::Active)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Reads the next poll: running changes into the timeline, the event when it first shows, and how it goes on.
    /// A poll whose clock went backwards (another node answering) is taken at the previous poll's time.
    pub fn push(&mut self, mut poll: Poll) {
        if poll.at < self.last.at {
            poll.at = self.last.at;
        }
        self.polls += 1;
        if self.event.is_some() {
            self.resolution = self.resolution.max(poll.at - self.last.at);
        }
        for (sid, s) in &poll.guests {
            let list = self.timeline.entry(sid.clone()).or_default();
            let changed = list
                .last()
                .is_none_or(|t| t.running != s.running || (s.running && t.node != s.node));
            if changed {
                list.push(Transition {
                    at: poll.at,
                    running: s.running,
                    node: s.node.clone(),
                });
            }
        }
        match &mut self.event {
            None => self.event = self.detect(&poll),
            Some(e) => {
                let up = poll.node_up(&e.node);
                if !up && e.off_at.is_none() {
                    e.off_at = Some(poll.at);
                }
                if up && e.off_at.is_some() && e.back_at.is_none() {
                    e.back_at = Some(poll.at);
                }
                for name in self.baseline.nodes.keys() {
                    let changed =
                        name != &e.node && self.baseline.node_up(name) && !poll.node_up(name)
                            || poll.nodes.get(name).is_some_and(|n| {
                                name != &e.node && !matches!(n.lrm, Lrm::Active | Lrm::Dead)
                            });
                    if changed && !self.others.contains(name) {
                        self.others.push(name.clone());
                    }
                }
            }
        }
        self.last = poll;
    }

    /// The first node, in name order, that this poll shows leaving the state it had at the start.
    fn detect(&self, poll: &Poll) -> Option<Change> {
        for (name, before) in &self.baseline.nodes {
            if !before.online || before.lrm != Lrm::Active {
                continue;
            }
            let Some(now) = poll.nodes.get(name) else {
                continue;
            };
            let fenced = poll
                .guests
                .values()
                .any(|g| g.node.as_deref() == Some(name) && g.ha.as_deref() == Some("fence"));
            let off = !now.online || now.lrm == Lrm::Dead || fenced;
            let planned = match now.lrm {
                Lrm::Maintenance | Lrm::Restart | Lrm::Shutdown => Some(now.lrm.clone()),
                Lrm::Active | Lrm::Dead if off => self.planned_before(name, poll),
                Lrm::Active | Lrm::Dead => None,
            };
            if planned.is_none() && !off {
                continue;
            }
            return Some(Change {
                node: name.clone(),
                t0: poll.at,
                off_at: off.then_some(poll.at),
                planned,
                back_at: None,
            });
        }
        None
    }

    /// A node found off whose LRM mode no poll caught (a quick shutdown between two polls) still shows it was
    /// planned in its HA services: a crash leaves them `started` until the fence, a shutdown request froze them
    /// (restart mode), stopped them (shutdown mode) or moved them away (maintenance first).
    fn planned_before(&self, node: &str, poll: &Poll) -> Option<Lrm> {
        let mut moved = false;
        for (sid, before) in &self.baseline.guests {
            if before.node.as_deref() != Some(node) || before.ha.as_deref() != Some("started") {
                continue;
            }
            let Some(now) = poll.guests.get(sid) else {
                continue;
            };
            match now.ha.as_deref() {
                Some("freeze") => return Some(Lrm::Restart),
                Some("stopped" | "request_stop") => return Some(Lrm::Shutdown),
                _ => {}
            }
            moved |= now.node.as_deref() != Some(node) && now.running;
        }
        moved.then_some(Lrm::Maintenance)
    }

    /// What the user did, as far as the polls tell so far (None before the event). A planned event whose node
    /// came back is a reboot. While the node is off it may still come back, so it is taken for a reboot (and
    /// waited for), except in `shutdown mode` under the `conditional` policy, which only a shutdown gives; a node
    /// that stayed off for the whole watch was shut down (`done`: the watch has ended).
    pub fn kind(&self, done: bool) -> Option<Event> {
        let e = self.event.as_ref()?;
        let surely_shutdown = e.planned == Some(Lrm::Shutdown) && self.policy == "conditional";
        Some(match (&e.planned, e.off_at, e.back_at) {
            (None, _, _) => Event::Crash,
            (Some(_), Some(_), Some(_)) => Event::Reboot,
            (Some(_), Some(_), None) if done || surely_shutdown => Event::Shutdown,
            (Some(_), Some(_), None) => Event::Reboot,
            (Some(Lrm::Maintenance), None, _) => Event::Maintenance,
            (Some(Lrm::Restart), None, _) => Event::Reboot,
            (Some(_), None, _) => Event::Shutdown,
        })
    }

    /// The guests running on the event's node at the start: the ones the event affects, as the prediction lists
    /// them.
    pub fn affected(&self) -> Vec<String> {
        let Some(e) = &self.event else {
            return Vec::new();
        };
        self.baseline
            .guests
            .iter()
            .filter(|(_, s)| s.running && s.node.as_deref() == Some(e.node.as_str()))
            .map(|(sid, _)| sid.clone())
            .collect()
    }

    /// Whether `sid` has come to rest after the event, judged against what the prediction expects of it
    /// (`expect`: the node it runs on afterwards and its outage; None when the prediction does not list it).
    ///
    /// Settled: in a steady HA state (not fencing, moving or stopping) and either as expected (running on the
    /// expected node after the stop, move or return the event brings, or down for good where expected), or, if
    /// not as expected, running where it is for [`QUIET_SECONDS`] since its last change (and since the node came
    /// back, for a reboot): the disagreement is then the comparison's to report. A service that is down but
    /// expected back is waited for until the timeout.
    pub fn settled(&self, sid: &str, expect: Option<(Option<&str>, Outage)>) -> bool {
        let (Some(e), Some(g)) = (&self.event, self.last.guests.get(sid)) else {
            return false;
        };
        let steady = match g.ha.as_deref() {
            None => true,
            Some(s) => matches!(
                s,
                "started" | "stopped" | "error" | "recovery" | "freeze" | "disabled" | "ignored"
            ),
        };
        if !steady {
            return false;
        }
        let list = self.timeline.get(sid).map(Vec::as_slice).unwrap_or(&[]);
        let went_down = list.iter().any(|t| t.at >= e.t0 && !t.running);
        let moved = g.node.as_deref() != Some(e.node.as_str());
        let reboot = self.kind(false) == Some(Event::Reboot);
        let node_back = !reboot || e.back_at.is_some();
        let since = list
            .last()
            .map_or(e.t0, |t| t.at)
            .max(e.back_at.unwrap_or(e.t0));
        let quiet = self.last.at - since >= QUIET_SECONDS;
        let (node, outage) = match expect {
            Some((node, outage)) => (node, Some(outage)),
            None => (None, None),
        };
        if g.running {
            if g.ha.as_deref().is_some_and(|s| s != "started") {
                return false;
            }
            let expected = outage.is_some_and(|o| o != Outage::StaysDown)
                && node == g.node.as_deref()
                && (went_down || moved || outage == Some(Outage::Seconds(0)));
            return node_back && (expected || (quiet && (went_down || moved)));
        }
        match outage {
            Some(Outage::StaysDown) => went_down,
            // Expected back: only a reboot's return ends the wait early (it did not start with its node).
            _ => reboot && e.back_at.is_some() && quiet,
        }
    }
}

/// Cluster seconds without a change after which a guest that is not where the prediction expects it is taken as
/// settled there: three HA rounds, one more than a move or a failback needs to begin.
pub const QUIET_SECONDS: f64 = 30.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// A guest: sid, running, node, HA state ("" outside HA).
    type G<'a> = (&'a str, bool, &'a str, &'a str);

    fn poll(at: f64, nodes: &[(&str, bool, Lrm)], guests: &[G]) -> Poll {
        Poll {
            at,
            nodes: nodes
                .iter()
                .map(|(n, online, lrm)| {
                    let seen = NodeSeen {
                        online: *online,
                        lrm: lrm.clone(),
                    };
                    (n.to_string(), seen)
                })
                .collect(),
            guests: guests
                .iter()
                .map(|(sid, running, node, state)| {
                    let seen = GuestSeen {
                        running: *running,
                        node: Some(node.to_string()),
                        ha: (!state.is_empty()).then(|| state.to_string()),
                    };
                    (sid.to_string(), seen)
                })
                .collect(),
        }
    }

    const UP: Lrm = Lrm::Active;

    fn back_after(node: &str, s: u64) -> Option<(Option<&str>, Outage)> {
        Some((Some(node), Outage::Seconds(s)))
    }

    #[test]
    fn lrm_status_lines_read_as_their_mode() {
        for (line, lrm) in [
            ("pve1 (active, Thu Dec  3 06:00:00 2026)", Lrm::Active),
            ("pve1 (idle, Thu Dec  3 06:00:00 2026)", Lrm::Active),
            (
                "pve1 (maintenance mode, Thu Dec  3 06:00:00 2026)",
                Lrm::Maintenance,
            ),
            (
                "pve1 (restart mode, Thu Dec  3 06:00:00 2026)",
                Lrm::Restart,
            ),
            (
                "pve1 (shutdown mode, Thu Dec  3 06:00:00 2026)",
                Lrm::Shutdown,
            ),
            (
                "pve1 (old timestamp - dead?, Thu Dec  3 06:00:00 2026)",
                Lrm::Dead,
            ),
            ("pve1 (unable to read lrm status)", Lrm::Dead),
            ("", Lrm::Dead),
        ] {
            assert_eq!(Lrm::from_status(line), lrm, "{line}");
        }
    }

    #[test]
    fn a_node_going_off_without_a_request_is_a_crash_and_its_services_outage_is_timed() {
        let up = [("a", true, UP), ("b", true, UP)];
        let off = [("a", false, Lrm::Dead), ("b", true, UP)];
        let mut w = Watch::new(poll(
            100.0,
            &up,
            &[
                ("ct:1", true, "a", "started"),
                ("ct:2", true, "b", "started"),
                ("ct:3", true, "a", ""),
            ],
        ));
        w.push(poll(
            110.0,
            &off,
            &[
                ("ct:1", false, "a", "fence"),
                ("ct:2", true, "b", "started"),
                ("ct:3", false, "a", ""),
            ],
        ));
        let e = w.event.clone().unwrap();
        assert_eq!(
            (e.node.as_str(), e.t0, w.kind(false)),
            ("a", 110.0, Some(Event::Crash))
        );
        assert_eq!(w.affected(), ["ct:1", "ct:3"]);
        assert!(!w.settled("ct:1", back_after("b", 120)));
        // A guest outside HA on a crashed node stays down, as predicted.
        assert!(w.settled("ct:3", Some((None, Outage::StaysDown))));
        w.push(poll(
            230.0,
            &off,
            &[
                ("ct:1", true, "b", "started"),
                ("ct:2", true, "b", "started"),
                ("ct:3", false, "a", ""),
            ],
        ));
        assert!(w.settled("ct:1", back_after("b", 120)));
        let m = crate::drill::timeline::measure(&w.timeline, "ct:1", e.t0);
        assert_eq!(m.outage_seconds(), Some(120.0));
        assert_eq!(m.node.as_deref(), Some("b"));
        assert_eq!(w.resolution, 120.0);
    }

    #[test]
    fn a_service_recovered_where_the_prediction_did_not_expect_it_settles_once_quiet() {
        let off = [("a", false, Lrm::Dead), ("b", true, UP), ("c", true, UP)];
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP), ("b", true, UP), ("c", true, UP)],
            &[("ct:1", true, "a", "started")],
        ));
        w.push(poll(10.0, &off, &[("ct:1", false, "a", "fence")]));
        w.push(poll(130.0, &off, &[("ct:1", true, "c", "started")]));
        assert!(!w.settled("ct:1", back_after("b", 120)));
        w.push(poll(160.0, &off, &[("ct:1", true, "c", "started")]));
        assert!(w.settled("ct:1", back_after("b", 120)));
    }

    #[test]
    fn a_service_without_a_recovery_node_settles_only_when_the_prediction_says_it_stays_down() {
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP)],
            &[("ct:1", true, "a", "started")],
        ));
        let off = [("a", false, Lrm::Dead)];
        w.push(poll(10.0, &off, &[("ct:1", false, "a", "fence")]));
        assert!(
            !w.settled("ct:1", Some((None, Outage::StaysDown))),
            "fencing is not steady"
        );
        w.push(poll(130.0, &off, &[("ct:1", false, "a", "recovery")]));
        assert!(w.settled("ct:1", Some((None, Outage::StaysDown))));
        assert!(!w.settled("ct:1", back_after("b", 120)));
    }

    #[test]
    fn maintenance_moves_services_away_and_a_later_power_off_makes_it_a_shutdown() {
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP), ("b", true, UP)],
            &[("vm:1", true, "a", "started"), ("ct:2", true, "a", "")],
        ));
        let drained = [("a", true, Lrm::Maintenance), ("b", true, UP)];
        w.push(poll(
            10.0,
            &drained,
            &[("vm:1", true, "a", "migrate"), ("ct:2", true, "a", "")],
        ));
        assert_eq!(w.kind(false).unwrap(), Event::Maintenance);
        assert!(!w.settled("vm:1", back_after("b", 0)));
        // Outside HA, a guest keeps running on a node in maintenance.
        assert!(w.settled("ct:2", back_after("a", 0)));
        w.push(poll(
            20.0,
            &drained,
            &[("vm:1", true, "b", "started"), ("ct:2", true, "a", "")],
        ));
        assert!(w.settled("vm:1", back_after("b", 0)));
        let m = crate::drill::timeline::measure(&w.timeline, "vm:1", 10.0);
        assert_eq!(
            (m.outage_seconds(), m.node.as_deref()),
            (Some(0.0), Some("b"))
        );
        w.push(poll(
            30.0,
            &[("a", false, Lrm::Dead), ("b", true, UP)],
            &[("vm:1", true, "b", "started")],
        ));
        assert_eq!(w.kind(true).unwrap(), Event::Shutdown);
    }

    #[test]
    fn a_frozen_reboot_settles_once_the_node_is_back_and_its_services_run_again() {
        let up = [("a", true, UP), ("b", true, UP)];
        let expect = Some((Some("a"), Outage::UntilNodeBack));
        let mut w = Watch::new(poll(0.0, &up, &[("ct:1", true, "a", "started")]));
        let restart = [("a", true, Lrm::Restart), ("b", true, UP)];
        w.push(poll(10.0, &restart, &[("ct:1", false, "a", "freeze")]));
        assert_eq!(w.kind(false).unwrap(), Event::Reboot);
        let off = [("a", false, Lrm::Dead), ("b", true, UP)];
        w.push(poll(20.0, &off, &[("ct:1", false, "a", "freeze")]));
        assert!(!w.settled("ct:1", expect));
        // Still off when the watch ends: it was a shutdown.
        assert_eq!(w.kind(true).unwrap(), Event::Shutdown);
        w.push(poll(150.0, &up, &[("ct:1", false, "a", "freeze")]));
        assert!(!w.settled("ct:1", expect), "back, but not running yet");
        w.push(poll(160.0, &up, &[("ct:1", true, "a", "started")]));
        assert!(w.settled("ct:1", expect));
        let e = w.event.clone().unwrap();
        assert_eq!(
            (e.off_at, e.back_at, w.kind(true)),
            (Some(20.0), Some(150.0), Some(Event::Reboot))
        );
        let m = crate::drill::timeline::measure(&w.timeline, "ct:1", e.t0);
        assert_eq!(m.outage_seconds(), Some(150.0));
    }

    #[test]
    fn a_shutdown_request_no_poll_caught_is_read_from_the_frozen_or_stopped_services() {
        let up = [("a", true, UP), ("b", true, UP)];
        let off = [("a", false, Lrm::Dead), ("b", true, UP)];
        let start = poll(0.0, &up, &[("ct:1", true, "a", "started")]);
        for (state, kind) in [("freeze", Event::Reboot), ("stopped", Event::Shutdown)] {
            let mut w = Watch::new(start.clone());
            // Only the conditional policy stops (rather than freezes) for a shutdown and never for a reboot.
            w.policy = "conditional".into();
            w.push(poll(10.0, &off, &[("ct:1", false, "a", state)]));
            assert_eq!(w.kind(false), Some(kind), "{state}");
        }
        let mut w = Watch::new(start);
        w.push(poll(10.0, &off, &[("ct:1", false, "a", "started")]));
        assert_eq!(
            w.kind(false),
            Some(Event::Crash),
            "a crash leaves it started until the fence"
        );
    }

    #[test]
    fn a_reboot_under_migrate_waits_for_the_failback_not_just_the_move_away() {
        let up = [("a", true, UP), ("b", true, UP)];
        let expect = back_after("a", 0);
        let mut w = Watch::new(poll(0.0, &up, &[("vm:1", true, "a", "started")]));
        let drained = [("a", true, Lrm::Maintenance), ("b", true, UP)];
        w.push(poll(10.0, &drained, &[("vm:1", true, "b", "started")]));
        let off = [("a", false, Lrm::Dead), ("b", true, UP)];
        w.push(poll(20.0, &off, &[("vm:1", true, "b", "started")]));
        w.push(poll(200.0, &off, &[("vm:1", true, "b", "started")]));
        assert!(!w.settled("vm:1", expect), "the node is not back");
        w.push(poll(210.0, &up, &[("vm:1", true, "b", "started")]));
        assert!(!w.settled("vm:1", expect), "the failback has not begun");
        w.push(poll(220.0, &up, &[("vm:1", true, "a", "started")]));
        assert!(w.settled("vm:1", expect));
        assert_eq!(w.kind(true).unwrap(), Event::Reboot);
    }

    #[test]
    fn nodes_down_before_the_watch_are_not_the_event_and_a_second_node_is_reported_apart() {
        let c_off = ("c", false, Lrm::Dead);
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP), ("b", true, UP), c_off.clone()],
            &[],
        ));
        assert_eq!(w.down_at_start(), ["c"]);
        w.push(poll(
            10.0,
            &[("a", true, UP), ("b", true, UP), c_off.clone()],
            &[],
        ));
        assert!(w.event.is_none());
        w.push(poll(
            20.0,
            &[("a", true, UP), ("b", false, Lrm::Dead), c_off.clone()],
            &[],
        ));
        assert_eq!(w.event.as_ref().map(|e| e.node.as_str()), Some("b"));
        w.push(poll(
            30.0,
            &[("a", false, Lrm::Dead), ("b", false, Lrm::Dead), c_off],
            &[],
        ));
        assert_eq!(w.others, ["a"]);
    }

    #[test]
    fn a_poll_reads_the_inventory_and_the_ha_status_together() {
        let status: Vec<HaStatusEntry> = serde_json::from_value(serde_json::json!([
            {"type": "quorum", "id": "quorum", "quorate": 1},
            {"type": "lrm", "id": "lrm:a", "node": "a", "status": "a (active, Thu Dec  3 06:00:00 2026)"},
            {"type": "lrm", "id": "lrm:b", "node": "b", "status": "b (old timestamp - dead?, Thu Dec  3 06:00:00 2026)"},
            {"type": "service", "id": "service:ct:1", "sid": "ct:1", "node": "a", "crm_state": "started", "state": "started"},
            {"type": "service", "id": "service:vm:2", "sid": "vm:2", "node": "b", "crm_state": "fence", "state": "fence"}
        ]))
        .unwrap();
        let resources: Vec<ClusterResource> = serde_json::from_value(serde_json::json!([
            {"type": "node", "id": "node/a", "node": "a", "status": "online"},
            {"type": "node", "id": "node/b", "node": "b", "status": "offline"},
            {"type": "lxc", "id": "lxc/1", "vmid": 1, "node": "a", "status": "running"},
            {"type": "qemu", "id": "qemu/2", "vmid": 2, "node": "b", "status": "running"},
            {"type": "lxc", "id": "lxc/3", "vmid": 3, "node": "a", "status": "running"},
            {"type": "qemu", "id": "qemu/9000", "vmid": 9000, "node": "a", "status": "stopped", "template": 1}
        ]))
        .unwrap();
        assert_eq!(Poll::read(&status, None, &resources), None);
        let p = Poll::read(&status, Some(1000), &resources).unwrap();
        assert_eq!(p.at, 1000.0);
        assert_eq!(
            p.nodes["a"],
            NodeSeen {
                online: true,
                lrm: Lrm::Active
            }
        );
        assert_eq!(
            p.nodes["b"],
            NodeSeen {
                online: false,
                lrm: Lrm::Dead
            }
        );
        assert!(p.guests["ct:1"].running);
        // A guest an offline node last reported running does not run.
        assert!(!p.guests["vm:2"].running);
        assert_eq!(p.guests["vm:2"].ha.as_deref(), Some("fence"));
        assert_eq!(p.guests["ct:3"].ha, None, "outside HA");
        assert!(!p.guests.contains_key("vm:9000"), "templates never run");
    }
}
