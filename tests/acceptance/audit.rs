//! The HA audit as users run it: `pveha audit` on the seed's snapshot and on a live simulator, `pveha snapshot`,
//! `--fail-on`, and the `pveha_audit` data source through real Terraform (warnings for critical findings,
//! `fail_on` failing plan, option errors at their attribute) — and the seed's story end to end: the blueprint
//! in `examples/homelab/` applied, the HA manager's next rounds run, and only the hardware findings left.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use pveha_acceptance::{pveha_binary, workspace_root, Sim, TOKEN};
use serde_json::Value;

use crate::cluster::loose;
use crate::provider_config::{each_terraform, hcl, sim8, workdir};

/// What one `pveha` run printed.
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("not JSON:\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs `pveha ARGS`, connected to `sim` through the provider's environment variables when given.
pub(crate) async fn pveha(args: &[&str], sim: Option<&Sim>) -> Result<Run> {
    let mut cmd = tokio::process::Command::new(pveha_binary());
    cmd.args(args)
        .current_dir(workspace_root())
        .kill_on_drop(true);
    for var in [
        "ENDPOINT",
        "API_TOKEN",
        "USERNAME",
        "PASSWORD",
        "TLS_FINGERPRINT",
        "CA_CERT",
        "INSECURE",
    ] {
        cmd.env_remove(format!("PROXMOX_VE_{var}"));
    }
    if let Some(sim) = sim {
        cmd.env("PROXMOX_VE_ENDPOINT", sim.endpoint())
            .env("PROXMOX_VE_API_TOKEN", TOKEN);
        if let Some(fp) = sim.fingerprint() {
            cmd.env("PROXMOX_VE_TLS_FINGERPRINT", fp);
        }
    }
    let out = cmd.output().await.context("running pveha")?;
    Ok(Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn codes(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The findings with `code`.
fn with_code<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["code"] == code).collect())
        .unwrap_or_default()
}

fn subjects(finding: &Value) -> Vec<String> {
    finding["subjects"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn fixture_arg() -> String {
    Sim::fixture("cluster-pve8.json").display().to_string()
}

/// The seed's problems, each as the report states it.
fn assert_seed_problems(report: &Value) {
    let risk = report["risk"].as_str().unwrap_or_default();
    assert!(matches!(risk, "HIGH" | "CRITICAL"), "risk {risk}");
    let colocated = with_code(report, "replicas-colocated");
    assert!(
        colocated.iter().any(|f| {
            let s = subjects(f);
            s.contains(&"traefik".into()) && s.contains(&"proxmox".into())
        }),
        "traefik replicas co-located on proxmox: {colocated:?}"
    );
    let not_ha: Vec<String> = with_code(report, "critical-not-ha")
        .iter()
        .flat_map(|f| subjects(f))
        .collect();
    for sid in ["ct:110", "ct:121", "ct:132", "ct:134"] {
        assert!(
            not_ha.contains(&sid.to_string()),
            "{sid} not HA-managed: {not_ha:?}"
        );
    }
    assert!(
        !with_code(report, "no-placement-policy").is_empty(),
        "no HA groups"
    );
    let counts: Vec<(String, u64)> = report["distribution"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    (
                        d["node"].as_str().unwrap_or_default().into(),
                        d["ha_resources"].as_u64().unwrap_or(99),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        counts,
        [
            ("proxmox".into(), 0),
            ("proxmox2".into(), 3),
            ("proxmox3".into(), 4)
        ]
    );
    assert!(
        !with_code(report, "ha-imbalance").is_empty(),
        "0/3/4 is imbalanced"
    );
    let memory = with_code(report, "memory-errors");
    assert!(
        memory
            .iter()
            .any(|f| subjects(f).contains(&"proxmox".into())
                && f["detail"].as_str().unwrap_or_default().contains("IBECC")),
        "{memory:?}"
    );
    let fs = with_code(report, "filesystem-errors");
    assert!(
        fs.iter().any(|f| subjects(f).contains(&"proxmox".into())
            && f["detail"].as_str().unwrap_or_default().contains("EXT4")),
        "{fs:?}"
    );
    let proxmox = report["node_failure_impact"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["node"] == "proxmox"))
        .cloned()
        .unwrap_or_default();
    assert!(
        proxmox["lost_services"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s == "traefik")),
        "{proxmox}"
    );
    assert_eq!(
        proxmox["rto_seconds"]["traefik"],
        Value::Null,
        "traefik stays down: {proxmox}"
    );
}

#[tokio::test]
async fn audit_of_the_seed_snapshot_reports_every_seed_problem() -> Result<()> {
    let run = pveha(
        &["audit", "--snapshot", &fixture_arg(), "--format", "json"],
        None,
    )
    .await?;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json()?;
    assert_seed_problems(&report);
    for key in [
        "risk",
        "findings",
        "counts",
        "distribution",
        "node_failure_impact",
        "report",
    ] {
        assert!(report.get(key).is_some(), "JSON has no {key}");
    }
    let f = &report["findings"][0];
    for key in [
        "code",
        "severity",
        "title",
        "detail",
        "subjects",
        "remediation",
        "remediation_hcl",
    ] {
        assert!(f.get(key).is_some(), "finding has no {key}: {f}");
    }

    let md = pveha(&["audit", "--snapshot", &fixture_arg()], None).await?;
    assert_eq!(md.code, Some(0), "{}", md.stderr);
    assert!(md.stdout.starts_with("# "), "{}", md.stdout);
    assert!(
        md.stdout.contains(&format!(
            "**Risk: {}**",
            report["risk"].as_str().unwrap_or_default()
        )),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("resource \"pveha_"),
        "remediation HCL: {}",
        md.stdout
    );
    Ok(())
}

#[tokio::test]
async fn audit_of_the_seed_snapshot_says_a_reboot_of_proxmox_takes_traefik_down() -> Result<()> {
    let run = pveha(
        &["audit", "--snapshot", &fixture_arg(), "--format", "json"],
        None,
    )
    .await?;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report = run.json()?;
    let outage = with_code(&report, "reboot-outage");
    assert!(
        outage.iter().any(
            |f| subjects(f).first().map(String::as_str) == Some("proxmox")
                && subjects(f).contains(&"traefik".to_string())
        ),
        "{outage:#?}"
    );
    let proxmox = report["node_reboot_impact"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["node"] == "proxmox")
        .context("no node_reboot_impact for proxmox")?;
    assert_eq!(proxmox["policy"], "conditional");
    assert!(
        proxmox["lost_services"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s == "traefik")),
        "{proxmox:#}"
    );
    // The fix comes as data and, rendered by the provider, as HCL setting the shutdown policy.
    let fix = outage
        .iter()
        .find(|f| subjects(f).first().map(String::as_str) == Some("proxmox"))
        .context("no reboot-outage for proxmox")?;
    assert!(fix["remediation_actions"].as_array().is_some_and(|a| a
        .iter()
        .any(|r| r["kind"] == "ha_settings" && r["shutdown_policy"] == "migrate")));
    assert!(fix["remediation_hcl"]
        .as_str()
        .is_some_and(|h| h.contains("resource \"pveha_ha_settings\"")
            && h.contains("shutdown_policy = \"migrate\"")));
    Ok(())
}

#[tokio::test]
async fn audit_options_change_what_is_critical() -> Result<()> {
    let base = pveha(
        &["audit", "--snapshot", &fixture_arg(), "--format", "json"],
        None,
    )
    .await?
    .json()?;
    assert!(codes(&base).contains("critical-not-ha"));
    // With no guest critical, nothing can be a critical guest without HA.
    let none = pveha(
        &[
            "audit",
            "--snapshot",
            &fixture_arg(),
            "--format",
            "json",
            "--critical-tag",
            "no-such-tag",
        ],
        None,
    )
    .await?
    .json()?;
    assert!(
        !codes(&none).contains("critical-not-ha"),
        "{:?}",
        codes(&none)
    );
    let by_vmid = pveha(
        &[
            "audit",
            "--snapshot",
            &fixture_arg(),
            "--format",
            "json",
            "--critical-tag",
            "no-such-tag",
            "--critical-vmid",
            "135",
        ],
        None,
    )
    .await?
    .json()?;
    let not_ha: Vec<String> = with_code(&by_vmid, "critical-not-ha")
        .iter()
        .flat_map(|f| subjects(f))
        .collect();
    assert!(not_ha.contains(&"ct:135".to_string()), "{not_ha:?}");
    Ok(())
}

#[tokio::test]
async fn fail_on_exits_2_when_met_and_usage_errors_exit_2_with_one_line() -> Result<()> {
    let met = pveha(
        &[
            "audit",
            "--snapshot",
            &fixture_arg(),
            "--fail-on",
            "critical",
        ],
        None,
    )
    .await?;
    assert_eq!(met.code, Some(2), "{}", met.stderr);
    assert!(met.stdout.contains("# "), "the report is still printed");
    assert!(
        met.stderr.contains("at or above critical"),
        "{}",
        met.stderr
    );

    let bad = pveha(
        &["audit", "--snapshot", &fixture_arg(), "--fail-on", "severe"],
        None,
    )
    .await?;
    assert_eq!(bad.code, Some(2));
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);

    let nowhere = pveha(&["audit"], None).await?;
    assert_eq!(nowhere.code, Some(1));
    assert!(
        nowhere.stderr.contains("PROXMOX_VE_ENDPOINT") && nowhere.stderr.contains("--snapshot"),
        "{}",
        nowhere.stderr
    );
    Ok(())
}

#[tokio::test]
async fn live_audit_equals_the_snapshot_audit_and_pveha_snapshot_round_trips() -> Result<()> {
    let sim = Sim::start_with(Sim::fixture("cluster-pve8.json"), &["--time-scale", "0"]).await?;
    let live = pveha(&["audit", "--format", "json"], Some(&sim)).await?;
    assert_eq!(live.code, Some(0), "{}", live.stderr);
    let live = live.json()?;
    assert_seed_problems(&live);
    let offline = pveha(
        &["audit", "--snapshot", &fixture_arg(), "--format", "json"],
        None,
    )
    .await?
    .json()?;
    assert_eq!(codes(&live), codes(&offline));

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("snap.json");
    let file_arg = file.display().to_string();
    let snap = pveha(&["snapshot", "--output", &file_arg], Some(&sim)).await?;
    assert_eq!(snap.code, Some(0), "{}", snap.stderr);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    assert_eq!(doc["format"], "pveha-snapshot/1");
    assert!(
        doc.get("auth").is_none(),
        "a snapshot never carries credentials"
    );
    assert!(
        doc["api"]["/nodes/proxmox/journal"].is_array(),
        "journals are captured"
    );
    let again = pveha(
        &["audit", "--snapshot", &file_arg, "--format", "json"],
        None,
    )
    .await?
    .json()?;
    assert_eq!(codes(&again), codes(&live));
    Ok(())
}

/// The placement and HA-management findings the blueprint fixes.
const FIXED_BY_BLUEPRINT: [&str; 5] = [
    "replicas-colocated",
    "critical-not-ha",
    "no-placement-policy",
    "node-failure-outage",
    "critical-no-onboot",
];

#[tokio::test]
async fn the_homelab_blueprint_clears_placement_findings_and_keeps_hardware_ones() -> Result<()> {
    let tf = &each_terraform()[0];
    // A running clock: `pveha_resource.node` in the blueprint waits for the HA manager to move ct:130.
    let sim = sim8().await?;
    let before = pveha(&["audit", "--format", "json"], Some(&sim))
        .await?
        .json()?;
    assert_seed_problems(&before);

    let blueprint = std::fs::read_to_string(workspace_root().join("examples/homelab/main.tf"))?;
    let mut w = workdir(tf, &sim);
    // The services the fixture already manages are adopted first, as a user of the blueprint would.
    w.write_config(&blueprint);
    for sid in ["ct:116", "ct:1250", "ct:100", "ct:113", "ct:122", "ct:131"] {
        w.import(&format!("pveha_resource.service[\"{sid}\"]"), sid)
            .await;
    }
    w.import("pveha_resource.mqtt_prod", "ct:130").await;
    w.try_apply(&blueprint).await.expect_success();
    // The HA manager places the new services and moves the restricted ones over its next rounds.
    sim.advance(300).await?;
    let after = pveha(
        &["audit", "--format", "json", "--fail-on", "critical"],
        Some(&sim),
    )
    .await?;
    assert_eq!(
        after.code,
        Some(0),
        "no critical finding may remain:\n{}",
        after.stdout
    );
    let after = after.json()?;
    let left = codes(&after);
    for code in FIXED_BY_BLUEPRINT {
        assert!(
            !left.contains(code),
            "{code} remains: {:#}",
            after["findings"]
        );
    }
    assert!(
        left.contains("memory-errors") && left.contains("filesystem-errors"),
        "hardware stays: {left:?}"
    );
    let md = pveha(&["audit"], Some(&sim)).await?;
    assert!(md.stdout.contains("**Risk: "), "{}", md.stdout);
    w.destroy().await;
    Ok(())
}

#[tokio::test]
async fn audit_data_source_warns_on_critical_findings_and_fail_on_fails_plan() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        let plain = hcl("data \"pveha_audit\" \"ha\" {}\n\noutput \"risk\" {\n  value = data.pveha_audit.ha.risk\n}\n");
        let plan = w.plan(&plain).await;
        let out = plan.output.combined();
        assert!(
            plan.output.success() || plan.output.code == Some(2),
            "{}",
            plan.output
        );
        assert!(out.contains("Warning: Critical HA finding"), "{out}");
        assert!(out.contains("replicas-colocated"), "{out}");

        w.try_apply(&plain).await.expect_success();
        let s = w.state().await;
        let ds = "data.pveha_audit.ha";
        assert!(matches!(
            s.attr(ds, "risk").and_then(Value::as_str),
            Some("HIGH" | "CRITICAL")
        ));
        s.expect_attr(ds, "critical_tags", serde_json::json!(["critical"]))
            .expect_attr(ds, "journal_window", "24h")
            .expect_attr(ds, "infer_services", true);
        assert!(s.attr(ds, "counts.critical").and_then(Value::as_u64) > Some(0));
        assert!(s
            .attr(ds, "report")
            .and_then(Value::as_str)
            .is_some_and(|r| r.contains("traefik")));
        let impact = s
            .attr(ds, "node_failure_impact")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(impact.len(), 3, "one entry per online node");

        let failing = hcl("data \"pveha_audit\" \"ha\" {\n  fail_on = \"critical\"\n}\n");
        w.plan_only(&failing)
            .await
            .expect_error(&loose("HA audit failed"), Some("fail_on"))
            .expect_error(r"\[critical\]\s+replicas-colocated", None)
            .expect_error(r"\[critical\]\s+node-failure-outage", None);
    }
    Ok(())
}

#[tokio::test]
async fn audit_data_source_options_are_checked_at_their_attribute() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        w.plan_only(&hcl(
            "data \"pveha_audit\" \"ha\" {\n  journal_window = \"soon\"\n}\n",
        ))
        .await
        .expect_error(&loose("'soon' is not a duration"), Some("journal_window"));
        w.plan_only(&hcl(
            "data \"pveha_audit\" \"ha\" {\n  fail_on = \"severe\"\n}\n",
        ))
        .await
        .expect_error(&loose("'severe' is not a severity"), Some("fail_on"));
    }
    Ok(())
}
