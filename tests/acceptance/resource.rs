//! `pveha_resource` against the simulator: the whole lifecycle (create, read back equal to the cluster,
//! update, import, drift, out-of-band delete, replacement, destroy), plan-time errors for bad sids and
//! version-gated settings, every configuration mistake of several resources from one `terraform validate`
//! without the cluster, moving services with `node`, and the constant cost of refresh.

use anyhow::Result;
use pveha_acceptance::{PlanOutcome, Sim};
use serde_json::{json, Value};

use crate::provider_config::{
    each_terraform, fixture_with_guests, hcl, sim8, sim9, sim_on, workdir, ExtraGuest,
};

/// The HA resource as the simulator's API shows it (`Null` data when it is not HA-managed).
async fn ha_resource(sim: &Sim, sid: &str) -> Result<(u16, Value)> {
    let r = sim
        .api("GET", &format!("/cluster/ha/resources/{sid}"), &[])
        .await?;
    Ok((r.status, r.body["data"].clone()))
}

/// Where the HA status says `sid` runs.
async fn service_node(sim: &Sim, sid: &str) -> Result<String> {
    let r = sim.api("GET", "/cluster/ha/status/current", &[]).await?;
    let node = r
        .data()?
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["sid"] == json!(sid))
        .map(|e| e["node"].clone());
    Ok(node
        .and_then(|n| n.as_str().map(str::to_string))
        .unwrap_or_default())
}

const TRAEFIK: &str = r#"
resource "pveha_resource" "traefik" {
  sid = "ct:110"
}
"#;

const TRAEFIK_TUNED: &str = r#"
resource "pveha_resource" "traefik" {
  sid          = "ct:110"
  max_restart  = 3
  max_relocate = 2
  comment      = "reverse proxy"
}
"#;

const TRAEFIK_2: &str = r#"
resource "pveha_resource" "traefik" {
  sid          = "ct:121"
  max_restart  = 3
  max_relocate = 2
  comment      = "reverse proxy"
}
"#;

#[tokio::test]
async fn resource_create_read_update_import_drift_recreate_replace_destroy() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);

        // Create with defaults: the plan shows them, the cluster stores none of them, no perpetual diff.
        let applied = w.apply(&hcl(TRAEFIK)).await;
        applied
            .expect_attr("pveha_resource.traefik", "state", "started")
            .expect_attr("pveha_resource.traefik", "max_restart", 1)
            .expect_attr("pveha_resource.traefik", "max_relocate", 1)
            .expect_attr("pveha_resource.traefik", "type", "ct")
            .expect_attr("pveha_resource.traefik", "node", "proxmox");
        let (status, data) = ha_resource(&sim, "ct:110").await?;
        assert_eq!(status, 200, "{data}");
        assert_eq!(data["sid"], json!("ct:110"));

        // In-place update: only what changed is written, and it reads back equal to the cluster.
        w.apply(&hcl(TRAEFIK_TUNED)).await.expect_in_place_update();
        let (_, data) = ha_resource(&sim, "ct:110").await?;
        assert_eq!(
            (data["max_restart"].clone(), data["max_relocate"].clone()),
            (json!(3), json!(2)),
            "{data}"
        );
        assert_eq!(data["comment"], json!("reverse proxy"));

        // Import adopts it exactly.
        w.import("pveha_resource.traefik", "ct:110")
            .await
            .expect_no_diff();

        // Drift made through the API is planned back, and only that attribute changes.
        let put = sim
            .api(
                "PUT",
                "/cluster/ha/resources/ct:110",
                &[("max_restart", "7")],
            )
            .await?;
        assert!(put.is_success(), "{put:?}");
        let plan = w.plan_current().await;
        plan.expect_action("pveha_resource.traefik", &["update"]);
        let change = plan.change("pveha_resource.traefik");
        assert_eq!(change.before["max_restart"], json!(7));
        assert_eq!(change.after("max_restart"), Some(&json!(3)));
        for same in ["max_relocate", "comment", "state", "sid"] {
            assert_eq!(
                Some(&change.before[same]),
                change.after(same),
                "{same} must not change"
            );
        }
        w.apply(&hcl(TRAEFIK_TUNED)).await.expect_in_place_update();

        // Removed out of band: planned as a create, applied back.
        let del = sim
            .api("DELETE", "/cluster/ha/resources/ct:110", &[])
            .await?;
        assert!(del.is_success(), "{del:?}");
        w.plan_current()
            .await
            .expect_action("pveha_resource.traefik", &["create"]);
        w.apply(&hcl(TRAEFIK_TUNED)).await.expect_counts(1, 0, 0);

        // A new sid replaces the resource.
        w.plan(&hcl(TRAEFIK_2))
            .await
            .expect_action("pveha_resource.traefik", &["delete", "create"]);
        w.apply(&hcl(TRAEFIK_2)).await.expect_counts(1, 0, 1);
        assert_eq!(ha_resource(&sim, "ct:110").await?.0, 500);

        w.destroy().await;
        assert_eq!(
            ha_resource(&sim, "ct:121").await?.0,
            500,
            "destroy must leave nothing"
        );
    }
    Ok(())
}

#[tokio::test]
async fn bad_sids_and_version_gated_settings_fail_plan_at_the_attribute() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        let bare = "resource \"pveha_resource\" \"a\" {\n  sid = \"110\"\n}\n";
        w.plan(&hcl(bare)).await.expect_error(
            r"bare\s+VMID;\s+write\s+the\s+HA\s+resource\s+id\s+as\s+ct:110\s+for\s+a\s+container\s+or\s+vm:110",
            Some("sid"),
        );
        let wrong_kind = "resource \"pveha_resource\" \"a\" {\n  sid = \"vm:110\"\n}\n";
        w.plan(&hcl(wrong_kind))
            .await
            .expect_error(r"its\s+HA\s+resource\s+id\s+is\s+ct:110", Some("sid"));
        let missing = "resource \"pveha_resource\" \"a\" {\n  sid = \"ct:999\"\n}\n";
        w.plan(&hcl(missing))
            .await
            .expect_error(r"no\s+guest\s+with\s+that\s+VMID", Some("sid"));
        let range = "resource \"pveha_resource\" \"a\" {\n  sid         = \"ct:110\"\n  max_restart = 11\n}\n";
        w.plan(&hcl(range))
            .await
            .expect_error(r"between\s+0\s+and\s+10", Some("max_restart"));
        let failback =
            "resource \"pveha_resource\" \"a\" {\n  sid      = \"ct:110\"\n  failback = false\n}\n";
        w.plan(&hcl(failback))
            .await
            .expect_error(r"failback\s+needs\s+PVE\s+9", Some("failback"));
        let pinned =
            "resource \"pveha_resource\" \"a\" {\n  sid  = \"ct:110\"\n  node = \"proxmox9\"\n}\n";
        w.plan(&hcl(pinned))
            .await
            .expect_error(r"not\s+a\s+node\s+of\s+this\s+cluster", Some("node"));

        // A service that is already HA-managed is adopted with import, not created twice.
        let existing = "resource \"pveha_resource\" \"influx\" {\n  sid = \"ct:100\"\n}\n";
        let out = w.try_apply(&hcl(existing)).await;
        out.expect_error(
            &hcl(existing),
            r"terraform\s+import\s+pveha_resource\.<NAME>\s+ct:100",
            None,
        );
    }
    let sim = sim9().await?;
    for tf in each_terraform() {
        let mut w = workdir(tf, &sim);
        let group =
            "resource \"pveha_resource\" \"a\" {\n  sid   = \"ct:110\"\n  group = \"web\"\n}\n";
        w.plan(&hcl(group)).await.expect_error(
            r"HA\s+groups\s+do\s+not\s+exist\s+on\s+PVE\s+9",
            Some("group"),
        );
    }
    Ok(())
}

/// Three resources with a different configuration mistake each, and one whose sid comes from a variable
/// (unknown to `terraform validate`, so it is not judged there).
const THREE_MISTAKES: &str = r#"
variable "later" {
  type    = string
  default = "ct:121"
}

resource "pveha_resource" "bare" {
  sid = "110"
}

resource "pveha_resource" "later" {
  sid = var.later
}

resource "pveha_rule" "apart" {
  name      = "apart"
  type      = "node-affinity"
  resources = ["ct:110"]
  nodes     = { proxmox2 = 1 }
  affinity  = "negative"
}

resource "pveha_guest_startup" "dhcp" {
  vmid  = 133
  order = -1
}
"#;

/// [`THREE_MISTAKES`] mended (and without the PVE 9 rule, for a PVE 8 cluster).
fn mended() -> String {
    let rule_start = THREE_MISTAKES.find("resource \"pveha_rule\"").unwrap_or(0);
    let rule_end = THREE_MISTAKES
        .find("resource \"pveha_guest_startup\"")
        .unwrap_or(0);
    format!(
        "{}{}",
        &THREE_MISTAKES[..rule_start],
        &THREE_MISTAKES[rule_end..]
    )
    .replace("sid = \"110\"", "sid = \"ct:110\"")
    .replace("order = -1", "order = 1")
}

#[tokio::test]
async fn validate_reports_every_configuration_mistake_at_once_without_asking_the_cluster(
) -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        let bad = hcl(THREE_MISTAKES);
        // Initialising fetches nothing from the cluster, but counting starts after it all the same.
        w.write_config(&bad);
        w.init().await;
        sim.reset_requests().await?;
        let out = w.validate(&bad).await;
        out.expect_error(&bad, r"bare\s+VMID", Some("sid"))
            .expect_error(
                &bad,
                r"affinity\s+applies\s+only\s+to\s+resource-affinity\s+rules",
                Some("affinity"),
            )
            .expect_error(&bad, r"order\s+must\s+be\s+between\s+0", Some("order"));
        let errors = out
            .combined()
            .lines()
            .filter(|l| l.trim_start_matches('│').trim().starts_with("Error: "))
            .count();
        assert_eq!(errors, 3, "expected exactly the three mistakes:\n{out}");
        let requests = sim.requests().await?;
        assert_eq!(
            requests.total, 0,
            "validate asked the cluster: {requests:?}"
        );

        // Positive control: the same workdir does reach the simulator once it plans.
        w.plan(&hcl(&mended())).await.expect_changes();
        let requests = sim.requests().await?;
        assert!(
            requests.total > 0,
            "the plan made no request: the counter is blind"
        );
    }
    Ok(())
}

#[tokio::test]
async fn pve9_failback_defaults_to_true_and_delete_keeps_rules() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim9().await?;
        let mut w = workdir(tf, &sim);
        let config = hcl(r#"
resource "pveha_resource" "a" {
  sid = "ct:110"
}

resource "pveha_resource" "b" {
  sid      = "ct:121"
  failback = false
}

resource "pveha_rule" "apart" {
  name      = "apart"
  type      = "resource-affinity"
  resources = [pveha_resource.a.sid, pveha_resource.b.sid, "ct:100"]
  affinity  = "negative"
}
"#);
        w.apply(&config)
            .await
            .expect_attr("pveha_resource.a", "failback", true)
            .expect_attr("pveha_resource.b", "failback", false);
        assert_eq!(ha_resource(&sim, "ct:121").await?.1["failback"], json!(0));

        // Removing one service from HA must not edit the rule behind the user's back (purge=0).
        let only_rule_and_a = hcl(r#"
resource "pveha_resource" "a" {
  sid = "ct:110"
}

resource "pveha_rule" "apart" {
  name      = "apart"
  type      = "resource-affinity"
  resources = [pveha_resource.a.sid, "ct:121", "ct:100"]
  affinity  = "negative"
}
"#);
        let out = w.try_apply(&only_rule_and_a).await;
        assert!(out.success(), "{out}");
        let rule = sim.api("GET", "/cluster/ha/rules/apart", &[]).await?;
        assert_eq!(
            rule.data()?["resources"],
            json!("ct:100,ct:110,ct:121"),
            "the rule was edited: {rule:?}"
        );
        w.destroy().await;
    }
    Ok(())
}

#[tokio::test]
async fn node_moves_a_container_and_a_vm_and_failovers_are_not_drift() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let fixture = fixture_with_guests(
        "cluster-pve8.json",
        &[ExtraGuest {
            vmid: 200,
            kind: "qemu",
            node: "proxmox",
        }],
        dir.path(),
    )?;
    for tf in each_terraform() {
        let sim = sim_on(&fixture).await?;
        let mut w = workdir(tf, &sim);
        let config = |ct_node: &str, vm_node: &str| {
            hcl(&format!(
                r#"
resource "pveha_resource" "ct" {{
  sid  = "ct:110"
  node = "{ct_node}"
}}

resource "pveha_resource" "vm" {{
  sid  = "vm:200"
  node = "{vm_node}"
}}
"#
            ))
        };
        // Created and moved at once.
        w.apply(&config("proxmox2", "proxmox3"))
            .await
            .expect_attr("pveha_resource.ct", "node", "proxmox2")
            .expect_attr("pveha_resource.vm", "node", "proxmox3")
            .expect_attr("pveha_resource.vm", "type", "vm");
        assert_eq!(service_node(&sim, "ct:110").await?, "proxmox2");
        assert_eq!(service_node(&sim, "vm:200").await?, "proxmox3");

        // Moved again in place.
        w.apply(&config("proxmox3", "proxmox2"))
            .await
            .expect_in_place_update();
        assert_eq!(service_node(&sim, "ct:110").await?, "proxmox3");
        assert_eq!(service_node(&sim, "vm:200").await?, "proxmox2");

        // Unpinned, a failover is reported but never planned back.
        let unpinned = hcl("resource \"pveha_resource\" \"ct\" {\n  sid = \"ct:110\"\n}\n\nresource \"pveha_resource\" \"vm\" {\n  sid = \"vm:200\"\n}\n");
        w.apply(&unpinned).await;
        sim.power("proxmox3", false).await?;
        sim.advance(600).await?;
        let moved = service_node(&sim, "ct:110").await?;
        assert_ne!(moved, "proxmox3", "the simulator did not fail ct:110 over");
        let plan = w.plan_current().await;
        assert_eq!(
            plan.outcome,
            PlanOutcome::NoChanges,
            "a failover showed as drift:\n{}",
            plan.output
        );
        w.apply_refresh_only().await;
        w.state()
            .await
            .expect_attr("pveha_resource.ct", "node", moved.as_str());
        sim.power("proxmox3", true).await?;
        w.destroy().await;
    }
    Ok(())
}

/// `n` HA resources on containers 2000.. (added to the fixture), as HCL.
fn many(n: u32) -> String {
    hcl(&format!(
        "resource \"pveha_resource\" \"many\" {{\n  count = {n}\n  sid   = \"ct:${{2000 + count.index}}\"\n}}\n"
    ))
}

#[tokio::test]
async fn refreshing_many_resources_costs_a_constant_few_requests() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let extra: Vec<ExtraGuest> = (0..50)
        .map(|i| ExtraGuest {
            vmid: 2000 + i,
            kind: "lxc",
            node: ["proxmox", "proxmox2", "proxmox3"][(i % 3) as usize],
        })
        .collect();
    let fixture = fixture_with_guests("cluster-pve8.json", &extra, dir.path())?;
    for tf in each_terraform() {
        let sim = sim_on(&fixture).await?;
        let mut w = workdir(tf, &sim);
        let mut counts = Vec::new();
        for n in [5, 50] {
            w.apply(&many(n)).await;
            sim.reset_requests().await?;
            w.plan_current().await.expect_no_changes();
            let requests = sim.requests().await?;
            assert!(
                requests.total <= 10,
                "a plan refreshing {n} resources sent {} requests: {requests:?}",
                requests.total
            );
            // Positive control: the plan did read the HA resources.
            assert!(
                requests.get("GET /cluster/ha/resources") >= 1,
                "{requests:?}"
            );
            counts.push(requests.total);
        }
        assert_eq!(
            counts[0], counts[1],
            "refresh cost grows with the number of resources"
        );
        w.destroy().await;
    }
    Ok(())
}
