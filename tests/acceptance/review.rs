//! `pveha review` on plans written by real Terraform against `pveha sim` (homelab PVE 8), with the commands
//! `docs/guides/review-in-ci.md` shows: the blueprint lowers the risk and its prediction of where every HA service
//! ends up is what the simulator's HA manager does; a plan that packs both Traefik containers onto one node is a
//! regression (exit 2); bad plans are one-line errors with exit 1 and nothing on stdout.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use pveha_acceptance::{workspace_root, Sim, Workdir};
use serde_json::{json, Value};

use crate::audit::pveha;
use crate::provider_config::{each_terraform, hcl, sim8, workdir};

/// The guide's plan step.
const PLAN: &[&str] = &["plan", "-input=false", "-out=tfplan"];
/// The guide's step turning the saved plan into JSON.
const SHOW: &[&str] = &["show", "-json", "tfplan"];

/// The guide, which must show the same commands the tests run.
fn guide() -> Result<String> {
    let path = workspace_root().join("docs/guides/review-in-ci.md");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The workdir with the seven HA resources the fixture already manages imported, as the demo does.
pub(crate) async fn adopted(sim: &Sim, tf: &pveha_acceptance::Terraform, config: &str) -> Workdir {
    let mut w = workdir(tf, sim);
    w.write_config(config);
    for sid in ["ct:116", "ct:1250", "ct:100", "ct:113", "ct:122", "ct:131"] {
        w.import(&format!("pveha_resource.service[\"{sid}\"]"), sid)
            .await;
    }
    w.import("pveha_resource.mqtt_prod", "ct:130").await;
    w
}

/// Runs the guide's plan and show steps; returns the path of the JSON plan.
pub(crate) async fn plan_json(w: &mut Workdir) -> Result<String> {
    w.init().await;
    let plan = w.run(PLAN).await;
    anyhow::ensure!(plan.success(), "plan failed: {}", plan.combined());
    let show = w.run(SHOW).await;
    anyhow::ensure!(show.success(), "show failed: {}", show.combined());
    let path = w.path().join("plan.json");
    std::fs::write(&path, &show.stdout)?;
    Ok(path.display().to_string())
}

fn codes(review: &Value, key: &str) -> Vec<String> {
    review[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str().map(str::to_string))
        .collect()
}

async fn ha_nodes(sim: &Sim) -> Result<BTreeMap<String, String>> {
    let r = sim.api("GET", "/cluster/ha/status/current", &[]).await?;
    Ok(r.data()?
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == json!("service"))
        .filter_map(|e| {
            Some((
                e["sid"].as_str()?.to_string(),
                e["node"].as_str()?.to_string(),
            ))
        })
        .collect())
}

#[tokio::test]
async fn the_blueprint_plan_lowers_the_risk_and_predicts_where_the_ha_manager_puts_every_service(
) -> Result<()> {
    let text = guide()?;
    for command in [PLAN.join(" "), SHOW.join(" ")] {
        assert!(
            text.contains(&format!("terraform {command}")),
            "the guide must show `terraform {command}`"
        );
    }
    assert!(text.contains("pveha review --plan plan.json --fail-on-regression"));
    let blueprint = std::fs::read_to_string(workspace_root().join("examples/homelab/main.tf"))?;
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = adopted(&sim, tf, &blueprint).await;
        let plan = plan_json(&mut w).await?;

        // The guide's review step: Markdown for the comment, exit code for the job.
        let md = pveha(
            &["review", "--plan", &plan, "--fail-on-regression"],
            Some(&sim),
        )
        .await?;
        assert_eq!(md.code, Some(0), "{}\n{}", md.stdout, md.stderr);
        assert!(
            md.stdout.contains("**Risk: CRITICAL → HIGH**"),
            "{}",
            md.stdout
        );
        assert!(md.stdout.contains("<details><summary>Unchanged findings"));

        let run = pveha(&["review", "--plan", &plan, "--format", "json"], Some(&sim)).await?;
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let review = run.json()?;
        assert_eq!(
            (review["risk_before"].clone(), review["risk_after"].clone()),
            (json!("CRITICAL"), json!("HIGH"))
        );
        let resolved = codes(&review, "resolved");
        for code in ["replicas-colocated", "critical-not-ha"] {
            assert!(
                resolved.iter().any(|c| c == code),
                "{code} not resolved: {resolved:?}"
            );
        }
        assert!(
            !codes(&review, "introduced")
                .iter()
                .any(|c| c == "replicas-colocated"),
            "{review:#}"
        );
        let predicted: BTreeMap<String, String> =
            serde_json::from_value(review["nodes_after"].clone())?;
        assert_eq!(predicted.len(), 11, "{predicted:?}");
        // The blueprint's restricted groups pull the first Traefik off proxmox: the prediction has to move it.
        assert_ne!(predicted["ct:110"], "proxmox");

        // Prediction = reality: apply the same saved plan, let the HA manager run its rounds.
        let apply = w.run(&["apply", "-input=false", "tfplan"]).await;
        assert!(apply.success(), "{}", apply.combined());
        sim.advance(300).await?;
        assert_eq!(ha_nodes(&sim).await?, predicted);
    }
    Ok(())
}

/// Both Traefik containers in one restricted group on `proxmox`.
const ONE_NODE: &str = r#"
resource "pveha_group" "one_node" {
  name       = "one-node"
  nodes      = { proxmox = 1 }
  restricted = true
}
"#;

/// The blueprint changed by a pull request that puts both Traefik containers into [`ONE_NODE`].
fn packed(blueprint: &str) -> String {
    let text = blueprint
        .replace(
            "pveha_group.reverse_proxy.name ",
            "pveha_group.one_node.name ",
        )
        .replace(
            "pveha_group.reverse_proxy_2.name ",
            "pveha_group.one_node.name ",
        );
    format!("{text}{ONE_NODE}")
}

#[tokio::test]
async fn packing_both_traefik_replicas_on_one_node_is_a_regression() -> Result<()> {
    let tf = &each_terraform()[0];
    let sim = sim8().await?;
    let blueprint = std::fs::read_to_string(workspace_root().join("examples/homelab/main.tf"))?;
    let mut w = adopted(&sim, tf, &blueprint).await;
    w.apply(&blueprint).await;
    sim.advance(300).await?;
    let change = packed(&blueprint);
    assert_ne!(
        change,
        format!("{blueprint}{ONE_NODE}"),
        "the blueprint names both groups"
    );
    w.write_config(&change);
    let plan = plan_json(&mut w).await?;
    let run = pveha(
        &[
            "review",
            "--plan",
            &plan,
            "--format",
            "json",
            "--fail-on-regression",
        ],
        Some(&sim),
    )
    .await?;
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("regression"), "{}", run.stderr);
    let review = run.json()?;
    let introduced = codes(&review, "introduced");
    assert!(
        introduced
            .iter()
            .any(|c| c == "replicas-colocated" || c == "node-failure-outage"),
        "{introduced:?}"
    );
    assert_eq!(
        (
            review["nodes_after"]["ct:110"].clone(),
            review["nodes_after"]["ct:121"].clone()
        ),
        (json!("proxmox"), json!("proxmox"))
    );
    // The positive control: the same review without the flag reports and succeeds.
    let plain = pveha(&["review", "--plan", &plan], Some(&sim)).await?;
    assert_eq!(plain.code, Some(0), "{}", plain.stderr);
    Ok(())
}

#[tokio::test]
async fn bad_plans_are_one_line_errors_and_print_nothing() -> Result<()> {
    let tf = &each_terraform()[0];
    let sim = sim8().await?;
    let mut w = workdir(tf, &sim);
    w.write_config(&hcl(&format!(
        "{ONE_NODE}\nresource \"pveha_resource\" \"t\" {{\n  sid   = \"ct:121\"\n  group = pveha_group.one_node.name\n}}\n"
    )));
    let good = plan_json(&mut w).await?;
    // A plan written against another cluster: the same changes, for a guest this one lacks.
    let full = std::fs::read_to_string(&good)?.replace("ct:121", "vm:999");
    let ghost = w.path().join("ghost.json");
    std::fs::write(&ghost, &full)?;
    let ghost = ghost.display().to_string();
    let dir = w.path();
    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, &full[..full.len() / 2])?;
    let other = dir.join("v2.json");
    let mut doc: Value = serde_json::from_str(&full)?;
    doc["format_version"] = json!("2.0");
    std::fs::write(&other, doc.to_string())?;
    let cases = [
        (
            ghost.clone(),
            "references guest vm:999, which the snapshot does not have",
        ),
        (truncated.display().to_string(), "not valid JSON"),
        (other.display().to_string(), "format_version is '2.0'"),
        (dir.join("absent.json").display().to_string(), "cannot read"),
    ];
    for (path, expected) in cases {
        let run = pveha(
            &["review", "--plan", &path, "--fail-on-regression"],
            Some(&sim),
        )
        .await?;
        assert_eq!(run.code, Some(1), "{path}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{path}: printed {}", run.stdout);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(expected), "{path}: {}", run.stderr);
    }
    let usage = pveha(&["review"], None).await?;
    assert_eq!(usage.code, Some(2), "a missing --plan is a usage error");
    Ok(())
}
