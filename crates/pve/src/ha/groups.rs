//! HA groups, `/cluster/ha/groups[/{group}]`: PVE 8 only. On PVE 9 every call fails before any
//! request with `VersionUnsupported` pointing at rules. Reads come from the cached list.

use std::sync::Arc;

use pveha_model::{HaGroup, HaModel, NodePriorities};
use reqwest::Method;

use crate::client::decode;
use crate::error::{Error, Result};
use crate::ha::{verify_gone, verify_shows, Indexed};
use crate::transport::Form;
use crate::{Change, Client};

const OPERATION: &str = "HA groups";

/// A group to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHaGroup {
    /// Group id (`^[a-z][a-z0-9_-]+$`).
    pub group: String,
    /// Member nodes and priorities.
    pub nodes: NodePriorities,
    /// Services may run only on members; unset means the server's default (false).
    pub restricted: Option<bool>,
    /// Do not fail back to a higher-priority member; unset means false.
    pub nofailback: Option<bool>,
    /// Free-form comment.
    pub comment: Option<String>,
}

/// Changes to an existing group; fields left at `Keep` are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HaGroupUpdate {
    /// New member list (replaces the whole list; cannot be unset).
    pub nodes: Option<NodePriorities>,
    /// Restricted flag.
    pub restricted: Change<bool>,
    /// No-failback flag.
    pub nofailback: Change<bool>,
    /// Comment.
    pub comment: Change<String>,
    /// Digest from a previous read: the update fails with `DigestMismatch` if the file changed.
    pub digest: Option<String>,
}

fn path(group: &str) -> String {
    format!("/cluster/ha/groups/{group}")
}

/// The group list as cached, indexed by group id.
pub type HaGroups = Indexed<String, HaGroup>;

/// Every group, shared with the cache (one list request per validity window, however many callers).
pub async fn shared(client: &Client) -> Result<Arc<HaGroups>> {
    client.require(HaModel::Groups, OPERATION).await?;
    client
        .ha_cached(
            |c| &c.groups,
            || async {
                let data = client.get_raw("/cluster/ha/groups", &[]).await?;
                let list = decode::<Vec<HaGroup>>("/cluster/ha/groups", data)?;
                Ok(Indexed::new(list, |x: &HaGroup| Some(x.group.clone())))
            },
        )
        .await
}

/// Every group, as an owned copy of the cached list ([`shared`] avoids the copy).
pub async fn list(client: &Client) -> Result<Vec<HaGroup>> {
    Ok(shared(client).await?.to_vec())
}

/// One group, looked up in the cached list; `NotFound` as the server words it.
pub async fn get(client: &Client, group: &str) -> Result<HaGroup> {
    shared(client)
        .await?
        .get(group)
        .cloned()
        .ok_or_else(|| Error::NotFound {
            message: format!("no such ha group '{group}'"),
        })
}

/// Creates a group.
pub async fn create(client: &Client, new: &NewHaGroup) -> Result<()> {
    client.require(HaModel::Groups, OPERATION).await?;
    let mut form = Form::new();
    form.set("group", &new.group)
        .set("nodes", &new.nodes)
        .set_bool("restricted", new.restricted)
        .set_bool("nofailback", new.nofailback)
        .set_opt("comment", new.comment.as_ref());
    let one = path(&new.group);
    client
        .ha_write(|| {
            client.write(Method::POST, "/cluster/ha/groups", form.clone(), || {
                verify_shows(client, &one, &form)
            })
        })
        .await?;
    Ok(())
}

/// Updates a group.
pub async fn update(client: &Client, group: &str, update: &HaGroupUpdate) -> Result<()> {
    client.require(HaModel::Groups, OPERATION).await?;
    let mut form = Form::new();
    form.set_opt("nodes", update.nodes.as_ref());
    update.restricted.apply_bool(&mut form, "restricted");
    update.nofailback.apply_bool(&mut form, "nofailback");
    update.comment.apply(&mut form, "comment");
    if form.is_empty() {
        return Ok(());
    }
    form.set_opt("digest", update.digest.as_ref());
    let one = path(group);
    client
        .ha_write(|| {
            client.write(Method::PUT, &one, form.clone(), || {
                verify_shows(client, &one, &form)
            })
        })
        .await?;
    Ok(())
}

/// Deletes a group. The server answers success for a group that does not exist.
pub async fn delete(client: &Client, group: &str) -> Result<()> {
    client.require(HaModel::Groups, OPERATION).await?;
    let one = path(group);
    client
        .ha_write(|| {
            client.write(Method::DELETE, &one, Form::new(), || {
                verify_gone(client, &one)
            })
        })
        .await?;
    Ok(())
}
