//! Many objects in one Terraform run, by request counts (never by time): an apply of many HA resources sends
//! one write each and confirms them with a few shared list reads, while a read-back still shows what the server
//! holds after the write; a refresh of many guest boot settings keeps at most the provider's bound of requests
//! in flight however wide Terraform's `-parallelism`.

use anyhow::Result;
use pveha_acceptance::{Sim, Workdir};
use serde_json::json;

use crate::provider_config::{
    each_terraform, fixture_with_guests, hcl, sim_on, workdir, ExtraGuest,
};
use crate::reliability::{newest, until_requested};

/// The provider's bound on API requests in flight (`pveha_pve::MAX_IN_FLIGHT`, documented in the README).
const MAX_IN_FLIGHT: u64 = 10;

/// The homelab PVE 8 fixture with `n` extra containers from VMID 2000, spread over the three nodes.
async fn sim_with_containers(n: u32, dir: &std::path::Path) -> Result<Sim> {
    let extra: Vec<ExtraGuest> = (0..n)
        .map(|i| ExtraGuest {
            vmid: 2000 + i,
            kind: "lxc",
            node: ["proxmox", "proxmox2", "proxmox3"][(i % 3) as usize],
        })
        .collect();
    sim_on(&fixture_with_guests("cluster-pve8.json", &extra, dir)?).await
}

/// `n` HA resources on containers 2000.., as HCL.
fn resources(n: u32, comment: Option<&str>) -> String {
    let comment = comment.map_or(String::new(), |c| format!("  comment = \"{c}\"\n"));
    hcl(&format!(
        "resource \"pveha_resource\" \"many\" {{\n  count = {n}\n  sid   = \"ct:${{2000 + count.index}}\"\n{comment}}}\n"
    ))
}

/// `terraform apply` with `-parallelism`, which must succeed.
async fn apply_with_parallelism(w: &mut Workdir, hcl: &str, parallelism: u32) {
    w.write_config(hcl);
    w.init().await;
    let flag = format!("-parallelism={parallelism}");
    w.run(&["apply", "-input=false", "-no-color", "-auto-approve", &flag])
        .await
        .expect_success();
}

#[tokio::test]
async fn applying_many_resources_confirms_the_writes_with_a_few_shared_list_reads() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let n = 40;
    for tf in each_terraform() {
        let sim = sim_with_containers(n, dir.path()).await?;
        // Each write holds the HA lock a while, so the writes of Terraform's ten parallel creates queue up.
        sim.add_fault(json!({"method": "POST", "path": "^/cluster/ha/resources$", "kind": "latency", "latency_ms": 100}))
            .await?;
        let mut w = workdir(tf, &sim);
        sim.reset_requests().await?;
        apply_with_parallelism(&mut w, &resources(n, None), 10).await;
        let counted = sim.requests().await?;
        assert_eq!(
            counted.get("POST /cluster/ha/resources"),
            u64::from(n),
            "{counted:?}"
        );
        let per_object: Vec<_> = counted
            .by_route
            .keys()
            .filter(|r| r.starts_with("GET /cluster/ha/resources/"))
            .collect();
        assert!(
            per_object.is_empty(),
            "read-backs asked one object each: {per_object:?}"
        );
        let lists = counted.get("GET /cluster/ha/resources");
        // Ten creates at a time: a burst of writes, then one list read confirms all of them.
        assert!(
            (1..=u64::from(n) / 4).contains(&lists),
            "{lists} list reads confirmed {n} creates: {counted:?}"
        );
        assert!(
            counted.get("GET /cluster/ha/status/current") <= u64::from(n) / 4,
            "{counted:?}"
        );
        w.plan_current().await.expect_no_changes();
        w.destroy().await;

        // Positive control: one create at a time has no one to share with, so each pays its own list read.
        let few = 8;
        sim.reset_requests().await?;
        apply_with_parallelism(&mut w, &resources(few, None), 1).await;
        let counted = sim.requests().await?;
        assert!(
            counted.get("GET /cluster/ha/resources") >= u64::from(few),
            "{counted:?}"
        );
        w.destroy().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_change_by_another_writer_between_write_and_read_back_shows_in_the_apply() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let sim = sim_with_containers(1, dir.path()).await?;
    let mut w = workdir(newest(), &sim);
    // The list reads answer slowly, so the other writer's change lands after the create and before the
    // read-back's list is read.
    sim.add_fault(json!({"method": "GET", "path": "^/cluster/ha/resources$", "kind": "latency", "latency_ms": 1500}))
        .await?;
    sim.reset_requests().await?;
    let config = resources(1, Some("from terraform"));
    let apply = w.try_apply(&config);
    let other_writer = async {
        until_requested(&sim, "POST /cluster/ha/resources", 1).await?;
        let r = sim
            .api(
                "PUT",
                "/cluster/ha/resources/ct:2000",
                &[("comment", "changed elsewhere")],
            )
            .await?;
        r.data()?;
        anyhow::Ok(())
    };
    let (applied, changed) = tokio::join!(apply, other_writer);
    changed?;
    // The read-back read the server after the write: Terraform sees the other writer's value, not its plan.
    let out = applied.combined();
    assert!(
        !applied.success() && out.contains("changed elsewhere"),
        "the apply did not show the other writer's change:\n{applied}"
    );
    sim.clear_faults().await?;
    w.destroy().await;
    let left = sim.api("GET", "/cluster/ha/resources/ct:2000", &[]).await?;
    assert_eq!(
        left.status, 500,
        "the resource was left behind: {}",
        left.body
    );
    Ok(())
}

#[tokio::test]
async fn refreshing_many_boot_settings_keeps_the_requests_in_flight_bounded() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let n = 30;
    let sim = sim_with_containers(n, dir.path()).await?;
    let mut w = workdir(newest(), &sim);
    let config = hcl(&format!(
        "resource \"pveha_guest_startup\" \"many\" {{\n  count  = {n}\n  vmid   = 2000 + count.index\n  onboot = true\n}}\n"
    ));
    w.apply(&config).await;
    // Each config read takes a while, so Terraform's 30 parallel refreshes all want one at once.
    sim.add_fault(json!({"method": "GET", "path": "^/nodes/.*/config$", "kind": "latency", "latency_ms": 100}))
        .await?;
    sim.reset_requests().await?;
    let plan = w
        .run(&[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-parallelism=30",
        ])
        .await;
    assert_eq!(plan.code, Some(0), "the plan is not empty:\n{plan}");
    let counted = sim.requests().await?;
    let configs: u64 = counted
        .by_route
        .iter()
        .filter(|(r, _)| r.starts_with("GET /nodes/") && r.ends_with("/config"))
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(
        configs,
        u64::from(n),
        "one config read per guest: {counted:?}"
    );
    assert!(
        counted.max_in_flight <= MAX_IN_FLIGHT,
        "{} requests in flight at once: {counted:?}",
        counted.max_in_flight
    );
    // Positive control: the reads did overlap, so the bound is what held them back.
    assert!(counted.max_in_flight >= 2, "{counted:?}");
    sim.clear_faults().await?;
    w.destroy().await;
    Ok(())
}
