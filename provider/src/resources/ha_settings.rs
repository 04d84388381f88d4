//! `pveha_ha_settings`: the cluster's HA settings in `/cluster/options` (datacenter.cfg), one per cluster:
//! `ha: shutdown_policy`, `crs: ha, ha-rebalance-on-start` and `fencing`. All I/O goes through
//! `pveha_pve::options`, which rewrites only these sub-keys and leaves every other datacenter option alone.

use pveha_model::{DatacenterHa, HaModel, HaSettings};
use pveha_pve::options;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{
    async_trait, Context, CreateRequest, DeleteRequest, Diagnostics, ImportRequest, Plan,
    ReadRequest, Resource, UpdateRequest, Value,
};

use super::{check_one_of, settle};
use crate::diag::{self, ParamMap};
use crate::provider::Pve;

/// The one id (and import id) of the cluster's settings.
pub const ID: &str = "cluster";

/// API parameters and the attributes that set them.
const PARAMS: ParamMap<'static> = &[
    ("ha", "shutdown_policy"),
    ("crs", "crs"),
    ("fencing", "fencing"),
];

const SHUTDOWN_POLICIES: &[&str] = &["conditional", "freeze", "failover", "migrate"];
const CRS_MODES: &[&str] = &["basic", "static", "dynamic"];
const FENCING_MODES: &[&str] = &["watchdog", "hardware", "both"];

/// The official schema's caution on `fencing`, quoted in the plan warning.
const FENCING_CAUTION: &str = "Hardware mode needs a valid configuration of fence devices in \
/etc/pve/ha/fence.cfg. With both all two modes are used. WARNING: 'hardware' and 'both' are EXPERIMENTAL & WIP";

/// The cluster's HA settings (datacenter.cfg): what a planned reboot or shutdown does to HA services, how the
/// HA manager picks nodes, and how nodes are fenced. There is one per cluster: creating it adopts the
/// cluster's settings, destroying it restores the Proxmox VE defaults; other datacenter options are never
/// touched. An attribute left out is unset on the cluster (its default applies). Needs `Sys.Modify` on `/`.
/// Import with `terraform import pveha_ha_settings.this cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HaSettingsModel {
    /// Always `cluster`: the settings are cluster-wide.
    #[schemars(extend("x-tf-computed" = true))]
    pub id: Value<String>,
    /// What a planned shutdown or reboot of a node does to its HA services: `conditional` (the default:
    /// a reboot freezes them, so they stay down until the node is back; a poweroff recovers them elsewhere),
    /// `freeze` (always freeze), `failover` (recover them on other nodes after fencing) or `migrate` (move
    /// running services to other nodes first, and back when the node returns).
    pub shutdown_policy: Value<String>,
    /// The HA scheduler mode: `basic` (the default: count services per node), `static` (weigh the services'
    /// configured CPU and memory) or `dynamic` (also their measured usage; Proxmox VE 9 only).
    pub crs: Value<String>,
    /// Use the scheduler to pick a node when a service goes from stopped to started, instead of starting it
    /// where it is. Defaults to `false`.
    pub rebalance_on_start: Value<bool>,
    /// How failed nodes are fenced: `watchdog` (the default), `hardware` or `both`. Hardware fencing needs
    /// fence devices in /etc/pve/ha/fence.cfg and is marked experimental by Proxmox VE; plan warns about it.
    pub fencing: Value<String>,
}

/// The `pveha_ha_settings` type.
pub struct HaSettingsResource;

#[async_trait]
impl Resource for HaSettingsResource {
    type Client = Pve;
    type Model = HaSettingsModel;

    fn type_name(&self) -> &'static str {
        "pveha_ha_settings"
    }

    fn validate(&self, config: &HaSettingsModel, diags: &mut Diagnostics) {
        check_one_of(
            diags,
            "shutdown_policy",
            &config.shutdown_policy,
            SHUTDOWN_POLICIES,
        );
        check_one_of(diags, "crs", &config.crs, CRS_MODES);
        check_one_of(diags, "fencing", &config.fencing, FENCING_MODES);
    }

    async fn plan(
        &self,
        ctx: &Context<Pve>,
        plan: &mut Plan<HaSettingsModel>,
        diags: &mut Diagnostics,
    ) {
        plan.planned.id = Value::Known(ID.to_string());
        if let Some(mode) = plan
            .config
            .fencing
            .as_str()
            .filter(|f| matches!(*f, "hardware" | "both"))
        {
            diags.warning_at(
                "fencing",
                "Hardware fencing is experimental",
                format!(
                    "fencing = {mode:?} relies on fence devices that pveha cannot see or check. Proxmox VE's own \
                     description of the setting: \"{FENCING_CAUTION}\""
                ),
            );
        }
        if plan.config.crs.as_str() != Some("dynamic") {
            return;
        }
        let Some(pve) = ctx.client() else { return };
        match pve.ha_model().await {
            Ok(HaModel::Rules) => {}
            Ok(HaModel::Groups) => diags.error_at(
                "crs",
                "The dynamic scheduler needs Proxmox VE 9",
                "crs = \"dynamic\" is not available on this cluster, which runs Proxmox VE 8: use \"basic\" or \
                 \"static\".",
            ),
            Err(e) => diag::api_error(diags, "read", "the cluster's version", &e, &[]),
        }
    }

    async fn create(
        &self,
        ctx: &Context<Pve>,
        req: CreateRequest<HaSettingsModel>,
        diags: &mut Diagnostics,
    ) -> Option<HaSettingsModel> {
        let pve = ctx.require_client(diags)?;
        write(pve, "adopt", req.planned, diags).await
    }

    async fn read(
        &self,
        ctx: &Context<Pve>,
        _req: ReadRequest<HaSettingsModel>,
        diags: &mut Diagnostics,
    ) -> Option<HaSettingsModel> {
        let pve = ctx.require_client(diags)?;
        match options::get(pve.api()).await {
            Ok(dc) => Some(to_model(&dc)),
            Err(e) => {
                diag::api_error(diags, "read", OBJECT, &e, &[]);
                None
            }
        }
    }

    async fn update(
        &self,
        ctx: &Context<Pve>,
        req: UpdateRequest<HaSettingsModel>,
        diags: &mut Diagnostics,
    ) -> Option<HaSettingsModel> {
        let pve = ctx.require_client(diags)?;
        if !unchanged_since_read(pve, &req.prior, diags).await {
            return None;
        }
        write(pve, "update", req.planned, diags).await
    }

    async fn delete(
        &self,
        ctx: &Context<Pve>,
        _req: DeleteRequest<HaSettingsModel>,
        diags: &mut Diagnostics,
    ) {
        let Some(pve) = ctx.require_client(diags) else {
            return;
        };
        // Destroying the settings means the defaults again: every managed key unset, nothing else touched.
        if let Err(e) = options::update(pve.api(), &HaSettings::default()).await {
            diag::api_error(diags, "restore the defaults of", OBJECT, &e, &[]);
        }
    }

    async fn import(
        &self,
        ctx: &Context<Pve>,
        req: ImportRequest,
        diags: &mut Diagnostics,
    ) -> Option<HaSettingsModel> {
        let id = req.id.trim();
        if id != ID {
            diags.error(
                "Invalid import ID",
                format!("The HA settings are cluster-wide; import them with the ID \"{ID}\", not {id:?}."),
            );
            return None;
        }
        let pve = ctx.require_client(diags)?;
        let dc = diag::imported(diags, OBJECT, id, options::get(pve.api()).await)?;
        Some(to_model(&dc))
    }
}

const OBJECT: &str = "the cluster's HA settings";

/// Writes the planned values and returns what the server shows; on failure the planned state with unknowns
/// settled, so Terraform keeps the resource.
async fn write(
    pve: &Pve,
    verb: &str,
    planned: HaSettingsModel,
    diags: &mut Diagnostics,
) -> Option<HaSettingsModel> {
    match options::update(pve.api(), &to_settings(&planned)).await {
        Ok(dc) => Some(to_model(&dc)),
        Err(e) => {
            diag::api_error(diags, verb, OBJECT, &e, PARAMS);
            if verb == "adopt" {
                return None;
            }
            Some(HaSettingsModel {
                id: Value::Known(ID.to_string()),
                shutdown_policy: settle(planned.shutdown_policy),
                crs: settle(planned.crs),
                rebalance_on_start: settle(planned.rebalance_on_start),
                fencing: settle(planned.fencing),
            })
        }
    }
}

/// Compare-before-write: a setting changed on the cluster since Terraform's last read is another writer's
/// change, refused rather than overwritten.
async fn unchanged_since_read(pve: &Pve, prior: &HaSettingsModel, diags: &mut Diagnostics) -> bool {
    let current = match options::get(pve.api()).await {
        Ok(dc) => to_model(&dc),
        // Unreadable: the write reports it with the server's words.
        Err(_) => return true,
    };
    diag::unchanged_elsewhere(
        diags,
        OBJECT,
        &[
            (
                "shutdown_policy",
                current.shutdown_policy != prior.shutdown_policy,
            ),
            ("crs", current.crs != prior.crs),
            (
                "rebalance_on_start",
                current.rebalance_on_start != prior.rebalance_on_start,
            ),
            ("fencing", current.fencing != prior.fencing),
        ],
    )
}

fn to_settings(m: &HaSettingsModel) -> HaSettings {
    HaSettings {
        shutdown_policy: m.shutdown_policy.as_ref().cloned(),
        crs: m.crs.as_ref().cloned(),
        rebalance_on_start: m.rebalance_on_start.as_ref().copied(),
        fencing: m.fencing.as_ref().cloned(),
    }
}

fn to_model(dc: &DatacenterHa) -> HaSettingsModel {
    let s = dc.settings();
    HaSettingsModel {
        id: Value::Known(ID.to_string()),
        shutdown_policy: s.shutdown_policy.into(),
        crs: s.crs.into(),
        rebalance_on_start: s.rebalance_on_start.into(),
        fencing: s.fencing.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_server_keys_read_as_null_so_a_config_without_them_has_no_diff() {
        let dc = DatacenterHa::from_options(&json!({"keyboard": "de", "crs": {"ha": "static"}}))
            .unwrap();
        let m = to_model(&dc);
        assert_eq!(m.crs, Value::Known("static".into()));
        assert_eq!(m.shutdown_policy, Value::Null);
        assert_eq!(m.rebalance_on_start, Value::Null);
        assert_eq!(m.fencing, Value::Null);
        assert_eq!(to_settings(&m), dc.settings());
    }

    #[test]
    fn bad_values_point_at_their_attribute() {
        let mut diags = Diagnostics::new();
        let config = HaSettingsModel {
            id: Value::Unknown,
            shutdown_policy: Value::Known("reboot".into()),
            crs: Value::Known("basic".into()),
            rebalance_on_start: Value::Null,
            fencing: Value::Known("stonith".into()),
        };
        HaSettingsResource.validate(&config, &mut diags);
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect();
        assert_eq!(paths, ["shutdown_policy", "fencing"]);
    }
}
