//! HA resources, `/cluster/ha/resources[/{sid}]`, and their migrate/relocate commands. Reads come
//! from the cached, sid-indexed list, so refreshing a thousand resources costs one request and a
//! thousand lookups. Deletes pass
//! `purge=0` on PVE 9 so that removing a resource never edits or deletes the user's rules.

use pveha_model::{HaModel, HaResource, Sid};
use reqwest::Method;
use serde::Deserialize;

use crate::client::{decode, WriteScope};
use crate::error::{Error, Result};
use crate::ha::section;
use crate::retry::Outcome;
use crate::transport::Form;
use crate::{Change, Client};

/// An HA resource to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHaResource {
    /// The guest, as `vm:N` or `ct:N`.
    pub sid: Sid,
    /// Requested state: `started` (server default), `stopped`, `enabled`, `disabled`, `ignored`.
    pub state: Option<String>,
    /// PVE 8 group.
    pub group: Option<String>,
    /// Restarts on the same node (server default 1).
    pub max_restart: Option<u64>,
    /// Relocations to other nodes (server default 1).
    pub max_relocate: Option<u64>,
    /// PVE 9: fail back to a preferred node (server default true).
    pub failback: Option<bool>,
    /// Free-form comment.
    pub comment: Option<String>,
}

impl NewHaResource {
    /// A resource with every optional setting left to the server.
    pub fn new(sid: Sid) -> NewHaResource {
        NewHaResource {
            sid,
            state: None,
            group: None,
            max_restart: None,
            max_relocate: None,
            failback: None,
            comment: None,
        }
    }
}

/// Changes to an existing HA resource; fields left at `Keep` are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HaResourceUpdate {
    /// Requested state.
    pub state: Change<String>,
    /// PVE 8 group.
    pub group: Change<String>,
    /// Restarts on the same node.
    pub max_restart: Change<u64>,
    /// Relocations to other nodes.
    pub max_relocate: Change<u64>,
    /// PVE 9 failback.
    pub failback: Change<bool>,
    /// Comment.
    pub comment: Change<String>,
    /// Digest of `resources.cfg` from a previous [`list`] or [`shared`] read, for optimistic locking
    /// (a record from [`get`] may carry an older one: it only postdates this client's writes of it).
    pub digest: Option<String>,
}

/// What the server answered to a migrate or relocate request. PVE 8 answers nothing, so every
/// field is empty there; the command is only queued for the HA manager in both versions.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MoveRequest {
    /// The node the service was asked to move to (PVE 9).
    #[serde(default, rename = "requested-node")]
    pub requested_node: Option<String>,
    /// Resources that move along because of positive affinity (PVE 9).
    #[serde(default, rename = "comigrated-resources")]
    pub comigrated_resources: Vec<String>,
    /// Resources whose affinity blocks the move (PVE 9), verbatim.
    #[serde(default, rename = "blocking-resources")]
    pub blocking_resources: Vec<serde_json::Value>,
}

// Resources exist in both models; their version-specific settings are checked per call.
section::collection!(
    Resources, HaResources: Indexed<Sid, HaResource>, "HA resource",
    path "/cluster/ha/resources", not_found "no such resource", gate None, confined true,
    key |r| Some(r.sid), cache resources, get(sid: &Sid)
);

/// Refuses settings the cluster's version does not have, before any request.
async fn check_version(client: &Client, group: bool, failback: bool) -> Result<()> {
    if group {
        client
            .require(HaModel::Groups, "The group setting of an HA resource")
            .await?;
    }
    if failback && client.ha_model().await? == HaModel::Groups {
        let version = client.version().await?.version;
        return Err(Error::VersionUnsupported {
            operation: "The failback setting of an HA resource".into(),
            version,
            hint: "failback exists from PVE 9 on: use nofailback on the resource's pveha_group"
                .into(),
        });
    }
    Ok(())
}

/// Creates an HA resource.
pub async fn create(client: &Client, new: &NewHaResource) -> Result<()> {
    check_version(client, new.group.is_some(), new.failback.is_some()).await?;
    let mut form = Form::new();
    form.set("sid", new.sid)
        .set_opt("state", new.state.as_ref())
        .set_opt("group", new.group.as_ref())
        .set_opt("max_restart", new.max_restart)
        .set_opt("max_relocate", new.max_relocate)
        .set_bool("failback", new.failback)
        .set_opt("comment", new.comment.as_ref());
    section::create::<Resources>(client, &new.sid, form).await
}

/// Updates an HA resource.
pub async fn update(client: &Client, sid: &Sid, update: &HaResourceUpdate) -> Result<()> {
    check_version(
        client,
        matches!(update.group, Change::Set(_)),
        !update.failback.is_keep(),
    )
    .await?;
    let mut form = Form::new();
    update.state.apply(&mut form, "state");
    update.group.apply(&mut form, "group");
    update.max_restart.apply(&mut form, "max_restart");
    update.max_relocate.apply(&mut form, "max_relocate");
    update.failback.apply_bool(&mut form, "failback");
    update.comment.apply(&mut form, "comment");
    section::update::<Resources>(client, sid, form, update.digest.as_ref()).await
}

/// Removes a guest from HA. On PVE 9 `purge=0` keeps the rules that name it untouched.
pub async fn delete(client: &Client, sid: &Sid) -> Result<()> {
    let mut form = Form::new();
    if client.ha_model().await? == HaModel::Rules {
        form.set("purge", "0");
    }
    section::delete::<Resources>(client, sid, form).await
}

/// Asks the HA manager to live-migrate a service to `node`.
pub async fn migrate(client: &Client, sid: &Sid, node: &str) -> Result<MoveRequest> {
    move_to(client, sid, node, "migrate").await
}

/// Asks the HA manager to relocate (stop, move, start) a service to `node`.
pub async fn relocate(client: &Client, sid: &Sid, node: &str) -> Result<MoveRequest> {
    move_to(client, sid, node, "relocate").await
}

async fn move_to(client: &Client, sid: &Sid, node: &str, command: &str) -> Result<MoveRequest> {
    let mut form = Form::new();
    form.set("node", node);
    let route = format!("{}/{command}", section::item_path::<Resources>(sid));
    let answer = client
        // Positive affinity may move other services along, so every status entry may change.
        .ha_write(WriteScope::Any, || {
            // A queued command cannot be seen afterwards, so an ambiguous failure stays an error.
            client.write(Method::POST, &route, form.clone(), || async {
                Err::<Outcome, _>(Error::NotFound {
                    message: String::new(),
                })
            })
        })
        .await;
    // The HA manager moves the guest after this answer; the inventory must be asked again.
    client.invalidate_inventory();
    match answer? {
        Some(serde_json::Value::Null) | None => Ok(MoveRequest::default()),
        Some(data) => decode(&route, data),
    }
}
