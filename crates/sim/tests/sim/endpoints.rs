//! Each endpoint's success path and the real server's error answers.

use crate::harness::{pve8, pve9};
use serde_json::Value;

#[tokio::test]
async fn ha_resources_list_returns_the_seven_seed_services() {
    let s = pve8().await;
    let a = s.get("/cluster/ha/resources").await;
    assert_eq!(a.server.as_deref(), Some("pve-api-daemon/3.0"));
    let list = a.ok();
    let sids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["sid"].as_str())
        .collect();
    assert_eq!(
        sids,
        ["ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250"]
    );
    assert!(list[0]["digest"].as_str().is_some_and(|d| d.len() == 40));
    assert!(
        list[0].get("max_restart").is_none(),
        "unset keys are absent"
    );
}

#[tokio::test]
async fn resource_crud_and_its_errors() {
    let s = pve8().await;
    s.call(
        "POST",
        "/cluster/ha/resources",
        &[("sid", "110"), ("max_relocate", "2")],
    )
    .await
    .ok();
    let r = s.get("/cluster/ha/resources/ct:110").await.ok();
    assert_eq!(
        (r["sid"].as_str(), r["max_relocate"].as_i64()),
        (Some("ct:110"), Some(2))
    );
    let dup = s
        .call("POST", "/cluster/ha/resources", &[("sid", "ct:110")])
        .await;
    assert_eq!(
        (dup.status, dup.body["message"].as_str()),
        (
            500,
            Some("create resource failed: resource ID 'ct:110' already defined\n")
        )
    );
    assert_eq!(
        s.status_line("GET", "/cluster/ha/resources/ct:999", true)
            .await,
        "HTTP/1.1 500 no such resource 'ct:999'"
    );
    let bare = s.get("/cluster/ha/resources/999").await;
    assert_eq!(
        bare.body["message"],
        "unable do detect SID from VMID - VM/CT 999 does not exist\n"
    );
    let wrong = s
        .call("POST", "/cluster/ha/resources", &[("sid", "vm:110")])
        .await;
    // PVE 8.4 (pve-ha-manager 4.0) does not check the guest type behind the prefix.
    assert_eq!(wrong.status, 200, "{}", wrong.raw);
    let upd = s
        .call(
            "PUT",
            "/cluster/ha/resources/ct:132",
            &[("state", "stopped")],
        )
        .await;
    assert_eq!(
        upd.body["message"],
        "update resources config failed: no such resource 'ct:132'\n"
    );
    let digest = s
        .call(
            "PUT",
            "/cluster/ha/resources/ct:110",
            &[("digest", "0000"), ("comment", "x")],
        )
        .await;
    assert!(digest.body["message"]
        .as_str()
        .unwrap()
        .contains("detected modified configuration"));
    s.call(
        "PUT",
        "/cluster/ha/resources/ct:110",
        &[("delete", "max_relocate"), ("comment", "edge")],
    )
    .await
    .ok();
    let r = s.get("/cluster/ha/resources/ct:110").await.ok();
    assert!(r.get("max_relocate").is_none());
    assert_eq!(r["comment"], "edge");
    s.call("DELETE", "/cluster/ha/resources/ct:110", &[])
        .await
        .ok();
    let gone = s.call("DELETE", "/cluster/ha/resources/ct:110", &[]).await;
    assert_eq!(
        gone.body["message"],
        "cannot delete service 'ct:110', not HA managed!\n"
    );
}

#[tokio::test]
async fn parameter_errors_use_the_400_envelope() {
    let s = pve8().await;
    let a = s
        .call(
            "POST",
            "/cluster/ha/resources",
            &[
                ("sid", "ct:110"),
                ("state", "running"),
                ("max_restart", "-1"),
                ("bogus", "1"),
            ],
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["message"], "Parameter verification failed.\n");
    assert!(a.body["data"].is_null());
    assert_eq!(
        a.error("state"),
        "value 'running' does not have a value in the enumeration 'started, stopped, enabled, disabled, ignored'"
    );
    assert_eq!(
        a.error("max_restart"),
        "value must have a minimum value of 0"
    );
    assert!(a
        .error("bogus")
        .starts_with("property is not defined in schema"));
    let b = s
        .call(
            "POST",
            "/cluster/ha/groups",
            &[
                ("group", "web"),
                ("nodes", "proxmox"),
                ("restricted", "true"),
            ],
        )
        .await;
    assert_eq!(
        b.error("restricted"),
        "type check ('boolean') failed - got 'true'"
    );
    let c = s
        .call(
            "POST",
            "/cluster/ha/groups",
            &[("group", "a"), ("nodes", "proxmox")],
        )
        .await;
    assert_eq!(
        c.error("group"),
        "invalid format - invalid configuration ID 'a'\n"
    );
    let d = s.get("/cluster/resources?type=qemu").await;
    assert_eq!(d.status, 400);
    assert_eq!(
        s.status_line("GET", "/cluster/resources?type=qemu", true)
            .await,
        "HTTP/1.1 400 Parameter verification failed."
    );
}

#[tokio::test]
async fn json_bodies_accept_booleans_and_numbers() {
    let s = pve8().await;
    let body = serde_json::json!({"group": "web", "nodes": ["proxmox2:2", "proxmox3"], "restricted": true});
    let a = s
        .raw(
            s.http
                .post(s.url("/cluster/ha/groups"))
                .header("Authorization", crate::harness::TOKEN)
                .json(&body),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let g = s.get("/cluster/ha/groups/web").await.ok();
    assert_eq!(g["restricted"], 1);
    let mut nodes: Vec<&str> = g["nodes"].as_str().unwrap().split(',').collect();
    nodes.sort();
    assert_eq!(nodes, ["proxmox2:2", "proxmox3"]);
}

#[tokio::test]
async fn groups_crud_on_pve8() {
    let s = pve8().await;
    assert_eq!(s.get("/cluster/ha/groups").await.ok(), Value::Array(vec![]));
    s.call(
        "POST",
        "/cluster/ha/groups",
        &[("group", "web"), ("nodes", "proxmox2:2,proxmox3")],
    )
    .await
    .ok();
    let dup = s
        .call(
            "POST",
            "/cluster/ha/groups",
            &[("group", "web"), ("nodes", "proxmox")],
        )
        .await;
    assert_eq!(
        dup.body["message"],
        "create ha group failed: ha group ID 'web' already defined\n"
    );
    s.call("PUT", "/cluster/ha/resources/ct:100", &[("group", "web")])
        .await
        .ok();
    let used = s.call("DELETE", "/cluster/ha/groups/web", &[]).await;
    assert_eq!(
        used.body["message"],
        "delete ha group failed: ha group is used by service 'ct:100'\n"
    );
    let del_nodes = s
        .call("PUT", "/cluster/ha/groups/web", &[("delete", "nodes")])
        .await;
    assert_eq!(del_nodes.status, 500);
    let missing = s
        .call("PUT", "/cluster/ha/groups/nope", &[("comment", "x")])
        .await;
    assert_eq!(
        missing.body["message"],
        "update ha group failed: no such ha group 'nope'\n"
    );
    assert_eq!(
        s.get("/cluster/ha/groups/nope").await.body["message"],
        "no such ha group 'nope'\n"
    );
    assert_eq!(
        s.call("DELETE", "/cluster/ha/groups/nope", &[])
            .await
            .status,
        200
    );
    let bad_group = s
        .call("PUT", "/cluster/ha/resources/ct:113", &[("group", "nope")])
        .await;
    assert_eq!(
        bad_group.body["message"], "HA group 'nope' does not exist\n",
        "checked before the lock, so without the lock's prefix"
    );
    assert_eq!(s.get("/cluster/ha/rules").await.status, 501);
}

#[tokio::test]
async fn groups_fail_on_pve9_and_rules_work() {
    let s = pve9().await;
    let a = s.get("/cluster/ha/groups").await;
    assert_eq!(
        a.body["message"],
        "cannot index groups: ha groups have been migrated to rules\n"
    );
    let b = s
        .call(
            "POST",
            "/cluster/ha/groups",
            &[("group", "web"), ("nodes", "proxmox")],
        )
        .await;
    assert_eq!(
        b.body["message"],
        "cannot create group: ha groups have been migrated to rules\n"
    );
    let c = s
        .call("PUT", "/cluster/ha/resources/ct:100", &[("group", "web")])
        .await;
    assert_eq!(
        c.body["message"],
        "invalid parameter 'group': ha groups have been migrated to rules\n"
    );

    s.call(
        "POST",
        "/cluster/ha/rules",
        &[
            ("rule", "db"),
            ("type", "node-affinity"),
            ("resources", "ct:113,ct:100"),
            ("nodes", "proxmox3:2,proxmox2"),
        ],
    )
    .await
    .ok();
    let r = s.get("/cluster/ha/rules/db").await.ok();
    assert_eq!(r["resources"], "ct:100,ct:113");
    assert_eq!(r["nodes"], "proxmox2,proxmox3:2");
    assert_eq!(r["order"], 1);
    assert!(r.get("strict").is_none());
    let unmanaged = s
        .call(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", "xx"),
                ("type", "node-affinity"),
                ("resources", "ct:110"),
                ("nodes", "proxmox"),
            ],
        )
        .await;
    assert_eq!(
        (unmanaged.status, unmanaged.body["message"].as_str()),
        (
            500,
            Some("create ha rule failed: cannot use unmanaged resource(s) ct:110.\n")
        ),
        "{}",
        unmanaged.raw
    );
    let unknown = s
        .call(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", "xx"),
                ("type", "node-affinity"),
                ("resources", "ct:116"),
                ("nodes", "pve9"),
            ],
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["message"].as_str()),
        (
            500,
            Some("create ha rule failed: cannot use non-existant node(s) pve9.\n")
        )
    );
    let twice = s
        .call(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", "xx"),
                ("type", "node-affinity"),
                ("resources", "ct:100"),
                ("nodes", "proxmox"),
            ],
        )
        .await;
    assert_eq!(
        (twice.status, twice.body["message"].as_str()),
        (
            500,
            Some(
                "create ha rule failed: 400 Rule 'xx' is invalid.\n\
                 resources: resource 'ct:100' is already used in another node affinity rule\n"
            )
        )
    );
    assert!(twice.body.get("errors").is_none(), "{}", twice.raw);
    let too_many = s
        .call(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", "neg"),
                ("type", "resource-affinity"),
                ("affinity", "negative"),
                ("resources", "ct:100,ct:113,ct:116,ct:122"),
            ],
        )
        .await;
    assert!(
        too_many.body["message"].as_str().is_some_and(
            // Rule `db` gives ct:100 two priority classes, so the global check adds its reason after the
            // rule's own.
            |m| m.ends_with(
                "resources: rule defines more resources than available nodes, \
                 resources are in node affinity rules with multiple priorities\n"
            )
        ),
        "{}",
        too_many.raw
    );
    let bare = s
        .call(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", "yy"),
                ("type", "node-affinity"),
                ("resources", "100"),
                ("nodes", "proxmox"),
            ],
        )
        .await;
    assert_eq!(
        bare.error("resources"),
        "invalid format - value does not look like a valid ha resource id\n"
    );
    let no_type = s
        .call("PUT", "/cluster/ha/rules/db", &[("comment", "x")])
        .await;
    assert_eq!(
        no_type.error("type"),
        "property is missing and it is not optional"
    );
    s.call(
        "PUT",
        "/cluster/ha/rules/db",
        &[
            ("type", "node-affinity"),
            ("disable", "0"),
            ("comment", "c"),
        ],
    )
    .await
    .ok();
    assert!(
        s.get("/cluster/ha/rules/db")
            .await
            .ok()
            .get("disable")
            .is_none(),
        "a falsy disable is dropped"
    );
    let missing = s
        .call(
            "PUT",
            "/cluster/ha/rules/nope",
            &[("type", "node-affinity"), ("comment", "x")],
        )
        .await;
    assert_eq!(
        missing.body["message"],
        "update HA rules failed: HA rule 'nope' does not exist\n"
    );
    assert_eq!(
        s.call("DELETE", "/cluster/ha/rules/nope", &[]).await.status,
        200
    );
    // purge (default 1) removes the sid from rules.
    s.call("DELETE", "/cluster/ha/resources/ct:100", &[])
        .await
        .ok();
    assert_eq!(
        s.get("/cluster/ha/rules/db").await.ok()["resources"],
        "ct:113"
    );
}

#[tokio::test]
async fn migrate_answers_null_on_pve8_and_an_object_on_pve9() {
    let s8 = pve8().await;
    assert_eq!(
        s8.call(
            "POST",
            "/cluster/ha/resources/ct:100/migrate",
            &[("node", "proxmox")]
        )
        .await
        .ok(),
        Value::Null
    );
    let bad = s8
        .call(
            "POST",
            "/cluster/ha/resources/ct:110/migrate",
            &[("node", "proxmox2")],
        )
        .await;
    assert_eq!(bad.body["message"], "resource 'ct:110' is not HA managed\n");
    let s9 = pve9().await;
    let r = s9
        .call(
            "POST",
            "/cluster/ha/resources/ct:100/relocate",
            &[("node", "proxmox")],
        )
        .await
        .ok();
    assert_eq!(
        r,
        serde_json::json!({"sid": "ct:100", "requested-node": "proxmox"})
    );
}

#[tokio::test]
async fn guest_config_startup_onboot_delete_and_digest() {
    let s = pve8().await;
    let cfg = s.get("/nodes/proxmox/lxc/110/config").await.ok();
    assert_eq!(
        (cfg["onboot"].as_i64(), cfg["startup"].as_str()),
        (Some(1), Some("order=3,up=30"))
    );
    let digest = cfg["digest"].as_str().unwrap().to_string();
    s.call(
        "PUT",
        "/nodes/proxmox/lxc/110/config",
        &[("startup", "order=1,up=5"), ("digest", &digest)],
    )
    .await
    .ok();
    let stale = s
        .call(
            "PUT",
            "/nodes/proxmox/lxc/110/config",
            &[("onboot", "0"), ("digest", &digest)],
        )
        .await;
    assert_eq!(
        stale.body["message"],
        "detected modified configuration - file changed by other user? Try again.\n"
    );
    s.call(
        "PUT",
        "/nodes/proxmox/lxc/110/config",
        &[("delete", "startup,onboot")],
    )
    .await
    .ok();
    let cfg = s.get("/nodes/proxmox/lxc/110/config").await.ok();
    assert!(cfg.get("startup").is_none() && cfg.get("onboot").is_none());
    let bad = s
        .call(
            "PUT",
            "/nodes/proxmox/lxc/110/config",
            &[("startup", "first=1")],
        )
        .await;
    assert_eq!(
        bad.error("startup"),
        "invalid format - unable to parse startup options\n"
    );
    let empty = s.call("PUT", "/nodes/proxmox/lxc/110/config", &[]).await;
    assert_eq!(empty.body["message"], "no options specified\n");
    let both = s
        .call(
            "PUT",
            "/nodes/proxmox/lxc/110/config",
            &[("onboot", "1"), ("delete", "onboot")],
        )
        .await;
    assert_eq!(both.status, 400);
    let unknown = s
        .call(
            "PUT",
            "/nodes/proxmox/lxc/110/config",
            &[("delete", "bogus")],
        )
        .await;
    assert_eq!(unknown.error("delete"), "unknown option 'bogus'");
    let wrong_node = s.get("/nodes/proxmox2/lxc/110/config").await;
    assert_eq!(
        wrong_node.body["message"],
        "Configuration file 'nodes/proxmox2/lxc/110.conf' does not exist\n"
    );
    let wrong_type = s.get("/nodes/proxmox/qemu/110/config").await;
    assert_eq!(
        wrong_type.body["message"],
        "Configuration file 'nodes/proxmox/qemu-server/110.conf' does not exist\n"
    );
    let bad_vmid = s.get("/nodes/proxmox/lxc/abc/config").await;
    assert_eq!(
        bad_vmid.error("vmid"),
        "type check ('integer') failed - got 'abc'"
    );
}

#[tokio::test]
async fn inventory_and_logs() {
    let s = pve8().await;
    let version = s.get("/version").await.ok();
    assert_eq!(version["version"], "8.4.1");
    let status = s.get("/cluster/status").await.ok();
    assert_eq!(status[0]["type"], "cluster");
    assert_eq!(
        status
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "node" && e["online"] == 1)
            .count(),
        3
    );
    let vms = s.get("/cluster/resources?type=vm").await.ok();
    assert_eq!(vms.as_array().unwrap().len(), 13);
    let t110 = vms
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["vmid"] == 110)
        .unwrap();
    assert!(t110.get("hastate").is_none());
    let t100 = vms
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["vmid"] == 100)
        .unwrap();
    assert_eq!(t100["hastate"], "started");
    assert_eq!(s.get("/nodes").await.ok().as_array().unwrap().len(), 3);
    assert_eq!(
        s.get("/cluster/backup").await.ok()[0]["vmid"],
        "100,113,131,1250"
    );
    assert_eq!(s.get("/cluster/options").await.ok()["crs"]["ha"], "basic");
    assert!(s
        .get("/cluster/replication")
        .await
        .ok()
        .as_array()
        .unwrap()
        .is_empty());
    let journal = s.get("/nodes/proxmox/journal").await.ok();
    let lines = journal.as_array().unwrap();
    assert!(lines[0].as_str().unwrap().starts_with("s="));
    assert!(lines.last().unwrap().as_str().unwrap().starts_with("s="));
    assert!(lines
        .iter()
        .any(|l| l.as_str().unwrap().contains("HANDLING IBECC MEMORY ERROR")));
    let last2 = s.get("/nodes/proxmox/journal?lastentries=2").await.ok();
    assert_eq!(last2.as_array().unwrap().len(), 4);
    let syslog = s
        .call("GET", "/nodes/proxmox/syslog", &[("limit", "3")])
        .await;
    assert!(syslog.body["total"].as_u64().is_some_and(|t| t > 3));
    assert_eq!(syslog.data()[0]["n"], 1);
    assert_eq!(syslog.data().as_array().unwrap().len(), 3);
    assert_eq!(
        s.status_line("GET", "/nope", true).await,
        "HTTP/1.1 501 Method 'GET /nope' not implemented"
    );
    let no_format = s
        .raw(
            s.http
                .get(format!("{}/cluster/resources", s.base))
                .header("Authorization", crate::harness::TOKEN),
        )
        .await;
    assert_eq!(no_format.status, 501);
    let ha_status = s.get("/cluster/ha/status/manager_status").await.ok();
    assert_eq!(
        ha_status["manager_status"]["service_status"]["ct:100"]["state"],
        "started"
    );
}
