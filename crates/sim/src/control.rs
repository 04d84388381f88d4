//! The control API under `/_sim/` (loopback peers only): health, advancing the clock, node power, faults,
//! request counters and the state snapshot. Answers are plain JSON, not the PVE envelope.

use std::net::{IpAddr, SocketAddr};

use serde_json::{json, Value};

use crate::ha_manager;
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
