//! `pveha_guest_startup` against the simulator: lifecycle (create, read back equal to the guest's config,
//! update, import, drift, replacement, destroy resetting the guest), the warning for HA-managed guests,
//! and a guest found again after HA moved it to another node.

use anyhow::Result;
use pveha_acceptance::Sim;
use serde_json::{json, Value};

use crate::provider_config::{each_terraform, hcl, sim8, workdir};

/// The guest's config as the simulator shows it, from the node the inventory names.
async fn guest_config(sim: &Sim, vmid: u64) -> Result<Value> {
    let inventory = sim
        .api("GET", "/cluster/resources", &[("type", "vm")])
        .await?;
    let guest = inventory
        .data()?
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["vmid"] == json!(vmid))
        .cloned()
        .unwrap_or(Value::Null);
    let path = format!(
        "/nodes/{}/{}/{vmid}/config",
        guest["node"].as_str().unwrap_or(""),
        guest["type"].as_str().unwrap_or("")
    );
    Ok(sim.api("GET", &path, &[]).await?.data()?.clone())
}

fn dhcp(body: &str) -> String {
    hcl(&format!(
        "resource \"pveha_guest_startup\" \"dhcp\" {{\n{body}}}\n"
    ))
}

#[tokio::test]
async fn startup_create_read_update_import_drift_replace_destroy_resets_the_guest() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        let first = "  vmid   = 133\n  onboot = true\n  order  = 2\n  up     = 15\n";
        w.apply(&dhcp(first))
            .await
            .expect_attr("pveha_guest_startup.dhcp", "node", "proxmox2")
            .expect_attr("pveha_guest_startup.dhcp", "type", "lxc")
            .expect_attr("pveha_guest_startup.dhcp", "order", 2);
        let config = guest_config(&sim, 133).await?;
        assert_eq!(config["onboot"], json!(1), "{config}");
        let startup = config["startup"].as_str().unwrap_or_default();
        let mut parts: Vec<&str> = startup.split(',').collect();
        parts.sort_unstable();
        assert_eq!(parts, ["order=2", "up=15"], "{config}");

        let second = "  vmid   = 133\n  onboot = false\n  order  = 3\n  down   = 60\n";
        w.apply(&dhcp(second)).await.expect_in_place_update();
        let config = guest_config(&sim, 133).await?;
        assert_eq!(config["onboot"].as_i64().unwrap_or(0), 0, "{config}");
        assert_eq!(config["startup"], json!("order=3,down=60"));

        w.import("pveha_guest_startup.dhcp", "133")
            .await
            .expect_no_diff();

        // Drift through the API: only `order` changes back.
        let put = sim
            .api(
                "PUT",
                "/nodes/proxmox2/lxc/133/config",
                &[("startup", "order=9,down=60")],
            )
            .await?;
        assert!(put.is_success(), "{put:?}");
        let plan = w.plan_current().await;
        plan.expect_action("pveha_guest_startup.dhcp", &["update"]);
        let change = plan.change("pveha_guest_startup.dhcp");
        assert_eq!(
            (
                change.before["order"].clone(),
                change.after("order").cloned()
            ),
            (json!(9), Some(json!(3)))
        );
        for same in ["onboot", "up", "down", "vmid"] {
            assert_eq!(
                Some(&change.before[same]),
                change.after(same),
                "{same} must not change"
            );
        }
        w.apply(&dhcp(second)).await.expect_in_place_update();

        // Another guest replaces the resource; the first one is reset on the way.
        let other = "  vmid   = 135\n  onboot = true\n  order  = 6\n";
        w.plan(&dhcp(other))
            .await
            .expect_action("pveha_guest_startup.dhcp", &["delete", "create"]);
        w.apply(&dhcp(other)).await.expect_counts(1, 0, 1);
        let reset = guest_config(&sim, 133).await?;
        assert!(
            reset.get("startup").is_none() && reset.get("onboot").is_none(),
            "not reset: {reset}"
        );

        w.destroy().await;
        let reset = guest_config(&sim, 135).await?;
        assert!(
            reset.get("startup").is_none() && reset.get("onboot").is_none(),
            "destroy did not reset: {reset}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn startup_warns_for_ha_managed_guests_and_follows_a_moved_guest() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        // ct:100 (influxdb, on proxmox2) is HA-managed in the fixture: plan warns but does not fail.
        let config =
            hcl("resource \"pveha_guest_startup\" \"influx\" {\n  vmid  = 100\n  order = 4\n}\n");
        let plan = w.plan(&config).await;
        plan.expect_changes();
        let text = plan.output.combined();
        assert!(
            text.contains("Warning: Guest 100 is HA-managed"),
            "{}",
            plan.output
        );
        w.apply(&config)
            .await
            .expect_attr("pveha_guest_startup.influx", "node", "proxmox2");

        // HA moves the guest: refresh finds it on its new node, and nothing is planned.
        let moved = sim
            .api(
                "POST",
                "/cluster/ha/resources/ct:100/relocate",
                &[("node", "proxmox3")],
            )
            .await?;
        assert!(moved.is_success(), "{moved:?}");
        sim.advance(120).await?;
        w.plan_current().await.expect_no_changes();
        w.apply_refresh_only().await;
        w.state()
            .await
            .expect_attr("pveha_guest_startup.influx", "node", "proxmox3");
        w.destroy().await;
        let reset = guest_config(&sim, 100).await?;
        assert!(
            reset.get("startup").is_none(),
            "destroy did not reset: {reset}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn startup_for_a_missing_guest_fails_plan_at_vmid() -> Result<()> {
    let sim = sim8().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let config =
            hcl("resource \"pveha_guest_startup\" \"x\" {\n  vmid  = 999\n  order = 1\n}\n");
        w.plan(&config)
            .await
            .expect_error(r"No\s+guest\s+with\s+VMID\s+999", Some("vmid"));
        let negative =
            hcl("resource \"pveha_guest_startup\" \"x\" {\n  vmid  = 133\n  order = -1\n}\n");
        w.plan(&negative)
            .await
            .expect_error(r"order\s+must\s+be\s+between\s+0", Some("order"));
    }
    Ok(())
}

#[tokio::test]
async fn a_failed_destroy_names_the_guest_s_boot_settings_once() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        let cfg = dhcp("  vmid   = 133\n  onboot = true\n  order  = 2\n");
        w.apply(&cfg).await;
        sim.add_fault(
            json!({"method": "PUT", "path": "^/nodes/proxmox2/lxc/133/config$",
                             "kind": "error", "status": 500, "message": "simulated write failure",
                             "count": 1}),
        )
        .await?;
        let out = w
            .run(&["destroy", "-input=false", "-no-color", "-auto-approve"])
            .await;
        out.expect_error(
            &cfg,
            r"Unable to reset the boot settings of guest 133[\s\S]*simulated write failure",
            None,
        );
        assert!(
            !out.combined().contains("of the boot settings of"),
            "the object is named twice:\n{out}"
        );
        // The guest keeps its settings and the state keeps the resource, so a second destroy finishes.
        assert_eq!(guest_config(&sim, 133).await?["onboot"], json!(1));
        w.destroy().await;
        assert!(guest_config(&sim, 133).await?.get("onboot").is_none());
    }
    Ok(())
}
