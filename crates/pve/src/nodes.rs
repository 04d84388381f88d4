//! Per-node reads: `/nodes` and `/nodes/{node}/journal`. Journal requests are proxied to the node,
//! so an offline node answers 595 (`NodeUnreachable`).

use pveha_model::snapshot::journal_lines;
use pveha_model::NodeEntry;

use crate::error::Result;
use crate::transport::segment;
use crate::Client;

/// Which journal lines to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// The last N entries (conflicts with a time range on the server).
    pub lastentries: Option<u64>,
    /// From this UNIX time on.
    pub since: Option<i64>,
    /// Up to this UNIX time.
    pub until: Option<i64>,
}

impl JournalQuery {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(n) = self.lastentries {
            out.push(("lastentries", n.to_string()));
        }
        if let Some(t) = self.since {
            out.push(("since", t.to_string()));
        }
        if let Some(t) = self.until {
            out.push(("until", t.to_string()));
        }
        out
    }
}

/// `GET /nodes`: every cluster node with its status.
pub async fn list(client: &Client) -> Result<Vec<NodeEntry>> {
    client.get("/nodes", &[]).await
}

/// `GET /nodes/{node}/journal` exactly as the server sends it: cursors first and last.
pub async fn journal_raw(client: &Client, node: &str, query: &JournalQuery) -> Result<Vec<String>> {
    let params = query.params();
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    client
        .get(&format!("/nodes/{}/journal", segment(node)), &borrowed)
        .await
}

/// The journal's lines, without the cursors the server puts around them.
pub async fn journal(client: &Client, node: &str, query: &JournalQuery) -> Result<Vec<String>> {
    Ok(journal_lines(journal_raw(client, node, query).await?))
}
