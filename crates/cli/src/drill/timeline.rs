//! What a drill measures, whichever way it was watched: per HA service, the moments it stopped or started running
//! and on which node. The twin reads it from the simulator's timeline; `--observe` builds it by polling a live
//! cluster. Both feed the same comparison with the audit's prediction.

use std::collections::BTreeMap;

use serde::Serialize;

/// One change of a service's running state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Seconds since the Unix epoch (the cluster's clock, or the simulated one).
    pub at: f64,
    /// Whether the service runs after the change.
    pub running: bool,
    /// The node it is on after the change (None when the poll could not tell).
    pub node: Option<String>,
}

/// Transitions per service id (`ct:130`, `vm:100`), each list in time order.
pub type Timeline = BTreeMap<String, Vec<Transition>>;

/// What happened to one service from `t0` (the moment the event was triggered or first seen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// When it stopped running after `t0` (None: it never stopped).
    pub down_at: Option<f64>,
    /// When it ran again after stopping (None: it never stopped, or it stays down).
    pub up_at: Option<f64>,
    /// The node it ran on last.
    pub node: Option<String>,
}

impl Measured {
    /// Seconds without a running instance: 0 when it never stopped, None when it stays down.
    pub fn outage_seconds(&self) -> Option<f64> {
        match (self.down_at, self.up_at) {
            (None, _) => Some(0.0),
            (Some(down), Some(up)) => Some(up - down),
            (Some(_), None) => None,
        }
    }
}

/// What `timeline` says happened to `sid` from `t0` on: the first stop at or after `t0`, the first start after it,
/// and the last node seen.
pub fn measure(timeline: &Timeline, sid: &str, t0: f64) -> Measured {
    let mut m = Measured {
        down_at: None,
        up_at: None,
        node: None,
    };
    for t in timeline.get(sid).into_iter().flatten() {
        if t.node.is_some() {
            m.node.clone_from(&t.node);
        }
        if t.at < t0 {
            continue;
        }
        match (m.down_at, m.up_at, t.running) {
            (None, _, false) => m.down_at = Some(t.at),
            (Some(_), None, true) => m.up_at = Some(t.at),
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(changes: &[(f64, bool, &str)]) -> Timeline {
        let list = changes
            .iter()
            .map(|&(at, running, node)| Transition {
                at,
                running,
                node: Some(node.to_string()),
            })
            .collect();
        BTreeMap::from([("ct:130".to_string(), list)])
    }

    #[test]
    fn a_stop_and_a_start_elsewhere_measure_the_outage_and_the_new_node() {
        let t = tl(&[(0.0, true, "a"), (100.0, false, "a"), (230.0, true, "b")]);
        let m = measure(&t, "ct:130", 90.0);
        assert_eq!(m.outage_seconds(), Some(130.0));
        assert_eq!(m.node.as_deref(), Some("b"));
    }

    #[test]
    fn changes_before_the_event_do_not_count_and_a_service_that_stays_down_has_no_outage_end() {
        let t = tl(&[(10.0, false, "a"), (20.0, true, "a"), (100.0, false, "a")]);
        let m = measure(&t, "ct:130", 50.0);
        assert_eq!(m.down_at, Some(100.0));
        assert_eq!(m.outage_seconds(), None);
        assert_eq!(measure(&t, "vm:1", 50.0).outage_seconds(), Some(0.0));
    }
}
