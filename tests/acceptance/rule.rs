//! `pveha_rule` against the PVE 9 simulator: lifecycle (create, read back equal to the cluster, update
//! including disable/re-enable, import, drift, out-of-band delete, replacement, destroy) and the
//! plan-time errors: cross-field checks, feasibility against the other rules, and rules on PVE 8.

use anyhow::Result;
use pveha_acceptance::Sim;
use serde_json::{json, Value};

use crate::provider_config::{each_terraform, hcl, sim8, sim9, workdir};

async fn rule(sim: &Sim, name: &str) -> Result<(u16, Value)> {
    let r = sim
        .api("GET", &format!("/cluster/ha/rules/{name}"), &[])
        .await?;
    Ok((r.status, r.body["data"].clone()))
}

/// Two HA resources and a node-affinity rule over them; `extra` adds lines to the rule.
fn databases(kind_and_extra: &str) -> String {
    hcl(&format!(
        r#"
resource "pveha_resource" "influx" {{
  sid = "ct:100"
}}

resource "pveha_resource" "postgres" {{
  sid = "ct:113"
}}

resource "pveha_rule" "db" {{
  name      = "databases"
  resources = [pveha_resource.influx.sid, pveha_resource.postgres.sid]
{kind_and_extra}}}
"#
    ))
}

const NODE_AFFINITY: &str =
    "  type      = \"node-affinity\"\n  nodes     = { proxmox2 = 2, proxmox3 = 1 }\n";

#[tokio::test]
async fn rule_create_read_update_import_drift_recreate_replace_destroy() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim9().await?;
        let mut w = workdir(tf, &sim);
        // The two services are HA-managed in the fixture already: adopt them first.
        w.write_config(&databases(NODE_AFFINITY));
        w.import("pveha_resource.influx", "ct:100").await;
        w.import("pveha_resource.postgres", "ct:113").await;

        w.apply(&databases(NODE_AFFINITY))
            .await
            .expect_attr("pveha_rule.db", "strict", false)
            .expect_attr("pveha_rule.db", "enabled", true);
        let (status, data) = rule(&sim, "databases").await?;
        assert_eq!(status, 200, "{data}");
        assert_eq!(data["resources"], json!("ct:100,ct:113"));
        assert_eq!(data["nodes"], json!("proxmox2:2,proxmox3:1"));
        assert!(
            data.get("strict").is_none() && data.get("disable").is_none(),
            "defaults are not written: {data}"
        );

        // Disable and make strict in place; then re-enable (the API needs delete=disable for that).
        let disabled = format!(
            "{NODE_AFFINITY}  strict    = true\n  enabled   = false\n  comment   = \"dbs\"\n"
        );
        w.apply(&databases(&disabled))
            .await
            .expect_in_place_update();
        let (_, data) = rule(&sim, "databases").await?;
        assert_eq!(
            (data["strict"].clone(), data["disable"].clone()),
            (json!(1), json!(1)),
            "{data}"
        );
        let enabled = format!("{NODE_AFFINITY}  strict    = true\n  comment   = \"dbs\"\n");
        w.apply(&databases(&enabled)).await.expect_in_place_update();
        assert!(
            rule(&sim, "databases").await?.1.get("disable").is_none(),
            "the rule is still disabled"
        );

        w.import("pveha_rule.db", "databases")
            .await
            .expect_no_diff();

        // Drift through the API: only `nodes` is planned back.
        let put = sim
            .api(
                "PUT",
                "/cluster/ha/rules/databases",
                &[("type", "node-affinity"), ("nodes", "proxmox:1")],
            )
            .await?;
        assert!(put.is_success(), "{put:?}");
        let plan = w.plan_current().await;
        plan.expect_action("pveha_rule.db", &["update"]);
        let change = plan.change("pveha_rule.db");
        assert_eq!(change.before["nodes"], json!({"proxmox": 1}));
        assert_eq!(
            change.after("nodes"),
            Some(&json!({"proxmox2": 2, "proxmox3": 1}))
        );
        for same in ["strict", "enabled", "comment", "resources", "type"] {
            assert_eq!(
                Some(&change.before[same]),
                change.after(same),
                "{same} must not change"
            );
        }
        w.apply(&databases(&enabled)).await.expect_in_place_update();

        let del = sim
            .api("DELETE", "/cluster/ha/rules/databases", &[])
            .await?;
        assert!(del.is_success(), "{del:?}");
        w.plan_current()
            .await
            .expect_action("pveha_rule.db", &["create"]);
        w.apply(&databases(&enabled)).await.expect_counts(1, 0, 0);

        // Another type replaces the rule.
        let together = "  type      = \"resource-affinity\"\n  affinity  = \"positive\"\n";
        w.plan(&databases(together))
            .await
            .expect_action("pveha_rule.db", &["delete", "create"]);
        w.apply(&databases(together))
            .await
            .expect_counts(1, 0, 1)
            .expect_attr("pveha_rule.db", "affinity", "positive");
        assert_eq!(
            rule(&sim, "databases").await?.1["type"],
            json!("resource-affinity")
        );

        w.destroy().await;
        assert_eq!(
            rule(&sim, "databases").await?.0,
            500,
            "destroy must leave nothing"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_rules_fail_plan_at_the_attribute() -> Result<()> {
    let sim = sim9().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let affinity_on_nodes = hcl(
            "resource \"pveha_rule\" \"r\" {\n  name      = \"r1\"\n  type      = \"node-affinity\"\n  resources = [\"ct:100\"]\n  nodes     = { proxmox = 1 }\n  affinity  = \"negative\"\n}\n",
        );
        w.plan(&affinity_on_nodes).await.expect_error(
            r"affinity\s+applies\s+only\s+to\s+resource-affinity\s+rules",
            Some("affinity"),
        );
        let nodes_on_affinity = hcl(
            "resource \"pveha_rule\" \"r\" {\n  name      = \"r1\"\n  type      = \"resource-affinity\"\n  resources = [\"ct:100\", \"ct:113\"]\n  affinity  = \"negative\"\n  nodes     = { proxmox = 1 }\n}\n",
        );
        w.plan(&nodes_on_affinity).await.expect_error(
            r"nodes\s+applies\s+only\s+to\s+node-affinity\s+rules",
            Some("nodes"),
        );
        let unknown_node = hcl(
            "resource \"pveha_rule\" \"r\" {\n  name      = \"r1\"\n  type      = \"node-affinity\"\n  resources = [\"ct:100\"]\n  nodes     = { proxmox7 = 1 }\n}\n",
        );
        w.plan(&unknown_node)
            .await
            .expect_error(r"not\s+a\s+node\s+of\s+this\s+cluster", Some("nodes"));
        let too_many = hcl(
            "resource \"pveha_rule\" \"r\" {\n  name      = \"r1\"\n  type      = \"resource-affinity\"\n  resources = [\"ct:100\", \"ct:113\", \"ct:116\", \"ct:122\"]\n  affinity  = \"negative\"\n}\n",
        );
        w.plan(&too_many)
            .await
            .expect_error(r"only\s+3\s+nodes", Some("resources"));
    }
    // A resource already in a node-affinity rule on the server cannot join a second one.
    let made = sim
        .api(
            "POST",
            "/cluster/ha/rules",
            &[
                ("rule", "existing"),
                ("type", "node-affinity"),
                ("resources", "ct:100"),
                ("nodes", "proxmox"),
            ],
        )
        .await?;
    assert!(made.is_success(), "{made:?}");
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let second = hcl(
            "resource \"pveha_rule\" \"r\" {\n  name      = \"r2\"\n  type      = \"node-affinity\"\n  resources = [\"ct:100\"]\n  nodes     = { proxmox2 = 1 }\n}\n",
        );
        w.plan(&second).await.expect_error(
            r#"ct:100\s+is\s+already\s+in\s+node-affinity\s+rule\s+"existing""#,
            Some("resources"),
        );
    }
    let sim = sim8().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let on_pve8 = hcl(
            "resource \"pveha_rule\" \"r\" {\n  name      = \"r1\"\n  type      = \"node-affinity\"\n  resources = [\"ct:100\"]\n  nodes     = { proxmox = 1 }\n}\n",
        );
        w.plan(&on_pve8).await.expect_error(
            r"HA\s+rules\s+need\s+Proxmox\s+VE\s+9[\s\S]*pveha_group",
            Some("type"),
        );
    }
    Ok(())
}
