//! HA groups, `/cluster/ha/groups[/{group}]`: PVE 8 only. On PVE 9 every call fails before any
//! request with `VersionUnsupported` pointing at rules. Reads come from the cached list.

use std::sync::Arc;

use pveha_model::{HaGroup, HaModel, NodePriorities};

use crate::cache::Cached;
use crate::client::HaCaches;
use crate::error::Result;
use crate::ha::section::{self, Section};
use crate::ha::Indexed;
use crate::transport::Form;
use crate::{Change, Client};

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

/// The group collection for the shared section-config path.
pub(crate) struct Groups;

impl Section for Groups {
    type Key = String;
    type Record = HaGroup;
    const COLLECTION: &'static str = "/cluster/ha/groups";
    const NOT_FOUND: &'static str = "no such ha group";
    const GATE: Option<(HaModel, &'static str)> = Some((HaModel::Groups, "HA groups"));

    fn key(record: &HaGroup) -> Option<String> {
        Some(record.group.clone())
    }

    fn cache(caches: &HaCaches) -> &Cached<HaGroups> {
        &caches.groups
    }
}

/// The group list as cached, indexed by group id.
pub type HaGroups = Indexed<String, HaGroup>;

/// Every group, shared with the cache (one list request per validity window, however many callers).
pub async fn shared(client: &Client) -> Result<Arc<HaGroups>> {
    section::shared::<Groups>(client).await
}

/// Every group, as an owned copy of the cached list ([`shared`] avoids the copy).
pub async fn list(client: &Client) -> Result<Vec<HaGroup>> {
    Ok(shared(client).await?.to_vec())
}

/// One group, looked up in the cached list; `NotFound` as the server words it.
pub async fn get(client: &Client, group: &str) -> Result<HaGroup> {
    section::get::<Groups>(client, &group.to_string()).await
}

/// Creates a group.
pub async fn create(client: &Client, new: &NewHaGroup) -> Result<()> {
    let mut form = Form::new();
    form.set("group", &new.group)
        .set("nodes", &new.nodes)
        .set_bool("restricted", new.restricted)
        .set_bool("nofailback", new.nofailback)
        .set_opt("comment", new.comment.as_ref());
    section::create::<Groups>(client, &new.group, form).await
}

/// Updates a group.
pub async fn update(client: &Client, group: &str, update: &HaGroupUpdate) -> Result<()> {
    let mut form = Form::new();
    form.set_opt("nodes", update.nodes.as_ref());
    update.restricted.apply_bool(&mut form, "restricted");
    update.nofailback.apply_bool(&mut form, "nofailback");
    update.comment.apply(&mut form, "comment");
    section::update::<Groups>(client, &group, form, update.digest.as_ref()).await
}

/// Deletes a group. The server answers success for a group that does not exist.
pub async fn delete(client: &Client, group: &str) -> Result<()> {
    section::delete::<Groups>(client, &group, Form::new()).await
}
