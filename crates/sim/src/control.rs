//! The control API under `/_sim/` (loopback peers only): health, advancing the clock, node power, planned
//! reboot/shutdown and maintenance, faults, request counters, the state snapshot, the HA log and the
//! per-service running timeline. Answers are plain JSON, not the PVE envelope.

use std::net::{IpAddr, SocketAddr};

use serde_json::{json, Value};

use crate::ha_manager;
use crate::lifecycle::{self, LifecycleError};
use crate::server::Shared;

/// The most one `/_sim/advance` may move the clock (a day: 8640 HA rounds).
const MAX_ADVANCE_SECONDS: f64 = 86_400.0;

/// Whether a peer may use the control API: loopback only (IPv4, IPv6 and IPv4-mapped IPv6).
pub fn is_loopback_peer(peer: &SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, json!({"error": msg.into()}))
}

fn refused(e: LifecycleError) -> (u16, Value) {
    let status = match e {
        LifecycleError::NoSuchNode(_) => 404,
        LifecycleError::AlreadyOff(_) | LifecycleError::InProgress(_) => 409,
    };
    (status, json!({"error": e.to_string()}))
}

fn planned(shared: &Shared, node: &str, down_seconds: Option<f64>) -> (u16, Value) {
    let mut c = shared.cluster();
    ha_manager::catch_up(&mut c);
    match lifecycle::request_shutdown(&mut c, node, down_seconds) {
        Ok(policy) => (
            200,
            json!({"node": node, "policy": policy.as_str(), "down_seconds": down_seconds}),
        ),
        Err(e) => refused(e),
    }
}

/// Handle one control request; returns status and JSON body.
pub fn handle(shared: &Shared, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad(format!("body is not JSON: {e}")),
        }
    };
    let segs: Vec<&str> = path
        .trim_start_matches("/_sim/")
        .trim_end_matches('/')
        .split('/')
        .collect();
    match (method, segs.as_slice()) {
        ("GET", ["health"]) => {
            let mut c = shared.cluster();
            ha_manager::catch_up(&mut c);
            (
                200,
                json!({"ok": true, "now": c.clock.now().floor() as i64}),
            )
        }
        ("POST", ["advance"]) => {
            let Some(seconds) = parsed
                .get("seconds")
                .and_then(Value::as_f64)
                // One call runs every due round; a bound keeps a huge value from holding the lock for hours.
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= MAX_ADVANCE_SECONDS)
            else {
                return bad("'seconds' must be a number from 0 to 86400");
            };
            let mut c = shared.cluster();
            ha_manager::catch_up(&mut c);
            c.clock.advance(seconds);
            ha_manager::catch_up(&mut c);
            (200, json!({"now": c.clock.now().floor() as i64}))
        }
        ("POST", ["nodes", node, "power"]) => {
            let Some(on) = parsed.get("on").and_then(Value::as_bool) else {
                return bad("'on' must be true or false");
            };
            let mut c = shared.cluster();
            ha_manager::catch_up(&mut c);
            if ha_manager::power(&mut c, node, on) {
                (200, json!({"node": node, "on": on}))
            } else {
                (404, json!({"error": format!("no such node '{node}'")}))
            }
        }
        ("POST", ["nodes", node, "reboot"]) => {
            let down = match parsed.get("down_seconds") {
                None => lifecycle::DEFAULT_DOWN_SECONDS,
                Some(v) => match v.as_f64().filter(|s| s.is_finite() && *s >= 0.0) {
                    Some(s) => s,
                    None => return bad("'down_seconds' must be a non-negative number"),
                },
            };
            planned(shared, node, Some(down))
        }
        ("POST", ["nodes", node, "shutdown"]) => planned(shared, node, None),
        ("POST", ["nodes", node, "maintenance"]) => {
            let Some(enable) = parsed.get("enable").and_then(Value::as_bool) else {
                return bad("'enable' must be true or false");
            };
            let mut c = shared.cluster();
            ha_manager::catch_up(&mut c);
            match lifecycle::set_maintenance(&mut c, node, enable) {
                Ok(()) => (200, json!({"node": node, "maintenance": enable})),
                Err(e) => refused(e),
            }
        }
        ("GET", ["timeline"]) => {
            let mut c = shared.cluster();
            ha_manager::catch_up(&mut c);
            let out: serde_json::Map<String, Value> = c
                .manager
                .timeline
                .iter()
                .map(|(sid, changes)| {
                    let list: Vec<Value> = changes
                        .iter()
                        .map(|ch| json!({"at": ch.at.floor() as i64, "running": ch.running, "node": ch.node}))
                        .collect();
                    (sid.clone(), Value::Array(list))
                })
                .collect();
            (200, Value::Object(out))
        }
        ("POST", ["faults"]) => match shared.faults().add(&parsed) {
            Ok(id) => (200, json!({"id": id})),
            Err(e) => bad(e),
        },
        ("DELETE", ["faults"]) => {
            shared.faults().clear();
            (200, json!({}))
        }
        ("DELETE", ["faults", id]) => {
            if shared.faults().remove(id) {
                (200, json!({}))
            } else {
                (404, json!({"error": format!("no such fault '{id}'")}))
            }
        }
        ("GET", ["requests"]) => (200, shared.counters().to_json()),
        ("DELETE", ["requests"]) => {
            shared.counters().reset();
            (200, json!({}))
        }
        ("GET", ["snapshot"]) => {
            let mut c = shared.cluster();
            ha_manager::catch_up(&mut c);
            (200, crate::snapshot::dump(&c))
        }
        ("GET", ["log"]) => (200, json!(shared.cluster().manager.log)),
        _ => (
            404,
            json!({"error": format!("no control endpoint {method} {path}")}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_pass() {
        for ok in [
            "127.0.0.1:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
            "127.8.9.1:2",
        ] {
            assert!(is_loopback_peer(&ok.parse().unwrap()), "{ok}");
        }
        for no in [
            "192.168.1.10:1",
            "[fe80::1]:1",
            "[::ffff:10.0.0.1]:1",
            "0.0.0.0:1",
        ] {
            assert!(!is_loopback_peer(&no.parse().unwrap()), "{no}");
        }
    }
}
