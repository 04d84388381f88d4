//! A temp directory per test per Terraform version, where `main.tf` is written and `terraform` runs with a
//! hermetic environment: the process mirror's CLI config, `TF_IN_AUTOMATION`, no checkpoint, no inherited `TF_*`
//! or provider variables, its own `TMPDIR` (so a provider's socket lands where the test can look), and a marker
//! variable that finds any process it leaves behind. Step methods panic with the whole output on surprises.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::mirror::{hcl_string, mirror};
use crate::outcome::{
    apply_counts, Applied, Imported, Plan, PlanOutcome, ResourceChange, State, TfOutput,
};
use crate::terraform::{scrub_env, Terraform};

/// A hang guard, not an assertion: a terraform command still running after this is killed and reported, so a
/// deadlock fails one test with its output instead of stalling CI. `TF_ACC_COMMAND_TIMEOUT` (seconds) overrides.
const COMMAND_WATCHDOG: Duration = Duration::from_secs(600);

/// One test's terraform working directory for one Terraform version.
#[derive(Debug)]
pub struct Workdir {
    tf: Terraform,
    dir: TempDir,
    tmp: PathBuf,
    marker: String,
    env: BTreeMap<String, String>,
    config: String,
    initialized: bool,
}

impl Workdir {
    /// A fresh directory for `tf` (builds the providers and lays out the mirror on first use in the process).
    #[track_caller]
    pub fn new(tf: &Terraform) -> Self {
        let mirror = mirror();
        let dir = match tempfile::Builder::new().prefix("pveha-acc-").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temp dir: {e}"),
        };
        let tmp = dir.path().join("tmp");
        if let Err(e) = std::fs::create_dir_all(&tmp) {
            panic!("cannot create {}: {e}", tmp.display());
        }
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let marker = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut env = BTreeMap::new();
        env.insert("TF_IN_AUTOMATION".into(), "1".into());
        env.insert("CHECKPOINT_DISABLE".into(), "1".into());
        env.insert(
            "TF_CLI_CONFIG_FILE".into(),
            mirror.cli_config.display().to_string(),
        );
        env.insert("TMPDIR".into(), tmp.display().to_string());
        env.insert("PVEHA_ACC_MARKER".into(), marker.clone());
        Workdir {
            tf: tf.clone(),
            dir,
            tmp,
            marker,
            env,
            config: String::new(),
            initialized: false,
        }
    }

    /// The directory terraform runs in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `TMPDIR` given to terraform and so to the providers it starts.
    pub fn tmpdir(&self) -> &Path {
        &self.tmp
    }

    /// The value of `PVEHA_ACC_MARKER` every process started here inherits (see `processes_with_marker`).
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The Terraform this directory runs.
    pub fn terraform(&self) -> &Terraform {
        &self.tf
    }

    /// A path inside the workdir quoted as an HCL string, for configs (`store_dir = <this>`).
    pub fn hcl_path(&self, relative: &str) -> String {
        hcl_string(&self.path().join(relative).display().to_string())
    }

    /// Sets an environment variable for every later command (e.g. `TF_LOG=DEBUG`, `PVEHATEST_STORE`).
    pub fn set_env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    /// Removes a variable set with `set_env`.
    pub fn unset_env(&mut self, key: &str) -> &mut Self {
        self.env.remove(key);
        self
    }

    /// Writes `main.tf`.
    #[track_caller]
    pub fn write_config(&mut self, hcl: &str) {
        let path = self.path().join("main.tf");
        if let Err(e) = std::fs::write(&path, hcl) {
            panic!("cannot write {}: {e}", path.display());
        }
        self.config = hcl.to_string();
    }

    /// The `main.tf` last written.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// Runs `terraform ARGS` here and returns whatever happened; never panics on a non-zero exit.
    pub async fn run(&self, args: &[&str]) -> TfOutput {
        let mut cmd = tokio::process::Command::new(&self.tf.path);
        cmd.args(args)
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        scrub_env(&mut cmd);
        cmd.envs(&self.env);
        let mut out = TfOutput {
            command: args.join(" "),
            version: self.tf.version.clone(),
            workdir: self.path().to_path_buf(),
            code: None,
            stdout: String::new(),
            stderr: String::new(),
        };
        let watchdog = std::env::var("TF_ACC_COMMAND_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(COMMAND_WATCHDOG, Duration::from_secs);
        match tokio::time::timeout(watchdog, cmd.output()).await {
            Ok(Ok(o)) => {
                out.code = o.status.code();
                out.stdout = String::from_utf8_lossy(&o.stdout).into_owned();
                out.stderr = String::from_utf8_lossy(&o.stderr).into_owned();
            }
            Ok(Err(e)) => out.stderr = format!("cannot run {}: {e}", self.tf.path.display()),
            Err(_) => out.stderr = format!("killed by the harness after {watchdog:?} (hang guard)"),
        }
        out
    }

    /// `terraform init`; panics unless it succeeds. Other steps call it on first use.
    pub async fn init(&mut self) -> TfOutput {
        let out = self
            .run(&["init", "-input=false", "-no-color"])
            .await
            .expect_success();
        self.initialized = true;
        out
    }

    async fn ensure_init(&mut self) {
        if !self.initialized {
            self.init().await;
        }
    }

    /// Writes `hcl` and runs `terraform validate`, returning its output whatever the result.
    pub async fn validate(&mut self, hcl: &str) -> TfOutput {
        self.write_config(hcl);
        self.ensure_init().await;
        self.run(&["validate", "-no-color"]).await
    }

    /// Writes `hcl` and plans it with `-detailed-exitcode` (nothing is applied).
    pub async fn plan(&mut self, hcl: &str) -> Plan {
        self.write_config(hcl);
        self.plan_current().await
    }

    /// `plan` under the name style.md uses for configs that must fail: `plan_only(hcl).expect_error(…)`.
    pub async fn plan_only(&mut self, hcl: &str) -> Plan {
        self.plan(hcl).await
    }

    /// Plans the current `main.tf`; when there are changes, reads them from the saved plan with `show -json`.
    pub async fn plan_current(&mut self) -> Plan {
        self.ensure_init().await;
        let output = self
            .run(&[
                "plan",
                "-input=false",
                "-no-color",
                "-detailed-exitcode",
                "-out=acc.tfplan",
            ])
            .await;
        let outcome = PlanOutcome::from_code(output.code);
        let mut plan = Plan {
            outcome,
            output,
            changes: Vec::new(),
            output_changes: Vec::new(),
            config: self.config.clone(),
        };
        if outcome == PlanOutcome::Changes {
            let json = self.show_json(&["acc.tfplan"]).await;
            plan.changes = changes(&json["resource_changes"], |c| {
                c["address"].as_str().map(str::to_string)
            });
            if let Some(outputs) = json["output_changes"].as_object() {
                plan.output_changes = outputs
                    .iter()
                    .map(|(name, c)| ResourceChange::parse_named(name, c))
                    .collect();
            }
        }
        plan
    }

    /// Writes `hcl` and runs `apply -auto-approve`, returning the output whatever the result.
    pub async fn try_apply(&mut self, hcl: &str) -> TfOutput {
        self.write_config(hcl);
        self.ensure_init().await;
        self.run(&["apply", "-input=false", "-no-color", "-auto-approve"])
            .await
    }

    /// Writes `hcl`, applies it, and checks that a plan right after is empty (the step every apply is followed by).
    pub async fn apply(&mut self, hcl: &str) -> Applied {
        let output = self.try_apply(hcl).await.expect_success();
        let after = self.plan_current().await;
        if after.outcome != PlanOutcome::NoChanges {
            panic!(
                "the plan right after apply is not empty:\n{}\n{}",
                output, after.output
            );
        }
        let counts = apply_counts(&output.stdout);
        Applied {
            output,
            counts,
            state: self.state().await,
        }
    }

    /// `terraform refresh`; panics unless it succeeds.
    pub async fn refresh(&mut self) -> TfOutput {
        self.ensure_init().await;
        self.run(&["refresh", "-input=false", "-no-color"])
            .await
            .expect_success()
    }

    /// `terraform apply -refresh-only -auto-approve`; panics unless it succeeds.
    pub async fn apply_refresh_only(&mut self) -> TfOutput {
        self.ensure_init().await;
        self.run(&[
            "apply",
            "-refresh-only",
            "-input=false",
            "-no-color",
            "-auto-approve",
        ])
        .await
        .expect_success()
    }

    /// Forgets `address` if the state has it, imports it by `id`, then plans; panics unless the import succeeds.
    pub async fn import(&mut self, address: &str, id: &str) -> Imported {
        self.ensure_init().await;
        if self.state().await.resources.contains_key(address) {
            self.run(&["state", "rm", address]).await.expect_success();
        }
        let output = self
            .run(&["import", "-input=false", "-no-color", address, id])
            .await
            .expect_success();
        let plan = self.plan_current().await;
        Imported {
            output,
            plan,
            state: self.state().await,
        }
    }

    /// `terraform destroy -auto-approve`; panics unless it succeeds and leaves no managed resource in state.
    pub async fn destroy(&mut self) -> TfOutput {
        self.ensure_init().await;
        let out = self
            .run(&["destroy", "-input=false", "-no-color", "-auto-approve"])
            .await
            .expect_success();
        let state = self.state().await;
        if !state.managed().is_empty() {
            panic!("destroy left {:?} in state:\n{out}", state.managed());
        }
        out
    }

    /// The current state, read from the local `terraform.tfstate` (empty before the first apply).
    pub async fn state(&mut self) -> State {
        let path = self.path().join("terraform.tfstate");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return State::default(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        };
        match serde_json::from_str(&text) {
            Ok(json) => State::from_tfstate(&json),
            Err(e) => panic!("{} is not JSON ({e}):\n{text}", path.display()),
        }
    }

    /// The current state as `terraform show -json` prints it (runs terraform; `state` is cheaper).
    pub async fn show_state(&mut self) -> State {
        self.ensure_init().await;
        State::parse(&self.show_json(&[]).await)
    }

    async fn show_json(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["show", "-json", "-no-color"];
        args.extend_from_slice(extra);
        let out = self.run(&args).await.expect_success();
        match serde_json::from_str(&out.stdout) {
            Ok(json) => json,
            Err(e) => panic!("`terraform show -json` printed invalid JSON ({e}):\n{out}"),
        }
    }
}

fn changes(
    list: &serde_json::Value,
    address: impl Fn(&serde_json::Value) -> Option<String>,
) -> Vec<ResourceChange> {
    let Some(items) = list.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|c| Some(ResourceChange::parse_named(&address(c)?, &c["change"])))
        .collect()
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // Keeping the directory of a failed test is opt-in: CI logs carry the output, and disks fill up.
        if std::thread::panicking() && std::env::var_os("TF_ACC_KEEP").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("TF_ACC_KEEP: keeping {}", self.dir.path().display());
        }
    }
}
