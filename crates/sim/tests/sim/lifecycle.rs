//! Auth, snapshot loading and round trip, concurrency under the domain-ha lock, faults, counters and TLS.

use std::sync::Arc;

use crate::harness::{pve8, start_with, PVE8, TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn auth_answers_the_real_401s() {
    let s = pve8().await;
    assert_eq!(
        s.status_line("GET", "/version", false).await,
        "HTTP/1.1 401 No ticket"
    );
    let bad = s
        .raw(
            s.http
                .get(s.url("/version"))
                .header("Authorization", "PVEAPIToken=root@pam!terraform=wrong"),
        )
        .await;
    assert_eq!((bad.status, bad.raw.as_str()), (401, ""));
    let login = s
        .raw(
            s.http
                .post(s.url("/access/ticket"))
                .form(&[("username", "root@pam"), ("password", "homelab-demo")]),
        )
        .await
        .ok();
    let ticket = login["ticket"].as_str().unwrap();
    let csrf = login["CSRFPreventionToken"].as_str().unwrap();
    assert!(ticket.starts_with("PVE:root@pam:"));
    let cookie = format!("PVEAuthCookie={ticket}");
    assert_eq!(
        s.raw(s.http.get(s.url("/version")).header("Cookie", &cookie))
            .await
            .status,
        200
    );
    let no_csrf = s
        .raw(
            s.http
                .post(s.url("/cluster/ha/resources"))
                .header("Cookie", &cookie)
                .form(&[("sid", "ct:110")]),
        )
        .await;
    assert_eq!(no_csrf.status, 401);
    let with_csrf = s
        .raw(
            s.http
                .post(s.url("/cluster/ha/resources"))
                .header("Cookie", &cookie)
                .header("CSRFPreventionToken", csrf)
                .form(&[("sid", "ct:110")]),
        )
        .await;
    assert_eq!(with_csrf.status, 200, "{}", with_csrf.raw);
    let wrong = s
        .raw(
            s.http
                .post(s.url("/access/ticket"))
                .form(&[("username", "root@pam"), ("password", "nope")]),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["message"].as_str()),
        (401, Some("authentication failure\n"))
    );
}

#[tokio::test]
async fn snapshot_round_trip_gives_back_the_input() {
    let s = pve8().await;
    let input: Value = serde_json::from_str(PVE8).unwrap();
    for (path, expected) in input["api"].as_object().unwrap() {
        let got = s.get(path).await.ok();
        assert_subset(expected, &got, path);
    }
    let dumped = s.running.snapshot();
    let reloaded = pveha_sim::load_snapshot(&dumped.to_string()).expect("a dump loads again");
    assert_eq!(reloaded.pve_version(), "8.4.1");
}

/// Every key of `expected` is in `got` with the same value (derived keys such as `digest` may be added).
fn assert_subset(expected: &Value, got: &Value, at: &str) {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, v) in e {
                let gv = g.get(k).unwrap_or_else(|| panic!("{at}: key {k} missing"));
                assert_subset(v, gv, &format!("{at}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(g)) => {
            assert_eq!(e.len(), g.len(), "{at}: length");
            for item in e {
                let key = item
                    .get("id")
                    .or_else(|| item.get("sid"))
                    .or_else(|| item.get("storage"));
                let found = g.iter().find(|x| {
                    key.is_none()
                        || x.get("id")
                            .or_else(|| x.get("sid"))
                            .or_else(|| x.get("storage"))
                            == key
                });
                match (key, found) {
                    (Some(_), Some(f)) => assert_subset(item, f, at),
                    (None, _) => assert!(g.contains(item), "{at}: {item} missing"),
                    (Some(k), None) => panic!("{at}: entry {k} missing"),
                }
            }
        }
        _ => assert_eq!(expected, got, "{at}"),
    }
}

#[tokio::test]
async fn hundred_concurrent_ha_writes_are_all_applied() {
    let s = Arc::new(pve8().await);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s1 = s.clone();
        tasks.push(tokio::spawn(async move {
            let s = s1;
            let sid = ["ct:100", "ct:113", "ct:116", "ct:122", "ct:130"][i % 5];
            let path = format!("/cluster/ha/resources/{sid}");
            s.call("PUT", &path, &[("comment", &format!("w{i}"))])
                .await
                .status
        }));
        let s2 = s.clone();
        if i < 10 {
            tasks.push(tokio::spawn(async move {
                s2.call(
                    "POST",
                    "/cluster/ha/groups",
                    &[("group", &format!("g{i}")), ("nodes", "proxmox")],
                )
                .await
                .status
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let groups = s.get("/cluster/ha/groups").await.ok();
    assert_eq!(
        groups.as_array().unwrap().len(),
        10,
        "no group creation lost"
    );
    let counters = s.control("GET", "/requests", json!(null)).await;
    assert_eq!(counters["by_route"]["PUT /cluster/ha/resources/ct:100"], 20);
}

#[tokio::test]
async fn faults_lock_timeout_latency_and_drop() {
    let s = pve8().await;
    s.control("POST", "/faults", json!({"method": "POST", "path": "^/cluster/ha/resources$", "kind": "lock-timeout", "count": 1})).await;
    let a = s
        .call("POST", "/cluster/ha/resources", &[("sid", "ct:110")])
        .await;
    assert_eq!(
        a.body["message"],
        "create resource failed: cfs-lock 'domain-ha' error: got lock request timeout\n"
    );
    assert_eq!(
        s.get("/cluster/ha/resources/ct:110").await.status,
        500,
        "nothing applied"
    );
    assert_eq!(
        s.call("POST", "/cluster/ha/resources", &[("sid", "ct:110")])
            .await
            .status,
        200
    );
    let f = s
        .control(
            "POST",
            "/faults",
            json!({"path": "^/version$", "kind": "drop"}),
        )
        .await;
    let dropped = s
        .http
        .get(s.url("/version"))
        .header("Authorization", TOKEN)
        .send()
        .await;
    assert!(dropped.is_err());
    s.control(
        "DELETE",
        &format!("/faults/{}", f["id"].as_str().unwrap()),
        json!(null),
    )
    .await;
    assert_eq!(s.get("/version").await.status, 200);
    s.control(
        "POST",
        "/faults",
        json!({"path": "^/nodes/proxmox2/", "kind": "unreachable"}),
    )
    .await;
    let u = s.get("/nodes/proxmox2/journal").await;
    assert_eq!((u.status, u.raw.as_str()), (595, ""));
}

#[tokio::test]
async fn ha_changes_show_on_the_next_round() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "ct:110"), ("state", "started")],
    )
    .await
    .ok();
    assert_eq!(s.service("ct:110").await.1, "queued");
    s.advance(10).await;
    assert_eq!(
        s.service("ct:110").await,
        ("proxmox".to_string(), "started".to_string())
    );
    s.call(
        "POST",
        "/cluster/ha/resources/ct:110/migrate",
        &[("node", "proxmox3")],
    )
    .await
    .ok();
    s.advance(10).await;
    assert_eq!(s.service("ct:110").await.1, "migrate");
    s.advance(10).await;
    assert_eq!(s.guest_node(110).await, "proxmox3");
    assert!(s.get("/nodes/proxmox3/lxc/110/config").await.status == 200);
}

#[tokio::test]
async fn tls_serves_with_the_printed_fingerprint() {
    let s = start_with(PVE8, pveha_sim::TlsMode::SelfSigned).await;
    assert!(s.base.starts_with("https://127.0.0.1:"));
    let fp = s.running.fingerprint().unwrap();
    assert_eq!(fp.len(), 95);
    assert_eq!(s.get("/version").await.status, 200);
}

#[test]
fn inconsistent_snapshots_name_the_path() {
    let mut doc: Value = serde_json::from_str(PVE8).unwrap();
    doc["api"]["/cluster/ha/resources"][0]["sid"] = json!("ct:999");
    let e = pveha_sim::load_snapshot(&doc.to_string()).unwrap_err();
    assert_eq!(e.path, "api./cluster/ha/resources[0].sid");

    let mut doc: Value = serde_json::from_str(PVE8).unwrap();
    doc["api"]["/cluster/resources"][0]["node"] = json!("ghost");
    let e = pveha_sim::load_snapshot(&doc.to_string()).unwrap_err();
    assert_eq!(e.path, "api./cluster/resources[0].node");
    assert!(e.problem.contains("unknown node 'ghost'"));

    let mut doc: Value = serde_json::from_str(PVE8).unwrap();
    doc["api"]["/cluster/ha/groups"] = json!([{"group": "g", "nodes": "proxmox,ghost"}]);
    let e = pveha_sim::load_snapshot(&doc.to_string()).unwrap_err();
    assert!(e.problem.contains("unknown node 'ghost'"), "{e}");

    assert_eq!(pveha_sim::load_snapshot("{").unwrap_err().path, "$");
    assert_eq!(
        pveha_sim::load_snapshot(r#"{"format":"x"}"#)
            .unwrap_err()
            .path,
        "format"
    );
}

#[test]
fn control_api_refuses_non_loopback_peers() {
    assert!(pveha_sim::is_loopback_peer(&"127.0.0.1:9".parse().unwrap()));
    assert!(!pveha_sim::is_loopback_peer(
        &"192.168.1.137:9".parse().unwrap()
    ));
}
