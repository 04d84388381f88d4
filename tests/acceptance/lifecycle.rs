//! The audit's planned-reboot predictions against what the simulator's HA manager does: for both homelab
//! fixtures (PVE 8 groups, PVE 9 rules), each of the four `shutdown_policy` values and every node, each HA
//! service running on the rebooted node must be frozen, migrated, or stopped and restarted exactly as
//! `node_reboot_impact` said.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};
use pveha_acceptance::Sim;
use serde_json::Value;

use crate::audit::pveha;
use crate::prediction::{groups_layout, put, rules_layout, services};

const NODES: [&str; 3] = ["proxmox", "proxmox2", "proxmox3"];
const POLICIES: [&str; 4] = ["conditional", "freeze", "failover", "migrate"];

/// How long the rebooted node stays down. Under `failover` the prediction is upstream's: a reboot that is back
/// before the fence delay (60 s) restarts the services on the node; a longer one is a shutdown, fenced and
/// recovered. The other policies do not depend on it, so their node stays down while the outcome is read.
fn down_seconds(policy: &str) -> u64 {
    if policy == "failover" {
        30
    } else {
        600
    }
}

/// The sids of one of the impact's lists or maps.
fn sids(impact: &Value, key: &str) -> Vec<String> {
    match &impact[key] {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Value::Object(o) => o.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

async fn check(
    fixture: &str,
    layout: fn(&Sim) -> crate::prediction::futures_like::Layout<'_>,
) -> Result<()> {
    for policy in POLICIES {
        for node in NODES {
            let sim = Sim::start_with(Sim::fixture(fixture), &["--time-scale", "0"]).await?;
            layout(&sim).await?;
            sim.advance(120).await?;
            let form = format!("shutdown_policy={policy}");
            put(&sim, "/cluster/options", &[("ha", form.as_str())]).await?;
            let report = pveha(&["audit", "--format", "json"], Some(&sim))
                .await?
                .json()?;
            let impact = report["node_reboot_impact"]
                .as_array()
                .and_then(|all| all.iter().find(|i| i["node"] == node))
                .cloned()
                .with_context(|| format!("no reboot impact for {node}: {report}"))?;
            ensure!(
                impact["policy"] == policy,
                "{fixture}: the audit read {} as the policy",
                impact["policy"]
            );
            let migrated: BTreeMap<String, String> =
                serde_json::from_value(impact["migrated"].clone())?;
            let recovered: BTreeMap<String, String> =
                serde_json::from_value(impact["recovered"].clone())?;
            let frozen = sids(&impact, "frozen");
            let down = sids(&impact, "down");

            let before = services(&sim).await?;
            let running_here: Vec<&String> = before
                .iter()
                .filter(|(_, (n, st))| n == node && st == "started")
                .map(|(s, _)| s)
                .collect();
            ensure!(
                !running_here.is_empty(),
                "{fixture}: no HA service runs on {node}; the scenario proves nothing"
            );

            sim.reboot(node, down_seconds(policy)).await?;
            sim.advance(120).await?;
            let after = services(&sim).await?;
            let case = format!("{fixture}, policy {policy}, reboot of {node}");
            for sid in running_here {
                let (at, state) = after.get(sid).cloned().unwrap_or_default();
                if let Some(to) = migrated.get(sid).or_else(|| recovered.get(sid)) {
                    ensure!(
                        &at == to && state == "started",
                        "{case}: {sid} predicted on {to}, the HA manager has it {state} on {at}"
                    );
                } else if frozen.contains(sid) {
                    ensure!(
                        at == node && state == "freeze",
                        "{case}: {sid} predicted frozen, the HA manager has it {state} on {at}"
                    );
                } else {
                    // Stopped with the node and started on it again once it is back.
                    ensure!(
                        down.contains(sid) && at == node && state == "started",
                        "{case}: {sid} predicted {}, the HA manager has it {state} on {at}",
                        if down.contains(sid) {
                            "down until the node is back"
                        } else {
                            "untouched"
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn reboot_predictions_match_the_ha_manager_with_pve8_groups_under_every_policy() -> Result<()>
{
    check("cluster-pve8.json", |sim| {
        crate::prediction::futures_like::boxed(groups_layout(sim))
    })
    .await
}

#[tokio::test]
async fn reboot_predictions_match_the_ha_manager_with_pve9_rules_under_every_policy() -> Result<()>
{
    check("cluster-pve9.json", |sim| {
        crate::prediction::futures_like::boxed(rules_layout(sim))
    })
    .await
}
