//! The audit's prediction for one node event held against what was measured (on the twin, or on a live cluster
//! with `--observe`): a row per guest and per service, each flagged when the two disagree, and the verdict over a
//! whole run (disagreements, critical services that miss the recovery-time target).
//!
//! Agreement: the same final node, the same "runs again" or "stays down", and an outage within
//! [`TOLERANCE_SECONDS`] of the predicted one. It never decides what happened; the measurement does.

use std::collections::BTreeMap;

use pveha_audit::{Event, EventImpact, Outage};
use serde::Serialize;

use super::timeline::Measured;

/// Seconds between two rounds of the HA manager (the CRM's and the LRM's loop, upstream and in the simulator).
pub const HA_ROUND_SECONDS: f64 = 10.0;

/// How far a measured outage may be from the predicted one and still agree: two HA rounds. The CRM reacts at its
/// next round after the event (up to one round late), and the LRM carries out the decision at its next loop (up to
/// one round more); the predictions count neither.
pub const TOLERANCE_SECONDS: f64 = 2.0 * HA_ROUND_SECONDS;

/// What was measured of one guest or service, in the prediction's terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "seconds", rename_all = "snake_case")]
pub enum MeasuredOutage {
    /// Ran again (or never stopped: 0) after this many seconds.
    Seconds(f64),
    /// Had not run again when the drill ended.
    StaysDown,
}

impl MeasuredOutage {
    fn of(m: &Measured) -> MeasuredOutage {
        match m.outage_seconds() {
            Some(s) => MeasuredOutage::Seconds(s),
            None => MeasuredOutage::StaysDown,
        }
    }

    /// The seconds, None when it stays down.
    pub fn seconds(self) -> Option<f64> {
        match self {
            MeasuredOutage::Seconds(s) => Some(s),
            MeasuredOutage::StaysDown => None,
        }
    }
}

/// What the comparison needs to know about the run besides the prediction and the measurements.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// How long the node was away (a reboot's `--down`, or as observed): what "down until the node is back" is
    /// held against. None: any return agrees.
    pub node_away_seconds: Option<f64>,
    /// The recovery-time target critical services are judged against, seconds.
    pub rto_target_seconds: Option<f64>,
    /// Seconds added to [`TOLERANCE_SECONDS`]: how finely the measurement could place a change (`--observe` sees a
    /// change only at its next poll; 0 on the twin, which records the exact moment).
    pub resolution_seconds: f64,
}

/// One guest: predicted, measured, and whether they agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestRow {
    /// `ct:130`.
    pub sid: String,
    /// The guest's name.
    pub name: String,
    /// The service it belongs to.
    pub service: String,
    /// Whether it is HA-managed.
    pub ha: bool,
    /// Whether the audit's options mark it critical.
    pub critical: bool,
    /// Where the audit says it runs afterwards (null: it does not run again).
    pub predicted_node: Option<String>,
    /// The audit's outage.
    pub predicted: Outage,
    /// Where it ran last (null when never seen running after the event).
    pub measured_node: Option<String>,
    /// The measured outage.
    pub measured: MeasuredOutage,
    /// Why prediction and measurement disagree; null when they agree.
    pub disagreement: Option<String>,
}

/// One service: the time without any running replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceRow {
    /// The audit's service name.
    pub name: String,
    /// Whether it is critical.
    pub critical: bool,
    /// Its members.
    pub members: Vec<String>,
    /// The audit's outage.
    pub predicted: Outage,
    /// The measured outage (time without a running replica).
    pub measured: MeasuredOutage,
    /// Whether the measured outage is within the recovery-time target (null without a target).
    pub meets_rto: Option<bool>,
    /// Why prediction and measurement disagree; null when they agree.
    pub disagreement: Option<String>,
}

/// One drill: one event on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drill {
    /// The node.
    pub node: String,
    /// The event.
    pub event: Event,
    /// The `shutdown_policy` the prediction used.
    pub policy: String,
    /// How long the node was away, seconds (reboot only).
    pub node_away_seconds: Option<f64>,
    /// Per guest running on the node when the event started.
    pub guests: Vec<GuestRow>,
    /// Per service with a replica there.
    pub services: Vec<ServiceRow>,
    /// How many rows disagree.
    pub disagreements: usize,
    /// Remarks: the prediction's notes, a drill that did not settle.
    pub notes: Vec<String>,
}

/// The outcome of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Rows (guests and services) where prediction and measurement disagree, over every drill.
    pub disagreements: usize,
    /// `node event service` of each critical service that missed the recovery-time target.
    pub rto_missed: Vec<String>,
}

/// A whole run as data: `--format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `twin` (simulated) or `observe` (a live cluster).
    pub mode: String,
    /// Where the cluster came from (a file, a URL, a plan).
    pub source: String,
    /// The agreement tolerance, seconds ([`TOLERANCE_SECONDS`]).
    pub tolerance_seconds: f64,
    /// The recovery-time target, seconds.
    pub rto_target_seconds: Option<f64>,
    /// Every drill, in node then event order.
    pub drills: Vec<Drill>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Report {
    /// A report over `drills`, with the verdict computed.
    pub fn new(
        mode: &str,
        source: String,
        rto_target_seconds: Option<f64>,
        drills: Vec<Drill>,
    ) -> Report {
        let verdict = verdict(&drills);
        Report {
            mode: mode.to_string(),
            source,
            tolerance_seconds: TOLERANCE_SECONDS,
            rto_target_seconds,
            drills,
            verdict,
        }
    }
}

/// Whether a measured outage agrees with a predicted one; the reason when not.
fn judge(predicted: Outage, measured: MeasuredOutage, ctx: &Context) -> Option<String> {
    let tolerance = TOLERANCE_SECONDS + ctx.resolution_seconds;
    let within = |expected: f64, got: f64| (got - expected).abs() <= tolerance;
    match (predicted, measured) {
        (Outage::StaysDown, MeasuredOutage::StaysDown) => None,
        (Outage::StaysDown, MeasuredOutage::Seconds(s)) => Some(format!(
            "predicted to stay down, ran again after {}",
            seconds(s)
        )),
        (Outage::Seconds(p), MeasuredOutage::StaysDown) => {
            Some(format!("predicted back after {p} s, stayed down"))
        }
        (Outage::UntilNodeBack, MeasuredOutage::StaysDown) => {
            Some("predicted back with the node, stayed down".to_string())
        }
        (Outage::Seconds(p), MeasuredOutage::Seconds(s)) => (!within(p as f64, s)).then(|| {
            format!(
                "predicted down {p} s, measured {} (tolerance {})",
                seconds(s),
                seconds(tolerance)
            )
        }),
        (Outage::UntilNodeBack, MeasuredOutage::Seconds(s)) => match ctx.node_away_seconds {
            Some(away) if !within(away, s) => Some(format!(
                "predicted down while the node is away ({}), measured {} (tolerance {})",
                seconds(away),
                seconds(s),
                seconds(tolerance)
            )),
            _ => None,
        },
    }
}

/// `125 s`, without a fraction when there is none.
pub fn seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// The time without any running replica, from the members' measurements: the overlap of their outages. A member
/// missing from `measured` did not run when the event started and does not count.
fn service_outage(members: &[String], measured: &BTreeMap<String, Measured>) -> MeasuredOutage {
    let running: Vec<&Measured> = members.iter().filter_map(|m| measured.get(m)).collect();
    if running.is_empty() {
        return MeasuredOutage::StaysDown;
    }
    let mut start = f64::NEG_INFINITY;
    let mut end = f64::INFINITY;
    for m in running {
        let Some(down) = m.down_at else {
            return MeasuredOutage::Seconds(0.0);
        };
        start = start.max(down);
        end = end.min(m.up_at.unwrap_or(f64::INFINITY));
    }
    if end.is_infinite() {
        MeasuredOutage::StaysDown
    } else {
        MeasuredOutage::Seconds((end - start).max(0.0))
    }
}

/// Holds one prediction against the measurements of every guest that ran when the event started (a guest that
/// did not run is absent from `measured`).
pub fn compare(
    prediction: &EventImpact,
    measured: &BTreeMap<String, Measured>,
    ctx: &Context,
) -> Drill {
    let guests: Vec<GuestRow> = prediction
        .guests
        .iter()
        .map(|g| {
            let m = measured.get(&g.sid);
            let outcome = m.map_or(MeasuredOutage::StaysDown, MeasuredOutage::of);
            let measured_node = m.and_then(|m| m.node.clone());
            let disagreement = if m.is_none() {
                Some("not observed".to_string())
            } else {
                judge(g.outage, outcome, ctx).or_else(|| {
                    let runs = outcome != MeasuredOutage::StaysDown;
                    (runs && g.node.is_some() && g.node != measured_node).then(|| {
                        format!(
                            "predicted on {}, runs on {}",
                            g.node.as_deref().unwrap_or("-"),
                            measured_node.as_deref().unwrap_or("an unknown node")
                        )
                    })
                })
            };
            GuestRow {
                sid: g.sid.clone(),
                name: g.name.clone(),
                service: g.service.clone(),
                ha: g.ha,
                critical: g.critical,
                predicted_node: g.node.clone(),
                predicted: g.outage,
                measured_node,
                measured: outcome,
                disagreement,
            }
        })
        .collect();
    let services: Vec<ServiceRow> = prediction
        .services
        .iter()
        .map(|s| {
            let outcome = service_outage(&s.members, measured);
            let meets_rto = ctx
                .rto_target_seconds
                .map(|target| outcome.seconds().is_some_and(|m| m <= target));
            ServiceRow {
                name: s.name.clone(),
                critical: s.critical,
                members: s.members.clone(),
                predicted: s.outage,
                measured: outcome,
                meets_rto,
                disagreement: judge(s.outage, outcome, ctx),
            }
        })
        .collect();
    let disagreements = guests.iter().filter(|g| g.disagreement.is_some()).count()
        + services.iter().filter(|s| s.disagreement.is_some()).count();
    Drill {
        node: prediction.node.clone(),
        event: prediction.event,
        policy: prediction.policy.clone(),
        node_away_seconds: ctx.node_away_seconds,
        guests,
        services,
        disagreements,
        notes: prediction.notes.clone(),
    }
}

/// The verdict over every drill of a run.
pub fn verdict(drills: &[Drill]) -> Verdict {
    let rto_missed = drills
        .iter()
        .flat_map(|d| {
            d.services
                .iter()
                .filter(|s| s.critical && s.meets_rto == Some(false))
                .map(move |s| format!("{} {} {}", d.node, d.event, s.name))
        })
        .collect();
    Verdict {
        disagreements: drills.iter().map(|d| d.disagreements).sum(),
        rto_missed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pveha_audit::{GuestImpact, ServiceImpact};

    fn guest(sid: &str, node: Option<&str>, outage: Outage) -> GuestImpact {
        GuestImpact {
            sid: sid.into(),
            name: sid.into(),
            ha: true,
            critical: true,
            service: "traefik".into(),
            node: node.map(str::to_string),
            outage,
        }
    }

    fn prediction(guests: Vec<GuestImpact>, outage: Outage, members: &[&str]) -> EventImpact {
        EventImpact {
            node: "proxmox".into(),
            event: Event::Crash,
            policy: "conditional".into(),
            guests,
            services: vec![ServiceImpact {
                name: "traefik".into(),
                critical: true,
                members: members.iter().map(|m| m.to_string()).collect(),
                outage,
            }],
            notes: Vec::new(),
        }
    }

    fn m(down: Option<f64>, up: Option<f64>, node: &str) -> Measured {
        Measured {
            down_at: down,
            up_at: up,
            node: Some(node.into()),
        }
    }

    #[test]
    fn a_recovery_on_the_predicted_node_within_the_tolerance_agrees() {
        let p = prediction(
            vec![guest("ct:1", Some("b"), Outage::Seconds(120))],
            Outage::Seconds(120),
            &["ct:1"],
        );
        let measured = BTreeMap::from([("ct:1".to_string(), m(Some(0.0), Some(130.0), "b"))]);
        let ctx = Context {
            rto_target_seconds: Some(120.0),
            ..Context::default()
        };
        let d = compare(&p, &measured, &ctx);
        assert_eq!(d.disagreements, 0, "{d:?}");
        assert_eq!(d.services[0].meets_rto, Some(false));
        assert_eq!(verdict(&[d]).rto_missed, ["proxmox crash traefik"]);
    }

    #[test]
    fn another_node_a_late_return_or_a_surprise_recovery_each_disagree() {
        let p = prediction(
            vec![guest("ct:1", Some("b"), Outage::Seconds(120))],
            Outage::Seconds(120),
            &["ct:1"],
        );
        let elsewhere = BTreeMap::from([("ct:1".to_string(), m(Some(0.0), Some(120.0), "c"))]);
        let d = compare(&p, &elsewhere, &Context::default());
        assert_eq!(
            d.guests[0].disagreement.as_deref(),
            Some("predicted on b, runs on c")
        );
        assert_eq!(d.services[0].disagreement, None);
        let late = BTreeMap::from([("ct:1".to_string(), m(Some(0.0), Some(141.0), "b"))]);
        assert_eq!(compare(&p, &late, &Context::default()).disagreements, 2);
        let stays = prediction(
            vec![guest("ct:1", None, Outage::StaysDown)],
            Outage::StaysDown,
            &["ct:1"],
        );
        let back = BTreeMap::from([("ct:1".to_string(), m(Some(0.0), Some(120.0), "b"))]);
        assert_eq!(compare(&stays, &back, &Context::default()).disagreements, 2);
        let down = BTreeMap::from([("ct:1".to_string(), m(Some(0.0), None, "a"))]);
        assert_eq!(compare(&stays, &down, &Context::default()).disagreements, 0);
    }

    #[test]
    fn a_service_is_down_only_while_no_replica_runs() {
        let members = ["ct:1".to_string(), "ct:2".to_string()];
        let overlap = BTreeMap::from([
            ("ct:1".to_string(), m(Some(0.0), Some(120.0), "b")),
            ("ct:2".to_string(), m(Some(10.0), Some(50.0), "b")),
        ]);
        assert_eq!(
            service_outage(&members, &overlap),
            MeasuredOutage::Seconds(40.0)
        );
        let one_survives = BTreeMap::from([
            ("ct:1".to_string(), m(Some(0.0), None, "a")),
            ("ct:2".to_string(), m(None, None, "c")),
        ]);
        assert_eq!(
            service_outage(&members, &one_survives),
            MeasuredOutage::Seconds(0.0)
        );
        let both_lost = BTreeMap::from([
            ("ct:1".to_string(), m(Some(0.0), None, "a")),
            ("ct:2".to_string(), m(Some(0.0), None, "a")),
        ]);
        assert_eq!(
            service_outage(&members, &both_lost),
            MeasuredOutage::StaysDown
        );
    }

    #[test]
    fn down_until_the_node_is_back_is_held_against_how_long_it_was_away() {
        let p = prediction(
            vec![guest("ct:1", Some("proxmox"), Outage::UntilNodeBack)],
            Outage::UntilNodeBack,
            &["ct:1"],
        );
        let measured =
            BTreeMap::from([("ct:1".to_string(), m(Some(10.0), Some(130.0), "proxmox"))]);
        let away = |s: f64| Context {
            node_away_seconds: Some(s),
            ..Context::default()
        };
        assert_eq!(compare(&p, &measured, &away(120.0)).disagreements, 0);
        assert_eq!(compare(&p, &measured, &away(600.0)).disagreements, 2);
    }
}
