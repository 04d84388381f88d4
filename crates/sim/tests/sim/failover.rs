//! Node failure: fencing after the delay, recovery placement (sid order, least loaded, ties by node name),
//! restricted groups with no surviving member, and failback when the node returns.

use crate::harness::pve8;

const FENCE_AND_RECOVER: u64 = 150;

#[tokio::test]
async fn recovery_places_in_sid_order_and_breaks_ties_by_node_name() {
    let s = pve8().await;
    s.power("proxmox3", false).await;
    s.advance(30).await;
    assert_eq!(
        s.service("ct:113").await.0,
        "proxmox3",
        "nothing moves before the fence delay"
    );
    s.advance(FENCE_AND_RECOVER).await;
    // proxmox had 0 HA services, proxmox2 had 3: 113, 122, 1250 go to proxmox (1, 2, 3); 130 then ties 3:3
    // and the tie goes to the smaller node name.
    for sid in ["ct:113", "ct:122", "ct:1250", "ct:130"] {
        assert_eq!(
            s.service(sid).await,
            ("proxmox".to_string(), "started".to_string()),
            "{sid}"
        );
    }
    assert_eq!(s.guest_node(113).await, "proxmox");
    let cfg = s.get("/nodes/proxmox3/lxc/113/config").await;
    assert_eq!(cfg.status, 595, "the dead node does not answer");
}

#[tokio::test]
async fn restricted_group_without_survivor_stays_in_recovery_and_non_ha_stay_down() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/groups",
        &[
            ("group", "only3"),
            ("nodes", "proxmox3"),
            ("restricted", "1"),
        ],
    )
    .await
    .ok();
    s.call("PUT", "/cluster/ha/resources/ct:113", &[("group", "only3")])
        .await
        .ok();
    s.call("POST", "/cluster/ha/resources", &[("sid", "ct:132")])
        .await
        .ok();
    s.advance(10).await;
    s.power("proxmox3", false).await;
    s.advance(FENCE_AND_RECOVER).await;
    assert_eq!(
        s.service("ct:113").await,
        ("proxmox3".to_string(), "recovery".to_string())
    );
    assert_eq!(s.service("ct:122").await.1, "started");
    s.power("proxmox", false).await;
    s.advance(FENCE_AND_RECOVER).await;
    let res = s.get("/cluster/resources?type=vm").await.ok();
    let t110 = res
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["vmid"] == 110)
        .unwrap();
    assert_eq!(t110["node"], "proxmox", "non-HA guests are not recovered");
    let hastate = res
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["vmid"] == 113)
        .unwrap()["hastate"]
        .clone();
    assert_eq!(hastate, "recovery");
}

#[tokio::test]
async fn failback_when_the_preferred_node_returns() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/groups",
        &[("group", "pref3"), ("nodes", "proxmox3:2")],
    )
    .await
    .ok();
    s.call("PUT", "/cluster/ha/resources/ct:113", &[("group", "pref3")])
        .await
        .ok();
    s.power("proxmox3", false).await;
    s.advance(FENCE_AND_RECOVER).await;
    let (node, state) = s.service("ct:113").await;
    assert_eq!((node.as_str(), state.as_str()), ("proxmox", "started"));
    s.power("proxmox3", true).await;
    s.advance(40).await;
    assert_eq!(
        s.service("ct:113").await,
        ("proxmox3".to_string(), "started".to_string())
    );
    assert_eq!(s.guest_node(113).await, "proxmox3");
}

#[tokio::test]
async fn nofailback_keeps_the_service_where_it_is() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/groups",
        &[
            ("group", "pref3"),
            ("nodes", "proxmox3:2"),
            ("nofailback", "1"),
        ],
    )
    .await
    .ok();
    s.call("PUT", "/cluster/ha/resources/ct:113", &[("group", "pref3")])
        .await
        .ok();
    s.power("proxmox3", false).await;
    s.advance(FENCE_AND_RECOVER).await;
    s.power("proxmox3", true).await;
    s.advance(60).await;
    assert_eq!(s.service("ct:113").await.0, "proxmox");
}

#[tokio::test]
async fn negative_partners_moving_in_one_round_land_apart() {
    // Regression: both Traefik instances leave `proxmox` in the same round; the second must see the
    // first's migration target, or the basic scheduler sends both to the least-loaded node.
    let s = crate::harness::pve9().await;
    for sid in ["ct:110", "ct:121"] {
        s.call("POST", "/cluster/ha/resources", &[("sid", sid)])
            .await
            .ok();
    }
    s.advance(10).await;
    s.call(
        "POST",
        "/cluster/ha/rules",
        &[
            ("rule", "apart"),
            ("type", "resource-affinity"),
            ("resources", "ct:110,ct:121"),
            ("affinity", "negative"),
        ],
    )
    .await
    .ok();
    s.call(
        "POST",
        "/cluster/ha/rules",
        &[
            ("rule", "proxy-nodes"),
            ("type", "node-affinity"),
            ("resources", "ct:110,ct:121"),
            ("nodes", "proxmox2,proxmox3"),
            ("strict", "1"),
        ],
    )
    .await
    .ok();
    s.advance(60).await;
    let a = s.service("ct:110").await.0;
    let b = s.service("ct:121").await.0;
    assert_ne!(a, b, "negative partners must not share a node");
    assert!(a != "proxmox" && b != "proxmox", "{a} {b}");
}
