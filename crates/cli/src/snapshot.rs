//! `pveha snapshot`: captures a live cluster into a `pveha-snapshot/1` document (never with an `auth`
//! section) and writes it to a file or stdout, for offline audits, reproducible bug reports and `pveha sim`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use pveha_model::Snapshot;
use pveha_pve::snapshot::{capture, Capture, CaptureOptions};
use pveha_pve::Client;
use serde_json::Value;

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

/// Captures the cluster behind `client` on a runtime of its own (the commands are synchronous).
pub fn capture_live(client: &Client) -> Result<Capture> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut captured = runtime.block_on(capture(client, &CaptureOptions::default()))?;
    // Credentials belong to whoever loads the file into a simulator, never to the cluster's export.
    captured.snapshot.auth = None;
    use_cluster_clock(&mut captured.snapshot);
    Ok(captured)
}

/// Sets `captured_at` to the cluster's own clock, the newest HA manager or LRM timestamp in the captured HA
/// status, when there is one: the audit's journal window is then "the last 24 hours" of the cluster's time —
/// the wall clock on a real cluster, the simulated clock on `pveha sim` (the provider's data source does the same).
fn use_cluster_clock(snapshot: &mut Snapshot) {
    let newest = snapshot
        .api
        .get("/cluster/ha/status/current")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            matches!(
                e.get("type").and_then(Value::as_str),
                Some("master" | "lrm")
            )
        })
        .filter_map(|e| e.get("timestamp").and_then(Value::as_i64))
        .max();
    let formatted = newest
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    if let Some(at) = formatted {
        snapshot.captured_at = Some(at);
    }
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
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_clock_is_the_clusters_when_the_ha_status_shows_it() {
        let mut snap = Snapshot {
            format: pveha_model::SNAPSHOT_FORMAT.into(),
            pve_version: "9.0.3".into(),
            captured_at: Some("2030-01-01T00:00:00Z".into()),
            api: BTreeMap::new(),
            auth: None,
        };
        use_cluster_clock(&mut snap);
        assert_eq!(snap.captured_at.as_deref(), Some("2030-01-01T00:00:00Z"));
        snap.api.insert(
            "/cluster/ha/status/current".into(),
            serde_json::json!([{"type": "master", "id": "master", "timestamp": 1_762_767_006}]),
        );
        use_cluster_clock(&mut snap);
        assert_eq!(snap.captured_at.as_deref(), Some("2025-11-10T09:30:06Z"));
    }
}
