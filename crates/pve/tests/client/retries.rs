//! Retries converge under injected lock timeouts, 595s and latency, with a bounded retry count;
//! an ambiguous write is checked by a re-read instead of being blindly sent again.

use std::time::Duration;

use pveha_model::NodePriorities;
use pveha_pve::ha::groups::{self, NewHaGroup};
use pveha_pve::ha::resources;
use pveha_pve::{cluster, Client, ClientOptions, Error};
use serde_json::json;

use crate::harness::{options, Fixture, Sim};

fn group(name: &str) -> NewHaGroup {
    NewHaGroup {
        group: name.into(),
        nodes: "proxmox2:2,proxmox3".parse::<NodePriorities>().unwrap(),
        restricted: None,
        nofailback: Some(true),
        comment: Some("db".into()),
    }
}

#[tokio::test]
async fn reads_converge_under_transient_lock_timeouts_and_595s() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.fault(json!({"method": "GET", "path": "^/cluster/ha/resources$", "kind": "lock-timeout", "count": 2}))
        .await;
    sim.fault(
        json!({"method": "GET", "path": "^/cluster/status$", "kind": "unreachable", "count": 2}),
    )
    .await;
    sim.reset_requests().await;
    let list = resources::list(&client).await.unwrap();
    assert_eq!(list.len(), 7);
    assert_eq!(sim.requests("GET /cluster/ha/resources").await, 3);
    assert!(!cluster::status(&client).await.unwrap().is_empty());
    assert_eq!(sim.requests("GET /cluster/status").await, 3);
}

#[tokio::test]
async fn reads_converge_when_the_server_is_slower_than_the_timeout() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.timeout = Duration::from_secs(1);
    let client = sim.client_for(&cfg);
    client.version().await.unwrap();
    sim.fault(json!({"method": "GET", "path": "^/cluster/status$", "kind": "latency", "latency_ms": 4000, "count": 1}))
        .await;
    sim.reset_requests().await;
    let status = cluster::status(&client).await.unwrap();
    assert!(!status.is_empty());
    // The slow first attempt always times out (4 s against 1 s), so the answer came from a retry.
    // How many retries a loaded machine needs is not the point, so the count is a lower bound:
    // an exact count would hinge on the fast attempts beating the real 1 s timeout.
    let attempts = sim.requests("GET /cluster/status").await;
    assert!(
        attempts >= 2,
        "{attempts} attempts: the timed-out read was retried"
    );
}

#[tokio::test]
async fn a_read_that_keeps_failing_stops_within_the_deadline() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = Client::with_options(
        &sim.token_config(),
        ClientOptions {
            retry: pveha_pve::RetryPolicy {
                max_attempts: 1000,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(20),
                deadline: Duration::from_millis(200),
            },
            ..options()
        },
    )
    .unwrap();
    client.version().await.unwrap();
    sim.fault(json!({"method": "GET", "path": "^/cluster/status$", "kind": "unreachable"}))
        .await;
    sim.reset_requests().await;
    let err = cluster::status(&client).await.unwrap_err();
    assert!(matches!(err, Error::NodeUnreachable { .. }));
    let attempts = sim.requests("GET /cluster/status").await;
    assert!((2..1000).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn writes_are_sent_again_after_lock_timeouts_and_land_once() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.fault(json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "lock-timeout", "count": 2}))
        .await;
    sim.fault(json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "latency", "latency_ms": 30}))
        .await;
    sim.reset_requests().await;
    groups::create(&client, &group("db")).await.unwrap();
    assert_eq!(sim.requests("POST /cluster/ha/groups").await, 3);
    let made = groups::get(&client, "db").await.unwrap();
    assert_eq!(made.nofailback, Some(true));
}

#[tokio::test]
async fn a_dropped_write_is_checked_by_a_re_read_before_it_is_sent_again() {
    let sim = Sim::start(Fixture::Pve8).await;
    let client = sim.client();
    client.version().await.unwrap();
    sim.fault(
        json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "drop", "count": 1}),
    )
    .await;
    sim.reset_requests().await;
    groups::create(&client, &group("db")).await.unwrap();
    assert_eq!(
        sim.requests("GET /cluster/ha/groups/db").await,
        1,
        "re-read once"
    );
    assert_eq!(sim.requests("POST /cluster/ha/groups").await, 2);
    assert_eq!(groups::list(&client).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_write_slower_than_the_timeout_ends_applied_exactly_once() {
    let sim = Sim::start(Fixture::Pve8).await;
    let mut cfg = sim.token_config();
    cfg.timeout = Duration::from_secs(1);
    let client = sim.client_for(&cfg);
    client.version().await.unwrap();
    sim.fault(json!({"method": "POST", "path": "^/cluster/ha/groups$", "kind": "latency", "latency_ms": 2500, "count": 1}))
        .await;
    // Whether the slow attempt lands before or after the re-read, the outcome is one group and
    // success, never an "already defined" error.
    groups::create(&client, &group("db")).await.unwrap();
    let all = groups::list(&client).await.unwrap();
    assert_eq!(all.iter().filter(|g| g.group == "db").count(), 1);
}
