//! `pveha drill --plan` on a plan real Terraform writes for the homelab blueprint against `pveha sim` (PVE 8): the
//! twin drills the cluster as the plan leaves it, and a crash of any node then keeps Traefik within the
//! 2-minute target, with the audit's prediction and the twin agreeing on every guest and service. Against the
//! newest Terraform only: the plan is the input here, not what is proven.

use anyhow::{ensure, Result};
use pveha_acceptance::workspace_root;
use serde_json::Value;

use crate::audit::pveha;
use crate::provider_config::sim8;
use crate::reliability::newest;
use crate::review::{adopted, plan_json};

fn traefik(drill: &Value) -> Option<&Value> {
    drill["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "traefik")
}

#[tokio::test]
async fn after_the_blueprint_a_crash_of_any_node_keeps_traefik_within_two_minutes() -> Result<()> {
    let sim = sim8().await?;
    let blueprint = std::fs::read_to_string(workspace_root().join("examples/homelab/main.tf"))?;
    let mut w = adopted(&sim, newest(), &blueprint).await;
    let plan = plan_json(&mut w).await?;

    // Positive control: the cluster as it is loses Traefik when proxmox crashes.
    let before = pveha(
        &[
            "drill",
            "--event",
            "crash",
            "--rto-target",
            "2m",
            "--format",
            "json",
        ],
        Some(&sim),
    )
    .await?;
    ensure!(
        before.code == Some(2),
        "{}\n{}",
        before.stdout,
        before.stderr
    );

    let run = pveha(
        &[
            "drill",
            "--plan",
            &plan,
            "--event",
            "crash",
            "--rto-target",
            "2m",
            "--format",
            "json",
        ],
        Some(&sim),
    )
    .await?;
    ensure!(run.code == Some(0), "{}\n{}", run.stdout, run.stderr);
    let report = run.json()?;
    let drills = report["drills"].as_array().cloned().unwrap_or_default();
    let nodes: Vec<&str> = drills.iter().filter_map(|d| d["node"].as_str()).collect();
    ensure!(nodes == ["proxmox", "proxmox2", "proxmox3"], "{nodes:?}");
    for d in &drills {
        ensure!(d["disagreements"] == 0, "{:#}", d);
        if let Some(t) = traefik(d) {
            let seconds = t["measured"]["seconds"].as_f64();
            ensure!(
                seconds.is_some_and(|s| s <= 120.0) && t["meets_rto"] == true,
                "{}: traefik {:#}",
                d["node"],
                t
            );
        }
    }
    // Each Traefik container on a crashed node runs again on another node within the target.
    let mut replicas = 0;
    for d in &drills {
        for g in d["guests"].as_array().into_iter().flatten() {
            if g["service"] != "traefik" {
                continue;
            }
            replicas += 1;
            let seconds = g["measured"]["seconds"].as_f64();
            ensure!(
                seconds.is_some_and(|s| s <= 120.0)
                    && g["measured_node"] != d["node"]
                    && g["disagreement"].is_null(),
                "{}: {g:#}",
                d["node"]
            );
        }
    }
    ensure!(replicas == 2, "{replicas} Traefik container(s) drilled");
    // Both replicas are spread, so a crash of either of their nodes touches Traefik.
    let touched = drills.iter().filter(|d| traefik(d).is_some()).count();
    ensure!(touched >= 2, "traefik is affected by {touched} crash(es)");
    ensure!(report["verdict"]["disagreements"] == 0, "{report:#}");
    Ok(())
}
