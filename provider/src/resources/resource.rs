//! `pveha_resource`: a guest under HA management, `/cluster/ha/resources/{sid}` (`ha-manager add`).
//! All I/O goes through `pveha_pve::ha::{resources, status}`; refresh reads the cached lists only, so it
//! costs the same few requests for one resource or a thousand. Moving a service (`node`) queues a
//! migrate (VM) or relocate (CT) and waits, bounded, until the HA status shows it on the target.

use std::time::Duration;

use pveha_model::{GuestKind, HaModel, HaResource, HaStatusEntry, Sid};
use pveha_pve::ha::resources::{self, HaResourceUpdate, NewHaResource};
use pveha_pve::ha::status;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{async_trait, AttributePath, Context, Diagnostics, Plan, Value};
use tokio::time::Instant;

use super::lifecycle::{found, lifecycle_resource, Lifecycle};
use super::{
    change, check_config_id, check_one_of, check_range, check_sid_format, known_u64, settle,
};
use crate::diag::{self, ParamMap};
use crate::provider::{check_sid, Pve};

/// Requested states a configuration may ask for.
const STATES: &[&str] = &["started", "stopped", "disabled", "ignored"];
/// How long a move may take before the apply gives up (Terraform has no timeout of its own).
const MOVE_TIMEOUT: Duration = Duration::from_secs(600);
/// How often the HA status is polled while waiting.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// API parameters and the attributes that set them.
const PARAMS: ParamMap<'static> = &[
    ("sid", "sid"),
    ("state", "state"),
    ("group", "group"),
    ("max_restart", "max_restart"),
    ("max_relocate", "max_relocate"),
    ("failback", "failback"),
    ("comment", "comment"),
    ("node", "node"),
];

/// A guest managed by the Proxmox VE HA stack: restarted on failure and recovered onto another node when
/// its node fails. Import with the HA resource id, e.g. `terraform import pveha_resource.traefik ct:110`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HaResourceModel {
    /// HA resource id: `ct:<vmid>` for an LXC container, `vm:<vmid>` for a QEMU VM. Changing it replaces
    /// the resource.
    #[schemars(extend("x-tf-required" = true, "x-tf-replace" = true))]
    pub sid: Value<String>,
    /// Requested state: `started` (default), `stopped` (kept stopped, still recovered), `disabled` (stopped
    /// and not recovered) or `ignored` (not touched by the HA stack).
    #[schemars(extend("x-tf-default" = "started"))]
    pub state: Value<String>,
    /// Restart attempts on the same node after a start failure, 0–10. Defaults to 1.
    #[schemars(extend("x-tf-default" = 1))]
    pub max_restart: Value<i64>,
    /// Relocations to other nodes after the restarts are used up, 0–10. Defaults to 1.
    #[schemars(extend("x-tf-default" = 1))]
    pub max_relocate: Value<i64>,
    /// HA group (`pveha_group`) whose nodes the service prefers. PVE 8 only; on PVE 9 use a node-affinity
    /// `pveha_rule`.
    pub group: Value<String>,
    /// Move back to a preferred node when it returns. PVE 9 only; defaults to `true` there (on PVE 8 use
    /// `nofailback` on the group).
    #[schemars(extend("x-tf-computed" = true, "x-tf-optional" = true))]
    pub failback: Value<bool>,
    /// Free-form comment.
    pub comment: Value<String>,
    /// The node the service runs on. When set, the provider moves the service there (live migration for a
    /// VM, relocation for a container) and waits until the HA status shows it there. When unset it only
    /// reports where the service runs, so HA failovers never show as drift.
    #[schemars(extend("x-tf-computed" = true, "x-tf-optional" = true))]
    pub node: Value<String>,
    /// Guest type: `vm` or `ct`.
    #[serde(rename = "type")]
    #[schemars(extend("x-tf-computed" = true))]
    pub kind: Value<String>,
    /// The HA manager's current state of the service, e.g. `started`, `stopped`, `queued`, `error`.
    #[schemars(extend("x-tf-computed" = true))]
    pub status: Value<String>,
}

/// The `pveha_resource` type.
pub struct HaResourceResource;

lifecycle_resource!(HaResourceResource);

#[async_trait]
impl Lifecycle for HaResourceResource {
    type Model = HaResourceModel;
    const TYPE_NAME: &'static str = "pveha_resource";
    type Id = Sid;
    const PARAMS: ParamMap<'static> = PARAMS;

    fn validate(&self, config: &HaResourceModel, diags: &mut Diagnostics) {
        if let Some(raw) = config.sid.as_str() {
            check_sid_format(diags, AttributePath::root("sid"), raw);
        }
        check_config_id(diags, "group", "group", &config.group);
        check_one_of(diags, "state", &config.state, STATES);
        check_range(diags, "max_restart", &config.max_restart, 0, 10, "");
        check_range(diags, "max_relocate", &config.max_relocate, 0, 10, "");
        if config.state.as_str() == Some("ignored") && config.node.is_known() {
            diags.error_at(
                "node",
                "node cannot be managed for an ignored service",
                "The HA stack does not move services in state \"ignored\"; remove node or choose another state.",
            );
        }
    }

    async fn plan(
        &self,
        ctx: &Context<Pve>,
        plan: &mut Plan<HaResourceModel>,
        diags: &mut Diagnostics,
    ) {
        let Some(pve) = ctx.client() else { return };
        let model = match pve.ha_model().await {
            Ok(m) => m,
            Err(e) => return diag::api_error(diags, "read", "the cluster's version", &e, &[]),
        };
        let sid_changed = plan
            .prior
            .as_ref()
            .is_none_or(|p| p.sid != plan.planned.sid);
        if let (true, Some(raw)) = (sid_changed, plan.config.sid.as_str()) {
            if let Some(sid) = check_sid(pve, raw, AttributePath::root("sid"), diags).await {
                plan.planned.kind = Value::Known(sid.kind.sid_prefix().to_string());
            }
        }
        match model {
            HaModel::Rules => {
                if plan.config.group.is_known() {
                    diags.error_at(
                        "group",
                        "HA groups do not exist on PVE 9",
                        "This cluster runs Proxmox VE 9, where HA groups became node-affinity rules: remove group \
                         and add this sid to a pveha_rule of type \"node-affinity\" instead.",
                    );
                }
                if plan.config.failback.is_null() {
                    plan.planned.failback = Value::Known(true);
                }
            }
            HaModel::Groups => {
                if plan.config.failback.is_known() {
                    diags.error_at(
                        "failback",
                        "failback needs PVE 9",
                        "This cluster runs Proxmox VE 8, which has no per-resource failback: remove failback and set \
                         nofailback on the resource's pveha_group instead.",
                    );
                }
                plan.planned.failback = Value::Null;
            }
        }
        if let Some(node) = plan.config.node.as_ref() {
            super::check_nodes_exist(pve, "node", [node], diags).await;
        }
        if let Some(prior) = &plan.prior {
            if settings_differ(prior, &plan.planned) {
                // The update reads the service back; its state and (unpinned) node may have moved on by then.
                plan.planned.status = Value::Unknown;
                if plan.config.node.is_null() {
                    plan.planned.node = Value::Unknown;
                }
            }
        }
    }

    fn id(&self, model: &HaResourceModel, diags: &mut Diagnostics) -> Option<Sid> {
        parse_sid(&model.sid, diags)
    }

    fn import_id(&self, raw: &str, diags: &mut Diagnostics) -> Option<Sid> {
        match raw.trim().parse::<Sid>() {
            Ok(sid) => Some(sid),
            Err(e) => {
                diags.error(
                    "Invalid import ID",
                    format!("{e}. Import an HA resource by its id, e.g. ct:110."),
                );
                None
            }
        }
    }

    fn object(&self, sid: &Sid) -> String {
        format!("HA resource \"{sid}\"")
    }

    async fn fetch(
        &self,
        pve: &Pve,
        sid: &Sid,
        _diags: &mut Diagnostics,
    ) -> pveha_pve::Result<Option<HaResourceModel>> {
        read_one(pve, sid).await
    }

    async fn send_create(
        &self,
        pve: &Pve,
        sid: &Sid,
        planned: &HaResourceModel,
    ) -> pveha_pve::Result<()> {
        resources::create(pve.api(), &new_resource(*sid, planned)).await
    }

    async fn send_update(
        &self,
        pve: &Pve,
        sid: &Sid,
        prior: &HaResourceModel,
        planned: &HaResourceModel,
    ) -> pveha_pve::Result<()> {
        let update = HaResourceUpdate {
            state: change(&prior.state, &planned.state),
            group: change(&prior.group, &planned.group),
            max_restart: change(
                &unsigned(&prior.max_restart),
                &unsigned(&planned.max_restart),
            ),
            max_relocate: change(
                &unsigned(&prior.max_relocate),
                &unsigned(&planned.max_relocate),
            ),
            failback: change(&prior.failback, &planned.failback),
            comment: change(&prior.comment, &planned.comment),
            // Compare-before-write guards the update; the file-wide digest would fail parallel updates.
            digest: None,
        };
        resources::update(pve.api(), sid, &update).await
    }

    async fn remove(&self, pve: &Pve, sid: &Sid) -> pveha_pve::Result<()> {
        // On PVE 9 the client sends purge=0: rules naming this sid are left as they are, never edited silently.
        resources::delete(pve.api(), sid).await
    }

    /// Every setting, but not `node`: a failover moves the service without anyone changing its settings.
    fn changed(
        &self,
        current: &HaResourceModel,
        prior: &HaResourceModel,
    ) -> Vec<(&'static str, bool)> {
        vec![
            ("state", current.state != prior.state),
            ("max_restart", current.max_restart != prior.max_restart),
            ("max_relocate", current.max_relocate != prior.max_relocate),
            ("group", current.group != prior.group),
            ("failback", current.failback != prior.failback),
            ("comment", current.comment != prior.comment),
        ]
    }

    async fn after_write(
        &self,
        ctx: &Context<Pve>,
        pve: &Pve,
        sid: &Sid,
        planned: &HaResourceModel,
        diags: &mut Diagnostics,
    ) {
        if let Some(node) = planned.node.as_str() {
            move_to(ctx, pve, *sid, node, diags).await;
        }
    }

    fn settled(&self, planned: HaResourceModel) -> HaResourceModel {
        HaResourceModel {
            node: settle(planned.node),
            kind: settle(planned.kind),
            status: settle(planned.status),
            failback: settle(planned.failback),
            ..planned
        }
    }
}

/// How the user knows the object, for diagnostics.
fn object(sid: &Sid) -> String {
    HaResourceResource.object(sid)
}

/// Whether any setting (not the computed reports) differs between prior state and plan.
fn settings_differ(prior: &HaResourceModel, planned: &HaResourceModel) -> bool {
    prior.state != planned.state
        || prior.max_restart != planned.max_restart
        || prior.max_relocate != planned.max_relocate
        || prior.group != planned.group
        || prior.failback != planned.failback
        || prior.comment != planned.comment
        || (planned.node.is_known() && prior.node != planned.node)
}

/// A count as the client takes it (validation keeps counts non-negative).
fn unsigned(v: &Value<i64>) -> Value<u64> {
    v.clone().map(|n| u64::try_from(n).unwrap_or(0))
}

fn parse_sid(sid: &Value<String>, diags: &mut Diagnostics) -> Option<Sid> {
    match sid.as_str().map(str::parse::<Sid>) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            diags.error_at("sid", "Invalid HA resource id", format!("{e}."));
            None
        }
        None => {
            diags.error_at(
                "sid",
                "HA resource id not known",
                "sid must be known to act on the HA resource.",
            );
            None
        }
    }
}

/// The create request: only settings that differ from the server's defaults, so the config stays as
/// `ha-manager add` would write it.
fn new_resource(sid: Sid, planned: &HaResourceModel) -> NewHaResource {
    let mut new = NewHaResource::new(sid);
    new.state = planned
        .state
        .as_str()
        .filter(|s| *s != "started")
        .map(str::to_string);
    new.group = planned.group.as_ref().cloned();
    new.max_restart = known_u64(&planned.max_restart).filter(|n| *n != 1);
    new.max_relocate = known_u64(&planned.max_relocate).filter(|n| *n != 1);
    new.failback = planned.failback.as_ref().copied().filter(|b| !*b);
    new.comment = planned.comment.as_ref().cloned();
    new
}

/// Reads one service from the cached HA lists; `None` when it is not HA-managed.
async fn read_one(pve: &Pve, sid: &Sid) -> pveha_pve::Result<Option<HaResourceModel>> {
    // Both lists at once: a read-back after a write waits for both to be fetched again, and that
    // time is the HA lock's idle time while the writes behind it wait for Terraform to send them.
    let (config, service) = tokio::join!(
        resources::get(pve.api(), sid),
        status::service(pve.api(), sid)
    );
    let Some(found) = found(config)? else {
        return Ok(None);
    };
    let model = pve.ha_model().await?;
    let service = service?;
    let node = match service
        .as_ref()
        .and_then(|s| s.node.clone())
        .filter(|n| !n.is_empty())
    {
        Some(n) => Some(n),
        None => pve.guest(sid.vmid).await?.and_then(|g| g.node),
    };
    Ok(Some(to_model(&found, model, service.as_ref(), node)))
}

/// The state of a service from its configuration, its HA status entry and its node.
fn to_model(
    r: &HaResource,
    model: HaModel,
    service: Option<&HaStatusEntry>,
    node: Option<String>,
) -> HaResourceModel {
    // `enabled` is the API's alias of `started`, stored verbatim; both mean the same to the HA manager.
    let state = match r.state.as_deref() {
        None | Some("enabled") => "started".to_string(),
        Some(s) => s.to_string(),
    };
    HaResourceModel {
        sid: Value::Known(r.sid.to_string()),
        state: Value::Known(state),
        max_restart: Value::Known(r.max_restart.map_or(1, |n| n as i64)),
        max_relocate: Value::Known(r.max_relocate.map_or(1, |n| n as i64)),
        group: match model {
            HaModel::Groups => r.group.clone().into(),
            HaModel::Rules => Value::Null,
        },
        failback: match model {
            HaModel::Rules => Value::Known(r.failback.unwrap_or(true)),
            HaModel::Groups => Value::Null,
        },
        comment: r.comment.clone().into(),
        node: node.into(),
        kind: Value::Known(r.sid.kind.sid_prefix().to_string()),
        status: Value::Known(
            service
                .and_then(|s| s.state.clone())
                .unwrap_or_else(|| "queued".to_string()),
        ),
    }
}

fn service_entry<'a>(entries: &'a [HaStatusEntry], sid: &Sid) -> Option<&'a HaStatusEntry> {
    let want = sid.to_string();
    entries
        .iter()
        .find(|e| e.kind == "service" && e.sid.as_deref() == Some(want.as_str()))
}

/// The service's fresh HA status entry (not the cache: waiting needs every round's news).
async fn fresh_entry(pve: &Pve, sid: &Sid) -> pveha_pve::Result<Option<HaStatusEntry>> {
    let data = pve.api().get_raw("/cluster/ha/status/current", &[]).await?;
    let entries: Vec<HaStatusEntry> =
        serde_json::from_value(data).map_err(|e| pveha_pve::Error::Decode {
            path: "/cluster/ha/status/current".into(),
            message: e.to_string(),
        })?;
    Ok(service_entry(&entries, sid).cloned())
}

/// Moves the service to `node` and waits until the HA status shows it there; reports failures.
async fn move_to(ctx: &Context<Pve>, pve: &Pve, sid: Sid, node: &str, diags: &mut Diagnostics) {
    let object = object(&sid);
    let deadline = Instant::now() + MOVE_TIMEOUT;
    // The HA manager ignores commands for services it has not picked up yet ("queued"), so wait for that.
    let entry = loop {
        match fresh_entry(pve, &sid).await {
            Ok(Some(e)) if e.state.as_deref() != Some("queued") => break e,
            Ok(_) => {}
            Err(e) => return diag::api_error(diags, "move", &object, &e, &[]),
        }
        if !pause(ctx, deadline).await {
            return timed_out(
                diags,
                &object,
                node,
                "the HA manager to pick the service up",
            );
        }
    };
    if arrived(&entry, node) {
        return;
    }
    let sent = match sid.kind {
        GuestKind::Vm => resources::migrate(pve.api(), &sid, node).await,
        GuestKind::Ct => resources::relocate(pve.api(), &sid, node).await,
    };
    if let Err(e) = sent {
        return diag::api_error(diags, "move", &object, &e, PARAMS);
    }
    loop {
        if !pause(ctx, deadline).await {
            return timed_out(diags, &object, node, "the move to finish");
        }
        match fresh_entry(pve, &sid).await {
            Ok(Some(e)) if arrived(&e, node) => break,
            Ok(Some(e)) if e.state.as_deref() == Some("error") => {
                diags.error_at(
                    "node",
                    format!("Unable to move {object} to {node}"),
                    format!("The HA manager put the service into the error state while moving it to {node}. \
                             Check the HA log (ha-manager status), fix the cause, then set state = \"disabled\" \
                             and back to clear the error."),
                );
                return;
            }
            // The HA manager drops a move to a node that is offline; waiting would only run out the clock.
            Ok(_) if node_offline(pve, node).await => {
                diags.error_at(
                    "node",
                    format!("Unable to move {object} to {node}"),
                    format!("Node {node} is offline, so the HA manager dropped the move and the service stays where \
                             it was. Bring {node} back online (or choose another node), then apply again."),
                );
                return;
            }
            Ok(_) => {}
            Err(e) => return diag::api_error(diags, "move", &object, &e, &[]),
        }
    }
    // The cached status and inventory still show the old node; the read-back must see the new one.
    pve.api().invalidate_ha_cache();
    pve.forget_guests().await;
}

/// Whether the cluster reports `node` offline right now (uncached; an error means "not known to be offline").
async fn node_offline(pve: &Pve, node: &str) -> bool {
    match pveha_pve::cluster::status(pve.api()).await {
        Ok(entries) => entries
            .iter()
            .any(|e| e.kind == "node" && e.name == node && e.online == Some(false)),
        Err(_) => false,
    }
}

/// Whether the status shows the service settled on `node`.
fn arrived(entry: &HaStatusEntry, node: &str) -> bool {
    entry.node.as_deref() == Some(node)
        && !matches!(
            entry.state.as_deref(),
            Some("migrate" | "relocate" | "queued")
        )
}

/// Waits one poll interval; false when the deadline passed or Terraform asked the provider to stop.
async fn pause(ctx: &Context<Pve>, deadline: Instant) -> bool {
    if Instant::now() >= deadline {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(POLL_EVERY) => true,
        () = ctx.cancellation().cancelled() => false,
    }
}

fn timed_out(diags: &mut Diagnostics, object: &str, node: &str, what: &str) {
    diags.error_at(
        "node",
        format!("Unable to move {object} to {node}"),
        format!(
            "Gave up after {} s waiting for {what} (or Terraform was interrupted). The HA manager may still finish \
             it; check `ha-manager status`, then plan again.",
            MOVE_TIMEOUT.as_secs()
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(json: serde_json::Value) -> HaResource {
        serde_json::from_value(json).expect("resource")
    }

    #[test]
    fn absent_keys_read_as_the_servers_defaults() {
        let r = resource(serde_json::json!({"sid": "ct:110", "type": "ct", "digest": "x"}));
        let m = to_model(&r, HaModel::Rules, None, Some("proxmox".into()));
        assert_eq!(m.state, Value::Known("started".into()));
        assert_eq!(m.max_restart, Value::Known(1));
        assert_eq!(m.max_relocate, Value::Known(1));
        assert_eq!(m.failback, Value::Known(true));
        assert_eq!(m.group, Value::Null);
        assert_eq!(m.kind, Value::Known("ct".into()));
        assert_eq!(m.node, Value::Known("proxmox".into()));
    }

    #[test]
    fn failback_is_null_on_pve8_and_enabled_reads_as_started() {
        let r = resource(
            serde_json::json!({"sid": "vm:100", "state": "enabled", "group": "g", "max_restart": 3}),
        );
        let m = to_model(&r, HaModel::Groups, None, None);
        assert_eq!(m.failback, Value::Null);
        assert_eq!(m.state, Value::Known("started".into()));
        assert_eq!(m.group, Value::Known("g".into()));
        assert_eq!(m.max_restart, Value::Known(3));
    }

    #[test]
    fn create_sends_only_settings_that_differ_from_the_defaults() {
        let r = resource(serde_json::json!({"sid": "ct:110"}));
        let mut planned = to_model(&r, HaModel::Rules, None, None);
        let new = new_resource("ct:110".parse().expect("sid"), &planned);
        assert_eq!(new, NewHaResource::new("ct:110".parse().expect("sid")));
        planned.max_restart = Value::Known(3);
        planned.failback = Value::Known(false);
        let new = new_resource("ct:110".parse().expect("sid"), &planned);
        assert_eq!((new.max_restart, new.failback), (Some(3), Some(false)));
    }

    #[test]
    fn a_service_is_arrived_only_once_settled_on_the_target() {
        let entry = |node: &str, state: &str| HaStatusEntry {
            kind: "service".into(),
            id: "service:ct:110".into(),
            node: Some(node.into()),
            sid: Some("ct:110".into()),
            crm_state: None,
            state: Some(state.into()),
            request_state: None,
            status: None,
            quorate: None,
        };
        assert!(!arrived(&entry("proxmox", "relocate"), "proxmox"));
        assert!(!arrived(&entry("proxmox2", "started"), "proxmox"));
        assert!(arrived(&entry("proxmox", "started"), "proxmox"));
        assert!(arrived(&entry("proxmox", "stopped"), "proxmox"));
    }
}
