//! Every file under `examples/provider`, `examples/resources` and `examples/data-sources` as users copy it:
//! each configuration passes `terraform validate` with every Terraform found (the audit example's `check` block
//! with those ≥ 1.5), each is planned against the simulator, each `import.sh` imports an address its
//! `resource.tf` declares, and the audit example shows its warning and, with `fail_on`, fails `plan`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use pveha_acceptance::{workspace_root, PlanOutcome, Terraform, Workdir};

use crate::cluster::loose;
use crate::provider_config::{each_terraform, hcl, sim8, sim9, workdir};

/// One example directory and its configuration file.
struct Example {
    dir: PathBuf,
    config: String,
}

impl Example {
    fn name(&self) -> String {
        self.dir
            .strip_prefix(workspace_root())
            .unwrap_or(&self.dir)
            .display()
            .to_string()
    }

    /// The file as a complete configuration: the provider header is added unless the file has its own.
    fn hcl(&self) -> String {
        if self.config.contains("required_providers") {
            self.config.clone()
        } else {
            hcl(&self.config)
        }
    }

    /// `check` blocks need Terraform 1.5.
    fn min_version(&self) -> (u32, u32, u32) {
        if self.config.contains("check \"") {
            (1, 5, 0)
        } else {
            (1, 0, 0)
        }
    }
}

fn examples() -> Result<Vec<Example>> {
    let root = workspace_root().join("examples");
    let mut dirs = vec![root.join("provider")];
    for kind in ["resources", "data-sources"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(kind))
            .with_context(|| format!("examples/{kind}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    dirs.into_iter()
        .map(|dir| {
            let file = ["provider.tf", "resource.tf", "data-source.tf"]
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.is_file())
                .with_context(|| {
                    format!(
                        "{} has no provider.tf, resource.tf or data-source.tf",
                        dir.display()
                    )
                })?;
            Ok(Example {
                config: std::fs::read_to_string(&file)?,
                dir,
            })
        })
        .collect()
}

fn example(rel: &str) -> Result<Example> {
    let dir = workspace_root().join("examples").join(rel);
    let file = if rel.starts_with("resources/") {
        "resource.tf"
    } else {
        "data-source.tf"
    };
    Ok(Example {
        config: std::fs::read_to_string(dir.join(file))?,
        dir,
    })
}

fn supports(tf: &Terraform, ex: &Example) -> bool {
    tf.version_tuple() >= ex.min_version()
}

#[tokio::test]
async fn every_example_validates_with_every_terraform_that_supports_it() -> Result<()> {
    let all = examples()?;
    assert!(
        all.len() >= 7,
        "provider, 4 resources, 2 data sources: found {}",
        all.len()
    );
    for tf in each_terraform() {
        for ex in all.iter().filter(|ex| supports(tf, ex)) {
            let mut w = Workdir::new(tf);
            let out = w.validate(&ex.hcl()).await;
            assert!(out.success(), "{} does not validate:\n{out}", ex.name());
        }
    }
    Ok(())
}

/// `terraform import ADDRESS ID` lines of an `import.sh`.
fn imports(script: &str) -> Vec<(String, String)> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("terraform import "))
        .filter_map(|rest| {
            let mut parts = rest.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

#[tokio::test]
async fn every_resource_example_has_an_import_script_for_an_address_it_declares() -> Result<()> {
    let resources: Vec<Example> = examples()?
        .into_iter()
        .filter(|e| e.name().contains("resources/"))
        .collect();
    assert_eq!(resources.len(), 4);
    for ex in &resources {
        let script = std::fs::read_to_string(ex.dir.join("import.sh"))
            .with_context(|| format!("{}/import.sh", ex.name()))?;
        let lines = imports(&script);
        assert!(!lines.is_empty(), "{}/import.sh imports nothing", ex.name());
        for (address, _) in lines {
            let Some((kind, name)) = address.split_once('.') else {
                bail!("{address} is not TYPE.NAME")
            };
            assert!(
                ex.dir.ends_with(kind),
                "{}/import.sh imports a {kind}",
                ex.name()
            );
            assert!(
                ex.config
                    .contains(&format!("resource \"{kind}\" \"{name}\"")),
                "{} declares no {address}",
                ex.name()
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn resource_examples_plan_against_the_simulator() -> Result<()> {
    let tf = &each_terraform()[0];
    for (rel, pve9) in [
        ("resources/pveha_group", false),
        ("resources/pveha_resource", false),
        ("resources/pveha_guest_startup", false),
        ("resources/pveha_ha_settings", false),
        ("resources/pveha_rule", true),
        ("data-sources/pveha_cluster", false),
    ] {
        let ex = example(rel)?;
        let sim = if pve9 { sim9().await? } else { sim8().await? };
        let mut w = workdir(tf, &sim);
        let plan = w.plan(&ex.hcl()).await;
        assert_eq!(
            plan.outcome,
            PlanOutcome::Changes,
            "{rel} must plan cleanly:\n{}",
            plan.output
        );
    }
    Ok(())
}

#[tokio::test]
async fn resource_examples_apply_and_import_with_their_scripts() -> Result<()> {
    let tf = &each_terraform()[0];
    for rel in [
        "resources/pveha_group",
        "resources/pveha_guest_startup",
        "resources/pveha_ha_settings",
    ] {
        let ex = example(rel)?;
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        w.apply(&ex.hcl()).await;
        let script = std::fs::read_to_string(ex.dir.join("import.sh"))?;
        for (address, id) in imports(&script) {
            w.import(&address, &id).await.expect_no_diff();
        }
        w.destroy().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_audit_example_warns_with_its_check_block_and_fail_on_fails_plan() -> Result<()> {
    let ex = example("data-sources/pveha_audit")?;
    let newest = each_terraform()
        .iter()
        .find(|tf| supports(tf, &ex))
        .context("no Terraform >= 1.5 found")?;
    let sim = sim8().await?;
    let mut w = workdir(newest, &sim);
    let plan = w.plan(&ex.hcl()).await;
    assert_ne!(plan.outcome, PlanOutcome::Error, "{}", plan.output);
    let out = plan.output.combined();
    assert!(out.contains("Warning: Critical HA finding"), "{out}");
    assert!(out.contains("Check block assertion failed"), "{out}");
    let check = out
        .split("Check block assertion failed")
        .nth(1)
        .unwrap_or_default();
    assert!(
        check.contains("critical findings") && check.contains("replicas-colocated"),
        "{out}"
    );

    let strict = ex
        .hcl()
        .replace("# fail_on = \"critical\"", "fail_on = \"critical\"");
    assert_ne!(
        strict,
        ex.hcl(),
        "the example carries the commented fail_on line"
    );
    w.plan_only(&strict)
        .await
        .expect_error(&loose("HA audit failed"), Some("fail_on"))
        .expect_error(r"\[critical\]\s+replicas-colocated", None);
    Ok(())
}
