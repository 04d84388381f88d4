//! `pveha_guest_startup`: a guest's boot behaviour, `onboot` and `startup` in
//! `/nodes/{node}/{lxc|qemu}/{vmid}/config` (`pct set --startup`, `qm set`). The guest's node and type
//! are looked up in the (cached) inventory at every refresh, so a guest that HA moved is still found.
//! All I/O goes through `pveha_pve::guests`; writes carry the config digest read just before.

use pveha_model::{ClusterResource, GuestConfig, Startup};
use pveha_pve::guests::{self, GuestLocation, StartupUpdate};
use pveha_pve::Change;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{async_trait, Context, Diagnostics, Plan, Value};

use super::lifecycle::{lifecycle_resource, Lifecycle};
use super::{check_range, known_u64, settle};
use crate::diag::{self, ParamMap};
use crate::provider::Pve;

/// API parameters and the attributes that set them.
const PARAMS: ParamMap<'static> = &[("onboot", "onboot"), ("startup", "order")];

/// Whether and in which order a guest starts when its node boots. Proxmox VE ignores both for HA-managed
/// guests (the HA stack starts those), so plan warns about them. Destroying it removes `startup` and resets
/// `onboot` to its default. Import with the VMID, e.g. `terraform import pveha_guest_startup.dhcp 133`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GuestStartupModel {
    /// The guest's VMID. Changing it replaces the resource.
    #[schemars(extend("x-tf-required" = true, "x-tf-replace" = true))]
    pub vmid: Value<i64>,
    /// Start the guest when its node boots. Defaults to `false`.
    #[schemars(extend("x-tf-default" = false))]
    pub onboot: Value<bool>,
    /// Position in the boot order (≥ 0; lower starts first, guests without one start last).
    pub order: Value<i64>,
    /// Seconds to wait after starting this guest before starting the next (≥ 0).
    pub up: Value<i64>,
    /// Seconds to wait for this guest to shut down before stopping it (≥ 0).
    pub down: Value<i64>,
    /// The node the guest is on now.
    #[schemars(extend("x-tf-computed" = true))]
    pub node: Value<String>,
    /// Guest type: `lxc` or `qemu`.
    #[serde(rename = "type")]
    #[schemars(extend("x-tf-computed" = true))]
    pub kind: Value<String>,
}

/// The `pveha_guest_startup` type.
pub struct GuestStartupResource;

lifecycle_resource!(GuestStartupResource);

#[async_trait]
impl Lifecycle for GuestStartupResource {
    type Model = GuestStartupModel;
    type Id = u32;
    const TYPE_NAME: &'static str = "pveha_guest_startup";
    const PARAMS: ParamMap<'static> = PARAMS;
    // A guest's boot settings exist with the guest: creating them adopts whatever is there.
    const EXCLUSIVE: bool = false;
    // Every write carries the guest config's own digest, read just before.
    const DIGEST_GUARDED: bool = true;
    const VERBS: [&'static str; 3] = ["set", "update", "reset"];

    fn validate(&self, config: &GuestStartupModel, diags: &mut Diagnostics) {
        check_range(diags, "vmid", &config.vmid, 100, 999_999_999, "");
        for (path, value) in [
            ("order", &config.order),
            ("up", &config.up),
            ("down", &config.down),
        ] {
            check_range(diags, path, value, 0, i64::from(u32::MAX), "");
        }
    }

    async fn plan(
        &self,
        ctx: &Context<Pve>,
        plan: &mut Plan<GuestStartupModel>,
        diags: &mut Diagnostics,
    ) {
        let Some(pve) = ctx.client() else { return };
        let Some(vmid) = plan
            .config
            .vmid
            .as_ref()
            .and_then(|v| u32::try_from(*v).ok())
        else {
            return;
        };
        let guest = match pve.guest(vmid).await {
            Ok(Some(g)) => g,
            Ok(None) => {
                diags.error_at(
                    "vmid",
                    "No such guest",
                    format!("No guest with VMID {vmid} exists in the cluster."),
                );
                return;
            }
            Err(e) => return diag::api_error(diags, "read", "the cluster's guests", &e, &[]),
        };
        let Some(sid) = guest.sid() else { return };
        match pveha_pve::ha::resources::shared(pve.api()).await {
            Ok(list) if list.contains_key(&sid) => diags.warning_at(
                "vmid",
                format!("Guest {vmid} is HA-managed: Proxmox VE ignores its boot settings"),
                format!(
                    "{sid} is an HA resource, so the HA stack starts it and node boot skips it: onboot and the startup \
                     order have no effect on it. Order HA services through the HA configuration instead, or remove \
                     this resource."
                ),
            ),
            Ok(_) => {}
            Err(e) => diag::api_warning(diags, "check the HA state of", &format!("guest {vmid}"), &e),
        }
    }

    fn id(&self, model: &GuestStartupModel, diags: &mut Diagnostics) -> Option<u32> {
        vmid_of(&model.vmid, diags)
    }

    fn import_id(&self, raw: &str, diags: &mut Diagnostics) -> Option<u32> {
        let id = raw.trim();
        let parsed = id.parse::<u32>().ok();
        if parsed.is_none() {
            diags.error(
                "Invalid import ID",
                format!(
                    "{id:?} is not a VMID; import a guest's boot settings by its VMID, e.g. 133."
                ),
            );
        }
        parsed
    }

    fn object(&self, vmid: &u32) -> String {
        format!("the boot settings of guest {vmid}")
    }

    fn missing(&self, vmid: &u32) -> String {
        format!("guest {vmid}")
    }

    async fn fetch(
        &self,
        pve: &Pve,
        vmid: &u32,
        diags: &mut Diagnostics,
    ) -> pveha_pve::Result<Option<GuestStartupModel>> {
        Ok(read_one(pve, *vmid, diags).await?.map(|(m, _, _)| m))
    }

    async fn send_create(
        &self,
        pve: &Pve,
        vmid: &u32,
        planned: &GuestStartupModel,
    ) -> pveha_pve::Result<()> {
        write(pve, *vmid, |config| startup_update(planned, config)).await
    }

    async fn send_update(
        &self,
        pve: &Pve,
        vmid: &u32,
        _prior: &GuestStartupModel,
        planned: &GuestStartupModel,
    ) -> pveha_pve::Result<()> {
        write(pve, *vmid, |config| startup_update(planned, config)).await
    }

    /// Removes `startup` and resets `onboot` to its default.
    async fn remove(&self, pve: &Pve, vmid: &u32) -> pveha_pve::Result<()> {
        write(pve, *vmid, |config| StartupUpdate {
            onboot: unset_if(config.onboot.is_some()),
            startup: unset_if(config.startup.is_some()),
            digest: config.digest.clone(),
        })
        .await
    }

    fn settled(&self, planned: GuestStartupModel) -> GuestStartupModel {
        GuestStartupModel {
            node: settle(planned.node),
            kind: settle(planned.kind),
            ..planned
        }
    }
}

/// Reads the guest's config and sends the update `make` builds from it, carrying the config's digest so
/// that a change by another writer in between is refused by the server.
async fn write(
    pve: &Pve,
    vmid: u32,
    make: impl FnOnce(&GuestConfig) -> StartupUpdate + Send,
) -> pveha_pve::Result<()> {
    // A warning about an unreadable startup value was given at refresh; the write replaces it.
    let Some((_, location, config)) = read_one(pve, vmid, &mut Diagnostics::new()).await? else {
        return Err(pveha_pve::Error::NotFound {
            message: format!("no guest with VMID {vmid} exists in the cluster"),
        });
    };
    guests::update_startup(pve.api(), &location, &make(&config)).await
}

/// Unsets a key only when the config has it, so that deleting sends nothing for a guest left at defaults.
fn unset_if<T>(present: bool) -> Change<T> {
    if present {
        Change::Unset
    } else {
        Change::Keep
    }
}

fn vmid_of(v: &Value<i64>, diags: &mut Diagnostics) -> Option<u32> {
    match v.as_ref().map(|n| u32::try_from(*n)) {
        Some(Ok(n)) => Some(n),
        _ => {
            diags.error_at("vmid", "Invalid VMID", "vmid must be a known guest id.");
            None
        }
    }
}

/// Where a guest is, from the cached inventory.
fn location(guest: &ClusterResource, vmid: u32) -> Option<GuestLocation> {
    Some(GuestLocation {
        node: guest.node.clone()?,
        kind: guest.guest_kind()?,
        vmid,
    })
}

/// Reads the guest's boot settings; `None` when the guest does not exist.
async fn read_one(
    pve: &Pve,
    vmid: u32,
    diags: &mut Diagnostics,
) -> pveha_pve::Result<Option<(GuestStartupModel, GuestLocation, GuestConfig)>> {
    let Some(location) = pve.guest(vmid).await?.and_then(|g| location(&g, vmid)) else {
        return Ok(None);
    };
    let config = match guests::config(pve.api(), &location).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let startup = match config.startup.as_deref().map(str::parse::<Startup>) {
        None => Startup::default(),
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            diags.warning_at(
                "order",
                format!("Unreadable startup setting on guest {vmid}"),
                format!("The guest's startup property {:?} does not parse ({e}); the next apply rewrites it.", config.startup),
            );
            Startup::default()
        }
    };
    let model = to_model(vmid, &location, config.onboot, startup);
    Ok(Some((model, location, config)))
}

fn to_model(
    vmid: u32,
    location: &GuestLocation,
    onboot: Option<bool>,
    startup: Startup,
) -> GuestStartupModel {
    let num = |v: Option<u64>| -> Value<i64> { v.and_then(|n| i64::try_from(n).ok()).into() };
    GuestStartupModel {
        vmid: Value::Known(i64::from(vmid)),
        onboot: Value::Known(onboot.unwrap_or(false)),
        order: num(startup.order),
        up: num(startup.up),
        down: num(startup.down),
        node: Value::Known(location.node.clone()),
        kind: Value::Known(location.kind.api_type().to_string()),
    }
}

/// What to send to make `config` show `planned`: only what differs, guarded by the config's digest.
fn startup_update(planned: &GuestStartupModel, config: &GuestConfig) -> StartupUpdate {
    let want_onboot = planned.onboot.as_ref().copied().unwrap_or(false);
    let onboot = if config.onboot.unwrap_or(false) == want_onboot {
        Change::Keep
    } else {
        Change::Set(want_onboot)
    };
    let want = Startup {
        order: known_u64(&planned.order),
        up: known_u64(&planned.up),
        down: known_u64(&planned.down),
    };
    let have = config.startup.as_deref().map(str::parse::<Startup>);
    let startup = match have {
        _ if want.is_empty() && config.startup.is_none() => Change::Keep,
        _ if want.is_empty() => Change::Unset,
        Some(Ok(s)) if s == want => Change::Keep,
        _ => Change::Set(want),
    };
    StartupUpdate {
        onboot,
        startup,
        digest: config.digest.clone(),
    }
}

#[cfg(test)]
mod tests {
    use pveha_model::GuestKind;

    use super::*;

    fn config(json: serde_json::Value) -> GuestConfig {
        serde_json::from_value(json).expect("config")
    }

    fn planned(onboot: bool, order: Option<i64>, up: Option<i64>) -> GuestStartupModel {
        GuestStartupModel {
            vmid: Value::Known(133),
            onboot: Value::Known(onboot),
            order: order.into(),
            up: up.into(),
            down: Value::Null,
            node: Value::Unknown,
            kind: Value::Unknown,
        }
    }

    #[test]
    fn only_what_differs_is_sent_with_the_digest() {
        let c =
            config(serde_json::json!({"onboot": 1, "startup": "up=15,order=2", "digest": "abc"}));
        let u = startup_update(&planned(true, Some(2), Some(15)), &c);
        assert_eq!(
            (u.onboot, u.startup, u.digest.as_deref()),
            (Change::Keep, Change::Keep, Some("abc"))
        );
        let u = startup_update(&planned(false, Some(3), None), &c);
        assert_eq!(u.onboot, Change::Set(false));
        assert_eq!(
            u.startup,
            Change::Set(Startup {
                order: Some(3),
                up: None,
                down: None
            })
        );
    }

    #[test]
    fn no_startup_wanted_unsets_an_existing_one() {
        let c = config(serde_json::json!({"startup": "order=1"}));
        assert_eq!(
            startup_update(&planned(false, None, None), &c).startup,
            Change::Unset
        );
        let empty = config(serde_json::json!({}));
        assert_eq!(
            startup_update(&planned(false, None, None), &empty).startup,
            Change::Keep
        );
    }

    #[test]
    fn absent_onboot_reads_as_false() {
        let loc = GuestLocation {
            node: "proxmox2".into(),
            kind: GuestKind::Ct,
            vmid: 133,
        };
        let m = to_model(
            133,
            &loc,
            None,
            Startup {
                order: Some(2),
                up: None,
                down: None,
            },
        );
        assert_eq!(m.onboot, Value::Known(false));
        assert_eq!(m.order, Value::Known(2));
        assert_eq!(m.up, Value::Null);
        assert_eq!(m.kind, Value::Known("lxc".into()));
    }
}
