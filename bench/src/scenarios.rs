//! The Terraform scenarios: refresh cost (`terraform plan` over N applied resources) and apply cost
//! (`terraform apply -parallelism=10` creating N HA resources against the HA lock). Each runs on its own
//! simulator with a synthetic cluster; set-up runs without injected latency, the measured command with it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::sim::Sim;
use crate::snapshot::{self, FIRST_VMID};
use crate::terraform::{Mirror, ProviderUsage, Workdir};

/// Nodes in every synthetic cluster.
const NODES: usize = 3;

/// Which resource type a scenario manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pveha_resource`: one HA resource per guest.
    HaResource,
    /// `pveha_guest_startup`: boot order of one (non-HA) guest.
    GuestStartup,
}

impl Kind {
    /// The Terraform type name.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::HaResource => "pveha_resource",
            Kind::GuestStartup => "pveha_guest_startup",
        }
    }
}

/// What the scenarios share: where the programs are and the latency to inject.
#[derive(Debug)]
pub struct Env {
    /// The `pveha` CLI (serves `pveha sim`).
    pub pveha: PathBuf,
    /// The Terraform CLI.
    pub terraform: PathBuf,
    /// The offline provider mirror.
    pub mirror: Mirror,
    /// Scratch space for snapshots.
    pub scratch: PathBuf,
    /// Injected latency per API request, in milliseconds.
    pub latency_ms: u64,
}

/// A measured `terraform plan` over already-applied resources.
#[derive(Debug)]
pub struct Refresh {
    /// Resources refreshed.
    pub n: usize,
    /// Wall time of the plan, in seconds.
    pub wall_s: f64,
    /// API requests the simulator counted during the plan.
    pub requests: u64,
    /// Those requests by route.
    pub by_route: Value,
    /// What the provider processes reported.
    pub provider: ProviderUsage,
    /// Terraform's own CPU: terraform and its children minus the providers, in seconds.
    pub terraform_cpu_s: f64,
    /// Whether the plan was empty (exit code 0 of `-detailed-exitcode`).
    pub plan_empty: bool,
}

/// A measured `terraform apply` creating HA resources.
#[derive(Debug)]
pub struct Apply {
    /// Resources created.
    pub n: usize,
    /// Wall time of the apply, in seconds.
    pub wall_s: f64,
    /// N × the injected latency: the floor the one cluster-wide HA lock sets, in seconds.
    pub lower_bound_s: f64,
    /// API requests the simulator counted during the apply.
    pub requests: u64,
    /// Those requests by route.
    pub by_route: Value,
}

/// The HCL for `n` resources of `kind` on guests `FIRST_VMID…`.
pub fn config(kind: Kind, n: usize) -> String {
    let head = "terraform {\n  required_providers {\n    pveha = { source = \"pveha/pveha\" }\n  }\n}\n\nprovider \"pveha\" {}\n\n";
    let body = match kind {
        Kind::HaResource => format!(
            "resource \"pveha_resource\" \"r\" {{\n  count = {n}\n  sid   = \"ct:${{{FIRST_VMID} + count.index}}\"\n  state = \"started\"\n}}\n"
        ),
        Kind::GuestStartup => format!(
            "resource \"pveha_guest_startup\" \"s\" {{\n  count  = {n}\n  vmid   = {FIRST_VMID} + count.index\n  onboot = true\n  order  = 1 + count.index % 5\n}}\n"
        ),
    };
    format!("{head}{body}")
}

impl Env {
    fn sim_with(&self, guests: usize) -> Result<Sim> {
        let path = self.scratch.join(format!("cluster-{guests}.json"));
        let doc = snapshot::cluster(NODES, guests);
        std::fs::write(&path, serde_json::to_vec(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        Sim::start(&self.pveha, &path)
    }

    /// Applies `n` resources of `kind`, then measures one `terraform plan` refreshing them.
    pub fn refresh(&self, kind: Kind, n: usize) -> Result<Refresh> {
        let sim = self.sim_with(n)?;
        let w = Workdir::new(&self.terraform, &self.mirror, &sim)?;
        w.write_config(&config(kind, n))?;
        w.run(&["init", "-input=false", "-no-color"], &[0])?;
        // Set-up is not measured: no latency, and wide parallelism to keep `make bench` short.
        w.run(
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-parallelism=50",
            ],
            &[0],
        )?;
        sim.inject_latency(self.latency_ms)?;
        sim.reset_requests()?;
        let run = w.run(
            &[
                "plan",
                "-input=false",
                "-no-color",
                "-lock=false",
                "-detailed-exitcode",
            ],
            &[0, 2],
        )?;
        let requests = sim.requests()?;
        sim.clear_faults()?;
        Ok(Refresh {
            n,
            wall_s: run.wall.as_secs_f64(),
            requests: requests.total,
            by_route: requests.by_route,
            terraform_cpu_s: (run.cpu_with_children_s - run.provider.cpu_s).max(0.0),
            provider: run.provider,
            plan_empty: run.exit_code == 0,
        })
    }

    /// Measures `terraform apply -parallelism=10` creating `n` HA resources.
    pub fn apply(&self, n: usize) -> Result<Apply> {
        let sim = self.sim_with(n)?;
        let w = Workdir::new(&self.terraform, &self.mirror, &sim)?;
        w.write_config(&config(Kind::HaResource, n))?;
        w.run(&["init", "-input=false", "-no-color"], &[0])?;
        sim.inject_latency(self.latency_ms)?;
        sim.reset_requests()?;
        let run = w.run(
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-parallelism=10",
            ],
            &[0],
        )?;
        let requests = sim.requests()?;
        Ok(Apply {
            n,
            wall_s: run.wall.as_secs_f64(),
            lower_bound_s: n as f64 * self.latency_ms as f64 / 1e3,
            requests: requests.total,
            by_route: requests.by_route,
        })
    }
}

impl Refresh {
    /// The raw numbers for the JSON details.
    pub fn details(&self) -> Value {
        json!({
            "n": self.n, "wall_s": self.wall_s, "requests": self.requests, "by_route": self.by_route,
            "provider_processes": self.provider.processes, "provider_cpu_s": self.provider.cpu_s,
            "provider_max_rss_kib": self.provider.max_rss_kib, "terraform_cpu_s": self.terraform_cpu_s,
            "plan_empty": self.plan_empty,
        })
    }
}

impl Apply {
    /// The raw numbers for the JSON details.
    pub fn details(&self) -> Value {
        json!({
            "n": self.n, "wall_s": self.wall_s, "lower_bound_s": self.lower_bound_s,
            "requests": self.requests, "by_route": self.by_route,
        })
    }
}

/// Where the scratch files of one run go: `target/bench/scratch`, emptied first.
pub fn scratch_dir(target: &Path) -> Result<PathBuf> {
    let dir = target.join("bench/scratch");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_count_resources_from_the_first_vmid() {
        let ha = config(Kind::HaResource, 100);
        assert!(ha.contains("count = 100"), "{ha}");
        assert!(ha.contains("sid   = \"ct:${1000 + count.index}\""), "{ha}");
        let startup = config(Kind::GuestStartup, 7);
        assert!(
            startup.contains("resource \"pveha_guest_startup\" \"s\""),
            "{startup}"
        );
        assert!(startup.contains("vmid   = 1000 + count.index"), "{startup}");
    }
}
