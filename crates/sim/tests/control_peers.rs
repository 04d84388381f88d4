//! The control API (`/_sim/`) answers loopback peers only: requests from a non-loopback peer, IPv4 or
//! IPv4-mapped IPv6, get 403 and change nothing, while the same requests from loopback work (the positive
//! control). Driven in-process through `server::handle` with a forged peer address, so no traffic ever leaves
//! the machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use pveha_sim::server::{handle, Shared};
use serde_json::{json, Value};

const PVE8: &str = include_str!("../../../examples/homelab/cluster-pve8.json");
const TOKEN: &str = "PVEAPIToken=root@pam!terraform=3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

fn simulator() -> Arc<Shared> {
    let cluster = pveha_sim::snapshot::load(PVE8).expect("the fixture loads");
    Arc::new(Shared::new(cluster, Duration::ZERO))
}

/// Sends one control request as `peer`; returns the status and the JSON body.
async fn control(
    shared: &Arc<Shared>,
    peer: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let peer: SocketAddr = peer.parse().expect("a socket address");
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let req = http::Request::builder()
        .method(method)
        .uri(format!("/_sim/{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a request");
    let resp = handle(shared.clone(), peer, req)
        .await
        .expect("control requests are never dropped");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("a body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every control call, with a body that would change the simulator if accepted.
fn calls() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("GET", "health", Value::Null),
        ("POST", "advance", json!({"seconds": 600})),
        ("POST", "nodes/proxmox2/power", json!({"on": false})),
        (
            "POST",
            "faults",
            json!({"path": "^/", "kind": "unreachable"}),
        ),
        ("DELETE", "faults", Value::Null),
        ("GET", "requests", Value::Null),
        ("DELETE", "requests", Value::Null),
        ("GET", "snapshot", Value::Null),
        ("GET", "log", Value::Null),
    ]
}

#[tokio::test]
async fn non_loopback_peers_are_refused_and_change_nothing() {
    let shared = simulator();
    let (_, before) = control(&shared, "127.0.0.1:40000", "GET", "snapshot", Value::Null).await;
    let (_, clock) = control(&shared, "127.0.0.1:40000", "GET", "health", Value::Null).await;
    for peer in ["10.0.0.1:40000", "[::ffff:10.0.0.1]:40000"] {
        for (method, path, body) in calls() {
            let (status, answer) = control(&shared, peer, method, path, body).await;
            assert_eq!(status, 403, "{method} /_sim/{path} from {peer}: {answer}");
            assert!(
                answer["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("loopback")),
                "{method} /_sim/{path} from {peer}: {answer}"
            );
        }
    }
    let (_, after) = control(&shared, "127.0.0.1:40000", "GET", "snapshot", Value::Null).await;
    assert_eq!(before, after, "a refused call changed the state");
    let (_, clock_after) = control(&shared, "127.0.0.1:40000", "GET", "health", Value::Null).await;
    assert_eq!(
        clock["now"], clock_after["now"],
        "a refused advance moved the clock"
    );
    // The refused fault (every path unreachable) was not installed: the API still answers.
    let req = http::Request::builder()
        .uri("/api2/json/version")
        .header("authorization", TOKEN)
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("an address");
    let resp = handle(shared.clone(), peer, req).await.expect("an answer");
    assert_eq!(resp.status().as_u16(), 200, "a refused fault was installed");
}

#[tokio::test]
async fn loopback_peers_in_every_spelling_are_served() {
    let shared = simulator();
    for peer in [
        "127.0.0.1:40000",
        "127.8.9.10:40000",
        "[::1]:40000",
        "[::ffff:127.0.0.1]:40000",
    ] {
        let (status, answer) = control(&shared, peer, "GET", "health", Value::Null).await;
        assert_eq!(
            (status, answer["ok"].clone()),
            (200, json!(true)),
            "{peer}: {answer}"
        );
    }
    let (status, answer) = control(
        &shared,
        "[::1]:40000",
        "POST",
        "advance",
        json!({"seconds": 10}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}
