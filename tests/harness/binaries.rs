//! Builds the binaries the suite drives with `cargo build`, once per test process, and finds them in cargo's own
//! JSON messages (so a custom target dir or profile layout needs no guessing). A no-op when they are up to date.
//! Build failures are remembered and reported by every test that needs the binary, with cargo's whole output.
//!
//! Every build here selects the whole workspace's binaries and examples ([`SELECTION`]): that resolves features as
//! `cargo test --workspace` does (examples bring in dev-dependencies), so the binaries share every dependency
//! artifact with the test build. Selecting one package (`-p pveha`) resolves a narrower feature set and compiles
//! tokio, reqwest, tonic and the rest a second and a third time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (the workspace): the parent of this package's manifest dir, as `cargo test` sets it
/// when running the suite, else as it was at compile time.
pub fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
    })
}

/// The provider executables laid out in the mirror.
#[derive(Debug, Clone)]
pub struct ProviderBinaries {
    /// `terraform-provider-pveha`, the real provider.
    pub pveha: PathBuf,
    /// The `testprovider` example of `tfplugin`, served as `pveha/pvehatest`.
    pub pvehatest: PathBuf,
}

/// Builds both providers once per process and returns their paths; panics with cargo's output if the build fails.
#[track_caller]
pub fn provider_binaries() -> &'static ProviderBinaries {
    static BINS: OnceLock<Result<ProviderBinaries, String>> = OnceLock::new();
    let built = BINS.get_or_init(|| {
        let bins = workspace_binaries()?;
        Ok(ProviderBinaries {
            pveha: find(bins, "terraform-provider-pveha")?,
            pvehatest: find(bins, "testprovider")?,
        })
    });
    match built {
        Ok(bins) => bins,
        Err(e) => panic!("building the providers failed:\n{e}"),
    }
}

/// Builds the `pveha` CLI (which serves `pveha sim`) once per process; panics with cargo's output on failure.
#[track_caller]
pub fn pveha_binary() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BIN.get_or_init(|| {
        let bins = workspace_binaries()?;
        find(bins, "pveha")
    });
    match built {
        Ok(path) => path,
        Err(e) => panic!("building the pveha CLI failed:\n{e}"),
    }
}

fn find(bins: &BTreeMap<String, PathBuf>, name: &str) -> Result<PathBuf, String> {
    bins.get(name)
        .cloned()
        .ok_or_else(|| format!("cargo reported no executable named {name:?}; it reported {bins:?}"))
}

/// What every build of the suite selects: the Makefile's `test` target builds the same, so the suite finds it fresh.
pub const SELECTION: [&str; 3] = ["--workspace", "--bins", "--examples"];

/// The workspace's executables, built once per process (the outcome, failure included, is remembered).
fn workspace_binaries() -> Result<&'static BTreeMap<String, PathBuf>, String> {
    static BUILT: OnceLock<Result<BTreeMap<String, PathBuf>, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| cargo_build(&SELECTION))
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `cargo build` with `selection` and returns every executable cargo reported, by target name.
fn cargo_build(selection: &[&str]) -> Result<BTreeMap<String, PathBuf>, String> {
    // Under `cargo test`, CARGO names the cargo that is running us; use the same one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .arg("build")
        .arg("--message-format=json-render-diagnostics")
        .args(selection)
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("cannot run {cargo:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "`cargo build {}` failed ({}):\n{stderr}",
            selection.join(" "),
            output.status
        ));
    }
    Ok(executables(&stdout))
}

/// Extracts `target name → executable` from cargo's `--message-format=json` stream.
fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    for line in messages.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str())
        else {
            continue;
        };
        found.insert(name.to_string(), PathBuf::from(exe));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_read_from_compiler_artifacts_only() {
        let stream = r#"{"reason":"compiler-artifact","target":{"name":"serde"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"pveha"},"executable":"/t/debug/pveha","fresh":true}
{"reason":"build-finished","success":true}
not json"#;
        let found = executables(stream);
        assert_eq!(found.len(), 1);
        assert_eq!(found["pveha"], PathBuf::from("/t/debug/pveha"));
    }
}
