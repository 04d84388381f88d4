//! HA status, `/cluster/ha/status/current` (cached like the configuration lists, and indexed by the
//! sid of its service entries; or read fresh, with the cluster's clock, for a watcher that polls) and
//! `/cluster/ha/status/manager_status` (raw: its shape varies across HA manager versions).

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

/// One fresh read of `/cluster/ha/status/current` and the cluster's time it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReading {
    /// Every entry, in the server's order.
    pub entries: Vec<HaStatusEntry>,
    /// The newest master or LRM `timestamp` (seconds since the epoch): the cluster's clock as the HA stack last
    /// wrote it (the simulated clock on `pveha sim`). None when the HA manager has not run yet.
    pub clock: Option<i64>,
}

/// `GET /cluster/ha/status/current` past the cache, for polling: the cached [`current`] would answer the same
/// list for the whole validity window, and it stays untouched (its next reader still sees its own window).
pub async fn current_uncached(client: &Client) -> Result<StatusReading> {
    let data = client.get_raw("/cluster/ha/status/current", &[]).await?;
    let clock = newest_timestamp(&data);
    let entries = decode::<Vec<HaStatusEntry>>("/cluster/ha/status/current", data)?;
    Ok(StatusReading { entries, clock })
}

/// The newest `timestamp` of the master and LRM entries (the record type leaves it out: only a clock reads it).
fn newest_timestamp(data: &Value) -> Option<i64> {
    data.as_array()?
        .iter()
        .filter(|e| {
            matches!(
                e.get("type").and_then(Value::as_str),
                Some("master" | "lrm")
            )
        })
        .filter_map(|e| e.get("timestamp").and_then(Value::as_i64))
        .max()
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
    fn the_clock_is_the_newest_master_or_lrm_timestamp() {
        let data = json!([
            {"type": "quorum", "id": "quorum", "timestamp": 9_999_999_999_i64},
            {"type": "master", "id": "master", "timestamp": 1_700_000_020},
            {"type": "lrm", "id": "lrm:a", "timestamp": 1_700_000_025},
            {"type": "lrm", "id": "lrm:b", "timestamp": 1_699_999_000},
            {"type": "service", "id": "service:ct:1"}
        ]);
        assert_eq!(newest_timestamp(&data), Some(1_700_000_025));
        assert_eq!(
            newest_timestamp(&json!([{"type": "quorum", "id": "quorum"}])),
            None
        );
    }

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
