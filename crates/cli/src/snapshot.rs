//! `pveha snapshot`: captures a live cluster into a `pveha-snapshot/1` document (never with an `auth`
//! section) and writes it to a file or stdout, for offline audits, reproducible bug reports and `pveha sim`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pveha_pve::snapshot::{capture, Capture, CaptureOptions};
use pveha_pve::Client;

use crate::connect::ConnectArgs;

/// Flags of `pveha snapshot`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Write the snapshot here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Captures the cluster behind `client` on a runtime of its own (the commands are synchronous). The
/// capture holds only what the audit reads, with secrets redacted, stamped with the cluster's clock.
pub fn capture_live(client: &Client) -> Result<Capture> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(capture(client, &CaptureOptions::default()))?)
}

/// Runs `pveha snapshot`; returns the exit code.
pub fn run(args: SnapshotArgs) -> i32 {
    match write(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("pveha snapshot: {e:#}");
            1
        }
    }
}

fn write(args: &SnapshotArgs) -> Result<()> {
    let client = args.connect.client()?;
    let captured = capture_live(&client)?;
    for warning in &captured.warnings {
        eprintln!("pveha snapshot: warning: {warning}");
    }
    let text = serde_json::to_string_pretty(&captured.snapshot)
        .context("serializing the snapshot")?
        + "\n";
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("writing to stdout")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pveha_model::Snapshot;

    /// The audit of a fixture is the same whether or not its snapshot went through the capture's
    /// reduction: what the reduction drops is nothing the audit reads.
    #[test]
    fn the_reduction_keeps_every_finding_of_the_fixtures() {
        for name in ["cluster-pve8.json", "cluster-pve9.json"] {
            let path = format!(
                "{}/../../examples/homelab/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let full: Snapshot = serde_json::from_str(&text).unwrap();
            let mut reduced = full.clone();
            pveha_pve::snapshot::reduce(&mut reduced.api);
            assert_ne!(
                full.api, reduced.api,
                "{name}: the reduction dropped something"
            );
            let options = pveha_audit::Options::default();
            let before =
                serde_json::to_value(pveha_audit::audit(&full, &options).unwrap()).unwrap();
            let after =
                serde_json::to_value(pveha_audit::audit(&reduced, &options).unwrap()).unwrap();
            assert!(
                !before["findings"].as_array().unwrap().is_empty(),
                "{name}: the fixture has findings to keep"
            );
            assert_eq!(before, after, "{name}");
        }
    }
}
