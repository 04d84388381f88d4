//! The `pveha` provider block: settings from the block or from the environment (the names the most used
//! Proxmox provider reads), and the errors a user sees when endpoint or credentials are missing or wrong.
//! Also the helpers the resource tests share: the provider header, a workdir wired to a simulator, and
//! simulator fixtures derived from the homelab snapshot.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use pveha_acceptance::{terraforms, Sim, Terraform, Workdir, TOKEN};
use serde_json::{json, Value};

/// `required_providers` plus an empty provider block (settings come from the environment).
pub(crate) const HEADER: &str = r#"terraform {
  required_providers {
    pveha = {
      source = "pveha/pveha"
    }
  }
}

provider "pveha" {}
"#;

/// The provider header followed by `resources`.
pub(crate) fn hcl(resources: &str) -> String {
    format!("{HEADER}\n{resources}")
}

/// Simulated seconds per real second: HA rounds every 0.2 s, so moves settle quickly.
const TIME_SCALE: &str = "50";

/// The homelab PVE 8 fixture on a fast clock.
pub(crate) async fn sim8() -> Result<Sim> {
    Sim::start_with(
        Sim::fixture("cluster-pve8.json"),
        &["--time-scale", TIME_SCALE],
    )
    .await
}

/// The homelab PVE 9 fixture on a fast clock.
pub(crate) async fn sim9() -> Result<Sim> {
    Sim::start_with(
        Sim::fixture("cluster-pve9.json"),
        &["--time-scale", TIME_SCALE],
    )
    .await
}

/// A simulator on `fixture` (a file written by [`fixture_with_guests`]) on a fast clock.
pub(crate) async fn sim_on(fixture: &std::path::Path) -> Result<Sim> {
    Sim::start_with(fixture, &["--time-scale", TIME_SCALE]).await
}

/// A workdir for `tf` whose provider reaches `sim` through the environment variables.
pub(crate) fn workdir(tf: &Terraform, sim: &Sim) -> Workdir {
    let mut w = Workdir::new(tf);
    w.set_env("PROXMOX_VE_ENDPOINT", sim.endpoint());
    w.set_env("PROXMOX_VE_API_TOKEN", TOKEN);
    if let Some(fp) = sim.fingerprint() {
        w.set_env("PROXMOX_VE_TLS_FINGERPRINT", fp);
    }
    w
}

/// Every Terraform found (the suite runs each scenario against each).
pub(crate) fn each_terraform() -> &'static [Terraform] {
    terraforms()
}

/// A guest to add to a fixture: VMID, `lxc` or `qemu`, node.
pub(crate) struct ExtraGuest {
    pub vmid: u32,
    pub kind: &'static str,
    pub node: &'static str,
}

/// Writes a copy of the homelab `base` fixture with `extra` guests added (inventory entry plus config) into
/// `dir`, and returns its path. Used for a VM (the homelab has only containers) and for large inventories.
pub(crate) fn fixture_with_guests(
    base: &str,
    extra: &[ExtraGuest],
    dir: &std::path::Path,
) -> Result<PathBuf> {
    let text =
        std::fs::read_to_string(Sim::fixture(base)).context("reading the homelab fixture")?;
    let mut doc: Value = serde_json::from_str(&text).context("parsing the homelab fixture")?;
    let api = doc["api"].as_object_mut().context("fixture has no api")?;
    for g in extra {
        let name = format!("guest{}", g.vmid);
        let entry = json!({
            "id": format!("{}/{}", g.kind, g.vmid), "vmid": g.vmid, "name": name, "node": g.node, "type": g.kind,
            "status": "running", "template": 0, "maxcpu": 1, "cpu": 0.01, "maxmem": 536870912u64, "mem": 268435456u64,
            "maxdisk": 4294967296u64, "disk": 1073741824u64, "uptime": 1000, "netin": 0, "netout": 0,
            "diskread": 0, "diskwrite": 0,
        });
        api.get_mut("/cluster/resources")
            .and_then(Value::as_array_mut)
            .context("no /cluster/resources")?
            .push(entry);
        let config = if g.kind == "qemu" {
            json!({"name": name, "memory": 512, "cores": 1, "sockets": 1, "ostype": "l26",
                   "scsi0": format!("local-lvm:vm-{}-disk-0,size=4G", g.vmid), "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0"})
        } else {
            json!({"arch": "amd64", "cores": 1, "hostname": name, "memory": 512, "ostype": "debian",
                   "rootfs": format!("local-lvm:vm-{}-disk-0,size=4G", g.vmid), "swap": 512, "unprivileged": 1,
                   "net0": "name=eth0,bridge=vmbr0,type=veth"})
        };
        api.insert(
            format!("/nodes/{}/{}/{}/config", g.node, g.kind, g.vmid),
            config,
        );
    }
    let path = dir.join(format!(
        "fixture-{}-{}.json",
        base.trim_end_matches(".json"),
        extra.len()
    ));
    std::fs::write(&path, serde_json::to_string_pretty(&doc)?).context("writing the fixture")?;
    Ok(path)
}

/// One HA resource, used to make the provider talk to the cluster during plan.
const ONE_RESOURCE: &str = r#"
resource "pveha_resource" "traefik" {
  sid = "ct:110"
}
"#;

#[tokio::test]
async fn missing_endpoint_and_credentials_name_attribute_and_environment_variable() -> Result<()> {
    let sim = sim8().await?;
    for tf in each_terraform() {
        let mut w = Workdir::new(tf);
        let plan = w.plan(&hcl(ONE_RESOURCE)).await;
        plan.expect_error(
            r"Missing\s+Proxmox\s+VE\s+endpoint[\s\S]*PROXMOX_VE_ENDPOINT",
            None,
        );

        w.set_env("PROXMOX_VE_ENDPOINT", sim.endpoint());
        let plan = w.plan(&hcl(ONE_RESOURCE)).await;
        plan.expect_error(
            r"Missing\s+Proxmox\s+VE\s+credentials[\s\S]*PROXMOX_VE_API_TOKEN",
            None,
        );
    }
    Ok(())
}

#[tokio::test]
async fn settings_in_the_block_work_with_a_token_or_a_password_and_bad_ones_are_named() -> Result<()>
{
    let sim = sim8().await?;
    let fp = sim.fingerprint().unwrap_or_default().to_string();
    for tf in each_terraform() {
        let mut w = Workdir::new(tf);
        let block = |auth: &str, fingerprint: &str| {
            HEADER.replace(
                "provider \"pveha\" {}",
                &format!(
                    "provider \"pveha\" {{\n  endpoint        = \"{}\"\n{auth}\n  tls_fingerprint = \"{fingerprint}\"\n}}",
                    sim.endpoint()
                ),
            ) + ONE_RESOURCE
        };
        let token = format!("  api_token = \"{TOKEN}\"");
        w.plan(&block(&token, &fp))
            .await
            .expect_changes()
            .expect_action("pveha_resource.traefik", &["create"]);

        let password = "  username = \"root@pam\"\n  password = \"homelab-demo\"";
        w.plan(&block(password, &fp)).await.expect_changes();

        let wrong = "  username = \"root@pam\"\n  password = \"wrong\"";
        w.plan(&block(wrong, &fp))
            .await
            .expect_error(r"(?i)authentication\s+failed", None);

        let bad_pin = ["AB"; 32].join(":");
        w.plan(&block(&token, &bad_pin))
            .await
            .expect_error(r"Unable\s+to\s+connect\s+to", None);

        let short_pin = "AB:CD";
        w.plan(&block(&token, short_pin))
            .await
            .expect_error(r"tls_fingerprint", Some("tls_fingerprint"));
    }
    Ok(())
}
