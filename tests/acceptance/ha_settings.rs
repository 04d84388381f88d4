//! `pveha_ha_settings` against the simulator on PVE 8 and 9: adopt, read back, import, drift from another
//! writer, unset by removal, destroy back to the defaults with every other datacenter option untouched, and
//! the plan-time errors and the hardware-fencing warning.

use anyhow::Result;
use pveha_acceptance::Sim;
use serde_json::{json, Value};

use crate::provider_config::{each_terraform, hcl, sim8, sim9, workdir};

const ADDRESS: &str = "pveha_ha_settings.this";

fn settings(body: &str) -> String {
    hcl(&format!(
        "resource \"pveha_ha_settings\" \"this\" {{\n{body}}}\n"
    ))
}

async fn options(sim: &Sim) -> Result<Value> {
    let r = sim.api("GET", "/cluster/options", &[]).await?;
    assert!(r.is_success(), "{r:?}");
    Ok(r.data()?.clone())
}

/// Every option but the ones pveha_ha_settings owns.
fn others(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        for key in ["ha", "crs", "fencing"] {
            obj.remove(key);
        }
    }
    v
}

const FULL: &str = "  shutdown_policy    = \"migrate\"\n  crs                = \"static\"\n  rebalance_on_start = true\n  fencing            = \"watchdog\"\n";

#[tokio::test]
async fn settings_adopt_import_drift_unset_and_destroy_keep_other_options() -> Result<()> {
    for pve9 in [false, true] {
        for tf in each_terraform() {
            let sim = if pve9 { sim9().await? } else { sim8().await? };
            // Another writer's options: a datacenter key and a crs sub-key pveha does not own.
            let other = sim
                .api(
                    "PUT",
                    "/cluster/options",
                    &[
                        ("keyboard", "de-ch"),
                        ("crs", "ha=basic,ha-rebalance-on-start=0"),
                    ],
                )
                .await?;
            assert!(other.is_success(), "{other:?}");
            let before = options(&sim).await?;
            let mut w = workdir(tf, &sim);

            w.apply(&settings(FULL))
                .await
                .expect_attr(ADDRESS, "id", "cluster")
                .expect_attr(ADDRESS, "shutdown_policy", "migrate")
                .expect_attr(ADDRESS, "rebalance_on_start", true);
            let now = options(&sim).await?;
            assert_eq!(now["ha"], json!({"shutdown_policy": "migrate"}), "{now}");
            assert_eq!(
                now["crs"],
                json!({"ha": "static", "ha-rebalance-on-start": 1}),
                "{now}"
            );
            assert_eq!(now["fencing"], "watchdog");
            assert_eq!(
                others(now),
                others(before.clone()),
                "other options unchanged"
            );

            w.import(ADDRESS, "cluster").await.expect_no_diff();

            // Drift: the policy changed through the API shows as a change back (plan exit code 2).
            let put = sim
                .api(
                    "PUT",
                    "/cluster/options",
                    &[("ha", "shutdown_policy=freeze")],
                )
                .await?;
            assert!(put.is_success(), "{put:?}");
            let plan = w.plan_current().await;
            plan.expect_action(ADDRESS, &["update"]);
            let change = plan.change(ADDRESS);
            assert_eq!(change.before["shutdown_policy"], "freeze");
            assert_eq!(change.after("shutdown_policy"), Some(&json!("migrate")));
            assert_eq!(Some(&change.before["crs"]), change.after("crs"));
            w.apply(&settings(FULL)).await.expect_in_place_update();
            assert_eq!(options(&sim).await?["ha"]["shutdown_policy"], "migrate");

            // Removing attributes unsets them on the cluster.
            let fewer = "  shutdown_policy = \"migrate\"\n  crs             = \"static\"\n";
            w.apply(&settings(fewer)).await.expect_in_place_update();
            let now = options(&sim).await?;
            assert!(now.get("fencing").is_none(), "fencing deleted: {now}");
            assert_eq!(now["crs"], json!({"ha": "static"}), "{now}");

            w.destroy().await;
            let after = options(&sim).await?;
            assert!(after.get("ha").is_none(), "defaults restored: {after}");
            assert!(after.get("crs").is_none(), "defaults restored: {after}");
            assert_eq!(after["keyboard"], "de-ch");
            assert_eq!(
                others(after),
                others(before),
                "destroy touches no other option"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn sub_keys_of_another_writer_survive_apply_and_destroy() -> Result<()> {
    let sim = sim9().await?;
    for tf in each_terraform() {
        let put = sim
            .api("PUT", "/cluster/options", &[("crs", "ha-auto-rebalance=1")])
            .await?;
        assert!(put.is_success(), "{put:?}");
        let mut w = workdir(tf, &sim);
        w.apply(&settings("  crs = \"dynamic\"\n")).await;
        assert_eq!(
            options(&sim).await?["crs"],
            json!({"ha": "dynamic", "ha-auto-rebalance": 1})
        );
        w.destroy().await;
        assert_eq!(options(&sim).await?["crs"], json!({"ha-auto-rebalance": 1}));
    }
    Ok(())
}

#[tokio::test]
async fn bad_settings_fail_plan_at_the_attribute_and_hardware_fencing_warns() -> Result<()> {
    let sim = sim8().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        w.plan_only(&settings("  shutdown_policy = \"reboot\"\n"))
            .await
            .expect_error(
                r#"shutdown_policy\s+must\s+be\s+one\s+of\s+conditional,\s+freeze,\s+failover,\s+migrate;\s+got\s+"reboot""#,
                Some("shutdown_policy"),
            );
        w.plan_only(&settings("  fencing = \"stonith\"\n"))
            .await
            .expect_error(r"fencing\s+must\s+be\s+one\s+of", Some("fencing"));
        w.plan_only(&settings("  crs = \"dynamic\"\n"))
            .await
            .expect_error(
                r"dynamic\s+scheduler\s+needs\s+Proxmox\s+VE\s+9",
                Some("crs"),
            );

        let plan = w.plan(&settings("  fencing = \"hardware\"\n")).await;
        plan.expect_changes();
        let text = plan.output.combined();
        assert!(
            text.contains("Warning: Hardware fencing is experimental"),
            "{text}"
        );
        assert!(text.contains("EXPERIMENTAL & WIP"), "{text}");
        let quiet = w.plan(&settings("  fencing = \"watchdog\"\n")).await;
        quiet.expect_changes();
        assert!(
            !quiet
                .output
                .combined()
                .contains("Warning: Hardware fencing"),
            "positive control: watchdog does not warn"
        );
    }
    let sim = sim9().await?;
    for tf in each_terraform() {
        workdir(tf, &sim)
            .plan(&settings("  crs = \"dynamic\"\n"))
            .await
            .expect_changes();
    }
    Ok(())
}
