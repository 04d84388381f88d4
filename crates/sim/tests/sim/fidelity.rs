//! Behaviour real clients (Ansible community.proxmox, proxmoxer) depend on, as pve-ha-manager, pve-common's
//! `SectionConfig`, pve-manager and the guest packages implement it at PVE 8.4 / 9.0 (issue 19).

use crate::harness::{pve8, pve9, start_json, PVE9};
use serde_json::Value;

fn msg(a: &crate::harness::Answer) -> (u16, &str) {
    (a.status, a.body["message"].as_str().unwrap_or_default())
}

#[tokio::test]
async fn empty_strings_are_not_written_so_the_key_is_absent() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "ct:110"), ("comment", "")],
    )
    .await
    .ok();
    let r = s.get("/cluster/ha/resources/ct:110").await.ok();
    assert!(r.get("comment").is_none(), "{r}");
    s.call("PUT", "/cluster/ha/resources/ct:110", &[("comment", "web")])
        .await
        .ok();
    assert_eq!(
        s.get("/cluster/ha/resources/ct:110").await.ok()["comment"],
        "web"
    );
    s.call("PUT", "/cluster/ha/resources/ct:110", &[("comment", "")])
        .await
        .ok();
    let r = s.get("/cluster/ha/resources/ct:110").await.ok();
    assert!(r.get("comment").is_none(), "setting '' clears: {r}");
    s.call(
        "POST",
        "/cluster/ha/groups",
        &[("group", "g1"), ("nodes", "proxmox"), ("comment", "")],
    )
    .await
    .ok();
    assert!(s
        .get("/cluster/ha/groups/g1")
        .await
        .ok()
        .get("comment")
        .is_none());
}

#[tokio::test]
async fn duplicate_group_node_tokens_collapse() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/groups",
        &[("group", "dup"), ("nodes", "proxmox,proxmox2,proxmox")],
    )
    .await
    .ok();
    let g = s.get("/cluster/ha/groups/dup").await.ok();
    let mut nodes: Vec<&str> = g["nodes"].as_str().unwrap_or_default().split(',').collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["proxmox", "proxmox2"]);
}

#[tokio::test]
async fn set_and_delete_of_one_key_deletes_for_resources_and_groups_and_is_refused_for_rules() {
    let s = pve8().await;
    s.call(
        "PUT",
        "/cluster/ha/resources/ct:100",
        &[("comment", "a"), ("max_restart", "3")],
    )
    .await
    .ok();
    s.call(
        "PUT",
        "/cluster/ha/resources/ct:100",
        &[("comment", "b"), ("delete", "comment")],
    )
    .await
    .ok();
    let r = s.get("/cluster/ha/resources/ct:100").await.ok();
    // update_resources_config sets first and deletes after.
    assert!(r.get("comment").is_none(), "{r}");
    assert_eq!(r["max_restart"], 3);

    let s9 = pve9().await;
    s9.call(
        "POST",
        "/cluster/ha/rules",
        &[
            ("rule", "pair"),
            ("type", "resource-affinity"),
            ("affinity", "positive"),
            ("resources", "ct:100,ct:113"),
        ],
    )
    .await
    .ok();
    let (id, kind) = ("pair", "resource-affinity");
    let both = s9
        .call(
            "PUT",
            &format!("/cluster/ha/rules/{id}"),
            &[("type", kind), ("comment", "x"), ("delete", "comment")],
        )
        .await;
    assert_eq!(
        msg(&both),
        (
            500,
            "update HA rules failed: cannot set and delete property 'comment' at the same time!\n"
        ),
        "{}",
        both.raw
    );
    let other = if kind == "node-affinity" {
        "resource-affinity"
    } else {
        "node-affinity"
    };
    let retype = s9
        .call(
            "PUT",
            &format!("/cluster/ha/rules/{id}"),
            &[("type", other), ("comment", "x")],
        )
        .await;
    assert_eq!(
        msg(&retype),
        (500, "update HA rules failed: unexpected property 'type'\n")
    );
}

#[tokio::test]
async fn rule_order_is_renumbered_one_to_n_on_every_read() {
    let s = pve9().await;
    for (id, res) in [("o1", "ct:100"), ("o2", "ct:113"), ("o3", "ct:116")] {
        s.call(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", id),
                ("type", "resource-affinity"),
                ("affinity", "positive"),
                ("resources", &format!("{res},ct:122")),
            ],
        )
        .await;
    }
    let orders = |v: &Value| -> Vec<i64> {
        let mut o: Vec<i64> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["order"].as_i64())
            .collect();
        o.sort_unstable();
        o
    };
    let all = s.get("/cluster/ha/rules").await.ok();
    let n = all.as_array().map_or(0, Vec::len) as i64;
    assert!(n >= 2, "{all}");
    assert_eq!(orders(&all), (1..=n).collect::<Vec<_>>(), "{all}");
    let first = all[0]["rule"].as_str().unwrap_or_default().to_string();
    s.call("DELETE", &format!("/cluster/ha/rules/{first}"), &[])
        .await
        .ok();
    let rest = s.get("/cluster/ha/rules").await.ok();
    assert_eq!(orders(&rest), (1..n).collect::<Vec<_>>(), "{rest}");
    let one = rest[0]["rule"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        s.get(&format!("/cluster/ha/rules/{one}")).await.ok()["order"],
        1
    );
}

#[tokio::test]
async fn migrate_to_an_unknown_node_is_queued_and_ignored_services_are_refused() {
    let s = pve9().await;
    let a = s
        .call(
            "POST",
            "/cluster/ha/resources/ct:100/migrate",
            &[("node", "nosuchnode")],
        )
        .await
        .ok();
    assert_eq!(a["requested-node"], "nosuchnode");
    s.advance(60).await;
    assert_eq!(s.guest_node(100).await, "proxmox2", "the CRM drops it");
    s.call(
        "PUT",
        "/cluster/ha/resources/ct:113",
        &[("state", "ignored")],
    )
    .await
    .ok();
    let ignored = s
        .call(
            "POST",
            "/cluster/ha/resources/ct:113/relocate",
            &[("node", "proxmox")],
        )
        .await;
    assert_eq!(
        msg(&ignored),
        (500, "resource 'ct:113' is not HA managed\n")
    );
}

#[tokio::test]
async fn a_vm_prefix_for_a_container_is_accepted_before_pve_9_1() {
    let s8 = pve8().await;
    s8.call("POST", "/cluster/ha/resources", &[("sid", "vm:110")])
        .await
        .ok();
    let s90 = pve9().await;
    s90.call("POST", "/cluster/ha/resources", &[("sid", "vm:110")])
        .await
        .ok();
    let s91 =
        start_json(&PVE9.replace("\"pve_version\": \"9.0.10\"", "\"pve_version\": \"9.1.2\""))
            .await;
    let refused = s91
        .call("POST", "/cluster/ha/resources", &[("sid", "vm:110")])
        .await;
    assert_eq!(
        msg(&refused),
        (500, "resource 'vm:110' - guest with ID 110 is not a VM\n")
    );
}

#[tokio::test]
async fn guest_lists_status_and_nextid_are_served() {
    let s = pve9().await;
    let lxc = s.get("/nodes/proxmox/lxc").await.ok();
    let mut ids: Vec<i64> = lxc
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["vmid"].as_i64())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [110, 121, 132, 134, 135]);
    assert!(lxc
        .as_array()
        .into_iter()
        .flatten()
        .all(|g| g["type"] == "lxc" && g["status"] == "running"));
    assert_eq!(
        s.get("/nodes/proxmox/qemu").await.ok(),
        serde_json::json!([])
    );
    assert_eq!(s.get("/nodes/nosuch/lxc").await.status, 500);

    let managed = s.get("/nodes/proxmox2/lxc/100/status/current").await.ok();
    assert_eq!(
        (managed["vmid"].as_i64(), managed["ha"]["managed"].as_i64()),
        (Some(100), Some(1))
    );
    assert_eq!(managed["ha"]["state"], "started");
    let plain = s.get("/nodes/proxmox/lxc/110/status/current").await.ok();
    assert_eq!(plain["ha"]["managed"], 0);
    let elsewhere = s.get("/nodes/proxmox/lxc/100/status/current").await;
    assert_eq!(
        msg(&elsewhere),
        (
            500,
            "Configuration file 'nodes/proxmox/lxc/100.conf' does not exist\n"
        )
    );

    assert_eq!(s.get("/cluster/nextid").await.ok(), 101);
    assert_eq!(s.get("/cluster/nextid?vmid=105").await.ok(), "105");
    let taken = s.get("/cluster/nextid?vmid=100").await;
    assert_eq!(
        (taken.status, taken.error("vmid")),
        (400, "VM 100 already exists".to_string())
    );
}

#[tokio::test]
async fn a_huge_advance_is_refused_instead_of_running_for_hours() {
    let s = pve8().await;
    let huge = s
        .http
        .post(format!("{}/_sim/advance", s.base))
        .json(&serde_json::json!({"seconds": 1e15}))
        .send()
        .await
        .expect("control");
    assert_eq!(huge.status().as_u16(), 400);
    // The largest allowed value still runs (8640 rounds), so the bound is not below what tests need.
    let now = s
        .control("POST", "/advance", serde_json::json!({"seconds": 86_400}))
        .await;
    assert!(now["now"].as_i64().is_some(), "{now}");
}
