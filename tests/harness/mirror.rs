//! One offline provider mirror per test process: both providers in Terraform's unpacked filesystem-mirror layout
//! and a CLI config that installs `pveha/*` from it and from nowhere else (no `direct`), so `init` never needs
//! the network. Lives under the target dir; mirrors of processes that are gone are removed on the next start.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::binaries::provider_binaries;

/// The version both providers are published under in the mirror.
pub const PROVIDER_VERSION: &str = "0.1.0";

/// The mirror directory and the CLI config file that points at it.
#[derive(Debug)]
pub struct Mirror {
    /// The directory holding `registry.terraform.io/pveha/<name>/<version>/<os>_<arch>/…`.
    pub dir: PathBuf,
    /// The file to pass as `TF_CLI_CONFIG_FILE`.
    pub cli_config: PathBuf,
}

/// Builds the providers (once) and lays out the mirror (once per process); panics with the reason on failure.
#[track_caller]
pub fn mirror() -> &'static Mirror {
    static MIRROR: OnceLock<Result<Mirror, String>> = OnceLock::new();
    let made = MIRROR.get_or_init(|| {
        let bins = provider_binaries();
        lay_out(&[("pveha", &bins.pveha), ("pvehatest", &bins.pvehatest)])
    });
    match made {
        Ok(m) => m,
        Err(e) => panic!("laying out the provider mirror failed: {e}"),
    }
}

fn lay_out(providers: &[(&str, &Path)]) -> Result<Mirror, String> {
    let Some((_, first)) = providers.first() else {
        return Err("no providers to lay out".into());
    };
    // `<target>/<profile>/<binary>` (or `<target>/<profile>/examples/<binary>`): keep the mirror beside the build.
    let target = first
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let base = target.join("acceptance");
    remove_stale_runs(&base);
    let run = base.join(format!("run-{}", std::process::id()));
    let dir = run.join("mirror");
    let platform = platform();
    for (name, binary) in providers {
        let dest_dir = dir
            .join("registry.terraform.io/pveha")
            .join(name)
            .join(PROVIDER_VERSION)
            .join(&platform);
        std::fs::create_dir_all(&dest_dir)
            .map_err(|e| format!("cannot create {}: {e}", dest_dir.display()))?;
        let dest = dest_dir.join(format!("terraform-provider-{name}_v{PROVIDER_VERSION}"));
        let _ = std::fs::remove_file(&dest);
        // A hard link is free and keeps this run's binary even if cargo replaces the original meanwhile.
        if std::fs::hard_link(binary, &dest).is_err() {
            std::fs::copy(binary, &dest).map_err(|e| {
                format!(
                    "cannot copy {} to {}: {e}",
                    binary.display(),
                    dest.display()
                )
            })?;
        }
    }
    let cli_config = run.join("terraformrc");
    std::fs::write(&cli_config, cli_config_text(&dir))
        .map_err(|e| format!("cannot write {}: {e}", cli_config.display()))?;
    Ok(Mirror { dir, cli_config })
}

/// The CLI config: our mirror for `pveha/*`, no other installation method, no checkpoint calls.
fn cli_config_text(mirror: &Path) -> String {
    format!(
        "disable_checkpoint = true\n\
         provider_installation {{\n  filesystem_mirror {{\n    path    = {path}\n    include = [\"pveha/*\"]\n  }}\n}}\n",
        path = hcl_string(&mirror.display().to_string())
    )
}

/// Terraform's platform directory name for this machine, e.g. `linux_amd64`.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    format!("{}_{arch}", std::env::consts::OS)
}

/// Removes `run-<pid>` dirs whose process no longer exists, so mirrors do not pile up across runs.
fn remove_stale_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("run-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Quotes `s` as an HCL string literal (also valid JSON), for paths in generated configs.
pub(crate) fn hcl_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_config_allows_only_the_mirror() {
        let text = cli_config_text(Path::new("/x/mirror"));
        assert!(text.contains("path    = \"/x/mirror\""), "{text}");
        assert!(text.contains("include = [\"pveha/*\"]"), "{text}");
        assert!(!text.contains("direct"), "{text}");
    }

    #[test]
    fn layout_is_terraforms_unpacked_mirror_layout() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("CACHEDIR.TAG"), "").unwrap();
        let bin = tmp.path().join("debug/prov");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(&bin, "binary").unwrap();
        let m = lay_out(&[("pvehatest", &bin)]).unwrap();
        let laid = m.dir.join(format!(
            "registry.terraform.io/pveha/pvehatest/0.1.0/{}/terraform-provider-pvehatest_v0.1.0",
            platform()
        ));
        assert_eq!(std::fs::read_to_string(laid).unwrap(), "binary");
        assert!(m.dir.starts_with(tmp.path().join("acceptance")));
    }
}
