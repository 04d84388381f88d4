//! Storage definitions, `GET /storage` (storage.cfg): which storages exist, their type, whether
//! they are shared and which nodes see them. Read-only.

use pveha_model::StorageConfig;

use crate::error::Result;
use crate::Client;

/// `GET /storage`: every storage definition.
pub async fn list(client: &Client) -> Result<Vec<StorageConfig>> {
    client.get("/storage", &[]).await
}
