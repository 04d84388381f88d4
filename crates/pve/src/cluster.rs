//! Cluster-wide reads: `/cluster/resources`, `/cluster/status`, `/cluster/options`,
//! `/cluster/backup` and `/cluster/replication`. Read-only; pveha changes none of these. The
//! inventory (guests, node names) is also served cached, single-flight, until a move invalidates it.

use std::sync::Arc;

use pveha_model::{BackupJob, ClusterResource, ClusterStatusEntry, ReplicationJob};
use serde_json::Value;

use crate::error::Result;
use crate::Client;

/// The `type` filter of `/cluster/resources` (the API calls guests `vm`, not `qemu`/`lxc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// QEMU and LXC guests.
    Vm,
    /// Nodes.
    Node,
    /// Storage on each node.
    Storage,
    /// SDN zones.
    Sdn,
}

impl ResourceType {
    fn as_str(self) -> &'static str {
        match self {
            ResourceType::Vm => "vm",
            ResourceType::Node => "node",
            ResourceType::Storage => "storage",
            ResourceType::Sdn => "sdn",
        }
    }
}

/// `GET /cluster/resources`, optionally filtered by type.
pub async fn resources(
    client: &Client,
    kind: Option<ResourceType>,
) -> Result<Vec<ClusterResource>> {
    match kind {
        Some(k) => {
            client
                .get("/cluster/resources", &[("type", k.as_str())])
                .await
        }
        None => client.get("/cluster/resources", &[]).await,
    }
}

/// Every guest (`/cluster/resources?type=vm`), one request per cache window however many callers;
/// migrate and relocate through this client invalidate it.
pub async fn guests(client: &Client) -> Result<Arc<Vec<ClusterResource>>> {
    client
        .inventory_cached(|c| &c.guests, || resources(client, Some(ResourceType::Vm)))
        .await
}

/// The guest with `vmid` in the cached inventory, if the cluster has one.
pub async fn guest(client: &Client, vmid: u32) -> Result<Option<ClusterResource>> {
    Ok(guests(client)
        .await?
        .iter()
        .find(|g| g.vmid == Some(u64::from(vmid)) && g.guest_kind().is_some())
        .cloned())
}

/// The cluster's node names (`/cluster/status`), sorted, cached like [`guests`].
pub async fn node_names(client: &Client) -> Result<Arc<Vec<String>>> {
    client
        .inventory_cached(
            |c| &c.nodes,
            || async {
                let mut names: Vec<String> = status(client)
                    .await?
                    .into_iter()
                    .filter(|e| e.kind == "node")
                    .map(|e| e.name)
                    .collect();
                names.sort();
                Ok(names)
            },
        )
        .await
}

/// `GET /cluster/status`: the cluster entry (when clustered) and one entry per node.
pub async fn status(client: &Client) -> Result<Vec<ClusterStatusEntry>> {
    client.get("/cluster/status", &[]).await
}

/// `GET /cluster/options` (datacenter.cfg), verbatim.
pub async fn options(client: &Client) -> Result<Value> {
    client.get_raw("/cluster/options", &[]).await
}

/// `GET /cluster/backup`: every vzdump job.
pub async fn backup_jobs(client: &Client) -> Result<Vec<BackupJob>> {
    client.get("/cluster/backup", &[]).await
}

/// `GET /cluster/replication`: every storage replication job.
pub async fn replication_jobs(client: &Client) -> Result<Vec<ReplicationJob>> {
    client.get("/cluster/replication", &[]).await
}
