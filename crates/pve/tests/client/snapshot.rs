//! Snapshot capture: every path of the format, per-guest configs and per-node journals, readable
//! by the model and loadable by the simulator; an offline node is a warning, not a failure.

use pveha_model::snapshot::CLUSTER_PATHS;
use pveha_model::{GuestKind, Snapshot};
use pveha_pve::snapshot::{capture, CaptureOptions};

use crate::harness::{Fixture, Sim};

#[tokio::test]
async fn capture_holds_every_path_and_round_trips() {
    let sim = Sim::start(Fixture::Pve8).await;
    let got = capture(&sim.client(), &CaptureOptions::default())
        .await
        .unwrap();
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    let snap = got.snapshot;
    for path in CLUSTER_PATHS.iter().filter(|p| **p != "/cluster/ha/rules") {
        assert!(snap.api.contains_key(*path), "{path} missing");
    }
    assert!(
        !snap.api.contains_key("/cluster/ha/rules"),
        "PVE 8 has no rules"
    );
    assert_eq!(snap.pve_version, "8.4.1");
    assert_eq!(snap.ha_resources().unwrap().len(), 7);
    let cfg = snap
        .guest_config("proxmox", GuestKind::Ct, 110)
        .unwrap()
        .unwrap();
    assert_eq!(cfg.onboot, Some(true));
    let guests = snap
        .resources()
        .unwrap()
        .iter()
        .filter(|r| r.guest_kind().is_some())
        .count();
    let configs = snap.api.keys().filter(|k| k.ends_with("/config")).count();
    assert_eq!(configs, guests);
    assert!(snap
        .journal("proxmox")
        .unwrap()
        .iter()
        .any(|l| l.contains("EDAC")));

    let text = serde_json::to_string(&snap).unwrap();
    let reread = Snapshot::from_json(&text).unwrap();
    assert_eq!(reread, snap);
    pveha_sim::load_snapshot(&text).expect("the simulator loads a captured snapshot");
}

#[tokio::test]
async fn capture_on_pve9_has_rules_not_groups() {
    let sim = Sim::start(Fixture::Pve9).await;
    let snap = capture(&sim.client(), &CaptureOptions::default())
        .await
        .unwrap()
        .snapshot;
    assert!(snap.api.contains_key("/cluster/ha/rules"));
    assert!(!snap.api.contains_key("/cluster/ha/groups"));
}

#[tokio::test]
async fn an_offline_node_is_a_warning_not_a_failure() {
    let sim = Sim::start(Fixture::Pve8).await;
    sim.power("proxmox2", false).await;
    let got = capture(&sim.client(), &CaptureOptions::default())
        .await
        .unwrap();
    assert!(!got.warnings.is_empty());
    assert!(
        got.warnings.iter().all(|w| w.contains("proxmox2")),
        "{:?}",
        got.warnings
    );
    assert!(got.snapshot.api.contains_key("/nodes/proxmox/journal"));
}
