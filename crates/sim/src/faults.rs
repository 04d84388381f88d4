//! Injected faults (`/_sim/faults`) and per-route request counters. A fault matches a method and a regex on the
//! API path; firing is decided by a seeded RNG so runs are reproducible. No I/O here.

use std::collections::BTreeMap;

use rand::{rngs::StdRng, Rng, SeedableRng};
use regex::Regex;
use serde_json::{json, Value};

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Delay the answer (HA writes: while holding the `domain-ha` lock).
    Latency,
    /// 500 `<ctx>: cfs-lock 'domain-ha' error: got lock request timeout`, nothing applied.
    LockTimeout,
    /// 595 `No route to host`, empty body.
    Unreachable,
    /// An error with the given status and message.
    Error,
    /// Close the connection without an answer, before applying anything.
    Drop,
}

/// One installed fault.
#[derive(Debug)]
pub struct Fault {
    id: String,
    method: Option<String>,
    path: Regex,
    kind: FaultKind,
    latency_ms: u64,
    status: u16,
    message: String,
    probability: f64,
    remaining: Option<u64>,
    rng: StdRng,
}

/// What the faults decided for one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Firing {
    /// Total added latency.
    pub latency_ms: u64,
    /// The first terminal fault that fired: kind, status, message.
    pub terminal: Option<(FaultKind, u16, String)>,
}

/// The installed faults.
#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<Fault>,
    next: u64,
}

impl Faults {
    /// Install a fault from its control-API JSON; returns its id.
    pub fn add(&mut self, spec: &Value) -> Result<String, String> {
        let path = spec
            .get("path")
            .and_then(Value::as_str)
            .ok_or("'path' (a regex) is required")?;
        let path = Regex::new(path).map_err(|e| format!("'path' is not a valid regex: {e}"))?;
        let kind = match spec.get("kind").and_then(Value::as_str) {
            Some("latency") => FaultKind::Latency,
            Some("lock-timeout") => FaultKind::LockTimeout,
            Some("unreachable") => FaultKind::Unreachable,
            Some("error") => FaultKind::Error,
            Some("drop") => FaultKind::Drop,
            _ => {
                return Err(
                    "'kind' must be latency, lock-timeout, unreachable, error or drop".into(),
                )
            }
        };
        let method = match spec.get("method") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) if ["GET", "POST", "PUT", "DELETE"].contains(&m.as_str()) => {
                Some(m.clone())
            }
            Some(_) => return Err("'method' must be GET, POST, PUT or DELETE".into()),
        };
        let probability = spec
            .get("probability")
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err("'probability' must be between 0 and 1".into());
        }
        self.next += 1;
        let id = format!("f{}", self.next);
        let seed = spec
            .get("seed")
            .and_then(Value::as_u64)
            .unwrap_or(self.next);
        let status = spec
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(500);
        if !(100..=999).contains(&status) {
            return Err("'status' must be an HTTP status code".into());
        }
        self.list.push(Fault {
            id: id.clone(),
            method,
            path,
            kind,
            latency_ms: spec.get("latency_ms").and_then(Value::as_u64).unwrap_or(0),
            status,
            message: spec
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("simulated failure")
                .to_string(),
            probability,
            remaining: spec.get("count").and_then(Value::as_u64),
            rng: StdRng::seed_from_u64(seed),
        });
        Ok(id)
    }

    /// Remove every fault.
    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Remove one fault; false if there was none with that id.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|f| f.id != id);
        before != self.list.len()
    }

    /// Decide which faults fire for a request.
    pub fn fire(&mut self, method: &str, path: &str) -> Firing {
        let mut out = Firing::default();
        for f in &mut self.list {
            if f.method.as_deref().is_some_and(|m| m != method) || !f.path.is_match(path) {
                continue;
            }
            if f.remaining == Some(0) {
                continue;
            }
            if f.probability < 1.0 && f.rng.gen::<f64>() >= f.probability {
                continue;
            }
            if let Some(r) = &mut f.remaining {
                *r -= 1;
            }
            match f.kind {
                FaultKind::Latency => out.latency_ms += f.latency_ms,
                _ if out.terminal.is_none() => {
                    out.latency_ms += f.latency_ms;
                    out.terminal = Some((f.kind.clone(), f.status, f.message.clone()));
                }
                _ => {}
            }
        }
        out
    }
}

/// API request counters per `METHOD /path`, and how many requests were in the handler at once (all of
/// them, and HA configuration writes alone, which a client should not pile up at the HA lock).
#[derive(Debug, Default)]
pub struct Counters {
    total: u64,
    by_route: BTreeMap<String, u64>,
    in_flight: u64,
    max_in_flight: u64,
    ha_writes_in_flight: u64,
    max_ha_writes_in_flight: u64,
}

impl Counters {
    /// Count one request, which is in flight until [`Counters::finish`].
    pub fn count(&mut self, method: &str, path: &str) {
        self.total += 1;
        *self.by_route.entry(format!("{method} {path}")).or_default() += 1;
        self.in_flight += 1;
        self.max_in_flight = self.max_in_flight.max(self.in_flight);
    }
    /// One counted request was answered (or dropped).
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }
    /// A counted request turned out to be an HA configuration write; it stays one until
    /// [`Counters::finish_ha_write`].
    pub fn start_ha_write(&mut self) {
        self.ha_writes_in_flight += 1;
        self.max_ha_writes_in_flight = self.max_ha_writes_in_flight.max(self.ha_writes_in_flight);
    }
    /// An HA configuration write was answered (or dropped).
    pub fn finish_ha_write(&mut self) {
        self.ha_writes_in_flight = self.ha_writes_in_flight.saturating_sub(1);
    }
    /// Reset; requests still in flight stay counted as in flight, so the maximum starts from them.
    pub fn reset(&mut self) {
        let (in_flight, ha_writes_in_flight) = (self.in_flight, self.ha_writes_in_flight);
        *self = Counters {
            in_flight,
            max_in_flight: in_flight,
            ha_writes_in_flight,
            max_ha_writes_in_flight: ha_writes_in_flight,
            ..Counters::default()
        };
    }
    /// As the control API returns them.
    pub fn to_json(&self) -> Value {
        json!({
            "total": self.total, "by_route": self.by_route, "max_in_flight": self.max_in_flight,
            "max_ha_writes_in_flight": self.max_ha_writes_in_flight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_limits_firings_and_method_filters() {
        let mut f = Faults::default();
        let id = f
            .add(&json!({"method": "PUT", "path": "^/cluster/ha/", "kind": "error", "count": 1}))
            .unwrap();
        assert_eq!(id, "f1");
        assert!(f.fire("GET", "/cluster/ha/resources").terminal.is_none());
        assert!(f
            .fire("PUT", "/cluster/ha/resources/ct:1")
            .terminal
            .is_some());
        assert!(f
            .fire("PUT", "/cluster/ha/resources/ct:1")
            .terminal
            .is_none());
    }

    #[test]
    fn the_most_requests_in_flight_at_once_are_kept_until_reset() {
        let mut c = Counters::default();
        c.count("GET", "/a");
        c.count("GET", "/b");
        c.finish();
        c.count("GET", "/c");
        c.finish();
        assert_eq!(c.to_json()["max_in_flight"], 2);
        c.reset();
        assert_eq!(c.to_json()["max_in_flight"], 1, "one is still in flight");
        c.finish();
        c.count("GET", "/d");
        c.finish();
        assert_eq!(c.to_json()["max_in_flight"], 1);
        assert_eq!(c.to_json()["total"], 1);
    }

    #[test]
    fn ha_writes_in_flight_are_counted_apart_from_the_reads() {
        let mut c = Counters::default();
        c.count("POST", "/cluster/ha/resources");
        c.start_ha_write();
        c.count("GET", "/cluster/ha/resources");
        c.count("POST", "/cluster/ha/resources");
        c.start_ha_write();
        assert_eq!(c.to_json()["max_ha_writes_in_flight"], 2);
        assert_eq!(c.to_json()["max_in_flight"], 3);
        c.finish_ha_write();
        c.finish();
        c.reset();
        assert_eq!(
            c.to_json()["max_ha_writes_in_flight"],
            1,
            "one is still in flight"
        );
        c.finish_ha_write();
        c.count("POST", "/cluster/ha/groups");
        c.start_ha_write();
        c.finish_ha_write();
        assert_eq!(c.to_json()["max_ha_writes_in_flight"], 1);
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut f = Faults::default();
        assert!(f.add(&json!({"path": "(", "kind": "drop"})).is_err());
        assert!(f.add(&json!({"path": "x", "kind": "boom"})).is_err());
        assert!(f
            .add(&json!({"path": "x", "kind": "drop", "probability": 2.0}))
            .is_err());
    }
}
