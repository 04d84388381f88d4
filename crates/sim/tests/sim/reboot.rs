//! Planned reboot, shutdown and maintenance under each `shutdown_policy`, as pve-ha-manager's
//! `test-reboot1`, `test-shutdown-policy*` and `test-crm-maintenance-request*` show them: the CRM states
//! the services go through, where they end up, the node and LRM status, and the control API's refusals.

use std::collections::BTreeMap;

use pveha_placement::{node_event, Fate, NodeEvent, ShutdownPolicy};
use serde_json::{json, Value};

use crate::harness::{start_json, Sim, PVE8, PVE9};

/// A fixture with `/cluster/options` `ha` and `crs` replaced (None leaves the key out).
pub fn with_options(doc: &str, ha: Option<Value>, crs: Option<Value>) -> String {
    let mut d: Value = serde_json::from_str(doc).expect("fixture is JSON");
    let opts = d["api"]["/cluster/options"]
        .as_object_mut()
        .expect("fixture has /cluster/options");
    for (key, value) in [("ha", ha), ("crs", crs)] {
        match value {
            Some(v) => opts.insert(key.into(), v),
            None => opts.remove(key),
        };
    }
    d.to_string()
}

/// A homelab fixture under a shutdown policy (given parsed, as PVE returns it).
pub async fn with_policy(doc: &str, policy: &str) -> Sim {
    start_json(&with_options(
        doc,
        Some(json!({"shutdown_policy": policy})),
        Some(json!({"ha": "basic"})),
    ))
    .await
}

/// Every HA service: sid → (node, CRM state).
pub async fn services(s: &Sim) -> BTreeMap<String, (String, String)> {
    let cur = s.get("/cluster/ha/status/current").await.ok();
    cur.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "service")
        .map(|e| {
            (
                e["sid"].as_str().unwrap_or_default().to_string(),
                (
                    e["node"].as_str().unwrap_or_default().to_string(),
                    e["crm_state"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

/// The HA sids on a node.
pub async fn on_node(s: &Sim, node: &str) -> Vec<String> {
    services(s)
        .await
        .into_iter()
        .filter(|(_, (n, _))| n == node)
        .map(|(sid, _)| sid)
        .collect()
}

/// A control request whose status the caller checks.
pub async fn control_status(s: &Sim, path: &str, body: Value) -> (u16, Value) {
    let resp = s
        .http
        .post(format!("{}/_sim{path}", s.base))
        .json(&body)
        .send()
        .await
        .expect("control");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The node's HA state per `/cluster/resources` (`hastate` of the node entry).
pub async fn node_hastate(s: &Sim, node: &str) -> String {
    let res = s.get("/cluster/resources?type=node").await.ok();
    res.as_array()
        .into_iter()
        .flatten()
        .find(|e| e["node"] == node)
        .and_then(|e| e["hastate"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The `lrm:<node>` status text of `status/current`.
pub async fn lrm_status(s: &Sim, node: &str) -> String {
    let cur = s.get("/cluster/ha/status/current").await.ok();
    cur.as_array()
        .into_iter()
        .flatten()
        .find(|e| e["id"] == format!("lrm:{node}"))
        .and_then(|e| e["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Whether the HA log holds a line containing `needle`.
pub async fn logged(s: &Sim, needle: &str) -> bool {
    let log = s.control("GET", "/log", json!({})).await;
    log.as_array()
        .into_iter()
        .flatten()
        .any(|l| l.as_str().is_some_and(|l| l.contains(needle)))
}

async fn reboot(s: &Sim, node: &str, down: u64) {
    s.control(
        "POST",
        &format!("/nodes/{node}/reboot"),
        json!({"down_seconds": down}),
    )
    .await;
}

async fn shutdown(s: &Sim, node: &str) {
    s.control("POST", &format!("/nodes/{node}/shutdown"), json!({}))
        .await;
}

const HOMELAB: [(&str, &str); 2] = [("pve8", PVE8), ("pve9", PVE9)];

#[tokio::test]
async fn reboot_under_conditional_and_freeze_freezes_and_thaws_in_place() {
    for (name, doc) in HOMELAB {
        for policy in ["conditional", "freeze"] {
            let s = with_policy(doc, policy).await;
            s.advance(10).await;
            let before = on_node(&s, "proxmox3").await;
            assert_eq!(before.len(), 4, "{name}");
            reboot(&s, "proxmox3", 120).await;
            s.advance(10).await;
            let during = services(&s).await;
            for sid in &before {
                assert_eq!(
                    during[sid],
                    ("proxmox3".to_string(), "freeze".to_string()),
                    "{name} {policy} {sid}"
                );
            }
            assert!(logged(&s, "reboot LRM, stop and freeze all services").await);
            let res = s.get("/cluster/resources?type=vm").await.ok();
            let ct113 = res
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["vmid"] == 113)
                .cloned()
                .unwrap_or_default();
            // The node is off, so PVE knows nothing of the guest's status beyond the CRM's state.
            assert_eq!(
                (ct113["hastate"].as_str(), ct113["status"].as_str()),
                (Some("freeze"), Some("unknown")),
                "{name} {policy}"
            );
            // Long past the fence delay: frozen services are never fenced or recovered.
            s.advance(100).await;
            assert_eq!(node_hastate(&s, "proxmox3").await, "unknown", "{name}");
            for sid in &before {
                assert_eq!(services(&s).await[sid].1, "freeze", "{name} {policy}");
            }
            assert_eq!(s.guest_node(113).await, "proxmox3");
            s.advance(30).await;
            for sid in &before {
                assert_eq!(
                    services(&s).await[sid],
                    ("proxmox3".to_string(), "started".to_string()),
                    "{name} {policy} {sid} thawed on its node"
                );
            }
            assert_eq!(node_hastate(&s, "proxmox3").await, "online");
            assert!(
                logged(
                    &s,
                    "service 'ct:113': state changed from 'freeze' to 'started'"
                )
                .await
            );
        }
    }
}

#[tokio::test]
async fn shutdown_under_freeze_stays_frozen_until_powered_on() {
    let s = with_policy(PVE8, "freeze").await;
    s.advance(10).await;
    shutdown(&s, "proxmox3").await;
    s.advance(600).await;
    assert_eq!(
        services(&s).await["ct:130"],
        ("proxmox3".to_string(), "freeze".to_string())
    );
    s.power("proxmox3", true).await;
    s.advance(10).await;
    assert_eq!(
        services(&s).await["ct:130"],
        ("proxmox3".to_string(), "started".to_string())
    );
}

#[tokio::test]
async fn failover_and_conditional_shutdown_fence_and_recover() {
    for (name, doc) in HOMELAB {
        for (policy, reboot_it) in [
            ("failover", true),
            ("failover", false),
            ("conditional", false),
        ] {
            let s = with_policy(doc, policy).await;
            s.advance(10).await;
            if reboot_it {
                reboot(&s, "proxmox3", 600).await;
            } else {
                shutdown(&s, "proxmox3").await;
            }
            s.advance(10).await;
            assert!(logged(&s, "shutdown LRM, stop all services").await);
            assert_eq!(
                services(&s).await["ct:113"].1,
                "started",
                "stopped by the LRM only"
            );
            s.advance(60).await;
            assert_eq!(services(&s).await["ct:113"].1, "fence", "{name} {policy}");
            s.advance(90).await;
            // As a crash: sid order, least loaded, ties by name → all four to `proxmox`.
            for sid in ["ct:113", "ct:122", "ct:1250", "ct:130"] {
                assert_eq!(
                    services(&s).await[sid],
                    ("proxmox".to_string(), "started".to_string()),
                    "{name} {policy} {sid}"
                );
            }
        }
    }
}

#[tokio::test]
async fn failover_reboot_shorter_than_the_fence_delay_just_restarts() {
    // test-shutdown-policy1: the node is back before it could be fenced; the service starts where it was.
    let s = with_policy(PVE8, "failover").await;
    s.advance(10).await;
    reboot(&s, "proxmox3", 20).await;
    s.advance(10).await;
    assert_eq!(s.guest_node(113).await, "proxmox3");
    s.advance(40).await;
    assert_eq!(
        services(&s).await["ct:113"],
        ("proxmox3".to_string(), "started".to_string())
    );
    assert!(!logged(&s, "'fence'").await);
}

#[tokio::test]
async fn migrate_policy_moves_services_away_first_and_back_after_the_reboot() {
    for (name, doc) in HOMELAB {
        let s = with_policy(doc, "migrate").await;
        s.advance(10).await;
        reboot(&s, "proxmox3", 120).await;
        s.advance(10).await;
        assert_eq!(node_hastate(&s, "proxmox3").await, "maintenance", "{name}");
        assert!(lrm_status(&s, "proxmox3")
            .await
            .contains("maintenance mode"));
        // Containers are relocated (stop, move, start), VMs would migrate live.
        assert_eq!(services(&s).await["ct:113"].1, "relocate", "{name}");
        assert!(logged(&s, "relocate service 'ct:113' to node 'proxmox'").await);
        s.advance(10).await;
        for sid in ["ct:113", "ct:122", "ct:1250", "ct:130"] {
            assert_eq!(
                services(&s).await[sid],
                ("proxmox".to_string(), "started".to_string()),
                "{name} {sid}"
            );
        }
        let ms = s.get("/cluster/ha/status/manager_status").await.ok();
        assert_eq!(
            ms["manager_status"]["service_status"]["ct:113"]["maintenance_node"],
            "proxmox3"
        );
        // Down, but in maintenance: never fenced.
        s.advance(100).await;
        assert_eq!(node_hastate(&s, "proxmox3").await, "maintenance");
        s.advance(30).await;
        assert_eq!(node_hastate(&s, "proxmox3").await, "online", "{name}");
        s.advance(20).await;
        for sid in ["ct:113", "ct:122", "ct:1250", "ct:130"] {
            assert_eq!(
                services(&s).await[sid],
                ("proxmox3".to_string(), "started".to_string()),
                "{name} {sid} back home"
            );
        }
        assert!(
            logged(
                &s,
                "moving service 'ct:113' back to 'proxmox3', node came back from maintenance."
            )
            .await
        );
        assert!(!logged(&s, "'fence'").await);
    }
}

#[tokio::test]
async fn manual_maintenance_moves_away_and_back_and_survives_a_power_cycle() {
    for (name, doc) in HOMELAB {
        let s = start_json(doc).await;
        s.advance(10).await;
        s.control(
            "POST",
            "/nodes/proxmox2/maintenance",
            json!({"enable": true}),
        )
        .await;
        s.advance(20).await;
        assert_eq!(node_hastate(&s, "proxmox2").await, "maintenance", "{name}");
        assert!(on_node(&s, "proxmox2").await.is_empty(), "{name}");
        // test-crm-maintenance-request1: a power cycle keeps the node in maintenance.
        s.power("proxmox2", false).await;
        s.advance(200).await;
        s.power("proxmox2", true).await;
        s.advance(20).await;
        assert_eq!(node_hastate(&s, "proxmox2").await, "maintenance");
        assert!(on_node(&s, "proxmox2").await.is_empty());
        s.control(
            "POST",
            "/nodes/proxmox2/maintenance",
            json!({"enable": false}),
        )
        .await;
        s.advance(30).await;
        assert_eq!(node_hastate(&s, "proxmox2").await, "online");
        assert_eq!(
            on_node(&s, "proxmox2").await,
            ["ct:100", "ct:116", "ct:131"],
            "{name}"
        );
    }
}

#[tokio::test]
async fn control_api_refuses_unknown_nodes_off_nodes_and_bad_bodies() {
    let s = start_json(PVE8).await;
    for path in [
        "/nodes/nope/reboot",
        "/nodes/nope/shutdown",
        "/nodes/nope/maintenance",
    ] {
        let (status, body) = control_status(&s, path, json!({"enable": true})).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"], "no such node 'nope'");
    }
    s.power("proxmox", false).await;
    let (status, body) = control_status(&s, "/nodes/proxmox/reboot", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("node 'proxmox' is already off"))
    );
    let (status, _) = control_status(&s, "/nodes/proxmox/shutdown", json!({})).await;
    assert_eq!(status, 409);
    let (status, _) = control_status(&s, "/nodes/proxmox2/reboot", json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = control_status(&s, "/nodes/proxmox2/shutdown", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("node 'proxmox2' is already shutting down"))
    );
    let (status, _) =
        control_status(&s, "/nodes/proxmox3/reboot", json!({"down_seconds": -1})).await;
    assert_eq!(status, 400);
    let (status, _) = control_status(&s, "/nodes/proxmox3/maintenance", json!({})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_timeline_records_when_each_service_went_down_and_ran_again() {
    let s = with_policy(PVE8, "failover").await;
    s.advance(10).await;
    let t0 = s.control("GET", "/health", json!({})).await["now"]
        .as_i64()
        .unwrap_or_default();
    shutdown(&s, "proxmox3").await;
    s.advance(300).await;
    let tl = s.control("GET", "/timeline", json!({})).await;
    let changes = tl["ct:113"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), 2, "{tl}");
    assert_eq!(changes[0]["running"], false);
    assert_eq!(changes[0]["node"], "proxmox3");
    assert_eq!(changes[1]["running"], true);
    assert_eq!(changes[1]["node"], "proxmox");
    let down = changes[0]["at"].as_i64().unwrap_or_default();
    let up = changes[1]["at"].as_i64().unwrap_or_default();
    assert!(down >= t0 && down <= t0 + 10, "{down} {t0}");
    // Fence after 60 s, lock expiry at 120 s, recovered in that round.
    assert_eq!(up - down, 120, "{tl}");
    assert!(
        tl.get("ct:100").is_none(),
        "untouched services have no changes"
    );
    assert!(logged(&s, "proxmox/lrm: service status ct:113 started").await);
}

#[tokio::test]
async fn policy_given_as_a_property_string_is_honoured() {
    let s = start_json(&with_options(
        PVE9,
        Some(json!("shutdown_policy=migrate")),
        None,
    ))
    .await;
    s.advance(10).await;
    reboot(&s, "proxmox2", 60).await;
    s.advance(10).await;
    assert_eq!(node_hastate(&s, "proxmox2").await, "maintenance");
}

/// What the simulator did with one service, in `placement::Fate` terms.
async fn observed_fate(s: &Sim, sid: &str, node: &str, was: &(String, String)) -> Fate {
    let now = services(s).await;
    let (at, state) = now.get(sid).cloned().unwrap_or_default();
    let ms = s.get("/cluster/ha/status/manager_status").await.ok();
    let maintenance_node = ms["manager_status"]["service_status"][sid]["maintenance_node"].clone();
    match state.as_str() {
        "freeze" => Fate::Frozen,
        "recovery" => Fate::Recovered { to: None },
        _ if (at.as_str(), state.as_str()) == (was.0.as_str(), was.1.as_str()) && at != node => {
            Fate::Unaffected
        }
        "started" if at != node && maintenance_node == node => Fate::Migrated { to: at },
        "started" if at != node && logged(s, &format!("recover service '{sid}'")).await => {
            Fate::Recovered { to: Some(at) }
        }
        "started" if at == node => {
            if logged(s, &format!("{node}/lrm: service status {sid} stopped")).await {
                Fate::Stopped
            } else {
                Fate::Stays
            }
        }
        other => panic!("{sid}: unexpected state {other} on {at}"),
    }
}

/// The homelab fixture as captured, and with both Traefik containers HA-managed so `proxmox` has services too.
async fn homelab_variants(doc: &str, policy: &str, traefik_ha: bool) -> Sim {
    let s = with_policy(doc, policy).await;
    if traefik_ha {
        for sid in ["ct:110", "ct:121"] {
            s.call("POST", "/cluster/ha/resources", &[("sid", sid)])
                .await
                .ok();
        }
    }
    s.advance(10).await;
    s
}

#[tokio::test]
async fn every_node_event_ends_as_placement_predicts_on_both_homelab_fixtures() {
    let mut checked = 0;
    for (name, doc) in HOMELAB {
        for traefik_ha in [false, true] {
            for policy in ShutdownPolicy::ALL {
                for event in [
                    NodeEvent::Reboot,
                    NodeEvent::Shutdown,
                    NodeEvent::Maintenance,
                ] {
                    if event == NodeEvent::Maintenance && policy != ShutdownPolicy::Conditional {
                        continue; // maintenance ignores the policy
                    }
                    for node in ["proxmox", "proxmox2", "proxmox3"] {
                        let s = homelab_variants(doc, policy.as_str(), traefik_ha).await;
                        let before = services(&s).await;
                        let predicted =
                            node_event(&s.running.placement_view(), node, event, policy);
                        let ctx =
                            format!("{name} traefik_ha={traefik_ha} {policy} {event:?} {node}");
                        match event {
                            // A reboot shorter than the fence delay, as upstream's tester reboots.
                            NodeEvent::Reboot => reboot(&s, node, 30).await,
                            NodeEvent::Shutdown => shutdown(&s, node).await,
                            _ => {
                                s.control(
                                    "POST",
                                    &format!("/nodes/{node}/maintenance"),
                                    json!({"enable": true}),
                                )
                                .await;
                            }
                        }
                        // Reboot: look while the node is down; otherwise once fencing and recovery are over.
                        s.advance(if event == NodeEvent::Reboot { 20 } else { 300 })
                            .await;
                        for (sid, was) in &before {
                            let want = predicted
                                .services
                                .get(sid)
                                .cloned()
                                .unwrap_or(Fate::Unaffected);
                            let got = observed_fate(&s, sid, node, was).await;
                            assert_eq!(got, want, "{ctx} {sid}");
                            checked += 1;
                        }
                        if event == NodeEvent::Reboot {
                            s.advance(300).await;
                            for (sid, was) in &before {
                                assert_eq!(
                                    services(&s).await[sid],
                                    *was,
                                    "{ctx} {sid} after the reboot"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");
}
