//! The seed's blueprint as HCL, end to end: `examples/homelab/` against the PVE 8 fixture and
//! `examples/homelab-pve9/` against the PVE 9 fixture. Apply, check the simulator's state, a clean plan,
//! then destroy leaving the cluster's HA configuration as the fixture had it.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use pveha_acceptance::{workspace_root, Sim};
use serde_json::{json, Value};

use crate::provider_config::{each_terraform, sim8, sim9, workdir};

fn example(dir: &str) -> Result<String> {
    let path = workspace_root().join("examples").join(dir).join("main.tf");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// `sid → object` of the HA resources the simulator has.
async fn ha_resources(sim: &Sim) -> Result<BTreeMap<String, Value>> {
    let r = sim.api("GET", "/cluster/ha/resources", &[]).await?;
    Ok(r.data()?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some((o["sid"].as_str()?.to_string(), o.clone())))
        .collect())
}

async fn names(sim: &Sim, path: &str, key: &str) -> Result<Vec<String>> {
    let r = sim.api("GET", path, &[]).await?;
    let mut v: Vec<String> = r
        .data()?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o[key].as_str().map(str::to_string))
        .collect();
    v.sort();
    Ok(v)
}

async fn node_of(sim: &Sim, sid: &str) -> Result<String> {
    let r = sim.api("GET", "/cluster/ha/status/current", &[]).await?;
    let found = r
        .data()?
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["sid"] == json!(sid))
        .cloned();
    Ok(found
        .and_then(|e| e["node"].as_str().map(str::to_string))
        .unwrap_or_default())
}

async fn startup(sim: &Sim, node: &str, vmid: u32) -> Result<Value> {
    Ok(sim
        .api("GET", &format!("/nodes/{node}/lxc/{vmid}/config"), &[])
        .await?
        .data()?["startup"]
        .clone())
}

#[tokio::test]
async fn homelab_blueprint_pve8_applies_plans_clean_and_destroys() -> Result<()> {
    let hcl = example("homelab")?;
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        // The seven services the fixture already manages are adopted, as a user of the blueprint would.
        w.write_config(&hcl);
        for sid in ["ct:116", "ct:1250", "ct:100", "ct:113", "ct:122", "ct:131"] {
            w.import(&format!("pveha_resource.service[\"{sid}\"]"), sid)
                .await;
        }
        w.import("pveha_resource.mqtt_prod", "ct:130").await;
        w.apply(&hcl)
            .await
            .expect_attr("pveha_resource.mqtt_prod", "node", "proxmox");

        assert_eq!(
            names(&sim, "/cluster/ha/groups", "group").await?,
            [
                "applications",
                "critical-infrastructure",
                "databases",
                "reverse-proxy",
                "reverse-proxy-2"
            ]
        );
        let resources = ha_resources(&sim).await?;
        assert_eq!(resources.len(), 11, "{resources:?}");
        assert_eq!(resources["ct:110"]["group"], json!("reverse-proxy"));
        assert_eq!(resources["ct:121"]["group"], json!("reverse-proxy-2"));
        assert_eq!(resources["ct:110"]["max_restart"], json!(3));
        assert_eq!(resources["ct:130"]["group"], json!("applications"));
        assert_eq!(node_of(&sim, "ct:130").await?, "proxmox");
        assert_eq!(
            startup(&sim, "proxmox2", 133).await?,
            json!("order=2,up=15")
        );
        assert_eq!(startup(&sim, "proxmox", 135).await?, json!("order=6"));

        // The HA manager acts on the blueprint (groups pull traefik off proxmox); refresh is still clean.
        sim.advance(300).await?;
        w.plan_current().await.expect_no_changes();

        w.destroy().await;
        assert!(names(&sim, "/cluster/ha/groups", "group").await?.is_empty());
        assert!(
            ha_resources(&sim).await?.is_empty(),
            "destroy left HA resources"
        );
    }
    Ok(())
}

#[tokio::test]
async fn homelab_blueprint_pve9_applies_plans_clean_and_destroys() -> Result<()> {
    let hcl = example("homelab-pve9")?;
    for tf in each_terraform() {
        let sim = sim9().await?;
        let mut w = workdir(tf, &sim);
        w.write_config(&hcl);
        for sid in [
            "ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250",
        ] {
            w.import(&format!("pveha_resource.service[\"{sid}\"]"), sid)
                .await;
        }
        w.apply(&hcl).await;

        assert_eq!(
            names(&sim, "/cluster/ha/rules", "rule").await?,
            [
                "databases",
                "dns-apart",
                "reverse-proxy",
                "reverse-proxy-apart"
            ]
        );
        let rule = sim
            .api("GET", "/cluster/ha/rules/reverse-proxy-apart", &[])
            .await?;
        let rule = rule.data()?;
        assert_eq!(
            (rule["affinity"].clone(), rule["resources"].clone()),
            (json!("negative"), json!("ct:110,ct:121"))
        );
        assert!(
            rule.get("errors").is_none(),
            "the blueprint's rules must be feasible: {rule}"
        );
        assert_eq!(ha_resources(&sim).await?.len(), 11);

        // The HA manager enforces the rules; the two Traefik instances end up apart, and refresh stays clean.
        sim.advance(300).await?;
        assert_ne!(
            node_of(&sim, "ct:110").await?,
            node_of(&sim, "ct:121").await?
        );
        assert!(!["proxmox".to_string()].contains(&node_of(&sim, "ct:110").await?));
        w.plan_current().await.expect_no_changes();

        w.destroy().await;
        assert!(names(&sim, "/cluster/ha/rules", "rule").await?.is_empty());
        assert!(
            ha_resources(&sim).await?.is_empty(),
            "destroy left HA resources"
        );
    }
    Ok(())
}
