//! `pveha_group` against the simulator: lifecycle on PVE 8 (create, read back equal to the cluster,
//! update, import, drift, out-of-band delete, replacement, destroy) and the plan-time errors for bad
//! priorities, unknown nodes and groups on PVE 9.

use anyhow::Result;
use pveha_acceptance::Sim;
use serde_json::{json, Value};

use crate::provider_config::{each_terraform, hcl, sim8, sim9, workdir};

async fn group(sim: &Sim, name: &str) -> Result<(u16, Value)> {
    let r = sim
        .api("GET", &format!("/cluster/ha/groups/{name}"), &[])
        .await?;
    Ok((r.status, r.body["data"].clone()))
}

/// The server lists nodes in any order; compare them sorted.
fn sorted_nodes(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    n.sort();
    n
}

fn web(extra: &str) -> String {
    hcl(&format!(
        "resource \"pveha_group\" \"web\" {{\n  name  = \"web\"\n  nodes = {{ proxmox2 = 2, proxmox3 = 1 }}\n{extra}}}\n"
    ))
}

#[tokio::test]
async fn group_create_read_update_import_drift_recreate_replace_destroy() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        w.apply(&web(""))
            .await
            .expect_attr("pveha_group.web", "restricted", false)
            .expect_attr("pveha_group.web", "nofailback", false)
            .expect_attr("pveha_group.web", "nodes.proxmox2", 2);
        let (status, data) = group(&sim, "web").await?;
        assert_eq!(status, 200, "{data}");
        assert_eq!(sorted_nodes(&data["nodes"]), ["proxmox2:2", "proxmox3:1"]);
        assert!(
            data.get("restricted").is_none(),
            "defaults are not written: {data}"
        );

        let tuned = "  restricted = true\n  comment    = \"web tier\"\n";
        w.apply(&web(tuned)).await.expect_in_place_update();
        let (_, data) = group(&sim, "web").await?;
        assert_eq!(
            (data["restricted"].clone(), data["comment"].clone()),
            (json!(1), json!("web tier")),
            "{data}"
        );

        w.import("pveha_group.web", "web").await.expect_no_diff();

        // Drift: a priority changed through the API is planned back, and only `nodes` changes.
        let put = sim
            .api(
                "PUT",
                "/cluster/ha/groups/web",
                &[("nodes", "proxmox3:1,proxmox2:5")],
            )
            .await?;
        assert!(put.is_success(), "{put:?}");
        let plan = w.plan_current().await;
        plan.expect_action("pveha_group.web", &["update"]);
        let change = plan.change("pveha_group.web");
        assert_eq!(change.before["nodes"]["proxmox2"], json!(5));
        assert_eq!(change.after("nodes.proxmox2"), Some(&json!(2)));
        for same in ["restricted", "nofailback", "comment", "name"] {
            assert_eq!(
                Some(&change.before[same]),
                change.after(same),
                "{same} must not change"
            );
        }
        w.apply(&web(tuned)).await.expect_in_place_update();

        let del = sim.api("DELETE", "/cluster/ha/groups/web", &[]).await?;
        assert!(del.is_success(), "{del:?}");
        w.plan_current()
            .await
            .expect_action("pveha_group.web", &["create"]);
        w.apply(&web(tuned)).await.expect_counts(1, 0, 0);

        let renamed = web(tuned).replace("name  = \"web\"", "name  = \"web2\"");
        w.plan(&renamed)
            .await
            .expect_action("pveha_group.web", &["delete", "create"]);
        w.apply(&renamed).await.expect_counts(1, 0, 1);
        assert_eq!(group(&sim, "web").await?.0, 500);

        w.destroy().await;
        assert_eq!(
            group(&sim, "web2").await?.0,
            500,
            "destroy must leave nothing"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_groups_fail_plan_at_the_attribute() -> Result<()> {
    let sim = sim8().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let prio = hcl("resource \"pveha_group\" \"g\" {\n  name  = \"g1\"\n  nodes = { proxmox2 = 2000 }\n}\n");
        w.plan(&prio).await.expect_error(
            r"priorities\s+must\s+be\s+between\s+0\s+and\s+1000",
            Some("nodes"),
        );
        let unknown = hcl(
            "resource \"pveha_group\" \"g\" {\n  name  = \"g1\"\n  nodes = { proxmox9 = 1 }\n}\n",
        );
        w.plan(&unknown).await.expect_error(
            r#""proxmox9"\s+is\s+not\s+a\s+node\s+of\s+this\s+cluster"#,
            Some("nodes"),
        );
        // Creating a group that exists is refused with the import command.
        let existing = sim
            .api(
                "POST",
                "/cluster/ha/groups",
                &[("group", "taken"), ("nodes", "proxmox")],
            )
            .await?;
        assert!(existing.is_success(), "{existing:?}");
        let taken = hcl(
            "resource \"pveha_group\" \"g\" {\n  name  = \"taken\"\n  nodes = { proxmox = 0 }\n}\n",
        );
        w.try_apply(&taken).await.expect_error(
            &taken,
            r"terraform\s+import\s+pveha_group\.<NAME>\s+taken",
            None,
        );
        let del = sim.api("DELETE", "/cluster/ha/groups/taken", &[]).await?;
        assert!(del.is_success(), "{del:?}");
    }
    let sim = sim9().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let g = hcl("resource \"pveha_group\" \"g\" {\n  name       = \"reverse-proxy\"\n  nodes      = { proxmox2 = 2, proxmox3 = 1 }\n  restricted = true\n}\n");
        w.plan(&g).await.expect_error(
            r#"groups\s+became\s+rules[\s\S]*resource\s+"pveha_rule"\s+"reverse_proxy"[\s\S]*nodes\s+\s+\s+\s+\s+=\s+\{\s+proxmox2\s+=\s+2,\s+proxmox3\s+=\s+1\s+\}[\s\S]*strict\s+\s+\s+\s+=\s+true"#,
            Some("name"),
        );
    }
    Ok(())
}
