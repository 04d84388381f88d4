//! `pveha_cluster` through real Terraform against the simulator: nodes, guests (with sids, tags and HA
//! state), HA status, version and HA model on PVE 8 and 9, the three filters, and the error for an unknown node.

use anyhow::Result;
use pveha_acceptance::{Sim, State};
use serde_json::{json, Value};

use crate::provider_config::{each_terraform, hcl, sim8, sim9, workdir};

const ALL: &str = r#"data "pveha_cluster" "all" {}

data "pveha_cluster" "proxmox" {
  node = "proxmox"
}

data "pveha_cluster" "critical" {
  tag = "critical"
}

data "pveha_cluster" "ha" {
  ha_managed_only = true
}
"#;

/// A regex matching `text` wherever Terraform wrapped its lines.
pub(crate) fn loose(text: &str) -> String {
    text.split_whitespace()
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join(r"\s+")
}

fn list<'a>(state: &'a State, address: &str, attr: &str) -> &'a [Value] {
    state
        .attr(address, attr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn field(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The guests the simulator's inventory lists, as sids, sorted by VMID like the data source.
async fn inventory_sids(sim: &Sim) -> Result<Vec<String>> {
    let r = sim
        .api("GET", "/cluster/resources", &[("type", "vm")])
        .await?;
    let mut guests: Vec<(u64, String)> = r
        .data()?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|g| {
            let vmid = g["vmid"].as_u64()?;
            let kind = if g["type"] == "lxc" { "ct" } else { "vm" };
            Some((vmid, format!("{kind}:{vmid}")))
        })
        .collect();
    guests.sort();
    Ok(guests.into_iter().map(|(_, s)| s).collect())
}

#[tokio::test]
async fn cluster_reports_nodes_guests_ha_status_and_the_pve8_model() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        w.try_apply(&hcl(ALL)).await.expect_success();
        let s = w.state().await;
        let all = "data.pveha_cluster.all";
        s.expect_attr(all, "pve_version", "8.4.1")
            .expect_attr(all, "ha_model", "groups");

        let nodes = list(&s, all, "nodes");
        assert_eq!(field(nodes, "name"), ["proxmox", "proxmox2", "proxmox3"]);
        assert!(
            nodes
                .iter()
                .all(|n| n["online"] == json!(true) && n["memory_total"].as_u64() > Some(0)),
            "{nodes:?}"
        );
        assert!(nodes.iter().all(|n| n["ip"].is_string()), "{nodes:?}");

        let guests = list(&s, all, "guests");
        assert_eq!(field(guests, "sid"), inventory_sids(&sim).await?);
        let traefik = guests
            .iter()
            .find(|g| g["vmid"] == json!(110))
            .expect("guest 110");
        assert_eq!(traefik["name"], json!("traefik"));
        assert_eq!(traefik["type"], json!("lxc"));
        assert_eq!(traefik["node"], json!("proxmox"));
        assert_eq!(traefik["tags"], json!(["critical", "proxy"]));
        assert_eq!(
            traefik["ha_state"],
            Value::Null,
            "traefik is not HA-managed in the fixture"
        );
        let influx = guests
            .iter()
            .find(|g| g["vmid"] == json!(100))
            .expect("guest 100");
        assert_eq!(influx["ha_state"], json!("started"));

        s.expect_attr(all, "ha.quorate", true);
        let services = list(&s, all, "ha.services");
        assert_eq!(services.len(), 7, "{services:?}");
        assert!(s
            .attr(all, "ha.manager_master")
            .is_some_and(Value::is_string));

        let on_proxmox = list(&s, "data.pveha_cluster.proxmox", "guests");
        assert_eq!(
            field(on_proxmox, "sid"),
            ["ct:110", "ct:121", "ct:132", "ct:134", "ct:135"]
        );
        assert_eq!(
            field(list(&s, "data.pveha_cluster.proxmox", "nodes"), "name"),
            ["proxmox"]
        );
        let critical = list(&s, "data.pveha_cluster.critical", "guests");
        assert_eq!(
            field(critical, "sid"),
            ["ct:110", "ct:121", "ct:132", "ct:134"]
        );
        let ha = list(&s, "data.pveha_cluster.ha", "guests");
        assert_eq!(
            field(ha, "sid"),
            ["ct:100", "ct:113", "ct:116", "ct:122", "ct:130", "ct:131", "ct:1250"]
        );
        assert!(w.state().await.managed().is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn cluster_shows_the_rules_model_on_pve9() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim9().await?;
        let mut w = workdir(tf, &sim);
        w.try_apply(&hcl("data \"pveha_cluster\" \"all\" {}\n"))
            .await
            .expect_success();
        w.state()
            .await
            .expect_attr("data.pveha_cluster.all", "ha_model", "rules");
        let version = sim.api("GET", "/version", &[]).await?;
        let expected = version.data()?["version"].clone();
        w.state()
            .await
            .expect_attr("data.pveha_cluster.all", "pve_version", expected);
    }
    Ok(())
}

#[tokio::test]
async fn cluster_follows_a_node_going_offline() -> Result<()> {
    let tf = &each_terraform()[0];
    let sim = sim8().await?;
    sim.power("proxmox3", false).await?;
    let mut w = workdir(tf, &sim);
    w.try_apply(&hcl("data \"pveha_cluster\" \"all\" {}\n"))
        .await
        .expect_success();
    let s = w.state().await;
    let nodes = list(&s, "data.pveha_cluster.all", "nodes");
    let online: Vec<(String, bool)> = nodes
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or_default().to_string(),
                n["online"] == json!(true),
            )
        })
        .collect();
    assert_eq!(
        online,
        [
            ("proxmox".into(), true),
            ("proxmox2".into(), true),
            ("proxmox3".into(), false)
        ]
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_node_filter_fails_naming_the_nodes() -> Result<()> {
    for tf in each_terraform() {
        let sim = sim8().await?;
        let mut w = workdir(tf, &sim);
        w.plan_only(&hcl("data \"pveha_cluster\" \"x\" {\n  node = \"proxmox9\"\n}\n"))
            .await
            .expect_error(&loose("\"proxmox9\" is not a node of this cluster; its nodes are proxmox, proxmox2, proxmox3"), Some("node"));
    }
    Ok(())
}
