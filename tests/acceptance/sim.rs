//! The simulator as the harness drives it: `pveha sim` started on a free loopback port from a fixture, its
//! control API (clock, power, faults, counters, snapshot) and the Proxmox API with the fixtures' token, which later
//! resource tests use to inject drift. Proxmox semantics are the simulator's own tests' business; these check the
//! handles the acceptance suite relies on.

use anyhow::Result;
use pveha_acceptance::{Sim, TOKEN};
use regex::Regex;
use serde_json::{json, Value};

/// The HA-managed guests of the homelab fixtures (contract): 7 services.
const HOMELAB_HA_SIDS: [&str; 7] = [
    "ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250",
];

fn sids(resources: &Value) -> Vec<String> {
    let mut sids: Vec<String> = resources
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["sid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    sids.sort();
    sids
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn sim_listens_on_loopback_with_a_fingerprint_and_the_fixture_token() -> Result<()> {
    let sim = Sim::homelab_pve8().await?;
    assert!(
        Regex::new(r"^https://127\.0\.0\.1:\d+$")?.is_match(sim.endpoint()),
        "{}",
        sim.endpoint()
    );
    let fp = sim.fingerprint().unwrap_or_default();
    assert!(
        Regex::new(r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")?.is_match(fp),
        "fingerprint {fp:?}"
    );
    assert_eq!(sim.token(), TOKEN);
    assert_eq!(sim.health().await?["ok"], json!(true));

    let version = sim.api("GET", "/version", &[]).await?;
    assert_eq!(version.data()?["version"], json!("8.4.1"), "{version:?}");
    let resources = sim.api("GET", "/cluster/ha/resources", &[]).await?;
    assert_eq!(sids(resources.data()?), sorted(&HOMELAB_HA_SIDS));

    let refused = sim
        .api_with_auth(None, "GET", "/cluster/ha/resources", &[])
        .await?;
    assert_eq!(refused.status, 401, "{refused:?}");
    let wrong = sim
        .api_with_auth(
            Some("PVEAPIToken=root@pam!terraform=wrong"),
            "GET",
            "/version",
            &[],
        )
        .await?;
    assert_eq!(
        (wrong.status, wrong.reason.as_str()),
        (401, "Authentication failed!"),
        "{wrong:?}"
    );
    Ok(())
}

#[tokio::test]
async fn sim_pve9_fixture_reports_pve9() -> Result<()> {
    let sim = Sim::homelab_pve9().await?;
    let version = sim.api("GET", "/version", &[]).await?;
    assert_eq!(version.data()?["version"], json!("9.0.10"), "{version:?}");
    Ok(())
}

#[tokio::test]
async fn sim_counts_api_requests_until_reset() -> Result<()> {
    let sim = Sim::homelab_pve8().await?;
    sim.reset_requests().await?;
    for _ in 0..2 {
        sim.api("GET", "/cluster/ha/resources", &[]).await?.data()?;
    }
    sim.health().await?;
    let counted = sim.requests().await?;
    assert_eq!(counted.get("GET /cluster/ha/resources"), 2, "{counted:?}");
    assert_eq!(
        counted.total, 2,
        "control calls must not count: {counted:?}"
    );
    sim.reset_requests().await?;
    assert_eq!(sim.requests().await?.total, 0);
    Ok(())
}

#[tokio::test]
async fn sim_faults_fire_until_cleared() -> Result<()> {
    let sim = Sim::homelab_pve8().await?;
    let id = sim
        .add_fault(json!({"path": "^/cluster/ha/", "kind": "unreachable"}))
        .await?;
    let failed = sim.api("GET", "/cluster/ha/resources", &[]).await?;
    assert_eq!(
        (failed.status, failed.reason.as_str()),
        (595, "No route to host"),
        "{failed:?}"
    );
    // Paths the fault does not match are served as usual.
    assert!(sim.api("GET", "/version", &[]).await?.is_success());
    sim.remove_fault(&id).await?;
    assert!(sim
        .api("GET", "/cluster/ha/resources", &[])
        .await?
        .is_success());

    sim.add_fault(json!({"path": "^/cluster/ha/groups", "kind": "lock-timeout", "method": "POST"}))
        .await?;
    let locked = sim
        .api(
            "POST",
            "/cluster/ha/groups",
            &[("group", "g1"), ("nodes", "proxmox")],
        )
        .await?;
    assert_eq!(locked.status, 500, "{locked:?}");
    assert!(
        locked.reason.contains("got lock request timeout"),
        "{locked:?}"
    );
    sim.clear_faults().await?;
    assert!(sim
        .api(
            "POST",
            "/cluster/ha/groups",
            &[("group", "g1"), ("nodes", "proxmox")]
        )
        .await?
        .is_success());
    Ok(())
}

#[tokio::test]
async fn sim_api_writes_are_seen_in_reads_and_the_snapshot() -> Result<()> {
    let sim = Sim::homelab_pve8().await?;
    let created = sim
        .api(
            "POST",
            "/cluster/ha/groups",
            &[
                ("group", "drift"),
                ("nodes", "proxmox:2,proxmox2"),
                ("restricted", "1"),
            ],
        )
        .await?;
    created.data()?;
    let group = sim.api("GET", "/cluster/ha/groups/drift", &[]).await?;
    assert_eq!(group.data()?["restricted"], json!(1), "{group:?}");
    assert!(
        sim.snapshot().await?.to_string().contains("\"drift\""),
        "the snapshot does not show the new group"
    );

    sim.api("DELETE", "/cluster/ha/groups/drift", &[])
        .await?
        .data()?;
    let gone = sim.api("GET", "/cluster/ha/groups/drift", &[]).await?;
    assert!(!gone.is_success(), "{gone:?}");
    Ok(())
}

#[tokio::test]
async fn sim_clock_and_node_power_are_controlled() -> Result<()> {
    let sim = Sim::homelab_pve8().await?;
    let before = sim.health().await?["now"].as_u64().unwrap_or_default();
    let after = sim.advance(60).await?;
    assert!(
        after >= before + 60,
        "advance(60) moved the clock from {before} to {after}"
    );

    sim.power("proxmox2", false).await?;
    sim.advance(30).await?;
    let nodes = sim.api("GET", "/nodes", &[]).await?;
    let status = |nodes: &Value, name: &str| {
        nodes
            .as_array()
            .and_then(|a| a.iter().find(|n| n["node"] == name))
            .map(|n| n["status"].clone())
    };
    assert_eq!(
        status(nodes.data()?, "proxmox2"),
        Some(json!("offline")),
        "{nodes:?}"
    );
    assert_eq!(
        status(nodes.data()?, "proxmox"),
        Some(json!("online")),
        "{nodes:?}"
    );
    sim.power("proxmox2", true).await?;
    sim.advance(30).await?;
    let nodes = sim.api("GET", "/nodes", &[]).await?;
    assert_eq!(
        status(nodes.data()?, "proxmox2"),
        Some(json!("online")),
        "{nodes:?}"
    );
    Ok(())
}

#[tokio::test]
async fn sim_stops_cleanly_on_sigterm() -> Result<()> {
    let sim = Sim::homelab_pve8().await?;
    let status = sim.stop().await?;
    assert!(status.success(), "pveha sim exited with {status}");
    Ok(())
}

#[tokio::test]
async fn sim_refuses_a_missing_fixture_with_its_name() {
    let missing = Sim::fixture("no-such-fixture.json");
    match Sim::start(&missing).await {
        Ok(_) => panic!("the simulator started without a fixture"),
        Err(e) => {
            let message = format!("{e:#}");
            assert!(message.contains("exit status: 2"), "{message}");
            let stderr = message
                .split_once("stderr:")
                .map(|(_, s)| s)
                .unwrap_or_default();
            assert!(
                stderr.contains("no-such-fixture.json"),
                "the simulator's error does not name the file: {message}"
            );
        }
    }
}
