//! HA status, `/cluster/ha/status/current` (cached like the configuration lists) and
//! `/cluster/ha/status/manager_status` (raw: its shape varies across HA manager versions).

use pveha_model::HaStatusEntry;
use serde_json::Value;

use crate::client::decode;
use crate::error::Result;
use crate::Client;

/// `GET /cluster/ha/status/current`: quorum, master, LRMs and services, from the cache.
pub async fn current(client: &Client) -> Result<Vec<HaStatusEntry>> {
    let entries = client
        .ha_cached(
            |c| &c.status,
            || async {
                let data = client.get_raw("/cluster/ha/status/current", &[]).await?;
                decode::<Vec<HaStatusEntry>>("/cluster/ha/status/current", data)
            },
        )
        .await?;
    Ok(entries.as_ref().clone())
}

/// `GET /cluster/ha/status/manager_status`, verbatim.
pub async fn manager_status(client: &Client) -> Result<Value> {
    client
        .get_raw("/cluster/ha/status/manager_status", &[])
        .await
}
