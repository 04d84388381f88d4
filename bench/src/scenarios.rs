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
    /// The latency injected into every API request of the plan, in milliseconds.
    pub latency_ms: u64,
    /// Terraform alone: the same plan over N applied `terraform_data` instances (no provider, no API), in
    /// seconds; `None` when it failed (e.g. a Terraform older than 1.4).
    pub terraform_only_s: Option<f64>,
    /// Wall time of the plan, in seconds.
    pub wall_s: f64,
    /// API requests the simulator counted during the plan.
    pub requests: u64,
    /// Those requests by route.
    pub by_route: Value,
    /// The most API requests in flight at once during the plan.
    pub max_in_flight: u64,
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
    /// Wall time of the apply, in seconds (the median of the runs).
    pub wall_s: f64,
    /// Every run's wall time, in seconds.
    pub samples_s: Vec<f64>,
    /// N × the injected latency: the floor the one cluster-wide HA lock sets, in seconds.
    pub lower_bound_s: f64,
    /// Terraform alone: the same apply of N built-in `terraform_data` instances (no provider, no API), the
    /// median of as many runs, in seconds; `None` when those runs failed (e.g. a Terraform older than 1.4).
    pub terraform_only_s: Option<f64>,
    /// API requests the simulator counted during the (last) apply.
    pub requests: u64,
    /// Those requests by route.
    pub by_route: Value,
    /// The most API requests in flight at once.
    pub max_in_flight: u64,
}

/// The set-up apply before a measured plan: not measured, so wide parallelism keeps `make bench` short.
const SET_UP_APPLY: [&str; 5] = [
    "apply",
    "-auto-approve",
    "-input=false",
    "-no-color",
    "-parallelism=50",
];

/// The measured plan: exit code 2 (changes) is read as a non-empty plan, not a failure.
const PLAN: [&str; 5] = [
    "plan",
    "-input=false",
    "-no-color",
    "-lock=false",
    "-detailed-exitcode",
];

/// Terraform's default `-parallelism`, which the apply scenario passes explicitly.
pub const TERRAFORM_PARALLELISM: usize = 10;

/// The provider's bound on API requests in flight (`pveha_pve::MAX_IN_FLIGHT`; the bench links none of
/// the project's crates, so the figure is repeated here).
pub const CLIENT_MAX_IN_FLIGHT: usize = 10;

/// The HCL of the terraform-only baseline: `n` built-in `terraform_data` instances with the same `count` and
/// expressions as [`config`]'s HA resources, so Terraform walks, plans and stores the same number of objects.
pub fn baseline_config(n: usize) -> String {
    format!(
        "resource \"terraform_data\" \"r\" {{\n  count = {n}\n  input = {{ sid = \"ct:${{{FIRST_VMID} + count.index}}\", state = \"started\" }}\n}}\n"
    )
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

    /// Applies `n` resources of `kind`, then measures one `terraform plan` refreshing them with
    /// `latency_ms` injected into every API request, and the same plan of Terraform alone.
    pub fn refresh(&self, kind: Kind, n: usize, latency_ms: u64) -> Result<Refresh> {
        let terraform_only_s = self.plan_terraform_only(n).ok();
        let sim = self.sim_with(n)?;
        let w = Workdir::new(&self.terraform, &self.mirror, &sim)?;
        w.write_config(&config(kind, n))?;
        w.run(&["init", "-input=false", "-no-color"], &[0])?;
        // Set-up is not measured: no latency, and wide parallelism to keep `make bench` short.
        w.run(&SET_UP_APPLY, &[0])?;
        sim.inject_latency(latency_ms)?;
        sim.reset_requests()?;
        let run = w.run(&PLAN, &[0, 2])?;
        let requests = sim.requests()?;
        sim.clear_faults()?;
        Ok(Refresh {
            n,
            latency_ms,
            terraform_only_s,
            wall_s: run.wall.as_secs_f64(),
            requests: requests.total,
            by_route: requests.by_route,
            max_in_flight: requests.max_in_flight,
            terraform_cpu_s: (run.cpu_with_children_s - run.provider.cpu_s).max(0.0),
            provider: run.provider,
            plan_empty: run.exit_code == 0,
        })
    }

    /// Measures `terraform apply -parallelism=10` creating `n` HA resources, `runs` times on fresh simulators
    /// (the median is the figure), and once the same apply of `terraform_data` instances, Terraform alone.
    pub fn apply(&self, n: usize, runs: usize) -> Result<Apply> {
        let parallelism = format!("-parallelism={TERRAFORM_PARALLELISM}");
        let apply_args = [
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            parallelism.as_str(),
        ];
        let mut samples_s = Vec::new();
        let mut terraform_s = Vec::new();
        let mut last = None;
        for _ in 0..runs.max(1) {
            // Interleaved with the measured runs, so both see the same load on the machine.
            if let Ok(t) = self.terraform_only(n, &apply_args) {
                terraform_s.push(t);
            }
            let sim = self.sim_with(n)?;
            let w = Workdir::new(&self.terraform, &self.mirror, &sim)?;
            w.write_config(&config(Kind::HaResource, n))?;
            w.run(&["init", "-input=false", "-no-color"], &[0])?;
            sim.inject_latency(self.latency_ms)?;
            sim.reset_requests()?;
            let run = w.run(&apply_args, &[0])?;
            samples_s.push(run.wall.as_secs_f64());
            last = Some(sim.requests()?);
        }
        let terraform_only_s = (!terraform_s.is_empty()).then(|| crate::median(&terraform_s));
        let requests = last.context("no apply ran")?;
        Ok(Apply {
            n,
            wall_s: crate::median(&samples_s),
            samples_s,
            lower_bound_s: n as f64 * self.latency_ms as f64 / 1e3,
            terraform_only_s,
            requests: requests.total,
            by_route: requests.by_route,
            max_in_flight: requests.max_in_flight,
        })
    }

    /// The wall time of `terraform plan` over `n` applied `terraform_data` instances: what Terraform itself
    /// spends refreshing and planning `n` objects when no provider and no API take any time.
    fn plan_terraform_only(&self, n: usize) -> Result<f64> {
        let sim = self.sim_with(1)?;
        let w = Workdir::new(&self.terraform, &self.mirror, &sim)?;
        w.write_config(&baseline_config(n))?;
        w.run(&["init", "-input=false", "-no-color"], &[0])?;
        w.run(&SET_UP_APPLY, &[0])?;
        Ok(w.run(&PLAN, &[0, 2])?.wall.as_secs_f64())
    }

    /// The wall time of `terraform apply` of `n` `terraform_data` instances: what Terraform itself spends on
    /// `n` objects when no provider and no API take any time.
    fn terraform_only(&self, n: usize, apply_args: &[&str]) -> Result<f64> {
        // The workdir wants a simulator for its environment; nothing talks to it.
        let sim = self.sim_with(1)?;
        let w = Workdir::new(&self.terraform, &self.mirror, &sim)?;
        w.write_config(&baseline_config(n))?;
        w.run(&["init", "-input=false", "-no-color"], &[0])?;
        Ok(w.run(apply_args, &[0])?.wall.as_secs_f64())
    }
}

impl Refresh {
    /// The raw numbers for the JSON details.
    pub fn details(&self) -> Value {
        json!({
            "n": self.n, "latency_ms": self.latency_ms, "wall_s": self.wall_s,
            "terraform_only_s": self.terraform_only_s, "requests": self.requests, "by_route": self.by_route,
            "max_in_flight": self.max_in_flight, "provider_processes": self.provider.processes, "provider_cpu_s": self.provider.cpu_s,
            "provider_max_rss_kib": self.provider.max_rss_kib, "terraform_cpu_s": self.terraform_cpu_s,
            "plan_empty": self.plan_empty,
        })
    }
}

impl Apply {
    /// The raw numbers for the JSON details.
    pub fn details(&self) -> Value {
        json!({
            "n": self.n, "wall_s": self.wall_s, "samples_s": self.samples_s,
            "lower_bound_s": self.lower_bound_s, "terraform_only_s": self.terraform_only_s,
            "requests": self.requests, "by_route": self.by_route, "max_in_flight": self.max_in_flight,
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
        let baseline = baseline_config(200);
        assert!(
            baseline.contains("resource \"terraform_data\" \"r\"")
                && baseline.contains("count = 200"),
            "{baseline}"
        );
        assert!(
            !baseline.contains("pveha"),
            "the baseline needs no provider: {baseline}"
        );
    }
}
