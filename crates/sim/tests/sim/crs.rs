//! The CRS the cluster runs (`crs: ha=basic|static`, `ha-rebalance-on-start`) decides where the simulated CRM
//! puts services: the static scheduler weighs node capacity against guest CPU and memory.

use pveha_placement::{node_event, Fate, NodeEvent, ShutdownPolicy};
use serde_json::{json, Value};

use crate::harness::{start_json, Sim, PVE8};
use crate::reboot::{logged, with_options};

const GIB: u64 = 1024 * 1024 * 1024;

/// The PVE 8 homelab with a small `proxmox` (4 CPUs, 4 GiB) and a big `proxmox2` (32 CPUs, 128 GiB), under `crs`.
async fn lopsided(crs: Value) -> Sim {
    let doc = with_options(PVE8, None, Some(crs));
    let mut d: Value = serde_json::from_str(&doc).expect("JSON");
    for e in d["api"]["/cluster/resources"]
        .as_array_mut()
        .expect("resources")
    {
        let (cpus, mem) = match e["node"].as_str() {
            Some("proxmox") if e["type"] == "node" => (4, 4 * GIB),
            Some("proxmox2") if e["type"] == "node" => (32, 128 * GIB),
            _ => continue,
        };
        e["maxcpu"] = json!(cpus);
        e["maxmem"] = json!(mem);
    }
    let s = start_json(&d.to_string()).await;
    s.advance(10).await;
    s
}

async fn crash_and_recover(s: &Sim, node: &str) {
    s.power(node, false).await;
    s.advance(200).await;
}

#[tokio::test]
async fn static_crs_recovers_to_the_roomy_node_where_basic_counts_services() {
    let basic = lopsided(json!({"ha": "basic"})).await;
    let fixed = lopsided(json!({"ha": "static"})).await;
    let by_basic = node_event(
        &basic.running.placement_view(),
        "proxmox3",
        NodeEvent::Crash,
        ShutdownPolicy::Conditional,
    );
    let by_static = node_event(
        &fixed.running.placement_view(),
        "proxmox3",
        NodeEvent::Crash,
        ShutdownPolicy::Conditional,
    );
    assert_eq!(
        by_basic.services["ct:113"],
        Fate::Recovered {
            to: Some("proxmox".into())
        }
    );
    assert_ne!(
        by_basic.services, by_static.services,
        "the schedulers must disagree here"
    );
    crash_and_recover(&basic, "proxmox3").await;
    crash_and_recover(&fixed, "proxmox3").await;
    for (s, predicted) in [(&basic, &by_basic), (&fixed, &by_static)] {
        for (sid, fate) in &predicted.services {
            let Fate::Recovered { to: Some(to) } = fate else {
                panic!("{sid}: {fate:?}");
            };
            assert_eq!(
                crate::reboot::services(s).await[sid],
                (to.clone(), "started".to_string()),
                "{sid}"
            );
        }
    }
    assert_eq!(
        crate::reboot::services(&fixed).await["ct:113"].0,
        "proxmox2"
    );
    for (s, suffix) in [(&basic, None), (&fixed, Some(" - static load CRS"))] {
        let cur = s.get("/cluster/ha/status/current").await.ok();
        let master = cur
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["type"] == "master")
            .and_then(|e| e["status"].as_str())
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            master.ends_with(" - static load CRS"),
            suffix.is_some(),
            "{master}"
        );
    }
}

#[tokio::test]
async fn static_crs_given_as_a_property_string_is_honoured() {
    let s = lopsided(json!("static")).await;
    crash_and_recover(&s, "proxmox3").await;
    assert_eq!(crate::reboot::services(&s).await["ct:113"].0, "proxmox2");
}

#[tokio::test]
async fn rebalance_on_start_moves_a_starting_service_to_the_best_node() {
    for (rebalance, expected) in [(0, "proxmox2"), (1, "proxmox")] {
        let s = start_json(&with_options(
            PVE8,
            None,
            Some(json!({"ha": "basic", "ha-rebalance-on-start": rebalance})),
        ))
        .await;
        s.call(
            "PUT",
            "/cluster/ha/resources/ct:100",
            &[("state", "stopped")],
        )
        .await
        .ok();
        s.advance(10).await;
        assert_eq!(crate::reboot::services(&s).await["ct:100"].1, "stopped");
        s.call(
            "PUT",
            "/cluster/ha/resources/ct:100",
            &[("state", "started")],
        )
        .await
        .ok();
        s.advance(30).await;
        assert_eq!(
            crate::reboot::services(&s).await["ct:100"],
            (expected.to_string(), "started".to_string()),
            "rebalance={rebalance}"
        );
        assert_eq!(
            logged(
                &s,
                "service ct:100: re-balance selected new node proxmox for startup"
            )
            .await,
            rebalance == 1
        );
    }
}
