//! Finds the Terraform CLIs the suite runs against: `TF_ACC_TERRAFORM_PATH` alone when set, else `terraform` on
//! PATH plus `tools/terraform-1.0.3/terraform`, deduplicated by version, newest first. Finding none is a failure,
//! never a silent pass: CI must prove both ends of the supported range.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::binaries::workspace_root;

/// One Terraform CLI: where it is and which version it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terraform {
    /// Absolute path of the executable.
    pub path: PathBuf,
    /// `terraform_version` from `terraform version -json`, e.g. `1.11.4`.
    pub version: String,
}

impl Terraform {
    /// The version as numbers, for ordering and for gating on features (`(1, 0, 3)`).
    pub fn version_tuple(&self) -> (u32, u32, u32) {
        version_tuple(&self.version)
    }

    /// Asks `path` for its version; an error names the path and what went wrong.
    pub fn probe(path: &Path) -> Result<Terraform, String> {
        let mut cmd = Command::new(path);
        cmd.args(["version", "-json"]);
        scrub_env(&mut cmd);
        cmd.env("CHECKPOINT_DISABLE", "1");
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} version -json printed no JSON ({e}): {text}{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let version = json["terraform_version"].as_str().ok_or_else(|| {
            format!(
                "{} version -json has no terraform_version: {json}",
                path.display()
            )
        })?;
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Terraform {
            path,
            version: version.to_string(),
        })
    }
}

impl std::fmt::Display for Terraform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "terraform {} ({})", self.version, self.path.display())
    }
}

/// Every Terraform the suite runs against (found once per process); panics with instructions if there is none.
#[track_caller]
pub fn terraforms() -> &'static [Terraform] {
    static FOUND: OnceLock<Result<Vec<Terraform>, String>> = OnceLock::new();
    match FOUND.get_or_init(discover) {
        Ok(found) => found,
        Err(e) => panic!("{e}"),
    }
}

fn discover() -> Result<Vec<Terraform>, String> {
    if let Some(chosen) = std::env::var_os("TF_ACC_TERRAFORM_PATH") {
        return Terraform::probe(Path::new(&chosen))
            .map(|tf| vec![tf])
            .map_err(|e| format!("TF_ACC_TERRAFORM_PATH does not name a working terraform: {e}"));
    }
    let mut candidates = Vec::new();
    if let Some(on_path) = which("terraform") {
        candidates.push(on_path);
    }
    let bundled = workspace_root().join("tools/terraform-1.0.3/terraform");
    if bundled.is_file() {
        candidates.push(bundled);
    }
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for path in candidates {
        match Terraform::probe(&path) {
            Ok(tf) => found.push(tf),
            Err(e) => problems.push(e),
        }
    }
    let found = dedup_newest_first(found);
    if found.is_empty() {
        return Err(format!(
            "no terraform found: none on PATH and none at tools/terraform-1.0.3/terraform \
             (run `make tools`, or set TF_ACC_TERRAFORM_PATH). The acceptance suite refuses to pass without \
             running anything.{}",
            problems.iter().map(|p| format!("\n  {p}")).collect::<String>()
        ));
    }
    Ok(found)
}

/// Keeps one CLI per version and orders them newest first.
fn dedup_newest_first(mut found: Vec<Terraform>) -> Vec<Terraform> {
    found.sort_by(|a, b| {
        b.version_tuple()
            .cmp(&a.version_tuple())
            .then(a.path.cmp(&b.path))
    });
    found.dedup_by(|a, b| a.version == b.version);
    found
}

fn version_tuple(version: &str) -> (u32, u32, u32) {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Removes inherited variables that would change how Terraform or the providers behave, so runs are hermetic:
/// every `TF_*` (logging, CLI config, plugin cache, reattach), go-plugin's `PLUGIN_*`, and the providers' own
/// `PVEHA*` fallbacks. Tests set what they need explicitly.
pub(crate) fn scrub_env(cmd: &mut impl EnvRemove) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("TF_")
            || key.starts_with("PLUGIN_")
            || key.starts_with("PVEHA")
            || key.starts_with("CHECKPOINT_")
        {
            cmd.remove(key);
        }
    }
}

/// The one operation `scrub_env` needs, so it works on std and tokio commands alike.
pub(crate) trait EnvRemove {
    /// Removes `key` from the child's environment.
    fn remove(&mut self, key: &str);
}

impl EnvRemove for Command {
    fn remove(&mut self, key: &str) {
        self.env_remove(key);
    }
}

impl EnvRemove for tokio::process::Command {
    fn remove(&mut self, key: &str) {
        self.env_remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf(path: &str, version: &str) -> Terraform {
        Terraform {
            path: path.into(),
            version: version.into(),
        }
    }

    #[test]
    fn one_cli_per_version_newest_first() {
        let found = dedup_newest_first(vec![
            tf("/a/terraform", "1.0.3"),
            tf("/b/terraform", "1.11.4"),
            tf("/c/terraform", "1.0.3"),
            tf("/d/terraform", "1.9.8"),
        ]);
        let versions: Vec<_> = found.iter().map(|t| t.version.as_str()).collect();
        assert_eq!(versions, ["1.11.4", "1.9.8", "1.0.3"]);
        assert_eq!(found[2].path, PathBuf::from("/a/terraform"));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_tuple("1.11.4") > version_tuple("1.9.10"));
        assert_eq!(version_tuple("1.10.0-beta1"), (1, 10, 0));
    }
}
