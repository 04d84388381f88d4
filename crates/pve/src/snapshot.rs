//! Captures a cluster into a `pveha-snapshot/1` document: every cluster-wide path, each guest's
//! config and each node's journal, exactly as the API returns their `data`. What the cluster's
//! version lacks (groups on PVE 9, rules on PVE 8) is left out; what an offline node cannot
//! answer is left out with a warning, so one dead node never spoils an audit of the rest.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use pveha_model::snapshot::{guest_config_path, CLUSTER_PATHS};
use pveha_model::{ClusterResource, HaModel, Snapshot, SNAPSHOT_FORMAT};
use serde_json::Value;

use crate::client::decode;
use crate::error::{Error, Result};
use crate::Client;

/// What to capture beyond the cluster-wide paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Journal entries to read per node (`lastentries`); 0 skips journals.
    pub journal_entries: u64,
    /// Read each guest's config.
    pub guest_configs: bool,
    /// Requests in flight at once for the per-guest and per-node paths.
    pub concurrency: usize,
}

impl Default for CaptureOptions {
    fn default() -> CaptureOptions {
        CaptureOptions {
            journal_entries: 5000,
            guest_configs: true,
            concurrency: 4,
        }
    }
}

/// A captured snapshot and the paths that could not be read.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The document.
    pub snapshot: Snapshot,
    /// One sentence per path left out, naming it and why.
    pub warnings: Vec<String>,
}

/// Paths without which a snapshot is useless: their failure fails the capture.
const REQUIRED: &[&str] = &["/version", "/cluster/resources"];

/// Fetches every path of the snapshot format.
pub async fn capture(client: &Client, options: &CaptureOptions) -> Result<Capture> {
    let version = client.version().await?;
    let model = version.ha_model();
    let mut api: BTreeMap<String, Value> = BTreeMap::new();
    let mut warnings = Vec::new();

    for path in CLUSTER_PATHS.iter().copied() {
        let lacking = match path {
            "/cluster/ha/groups" => model == HaModel::Rules,
            "/cluster/ha/rules" => model == HaModel::Groups,
            _ => false,
        };
        if lacking {
            continue;
        }
        match client.get_raw(path, &[]).await {
            Ok(data) => {
                api.insert(path.to_string(), data);
            }
            Err(e) if REQUIRED.contains(&path) => return Err(e),
            Err(e) => warnings.push(format!("{path} was not captured: {e}")),
        }
    }

    let inventory: Vec<ClusterResource> = match api.get("/cluster/resources") {
        Some(data) => decode("/cluster/resources", data.clone())?,
        None => Vec::new(),
    };
    // (path, lastentries): owned data only, so the capture future stays `Send`.
    let mut paths: Vec<(String, Option<String>)> = Vec::new();
    if options.guest_configs {
        for guest in &inventory {
            if let (Some(kind), Some(node), Some(vmid)) =
                (guest.guest_kind(), &guest.node, guest.vmid)
            {
                paths.push((guest_config_path(node, kind, vmid), None));
            }
        }
    }
    if options.journal_entries > 0 {
        for node in inventory.iter().filter(|r| r.kind == "node") {
            if let Some(name) = &node.node {
                paths.push((
                    format!("/nodes/{name}/journal"),
                    Some(options.journal_entries.to_string()),
                ));
            }
        }
    }
    let fetched: Vec<(String, Result<Value>)> = stream::iter(paths)
        .map(|(path, lastentries)| async move {
            let result = match &lastentries {
                Some(n) => client.get_raw(&path, &[("lastentries", n.as_str())]).await,
                None => client.get_raw(&path, &[]).await,
            };
            (path, result)
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    for (path, result) in fetched {
        match result {
            Ok(data) => {
                api.insert(path, data);
            }
            Err(e @ (Error::Unauthorized { .. } | Error::InvalidConfig { .. })) => return Err(e),
            Err(e) => warnings.push(format!("{path} was not captured: {e}")),
        }
    }

    let captured_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    Ok(Capture {
        snapshot: Snapshot {
            format: SNAPSHOT_FORMAT.to_string(),
            pve_version: version.version,
            captured_at,
            api,
            auth: None,
        },
        warnings,
    })
}
