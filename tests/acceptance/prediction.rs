//! The audit's node-failure predictions against the recovery the simulator's HA manager performs: for every
//! node of the homelab, with groups (restricted, nofailback) on PVE 8 and rules (strict node affinity,
//! negative resource affinity) on PVE 9, each HA service must end where `node_failure_impact` said, and a
//! service predicted to have no recovery node must stay in `recovery`.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};
use pveha_acceptance::Sim;

use crate::audit::pveha;

const NODES: [&str; 3] = ["proxmox", "proxmox2", "proxmox3"];

/// Fence delay plus lock expiry plus a few rounds: every recovery has happened by then.
const RECOVERY_SECONDS: u64 = 300;

async fn post(sim: &Sim, path: &str, form: &[(&str, &str)]) -> Result<()> {
    let answer = sim.api("POST", path, form).await?;
    answer.data().with_context(|| format!("POST {path}"))?;
    Ok(())
}

pub(crate) async fn put(sim: &Sim, path: &str, form: &[(&str, &str)]) -> Result<()> {
    let answer = sim.api("PUT", path, form).await?;
    answer.data().with_context(|| format!("PUT {path}"))?;
    Ok(())
}

/// PVE 8: a restricted group with a single member, a nofailback preference, and the Traefik pair restricted
/// to two nodes.
pub(crate) async fn groups_layout(sim: &Sim) -> Result<()> {
    post(
        sim,
        "/cluster/ha/groups",
        &[
            ("group", "only3"),
            ("nodes", "proxmox3"),
            ("restricted", "1"),
        ],
    )
    .await?;
    post(
        sim,
        "/cluster/ha/groups",
        &[
            ("group", "pref2"),
            ("nodes", "proxmox2:2,proxmox:1"),
            ("nofailback", "1"),
        ],
    )
    .await?;
    post(
        sim,
        "/cluster/ha/groups",
        &[
            ("group", "proxy"),
            ("nodes", "proxmox2:1,proxmox3:1"),
            ("restricted", "1"),
        ],
    )
    .await?;
    put(sim, "/cluster/ha/resources/ct:113", &[("group", "only3")]).await?;
    put(sim, "/cluster/ha/resources/ct:122", &[("group", "pref2")]).await?;
    for sid in ["ct:110", "ct:121"] {
        post(
            sim,
            "/cluster/ha/resources",
            &[("sid", sid), ("group", "proxy")],
        )
        .await?;
    }
    // Services that stay on `proxmox`, so that its failure recovers something too.
    post(sim, "/cluster/ha/resources", &[("sid", "ct:132")]).await?;
    post(
        sim,
        "/cluster/ha/resources",
        &[("sid", "ct:134"), ("group", "pref2")],
    )
    .await?;
    Ok(())
}

/// PVE 9: strict node affinity with a single node, the DNS pair apart, and the Traefik pair apart on two nodes.
pub(crate) async fn rules_layout(sim: &Sim) -> Result<()> {
    for sid in ["ct:110", "ct:121", "ct:132", "ct:134"] {
        post(sim, "/cluster/ha/resources", &[("sid", sid)]).await?;
    }
    let rules: [&[(&str, &str)]; 4] = [
        &[
            ("rule", "only3"),
            ("type", "node-affinity"),
            ("resources", "ct:113"),
            ("nodes", "proxmox3"),
            ("strict", "1"),
        ],
        &[
            ("rule", "dns-apart"),
            ("type", "resource-affinity"),
            ("resources", "ct:116,ct:1250"),
            ("affinity", "negative"),
        ],
        &[
            ("rule", "proxy"),
            ("type", "node-affinity"),
            ("resources", "ct:110,ct:121"),
            ("nodes", "proxmox2,proxmox3"),
            ("strict", "1"),
        ],
        &[
            ("rule", "proxy-apart"),
            ("type", "resource-affinity"),
            ("resources", "ct:110,ct:121"),
            ("affinity", "negative"),
        ],
    ];
    for form in rules {
        post(sim, "/cluster/ha/rules", form).await?;
    }
    Ok(())
}

/// sid → (node, crm state) from the HA status.
pub(crate) async fn services(sim: &Sim) -> Result<BTreeMap<String, (String, String)>> {
    let answer = sim.api("GET", "/cluster/ha/status/current", &[]).await?;
    let entries = answer.data()?.as_array().cloned().unwrap_or_default();
    Ok(entries
        .iter()
        .filter(|e| e["type"] == "service")
        .filter_map(|e| {
            let field = |k: &str| e[k].as_str().map(str::to_string);
            Some((field("sid")?, (field("node")?, field("crm_state")?)))
        })
        .collect())
}

async fn check_every_node(
    fixture: &str,
    layout: fn(&Sim) -> futures_like::Layout<'_>,
) -> Result<()> {
    for failed in NODES {
        let sim = Sim::start_with(Sim::fixture(fixture), &["--time-scale", "0"]).await?;
        layout(&sim).await?;
        // Let the HA manager pick up the new services and settle the layout before predicting.
        sim.advance(120).await?;
        let report = pveha(&["audit", "--format", "json"], Some(&sim))
            .await?
            .json()?;
        let impact = report["node_failure_impact"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["node"] == failed))
            .cloned()
            .with_context(|| format!("no impact for {failed}: {report}"))?;
        let recovered: BTreeMap<String, String> =
            serde_json::from_value(impact["recovered"].clone())?;
        let before = services(&sim).await?;

        sim.power(failed, false).await?;
        sim.advance(RECOVERY_SECONDS).await?;
        let after = services(&sim).await?;

        let on_failed: Vec<&String> = before
            .iter()
            .filter(|(_, (n, _))| n == failed)
            .map(|(s, _)| s)
            .collect();
        ensure!(
            !on_failed.is_empty(),
            "{fixture}: no HA service ran on {failed}; the scenario proves nothing"
        );
        for sid in on_failed {
            let (node, state) = after.get(sid).cloned().unwrap_or_default();
            match recovered.get(sid) {
                Some(predicted) => ensure!(
                    &node == predicted && state == "started",
                    "{fixture}, {failed} failed: {sid} predicted on {predicted}, the HA manager put it on {node} ({state})"
                ),
                None => ensure!(
                    state == "recovery",
                    "{fixture}, {failed} failed: {sid} predicted without a recovery node, but it is {state} on {node}"
                ),
            }
        }
    }
    Ok(())
}

/// Boxed async layouts, so one checker takes either.
pub(crate) mod futures_like {
    use std::future::Future;
    use std::pin::Pin;

    pub type Layout<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

    pub fn boxed<'a>(f: impl Future<Output = anyhow::Result<()>> + Send + 'a) -> Layout<'a> {
        Box::pin(f)
    }
}

#[tokio::test]
async fn predictions_match_recovery_with_pve8_groups() -> Result<()> {
    check_every_node("cluster-pve8.json", |sim| {
        futures_like::boxed(groups_layout(sim))
    })
    .await
}

#[tokio::test]
async fn predictions_match_recovery_with_pve9_rules() -> Result<()> {
    check_every_node("cluster-pve9.json", |sim| {
        futures_like::boxed(rules_layout(sim))
    })
    .await
}
