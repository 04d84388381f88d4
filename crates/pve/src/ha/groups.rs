//! HA groups, `/cluster/ha/groups[/{group}]`: PVE 8 only. On PVE 9 every call fails before any
//! request with `VersionUnsupported` pointing at rules. Reads come from the cached list.

use pveha_model::{HaGroup, HaModel, NodePriorities};

use crate::error::Result;
use crate::ha::section;
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
    /// Digest of `groups.cfg` from a previous [`list`] or [`shared`] read: the update fails with
    /// `DigestMismatch` if the file changed (a record from [`get`] may carry an older one, as it only
    /// postdates this client's writes of that group).
    pub digest: Option<String>,
}

section::collection!(
    Groups, HaGroups: Indexed<String, HaGroup>, "HA group",
    path "/cluster/ha/groups", not_found "no such ha group",
    gate Some((HaModel::Groups, "HA groups")), confined true,
    key |g| Some(g.group.clone()), cache groups, get(group: &str)
);

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
