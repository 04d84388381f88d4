//! Guest configuration, `/nodes/{node}/{qemu|lxc}/{vmid}/config`: read it, and change `onboot` and
//! `startup` (both take effect at once, even on a running guest). The request must go to the
//! guest's node, which `locate` finds in the inventory; a bare VMID is never guessed into a type.

use pveha_model::{ClusterResource, GuestConfig, GuestKind, Sid, Startup};
use reqwest::Method;
use serde_json::Value;

use crate::client::decode;
use crate::error::{Error, Result};
use crate::retry::Outcome;
use crate::transport::{segment, Form};
use crate::{Change, Client};

/// Where a guest lives and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLocation {
    /// The node it is on now.
    pub node: String,
    /// QEMU or LXC.
    pub kind: GuestKind,
    /// Its VMID.
    pub vmid: u32,
}

impl GuestLocation {
    /// The guest's HA service id.
    pub fn sid(&self) -> Sid {
        Sid::new(self.kind, self.vmid)
    }
}

/// Changes to a guest's start-at-boot settings; fields left at `Keep` are not sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartupUpdate {
    /// Start the guest when its node boots.
    pub onboot: Change<bool>,
    /// Boot order and delays.
    pub startup: Change<Startup>,
    /// Digest from a previous read, for optimistic locking.
    pub digest: Option<String>,
}

fn path(location: &GuestLocation) -> String {
    format!(
        "/nodes/{}/{}/{}/config",
        segment(&location.node),
        location.kind.api_type(),
        location.vmid
    )
}

/// Finds a guest by VMID in `/cluster/resources`; `NotFound` when no guest has it.
pub async fn locate(client: &Client, vmid: u32) -> Result<GuestLocation> {
    let guests: Vec<ClusterResource> = client.get("/cluster/resources", &[("type", "vm")]).await?;
    guests
        .iter()
        .filter(|g| g.vmid == Some(u64::from(vmid)))
        .find_map(|g| {
            Some(GuestLocation {
                node: g.node.clone()?,
                kind: g.guest_kind()?,
                vmid,
            })
        })
        .ok_or_else(|| Error::NotFound {
            message: format!("VM/CT {vmid} does not exist in the cluster"),
        })
}

/// Reads a guest's configuration (pending values applied, as the server does by default).
pub async fn config(client: &Client, location: &GuestLocation) -> Result<GuestConfig> {
    client.get(&path(location), &[]).await
}

/// Changes `onboot` and `startup`. An update that changes nothing sends nothing (the server
/// would refuse it with `no options specified`).
pub async fn update_startup(
    client: &Client,
    location: &GuestLocation,
    update: &StartupUpdate,
) -> Result<()> {
    let mut form = Form::new();
    update.onboot.apply_bool(&mut form, "onboot");
    update.startup.apply(&mut form, "startup");
    if form.is_empty() {
        return Ok(());
    }
    form.set_opt("digest", update.digest.as_ref());
    let one = path(location);
    client
        .write(Method::PUT, &one, form.clone(), || {
            verify(client, &one, update)
        })
        .await?;
    Ok(())
}

/// After an ambiguous failure: does the config show the requested values?
async fn verify(client: &Client, path: &str, update: &StartupUpdate) -> Result<Outcome> {
    let data: Value = client.get_raw(path, &[]).await?;
    let config: GuestConfig = decode(path, data)?;
    let onboot_ok = match &update.onboot {
        Change::Keep => true,
        Change::Set(b) => config.onboot.unwrap_or(false) == *b,
        Change::Unset => config.onboot.is_none(),
    };
    // The server stores `startup` verbatim, so compare parsed values, not text.
    let startup_ok = match &update.startup {
        Change::Keep => true,
        Change::Set(s) => config.startup() == Some(*s),
        Change::Unset => config.startup.is_none(),
    };
    Ok(if onboot_ok && startup_ok {
        Outcome::Applied
    } else {
        Outcome::NotApplied
    })
}
