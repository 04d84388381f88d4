//! What `--observe` sees, poll by poll: each poll of `/cluster/ha/status/current` and `/cluster/resources` read into
//! one `Poll` at the cluster's clock, the node event the user caused told apart from the polls (a crash, a planned
//! reboot or shutdown, maintenance), and every HA service's running changes kept as the drill's `Timeline`.
//! Pure: no I/O and no clock of its own, so every rule here is tested with hand-made polls.

use std::collections::BTreeMap;

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

/// One HA service as a poll saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSeen {
    /// Its guest runs: `running` in `/cluster/resources` on a node that is online.
    pub running: bool,
    /// The node the HA manager has it on.
    pub node: Option<String>,
    /// The HA manager's state (`started`, `fence`, `recovery`, `freeze`, `migrate`...).
    pub state: String,
}

/// Both reads of one poll, at the cluster's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    /// The cluster's clock: the newest master or LRM timestamp (seconds since the epoch).
    pub at: f64,
    /// Every node, by name.
    pub nodes: BTreeMap<String, NodeSeen>,
    /// Every HA service, by sid.
    pub services: BTreeMap<String, ServiceSeen>,
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
        // Guests by sid: the HA status names a service, the inventory says whether its guest runs.
        let guests: BTreeMap<String, &ClusterResource> = resources
            .iter()
            .filter_map(|r| Some((r.sid()?.to_string(), r)))
            .collect();
        let services = status
            .iter()
            .filter(|e| e.kind == "service")
            .filter_map(|e| {
                let sid = e.sid.clone()?;
                let guest = guests.get(&sid);
                let running = guest.is_some_and(|g| {
                    g.status.as_deref() == Some("running") && g.node.as_deref().is_some_and(online)
                });
                let node = e
                    .node
                    .clone()
                    .or_else(|| guest.and_then(|g| g.node.clone()));
                let state = e
                    .crm_state
                    .clone()
                    .or_else(|| e.state.clone())
                    .unwrap_or_default();
                Some((
                    sid,
                    ServiceSeen {
                        running,
                        node,
                        state,
                    },
                ))
            })
            .collect();
        Some(Poll {
            at,
            nodes,
            services,
        })
    }

    fn node_up(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.online && n.lrm != Lrm::Dead)
    }
}

/// The kind of event a watch saw, as the user caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Seen {
    /// The node went away without a shutdown request: power off, a crash, a fence.
    Crash,
    /// A planned shutdown after which the node came back.
    Reboot,
    /// A planned shutdown after which the node stayed off (so far).
    Shutdown,
    /// Maintenance mode without the node going off.
    Maintenance,
}

impl Seen {
    /// The word the output uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Seen::Crash => "crash",
            Seen::Reboot => "reboot",
            Seen::Shutdown => "shutdown",
            Seen::Maintenance => "maintenance",
        }
    }
}

/// The event on one node: when it was first seen and how it went on.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
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

impl Event {
    /// What the user did, as far as the polls tell: a planned event whose node came back is a reboot; one whose
    /// node went off (and stayed off) is a shutdown, unless it froze its services (restart mode), which only a
    /// reboot ends.
    pub fn kind(&self) -> Seen {
        match (&self.planned, self.off_at, self.back_at) {
            (None, _, _) => Seen::Crash,
            (Some(Lrm::Maintenance), None, _) => Seen::Maintenance,
            (Some(_), Some(_), Some(_)) => Seen::Reboot,
            (Some(Lrm::Restart), _, _) => Seen::Reboot,
            (Some(_), _, _) => Seen::Shutdown,
        }
    }
}

/// A watch in progress: the first poll (the state before the user acted), the event once seen, and the timeline.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The first poll.
    pub baseline: Poll,
    /// The latest poll.
    pub last: Poll,
    /// The event, once a poll showed it.
    pub event: Option<Event>,
    /// Every HA service's running changes, the baseline's state first.
    pub timeline: Timeline,
    /// Polls read, the first one included.
    pub polls: u64,
    /// The largest step of the cluster clock between two polls after the event: how finely the measurement
    /// could place a change.
    pub resolution: f64,
    /// Other nodes that changed after the event (only the first event is measured).
    pub others: Vec<String>,
}

impl Watch {
    /// A watch from its first poll, which must show every node up (the user has not acted yet).
    pub fn new(first: Poll) -> Watch {
        let timeline = first
            .services
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
        for (sid, s) in &poll.services {
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
    fn detect(&self, poll: &Poll) -> Option<Event> {
        for (name, before) in &self.baseline.nodes {
            if !before.online || before.lrm != Lrm::Active {
                continue;
            }
            let Some(now) = poll.nodes.get(name) else {
                continue;
            };
            let fenced = poll
                .services
                .values()
                .any(|s| s.node.as_deref() == Some(name) && s.state == "fence");
            let planned = match now.lrm {
                Lrm::Maintenance | Lrm::Restart | Lrm::Shutdown => Some(now.lrm.clone()),
                Lrm::Active | Lrm::Dead => None,
            };
            let off = !now.online || now.lrm == Lrm::Dead || fenced;
            if planned.is_none() && !off {
                continue;
            }
            return Some(Event {
                node: name.clone(),
                t0: poll.at,
                off_at: off.then_some(poll.at),
                planned,
                back_at: None,
            });
        }
        None
    }

    /// The HA services running on the event's node at the start: the ones the event affects.
    pub fn affected(&self) -> Vec<String> {
        let Some(e) = &self.event else {
            return Vec::new();
        };
        self.baseline
            .services
            .iter()
            .filter(|(_, s)| s.running && s.node.as_deref() == Some(e.node.as_str()))
            .map(|(sid, _)| sid.clone())
            .collect()
    }

    /// Whether `sid` has come to rest after the event: running and `started` again after a stop or a move, or down
    /// in a state only a person or the node's return ends (`recovery` without a node to go to, `freeze`, `stopped`,
    /// `error`) while the node stays off. `stays_down` is the prediction's word that it will not run again.
    pub fn settled(&self, sid: &str, stays_down: bool) -> bool {
        let (Some(e), Some(s)) = (&self.event, self.last.services.get(sid)) else {
            return false;
        };
        let went_down = self
            .timeline
            .get(sid)
            .is_some_and(|list| list.iter().any(|t| t.at >= e.t0 && !t.running));
        let moved = s.node.as_deref() != Some(e.node.as_str());
        match s.state.as_str() {
            "started" => s.running && (moved || went_down),
            "recovery" | "freeze" | "stopped" | "error" => {
                stays_down && !s.running && !self.last.node_up(&e.node)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(at: f64, nodes: &[(&str, bool, Lrm)], services: &[(&str, bool, &str, &str)]) -> Poll {
        Poll {
            at,
            nodes: nodes
                .iter()
                .map(|(n, online, lrm)| {
                    (
                        n.to_string(),
                        NodeSeen {
                            online: *online,
                            lrm: lrm.clone(),
                        },
                    )
                })
                .collect(),
            services: services
                .iter()
                .map(|(sid, running, node, state)| {
                    (
                        sid.to_string(),
                        ServiceSeen {
                            running: *running,
                            node: Some(node.to_string()),
                            state: state.to_string(),
                        },
                    )
                })
                .collect(),
        }
    }

    const UP: Lrm = Lrm::Active;

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
        let start = poll(
            100.0,
            &[("a", true, UP), ("b", true, UP)],
            &[
                ("ct:1", true, "a", "started"),
                ("ct:2", true, "b", "started"),
            ],
        );
        let mut w = Watch::new(start);
        w.push(poll(
            110.0,
            &[("a", false, Lrm::Dead), ("b", true, UP)],
            &[
                ("ct:1", false, "a", "fence"),
                ("ct:2", true, "b", "started"),
            ],
        ));
        let e = w.event.clone().unwrap();
        assert_eq!((e.node.as_str(), e.t0, e.kind()), ("a", 110.0, Seen::Crash));
        assert_eq!(w.affected(), ["ct:1"]);
        assert!(!w.settled("ct:1", false));
        w.push(poll(
            230.0,
            &[("a", false, Lrm::Dead), ("b", true, UP)],
            &[
                ("ct:1", true, "b", "started"),
                ("ct:2", true, "b", "started"),
            ],
        ));
        assert!(w.settled("ct:1", false));
        let m = crate::drill::timeline::measure(&w.timeline, "ct:1", e.t0);
        assert_eq!(m.outage_seconds(), Some(120.0));
        assert_eq!(m.node.as_deref(), Some("b"));
        assert_eq!(w.resolution, 120.0);
    }

    #[test]
    fn a_service_without_a_recovery_node_settles_only_when_the_prediction_says_it_stays_down() {
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP)],
            &[("ct:1", true, "a", "started")],
        ));
        w.push(poll(
            10.0,
            &[("a", false, Lrm::Dead)],
            &[("ct:1", false, "a", "recovery")],
        ));
        assert!(w.settled("ct:1", true));
        assert!(!w.settled("ct:1", false));
    }

    #[test]
    fn maintenance_moves_services_away_and_a_later_power_off_makes_it_a_shutdown() {
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP), ("b", true, UP)],
            &[("vm:1", true, "a", "started")],
        ));
        w.push(poll(
            10.0,
            &[("a", true, Lrm::Maintenance), ("b", true, UP)],
            &[("vm:1", true, "a", "migrate")],
        ));
        assert_eq!(w.event.as_ref().unwrap().kind(), Seen::Maintenance);
        assert!(!w.settled("vm:1", false));
        w.push(poll(
            20.0,
            &[("a", true, Lrm::Maintenance), ("b", true, UP)],
            &[("vm:1", true, "b", "started")],
        ));
        assert!(w.settled("vm:1", false));
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
        assert_eq!(w.event.as_ref().unwrap().kind(), Seen::Shutdown);
    }

    #[test]
    fn a_frozen_reboot_settles_once_the_node_is_back_and_its_services_run_again() {
        let up = [("a", true, UP), ("b", true, UP)];
        let mut w = Watch::new(poll(0.0, &up, &[("ct:1", true, "a", "started")]));
        let restart = [("a", true, Lrm::Restart), ("b", true, UP)];
        w.push(poll(10.0, &restart, &[("ct:1", false, "a", "freeze")]));
        assert_eq!(w.event.as_ref().unwrap().kind(), Seen::Reboot);
        let off = [("a", false, Lrm::Dead), ("b", true, UP)];
        w.push(poll(20.0, &off, &[("ct:1", false, "a", "freeze")]));
        assert!(!w.settled("ct:1", false));
        w.push(poll(150.0, &up, &[("ct:1", false, "a", "freeze")]));
        assert!(!w.settled("ct:1", false), "back, but not running yet");
        w.push(poll(160.0, &up, &[("ct:1", true, "a", "started")]));
        assert!(w.settled("ct:1", false));
        let e = w.event.clone().unwrap();
        assert_eq!(
            (e.off_at, e.back_at, e.kind()),
            (Some(20.0), Some(150.0), Seen::Reboot)
        );
        let m = crate::drill::timeline::measure(&w.timeline, "ct:1", e.t0);
        assert_eq!(m.outage_seconds(), Some(150.0));
    }

    #[test]
    fn nodes_down_before_the_watch_are_not_the_event_and_a_second_node_is_reported_apart() {
        let mut w = Watch::new(poll(
            0.0,
            &[("a", true, UP), ("b", true, UP), ("c", false, Lrm::Dead)],
            &[],
        ));
        assert_eq!(w.down_at_start(), ["c"]);
        w.push(poll(
            10.0,
            &[("a", true, UP), ("b", true, UP), ("c", false, Lrm::Dead)],
            &[],
        ));
        assert!(w.event.is_none());
        w.push(poll(
            20.0,
            &[
                ("a", true, UP),
                ("b", false, Lrm::Dead),
                ("c", false, Lrm::Dead),
            ],
            &[],
        ));
        assert_eq!(w.event.as_ref().map(|e| e.node.as_str()), Some("b"));
        w.push(poll(
            30.0,
            &[
                ("a", false, Lrm::Dead),
                ("b", false, Lrm::Dead),
                ("c", false, Lrm::Dead),
            ],
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
            {"type": "qemu", "id": "qemu/2", "vmid": 2, "node": "b", "status": "running"}
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
        assert!(p.services["ct:1"].running);
        // A guest an offline node last reported running does not run.
        assert!(!p.services["vm:2"].running);
        assert_eq!(p.services["vm:2"].state, "fence");
    }
}
