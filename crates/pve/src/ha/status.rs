//! HA status, `/cluster/ha/status/current` (cached like the configuration lists, and indexed by the
//! sid of its service entries) and `/cluster/ha/status/manager_status` (raw: its shape varies across
//! HA manager versions).

use std::sync::Arc;

use pveha_model::{HaStatusEntry, Sid};
use serde_json::Value;

use crate::client::{decode, Need};
use crate::error::Result;
use crate::ha::resources::Resources;
use crate::ha::{section, Indexed};
use crate::Client;

/// The status list as cached: every entry, service entries indexed by their sid (`vm:100`).
pub type HaStatus = Indexed<String, HaStatusEntry>;

/// `GET /cluster/ha/status/current`: quorum, master, LRMs and services, shared with the cache.
pub async fn current(client: &Client) -> Result<Arc<HaStatus>> {
    cached(client, Need::Everything).await
}

/// The status list as cached, fetched again when it predates a write `need` asks for.
async fn cached(client: &Client, need: Need<'_>) -> Result<Arc<HaStatus>> {
    client
        .ha_cached(
            |c| &c.status,
            need,
            || async {
                let data = client.get_raw("/cluster/ha/status/current", &[]).await?;
                let entries = decode::<Vec<HaStatusEntry>>("/cluster/ha/status/current", data)?;
                Ok(Indexed::new(entries, service_key))
            },
        )
        .await
}

/// The status entry of one service, from the cache; `None` when the HA manager does not list it.
/// The list only has to postdate this client's writes of that service (and every unconfined write).
pub async fn service(client: &Client, sid: &Sid) -> Result<Option<HaStatusEntry>> {
    let path = section::item_path::<Resources>(sid);
    Ok(cached(client, Need::Object(&path))
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
