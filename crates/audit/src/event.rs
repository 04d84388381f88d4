//! One node event's predicted impact, guest by guest and service by service: the audit's answer to "what happens
//! if this node crashes / reboots / shuts down / goes into maintenance", which `pveha drill` holds against the
//! simulator's HA manager and against a live cluster.
//!
//! Built on the report's own internals, so it cannot drift from them: a crash is [`crate::impact`]'s node-failure
//! impact, the planned events are [`crate::reboot`]'s per-node impact under the cluster's `shutdown_policy`.

use std::fmt;
use std::str::FromStr;

use pveha_model::{Sid, Snapshot};
use pveha_placement::{NodeEvent, NodeEvents};
use serde::{Deserialize, Serialize};

use crate::impact::{self, guest_index, RECOVERY_SECONDS};
use crate::options::{AuditError, Options};
use crate::reboot::{self, CT_RELOCATE_SECONDS};
use crate::report::{NodeFailureImpact, NodeRebootImpact};
use crate::services::{self, Services};
use crate::view::ClusterView;

/// A node event a drill triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// The node fails at once (power loss): fenced, its HA services recovered elsewhere.
    Crash,
    /// A planned reboot under the cluster's `shutdown_policy`; the node comes back.
    Reboot,
    /// A planned poweroff under the cluster's `shutdown_policy`; the node stays off.
    Shutdown,
    /// `ha-manager crm-command node-maintenance enable NODE`: HA services move away, the node stays up.
    Maintenance,
}

impl Event {
    /// Every event, in the order a drill runs them.
    pub const ALL: [Event; 4] = [
        Event::Crash,
        Event::Reboot,
        Event::Shutdown,
        Event::Maintenance,
    ];

    /// The command-line and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Crash => "crash",
            Event::Reboot => "reboot",
            Event::Shutdown => "shutdown",
            Event::Maintenance => "maintenance",
        }
    }

    /// Whether the node comes back by itself within the drill (a reboot).
    pub fn node_returns(self) -> bool {
        self == Event::Reboot
    }

    fn placement(self) -> NodeEvent {
        match self {
            Event::Crash => NodeEvent::Crash,
            Event::Reboot => NodeEvent::Reboot,
            Event::Shutdown => NodeEvent::Shutdown,
            Event::Maintenance => NodeEvent::Maintenance,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown event '{s}' (crash, reboot, shutdown or maintenance)"))
    }
}

/// How long something has no running instance after the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "seconds", rename_all = "snake_case")]
pub enum Outage {
    /// Runs again after this many seconds (0: never stops).
    Seconds(u64),
    /// Down until the node is back (frozen, stopped with it, or a guest that starts on boot): as long as the node
    /// takes to return, which the audit cannot know and a drill does.
    UntilNodeBack,
    /// Does not run again by itself (no recovery node, not HA-managed on a node that stays off, not started on
    /// boot).
    StaysDown,
}

impl Outage {
    /// The shorter of two outages (seconds < until the node is back < stays down).
    pub fn min(self, other: Outage) -> Outage {
        std::cmp::min(self, other)
    }
}

/// What the event does to one guest running on the node (or to an HA service elsewhere the event moves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestImpact {
    /// `ct:130`, `vm:100`.
    pub sid: String,
    /// The guest's name.
    pub name: String,
    /// Whether it is HA-managed.
    pub ha: bool,
    /// Whether the audit's options mark it critical.
    pub critical: bool,
    /// The service it belongs to.
    pub service: String,
    /// The node it runs on once the HA stack is done (None: it does not run again by itself).
    pub node: Option<String>,
    /// How long it has no running instance.
    pub outage: Outage,
}

/// What the event does to one service that has a replica on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceImpact {
    /// The service name (the audit's: option, rule, inferred from names, or the guest's own).
    pub name: String,
    /// Whether any member is critical.
    pub critical: bool,
    /// Its members, sorted.
    pub members: Vec<String>,
    /// How long it has no running replica anywhere.
    pub outage: Outage,
}

/// The predicted impact of one event on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventImpact {
    /// The node.
    pub node: String,
    /// The event.
    pub event: Event,
    /// The `shutdown_policy` the prediction uses.
    pub policy: String,
    /// Every guest running on the node, in sid order.
    pub guests: Vec<GuestImpact>,
    /// Every service with a running replica on the node, by name.
    pub services: Vec<ServiceImpact>,
    /// What the engine could not read or judge (the view's notes, the scheduler it falls back to).
    pub notes: Vec<String>,
}

/// Why no prediction could be made.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The snapshot or the options cannot be read.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The node is not an online node of the snapshot.
    #[error("'{0}' is not an online node of the cluster")]
    NoSuchNode(String),
}

/// Predicts what `event` on `node` does to the cluster in `snapshot`, judged with `options` (services, critical).
/// A reboot is predicted as the report's planned-reboot impact, for a node that is back at once; see
/// [`predict_reboot`] when its duration is known.
pub fn predict(
    snapshot: &Snapshot,
    options: &Options,
    node: &str,
    event: Event,
) -> Result<EventImpact, PredictError> {
    predict_as(snapshot, options, node, event, event.placement(), None)
}

/// Predicts a reboot that keeps the node off for `down_seconds`. Under `failover` the LRM stops the services and
/// the node is fenced like any node that is gone: back within [`RECOVERY_SECONDS`] it starts them again itself,
/// away longer they are recovered elsewhere first, as after a shutdown. The other policies do not depend on it.
pub fn predict_reboot(
    snapshot: &Snapshot,
    options: &Options,
    node: &str,
    down_seconds: u64,
) -> Result<EventImpact, PredictError> {
    let view = ClusterView::from_snapshot(snapshot).map_err(AuditError::from)?;
    if reboot::policy(&view) == pveha_placement::ShutdownPolicy::Failover
        && down_seconds > RECOVERY_SECONDS
    {
        let note = format!(
            "a reboot under shutdown_policy failover that keeps the node off {down_seconds} s (over {RECOVERY_SECONDS} s) is fenced and recovered like a shutdown"
        );
        return predict_as(
            snapshot,
            options,
            node,
            Event::Reboot,
            NodeEvent::Shutdown,
            Some(note),
        );
    }
    predict(snapshot, options, node, Event::Reboot)
}

fn predict_as(
    snapshot: &Snapshot,
    options: &Options,
    node: &str,
    event: Event,
    modelled: NodeEvent,
    note: Option<String>,
) -> Result<EventImpact, PredictError> {
    let patterns = options.name_patterns()?;
    let view = ClusterView::from_snapshot(snapshot).map_err(AuditError::from)?;
    let mut notes = view.notes.clone();
    notes.extend(note);
    let services = services::build(&view, options, &patterns, &mut notes);
    let cluster = impact::placement_cluster(&view);
    impact::note_scheduler(&view, &cluster, &mut notes);
    if !view.nodes.iter().any(|n| n.online && n.name == node) {
        return Err(PredictError::NoSuchNode(node.to_string()));
    }
    let policy = reboot::policy(&view).as_str().to_string();
    let (guests, service_rows) = match modelled {
        NodeEvent::Crash => {
            let index = guest_index(&view, &services);
            let recoverer = pveha_placement::Recoverer::new(&cluster);
            let (all, _) = impact::node_failure_impact(&view, &services, &recoverer, &index);
            let failure = all
                .into_iter()
                .find(|i| i.node == node)
                .ok_or_else(|| PredictError::NoSuchNode(node.to_string()))?;
            from_failure(&view, &services, &failure)
        }
        _ => {
            let index = guest_index(&view, &services);
            let planned = reboot::node_event_impact(
                &view,
                &services,
                &NodeEvents::new(&cluster),
                &index,
                node,
                modelled,
            );
            from_planned(&view, &services, &planned, event)
        }
    };
    Ok(EventImpact {
        node: node.to_string(),
        event,
        policy,
        guests,
        services: service_rows,
        notes,
    })
}

/// Guests running on the node, in sid order.
fn running_on<'v>(view: &'v ClusterView, node: &'v str) -> impl Iterator<Item = &'v Sid> + 'v {
    view.guests
        .iter()
        .filter(move |g| g.running && g.node == node)
        .map(|g| &g.sid)
}

fn guest_row(
    view: &ClusterView,
    services: &Services,
    sid: &Sid,
    node: Option<String>,
    outage: Outage,
) -> GuestImpact {
    GuestImpact {
        sid: sid.to_string(),
        name: view.guest(sid).map(|g| g.name.clone()).unwrap_or_default(),
        ha: view.is_ha(sid),
        critical: services.critical.contains(sid),
        service: services
            .of(sid)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| sid.to_string()),
        node,
        outage,
    }
}

/// Service rows from the impact's `rto_seconds`; a null there is the best of its members on the node.
fn service_rows(
    services: &Services,
    rto_seconds: &std::collections::BTreeMap<String, Option<u64>>,
    guests: &[GuestImpact],
) -> Vec<ServiceImpact> {
    rto_seconds
        .iter()
        .map(|(name, rto)| {
            let service = services.list.iter().find(|s| &s.name == name);
            let members: Vec<String> = service
                .map(|s| s.members.iter().map(Sid::to_string).collect())
                .unwrap_or_default();
            let outage = match rto {
                Some(seconds) => Outage::Seconds(*seconds),
                None => guests
                    .iter()
                    .filter(|g| members.contains(&g.sid))
                    .map(|g| g.outage)
                    .fold(Outage::StaysDown, Outage::min),
            };
            ServiceImpact {
                name: name.clone(),
                critical: service.is_some_and(|s| s.critical),
                members,
                outage,
            }
        })
        .collect()
}

fn from_failure(
    view: &ClusterView,
    services: &Services,
    failure: &NodeFailureImpact,
) -> (Vec<GuestImpact>, Vec<ServiceImpact>) {
    let guests: Vec<GuestImpact> = running_on(view, &failure.node)
        .map(|sid| {
            let key = sid.to_string();
            match failure.recovered.get(&key) {
                Some(to) if !failure.down.contains(&key) => guest_row(
                    view,
                    services,
                    sid,
                    Some(to.clone()),
                    Outage::Seconds(RECOVERY_SECONDS),
                ),
                _ => guest_row(view, services, sid, None, Outage::StaysDown),
            }
        })
        .collect();
    let rows = service_rows(services, &failure.rto_seconds, &guests);
    (guests, rows)
}

fn from_planned(
    view: &ClusterView,
    services: &Services,
    planned: &NodeRebootImpact,
    event: Event,
) -> (Vec<GuestImpact>, Vec<ServiceImpact>) {
    let node = planned.node.as_str();
    let returns = event.node_returns();
    let guests: Vec<GuestImpact> = running_on(view, node)
        .map(|sid| {
            let key = sid.to_string();
            let onboot = view
                .guest(sid)
                .and_then(|g| g.config.as_ref())
                .and_then(|c| c.onboot)
                .unwrap_or(false);
            let (to, outage) = if let Some(to) = planned.migrated.get(&key) {
                let seconds = match sid.kind {
                    pveha_model::GuestKind::Vm => 0,
                    pveha_model::GuestKind::Ct => CT_RELOCATE_SECONDS,
                };
                // A service moved away for a reboot's maintenance returns to its node once it is back
                // (upstream's `maintenance_node`).
                let at = if returns { node } else { to.as_str() };
                (Some(at.to_string()), Outage::Seconds(seconds))
            } else if let Some(to) = planned.recovered.get(&key) {
                (Some(to.clone()), Outage::Seconds(RECOVERY_SECONDS))
            } else if !planned.down.contains(&key) {
                (Some(node.to_string()), Outage::Seconds(0))
            } else if returns && (view.is_ha(sid) || onboot) {
                // Frozen or stopped HA services run again when the node is back; other guests only with onboot.
                (Some(node.to_string()), Outage::UntilNodeBack)
            } else {
                (None, Outage::StaysDown)
            };
            guest_row(view, services, sid, to, outage)
        })
        .collect();
    let rows = service_rows(services, &planned.rto_seconds, &guests);
    (guests, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Snapshot {
        let path = format!(
            "{}/../../examples/homelab/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("fixture");
        Snapshot::from_json(&text).expect("fixture parses")
    }

    const FIXTURES: [&str; 2] = ["cluster-pve8.json", "cluster-pve9.json"];

    fn rto(outage: Outage) -> Option<u64> {
        match outage {
            Outage::Seconds(s) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn a_crash_predicts_exactly_the_reports_node_failure_impact() {
        let options = Options::default();
        for name in FIXTURES {
            let snapshot = fixture(name);
            let report = crate::audit(&snapshot, &options).expect("audit");
            assert!(!report.node_failure_impact.is_empty());
            for failure in &report.node_failure_impact {
                let p = predict(&snapshot, &options, &failure.node, Event::Crash).expect("predict");
                for g in &p.guests {
                    match g.outage {
                        Outage::Seconds(s) => {
                            assert_eq!(s, RECOVERY_SECONDS, "{name} {}: {}", failure.node, g.sid);
                            assert_eq!(g.node.as_ref(), failure.recovered.get(&g.sid));
                        }
                        _ => assert!(failure.down.contains(&g.sid), "{name}: {}", g.sid),
                    }
                }
                let down: Vec<&String> = p
                    .guests
                    .iter()
                    .filter(|g| g.node.is_none())
                    .map(|g| &g.sid)
                    .collect();
                assert_eq!(down, failure.down.iter().collect::<Vec<_>>(), "{name}");
                let rtos: std::collections::BTreeMap<String, Option<u64>> = p
                    .services
                    .iter()
                    .map(|s| (s.name.clone(), rto(s.outage)))
                    .collect();
                assert_eq!(rtos, failure.rto_seconds, "{name} {}", failure.node);
            }
        }
    }

    #[test]
    fn a_reboot_predicts_exactly_the_reports_planned_reboot_impact() {
        let options = Options::default();
        for name in FIXTURES {
            let snapshot = fixture(name);
            let report = crate::audit(&snapshot, &options).expect("audit");
            assert!(!report.node_reboot_impact.is_empty());
            for reboot in &report.node_reboot_impact {
                let p = predict(&snapshot, &options, &reboot.node, Event::Reboot).expect("predict");
                assert_eq!(p.policy, reboot.policy);
                let rtos: std::collections::BTreeMap<String, Option<u64>> = p
                    .services
                    .iter()
                    .map(|s| (s.name.clone(), rto(s.outage)))
                    .collect();
                assert_eq!(rtos, reboot.rto_seconds, "{name} {}", reboot.node);
                let mut down: Vec<&String> = p
                    .guests
                    .iter()
                    .filter(|g| rto(g.outage).is_none())
                    .map(|g| &g.sid)
                    .collect();
                down.sort();
                let mut expected: Vec<&String> = reboot.down.iter().collect();
                expected.sort();
                assert_eq!(down, expected, "{name} {}", reboot.node);
                for g in &p.guests {
                    if let Some(to) = reboot.recovered.get(&g.sid) {
                        assert_eq!(g.node.as_ref(), Some(to));
                    }
                }
            }
        }
    }

    #[test]
    fn maintenance_leaves_guests_outside_ha_running_and_shutdown_keeps_them_down() {
        let options = Options::default();
        let snapshot = fixture("cluster-pve8.json");
        let maintenance = predict(&snapshot, &options, "proxmox", Event::Maintenance).unwrap();
        let shutdown = predict(&snapshot, &options, "proxmox", Event::Shutdown).unwrap();
        let non_ha: Vec<&GuestImpact> = maintenance.guests.iter().filter(|g| !g.ha).collect();
        assert!(
            !non_ha.is_empty(),
            "the fixture has guests outside HA on proxmox"
        );
        for g in non_ha {
            assert_eq!(g.outage, Outage::Seconds(0), "{}", g.sid);
            let off = shutdown.guests.iter().find(|s| s.sid == g.sid).unwrap();
            assert_eq!(off.outage, Outage::StaysDown, "{}", g.sid);
        }
    }

    #[test]
    fn a_long_reboot_under_failover_is_recovered_elsewhere_and_a_short_one_restarts_on_the_node() {
        let mut snapshot = fixture("cluster-pve8.json");
        snapshot.api.insert(
            "/cluster/options".into(),
            serde_json::json!({"ha": {"shutdown_policy": "failover"}}),
        );
        let options = Options::default();
        let short = predict_reboot(&snapshot, &options, "proxmox2", 30).unwrap();
        let long = predict_reboot(&snapshot, &options, "proxmox2", 600).unwrap();
        assert_eq!(
            short,
            predict(&snapshot, &options, "proxmox2", Event::Reboot).unwrap()
        );
        let ha: Vec<&GuestImpact> = long.guests.iter().filter(|g| g.ha).collect();
        assert!(!ha.is_empty());
        for g in ha {
            let before = short.guests.iter().find(|s| s.sid == g.sid).unwrap();
            assert_eq!(before.outage, Outage::UntilNodeBack, "{}", g.sid);
            assert_eq!(g.outage, Outage::Seconds(RECOVERY_SECONDS), "{}", g.sid);
            assert_ne!(g.node.as_deref(), Some("proxmox2"), "{}", g.sid);
        }
        assert_eq!(long.event, Event::Reboot);
    }

    #[test]
    fn an_unknown_node_is_an_error_and_events_parse_from_their_spelling() {
        let snapshot = fixture("cluster-pve8.json");
        let err = predict(&snapshot, &Options::default(), "nope", Event::Crash).unwrap_err();
        assert!(matches!(err, PredictError::NoSuchNode(_)));
        for e in Event::ALL {
            assert_eq!(e.as_str().parse::<Event>(), Ok(e));
        }
        assert!("Crash".parse::<Event>().is_err());
        assert!(Outage::Seconds(500) < Outage::UntilNodeBack);
        assert!(Outage::UntilNodeBack < Outage::StaysDown);
    }
}
