//! The twin side of a drill: a fresh simulator per (node, event) from the same snapshot, settled first, the event
//! triggered, the HA manager's rounds stepped until nothing is under way (or the horizon), and every guest that
//! ran at the event measured from the simulator's timeline.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use pveha_audit::{Event, EventImpact};
use pveha_model::Snapshot;
use pveha_sim::{Simulator, Twin};

use super::compare::{self, Drill};
use super::timeline::{self, Timeline, Transition};

/// Rounds in a row the twin must stay settled before a drill ends: one more round shows that nothing the last
/// one decided (a move, a thaw) is still to start.
const SETTLED_ROUNDS: u32 = 2;

/// A loaded simulator that every drill of a run starts a twin from.
pub struct TwinRun {
    sim: Simulator,
    down: Duration,
    horizon: Duration,
}

impl TwinRun {
    /// Loads the snapshot into the simulator; a snapshot it refuses is bad input.
    pub fn load(snapshot: &Snapshot, down: Duration, horizon: Duration) -> Result<TwinRun> {
        let json = serde_json::to_string(snapshot).context("serializing the snapshot")?;
        let sim = pveha_sim::load_snapshot(&json)
            .map_err(|e| anyhow!("the simulator cannot load the cluster: {e}"))?;
        Ok(TwinRun { sim, down, horizon })
    }

    /// The nodes that are on in the snapshot, in name order.
    pub fn online_nodes(&self) -> Vec<String> {
        let twin = Twin::new(self.sim.clone());
        let mut nodes: Vec<String> = twin
            .nodes()
            .into_iter()
            .filter(|n| twin.node_online(n))
            .collect();
        nodes.sort();
        nodes
    }

    /// Steps until settled for [`SETTLED_ROUNDS`] rounds or `limit` seconds have passed since `from`; whether it
    /// settled.
    fn settle(twin: &mut Twin, from: f64, limit: f64) -> bool {
        let mut calm = 0;
        loop {
            twin.step();
            calm = if twin.settled() { calm + 1 } else { 0 };
            if calm >= SETTLED_ROUNDS {
                return true;
            }
            if twin.now() - from >= limit {
                return false;
            }
        }
    }

    /// Runs the prediction's event on a fresh twin and compares.
    pub fn drill(
        &self,
        prediction: &EventImpact,
        rto_target_seconds: Option<f64>,
    ) -> Result<Drill> {
        let node = prediction.node.as_str();
        let event = prediction.event;
        let horizon = self.horizon.as_secs_f64();
        let mut twin = Twin::new(self.sim.clone());
        let mut notes = Vec::new();
        let start = twin.now();
        if !Self::settle(&mut twin, start, horizon) {
            notes.push(format!(
                "the twin had not settled after {} before the event",
                compare::seconds(horizon)
            ));
        }
        let running: BTreeMap<String, String> = twin
            .guests()
            .into_iter()
            .filter(|g| g.running)
            .map(|g| (g.sid, g.node))
            .collect();
        let t0 = twin.now();
        let down = self.down.as_secs_f64();
        let triggered = match event {
            Event::Crash => twin.crash(node),
            Event::Reboot => twin.reboot(node, down).map(|_| ()),
            Event::Shutdown => twin.shutdown(node).map(|_| ()),
            Event::Maintenance => twin.maintenance(node, true),
        };
        triggered.map_err(|e| anyhow!("{event} of {node} on the twin: {e}"))?;
        if !Self::settle(&mut twin, t0, horizon) {
            notes.push(format!(
                "the twin had not settled {} after the event: what is still down is reported as staying down",
                compare::seconds(horizon)
            ));
        }
        let now: BTreeMap<String, (String, bool)> = twin
            .guests()
            .into_iter()
            .map(|g| (g.sid, (g.node, g.running)))
            .collect();
        let tl: Timeline = twin
            .timeline()
            .into_iter()
            .map(|(sid, list)| {
                let list = list
                    .into_iter()
                    .map(|c| Transition {
                        at: c.at,
                        running: c.running,
                        node: Some(c.node),
                    })
                    .collect();
                (sid, list)
            })
            .collect();
        let measured = running
            .keys()
            .map(|sid| {
                let mut m = timeline::measure(&tl, sid, t0);
                // The timeline records starts and stops; a live migration moves a guest without either.
                if let Some((at, true)) = now.get(sid) {
                    m.node = Some(at.clone());
                }
                (sid.clone(), m)
            })
            .collect();
        let ctx = compare::Context {
            node_away_seconds: (event == Event::Reboot).then_some(down),
            rto_target_seconds,
            ..compare::Context::default()
        };
        let mut d = compare::compare(prediction, &measured, &ctx);
        d.notes.extend(notes);
        Ok(d)
    }
}
