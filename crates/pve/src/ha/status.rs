//! HA status, `/cluster/ha/status/current` (cached like the configuration lists, and indexed by the
//! sid of its service entries) and `/cluster/ha/status/manager_status` (raw: its shape varies across
//! HA manager versions).

use std::sync::Arc;

use pveha_model::{HaStatusEntry, Sid};
use serde_json::Value;

use crate::client::decode;
use crate::error::Result;
use crate::ha::Indexed;
use crate::Client;

/// The status list as cached: every entry, service entries indexed by their sid (`vm:100`).
pub type HaStatus = Indexed<String, HaStatusEntry>;

/// `GET /cluster/ha/status/current`: quorum, master, LRMs and services, shared with the cache.
pub async fn current(client: &Client) -> Result<Arc<HaStatus>> {
    client
        .ha_cached(
            |c| &c.status,
            || async {
                let data = client.get_raw("/cluster/ha/status/current", &[]).await?;
                let entries = decode::<Vec<HaStatusEntry>>("/cluster/ha/status/current", data)?;
                Ok(Indexed::new(entries, service_key))
            },
        )
        .await
}

/// The status entry of one service, from the cache; `None` when the HA manager does not list it.
pub async fn service(client: &Client, sid: &Sid) -> Result<Option<HaStatusEntry>> {
    Ok(current(client)
        .await?
        .get(sid.to_string().as_str())
        .cloned())
}

/// Only service entries are looked up by sid; an LRM or the master never answers for a service.
fn service_key(entry: &HaStatusEntry) -> Option<String> {
    (entry.kind == "service")
        .then(|| entry.sid.clone())
        .flatten()
}

/// `GET /cluster/ha/status/manager_status`, verbatim.
pub async fn manager_status(client: &Client) -> Result<Value> {
    client
        .get_raw("/cluster/ha/status/manager_status", &[])
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_service_entries_are_found_by_sid() {
        let entries: Vec<HaStatusEntry> = serde_json::from_value(json!([
            {"type": "quorum", "id": "quorum", "quorate": 1},
            {"type": "lrm", "id": "lrm:pve1", "node": "pve1", "sid": "ct:110"},
            {"type": "service", "id": "service:ct:110", "node": "pve2", "sid": "ct:110",
             "crm_state": "started", "state": "started"},
            {"type": "service", "id": "service:vm:100", "node": "pve1", "sid": "vm:100"}
        ]))
        .unwrap();
        let status = Indexed::new(entries, service_key);
        assert_eq!(status.len(), 4);
        let sid: Sid = "ct:110".parse().unwrap();
        let found = status.get(sid.to_string().as_str()).unwrap();
        assert_eq!(
            (found.kind.as_str(), found.node.as_deref()),
            ("service", Some("pve2"))
        );
        assert!(status.get("vm:100").is_some());
        assert!(status.get("vm:101").is_none());
    }
}
