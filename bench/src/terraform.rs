//! The real `terraform` CLI in a scratch directory, installing the provider from an offline filesystem
//! mirror, run with the simulator's connection settings in the environment. Each run is reaped with
//! `wait4`, so its CPU time (with every plugin it started) is the kernel's own account, not an estimate.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::sim::{Sim, TOKEN};

/// The version the provider is published under in the mirror.
const PROVIDER_VERSION: &str = "0.1.0";

/// Finds the Terraform CLI: `PVEHA_BENCH_TERRAFORM`, else `terraform` on PATH, else `tools/terraform-1.0.3`.
pub fn find(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PVEHA_BENCH_TERRAFORM") {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("terraform"))
        .find(|c| c.is_file());
    let bundled = root.join("tools/terraform-1.0.3/terraform");
    on_path
        .or_else(|| bundled.is_file().then_some(bundled))
        .ok_or_else(|| {
            anyhow!("no terraform on PATH nor at tools/terraform-1.0.3 (run `make tools`)")
        })
}

/// `terraform version`'s number, e.g. `1.11.4`.
pub fn version(terraform: &Path) -> Result<String> {
    let mut cmd = Command::new(terraform);
    scrub_env(&mut cmd);
    let out = cmd
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .output()?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("terraform version -json")?;
    v["terraform_version"]
        .as_str()
        .map(str::to_string)
        .context("no terraform_version")
}

/// Removes inherited variables that change how Terraform or the provider behave (`TF_*`, `PLUGIN_*`,
/// `PROXMOX_VE_*`, `PVEHA*`), so every run sees only what the benchmark sets.
pub fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        if ["TF_", "PLUGIN_", "PROXMOX_VE_", "PVEHA"]
            .iter()
            .any(|p| k.starts_with(p))
        {
            cmd.env_remove(k);
        }
    }
}

/// An offline mirror holding the provider, and the CLI config that installs `pveha/*` only from it.
#[derive(Debug)]
pub struct Mirror {
    cli_config: PathBuf,
}

impl Mirror {
    /// Lays out `provider` under `dir` in Terraform's unpacked filesystem-mirror layout.
    pub fn lay_out(dir: &Path, provider: &Path) -> Result<Mirror> {
        let platform = format!(
            "{}_{}",
            std::env::consts::OS,
            match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            }
        );
        let mirror = dir.join("mirror");
        let dest_dir = mirror
            .join("registry.terraform.io/pveha/pveha")
            .join(PROVIDER_VERSION)
            .join(platform);
        std::fs::create_dir_all(&dest_dir)
            .with_context(|| format!("creating {}", dest_dir.display()))?;
        let dest = dest_dir.join(format!("terraform-provider-pveha_v{PROVIDER_VERSION}"));
        let _ = std::fs::remove_file(&dest);
        std::fs::copy(provider, &dest)
            .with_context(|| format!("copying the provider to {}", dest.display()))?;
        let cli_config = dir.join("terraformrc");
        let path = serde_json::Value::String(mirror.display().to_string());
        let text = format!(
            "disable_checkpoint = true\nprovider_installation {{\n  filesystem_mirror {{\n    path    = {path}\n    include = [\"pveha/*\"]\n  }}\n}}\n"
        );
        std::fs::write(&cli_config, text)
            .with_context(|| format!("writing {}", cli_config.display()))?;
        Ok(Mirror { cli_config })
    }
}

/// CPU and memory the provider processes of one Terraform run reported (`PVEHA_RUSAGE_FILE`).
#[derive(Debug, Clone, Default)]
pub struct ProviderUsage {
    /// Provider processes that reported.
    pub processes: usize,
    /// User + system CPU of all of them, in seconds.
    pub cpu_s: f64,
    /// The largest peak RSS among them, in KiB.
    pub max_rss_kib: u64,
}

/// One finished Terraform command.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`-1` when killed by a signal).
    pub exit_code: i32,
    /// Wall time from exec to exit.
    pub wall: Duration,
    /// User + system CPU of terraform and every process it reaped (its providers), in seconds.
    pub cpu_with_children_s: f64,
    /// What the provider processes reported about themselves.
    pub provider: ProviderUsage,
}

/// A scratch Terraform working directory wired to one simulator.
#[derive(Debug)]
pub struct Workdir {
    dir: tempfile::TempDir,
    terraform: PathBuf,
    env: Vec<(String, String)>,
}

impl Workdir {
    /// A new directory whose runs use `mirror` and talk to `sim`.
    pub fn new(terraform: &Path, mirror: &Mirror, sim: &Sim) -> Result<Workdir> {
        let dir = tempfile::Builder::new()
            .prefix("pveha-bench-")
            .tempdir()
            .context("creating a workdir")?;
        let env = vec![
            (
                "TF_CLI_CONFIG_FILE".into(),
                mirror.cli_config.display().to_string(),
            ),
            ("TF_IN_AUTOMATION".into(), "1".into()),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("PROXMOX_VE_ENDPOINT".into(), sim.endpoint().to_string()),
            ("PROXMOX_VE_API_TOKEN".into(), TOKEN.to_string()),
            (
                "PROXMOX_VE_TLS_FINGERPRINT".into(),
                sim.fingerprint().to_string(),
            ),
        ];
        Ok(Workdir {
            dir,
            terraform: terraform.to_path_buf(),
            env,
        })
    }

    /// Writes `main.tf`.
    pub fn write_config(&self, hcl: &str) -> Result<()> {
        std::fs::write(self.dir.path().join("main.tf"), hcl).context("writing main.tf")
    }

    /// Runs `terraform ARGS` to completion; an exit code outside `ok` is an error carrying its output.
    pub fn run(&self, args: &[&str], ok: &[i32]) -> Result<Run> {
        let rusage_file = self
            .dir
            .path()
            .join(format!("rusage-{}.jsonl", args.first().unwrap_or(&"run")));
        let _ = std::fs::remove_file(&rusage_file);
        let out_path = self.dir.path().join("terraform.out");
        let out = std::fs::File::create(&out_path).context("creating terraform's log")?;
        let err = out.try_clone().context("cloning terraform's log")?;
        let mut cmd = Command::new(&self.terraform);
        scrub_env(&mut cmd);
        cmd.args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("PVEHA_RUSAGE_FILE", &rusage_file)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", self.terraform.display()))?;
        let (status, cpu) = wait4(child.id())?;
        let wall = started.elapsed();
        let exit_code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        if !ok.contains(&exit_code) {
            let log = std::fs::read_to_string(&out_path).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!(
                "`terraform {}` failed (wait status {status}):\n{tail}",
                args.join(" ")
            );
        }
        let provider = read_usage(&rusage_file);
        Ok(Run {
            exit_code,
            wall,
            cpu_with_children_s: cpu,
            provider,
        })
    }
}

/// Reaps `pid` and returns its wait status and the CPU seconds it and its reaped children used.
fn wait4(pid: u32) -> Result<(i32, f64)> {
    let (status, (cpu_ms, _)) = crate::audit_floor::wait4(pid)?;
    Ok((status, cpu_ms / 1e3))
}

/// Sums the JSON lines provider processes appended (`{"cpu_user_s","cpu_sys_s","maxrss_kib"}`); lines that
/// do not parse are skipped, and no file means no provider reported.
fn read_usage(path: &Path) -> ProviderUsage {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut usage = ProviderUsage::default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let cpu = v["cpu_user_s"].as_f64().unwrap_or(0.0) + v["cpu_sys_s"].as_f64().unwrap_or(0.0);
        usage.processes += 1;
        usage.cpu_s += cpu;
        usage.max_rss_kib = usage.max_rss_kib.max(v["maxrss_kib"].as_u64().unwrap_or(0));
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lines_are_summed_and_rss_is_the_maximum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.jsonl");
        std::fs::write(
            &path,
            "{\"cpu_user_s\":0.5,\"cpu_sys_s\":0.25,\"maxrss_kib\":1000}\ngarbage\n{\"cpu_user_s\":1,\"cpu_sys_s\":0,\"maxrss_kib\":3000}\n",
        )
        .unwrap();
        let u = read_usage(&path);
        assert_eq!(u.processes, 2);
        assert_eq!(u.cpu_s, 1.75);
        assert_eq!(u.max_rss_kib, 3000);
        assert_eq!(read_usage(&dir.path().join("absent")).processes, 0);
    }

    #[test]
    // The child is reaped by `wait4`, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    fn wait4_reports_the_exit_status_and_cpu_of_a_child() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, cpu) = wait4(child.id()).unwrap();
        assert_eq!(libc::WEXITSTATUS(status), 3);
        assert!(cpu >= 0.0);
    }
}
