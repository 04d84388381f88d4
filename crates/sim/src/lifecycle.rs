//! Planned node lifecycle: reboot, shutdown and maintenance, as pve-ha-manager's LRM and CRM handle them
//! (`LRM.pm` shutdown policy → LRM mode, `NodeStatus.pm` maintenance state, `Manager.pm` freeze and
//! `maintenance_node`). The datacenter `ha`/`crs` options are read from `/cluster/options` at every round.
//! It mutates the model only; the manager round calls in here.

pub use pveha_placement::ShutdownPolicy;
use serde_json::Value;

use crate::ha_manager;
use crate::state::{Cluster, Planned};

/// Seconds a rebooting node stays down when the request does not say.
pub const DEFAULT_DOWN_SECONDS: f64 = 120.0;

/// The HA-relevant datacenter options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HaSettings {
    /// `ha: shutdown_policy`.
    pub shutdown_policy: ShutdownPolicy,
    /// `crs: ha` (`basic`, `static`, `dynamic`).
    pub crs: String,
    /// `crs: ha-rebalance-on-start`.
    pub rebalance_on_start: bool,
}

/// One key of a property-string option, whether the snapshot holds it parsed (`{"k": v}`) or as text
/// (`"k=v,k2=v2"`, the first unnamed part being the default key).
fn option_key(options: Option<&Value>, default_key: &str, key: &str) -> Option<String> {
    match options? {
        Value::Object(o) => o.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Value::String(s) => s.split(',').find_map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((default_key, part));
            (k.trim() == key).then(|| v.trim().to_string())
        }),
        _ => None,
    }
}

impl HaSettings {
    /// Read the settings from `/cluster/options`; absent or unknown values give upstream's defaults.
    pub fn read(c: &Cluster) -> HaSettings {
        let options = c.verbatim.get("/cluster/options");
        let ha = options.and_then(|o| o.get("ha"));
        let crs = options.and_then(|o| o.get("crs"));
        let shutdown_policy = option_key(ha, "shutdown_policy", "shutdown_policy")
            .and_then(|p| p.parse().ok())
            .unwrap_or_default();
        let mode = option_key(crs, "ha", "ha").unwrap_or_else(|| "basic".into());
        let rebalance = option_key(crs, "ha", "ha-rebalance-on-start");
        HaSettings {
            shutdown_policy,
            crs: mode,
            rebalance_on_start: matches!(rebalance.as_deref(), Some("1" | "true")),
        }
    }
}

/// What the master's status line adds for a CRS other than basic (` - static load CRS`).
pub fn crs_suffix(c: &Cluster) -> String {
    match HaSettings::read(c).crs.as_str() {
        "basic" => String::new(),
        mode => format!(" - {mode} load CRS"),
    }
}

/// Why a planned event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The node does not exist.
    #[error("no such node '{0}'")]
    NoSuchNode(String),
    /// The node is already powered off.
    #[error("node '{0}' is already off")]
    AlreadyOff(String),
    /// A reboot or shutdown of the node is already under way.
    #[error("node '{0}' is already shutting down")]
    InProgress(String),
}

/// Start a planned reboot (`down_seconds` Some) or shutdown (None) of a node: the LRM takes the mode the
/// shutdown policy gives; the node powers off once its services are stopped, frozen or moved away.
pub fn request_shutdown(
    c: &mut Cluster,
    node: &str,
    down_seconds: Option<f64>,
) -> Result<ShutdownPolicy, LifecycleError> {
    let Some(n) = c.node(node) else {
        return Err(LifecycleError::NoSuchNode(node.into()));
    };
    if !n.powered {
        return Err(LifecycleError::AlreadyOff(node.into()));
    }
    if c.manager.planned.contains_key(node) {
        return Err(LifecycleError::InProgress(node.into()));
    }
    let reboot = down_seconds.is_some();
    let policy = HaSettings::read(c).shutdown_policy;
    let kind = if reboot { "reboot" } else { "shutdown" };
    let t = c.clock.now();
    ha_manager::log(
        c,
        t,
        format!(
            "{node}/lrm: got shutdown request with shutdown policy '{}'",
            policy.as_str()
        ),
    );
    let mode = if c.manager.maintenance_requests.contains(node) {
        let line = if policy == ShutdownPolicy::Migrate {
            format!(
                "{node}/lrm: {kind} LRM, ignore maintenance policy, already in maintenance mode"
            )
        } else {
            format!(
                "{node}/lrm: {kind} LRM, ignore {} policy as manual maintenance mode is enabled",
                policy.as_str()
            )
        };
        ha_manager::log(c, t, line);
        "maintenance"
    } else {
        match policy {
            ShutdownPolicy::Migrate => {
                ha_manager::log(
                    c,
                    t,
                    format!(
                        "{node}/lrm: {kind} LRM, doing maintenance, removing this node from active list"
                    ),
                );
                "maintenance"
            }
            ShutdownPolicy::Freeze | ShutdownPolicy::Conditional
                if reboot || policy == ShutdownPolicy::Freeze =>
            {
                ha_manager::log(
                    c,
                    t,
                    format!("{node}/lrm: {kind} LRM, stop and freeze all services"),
                );
                "restart"
            }
            _ => {
                ha_manager::log(c, t, format!("{node}/lrm: shutdown LRM, stop all services"));
                "shutdown"
            }
        }
    };
    c.manager.lrm_modes.insert(node.into(), mode.into());
    c.manager.planned.insert(
        node.into(),
        Planned {
            reboot,
            down_seconds: down_seconds.unwrap_or(0.0),
        },
    );
    Ok(policy)
}

/// Switch manual maintenance on or off (`ha-manager crm-command node-maintenance enable|disable NODE`).
pub fn set_maintenance(c: &mut Cluster, node: &str, enable: bool) -> Result<(), LifecycleError> {
    if c.node(node).is_none() {
        return Err(LifecycleError::NoSuchNode(node.into()));
    }
    if enable {
        c.manager.maintenance_requests.insert(node.into());
        c.manager
            .lrm_modes
            .insert(node.into(), "maintenance".into());
    } else {
        c.manager.maintenance_requests.remove(node);
        // A planned migrate-policy shutdown keeps the node in maintenance until it is off.
        if !c.manager.planned.contains_key(node)
            && c.manager.lrm_modes.get(node).map(String::as_str) == Some("maintenance")
        {
            c.manager.lrm_modes.remove(node);
        }
    }
    Ok(())
}

/// The LRM mode of a node: `active` unless a planned event or maintenance says otherwise.
pub fn lrm_mode<'c>(c: &'c Cluster, node: &str) -> &'c str {
    c.manager
        .lrm_modes
        .get(node)
        .map(String::as_str)
        .unwrap_or("active")
}

/// A node starts again: a fresh LRM is active, unless manual maintenance is still requested.
pub fn on_power_on(c: &mut Cluster, node: &str) {
    c.manager.planned.remove(node);
    c.manager.boot_at.remove(node);
    if c.manager.maintenance_requests.contains(node) {
        c.manager
            .lrm_modes
            .insert(node.into(), "maintenance".into());
    } else {
        c.manager.lrm_modes.remove(node);
    }
}

/// Round step: power on the nodes whose reboot is over.
pub fn boot_due(c: &mut Cluster, t: f64) {
    let due: Vec<String> = c
        .manager
        .boot_at
        .iter()
        .filter(|(_, at)| **at <= t)
        .map(|(n, _)| n.clone())
        .collect();
    for node in due {
        ha_manager::power_at(c, &node, true, t);
    }
}

/// Round step after the CRM's decisions: freeze what a `restart`-mode LRM stopped, thaw what an active
/// LRM runs again (`Manager.pm`: `freeze` → `started`/`request_stop` when the LRM is active).
pub fn freeze_and_thaw(c: &mut Cluster, t: f64) {
    let sids: Vec<(String, String, String)> = c
        .manager
        .services
        .iter()
        .map(|(k, s)| (k.clone(), s.node.clone(), s.state.clone()))
        .collect();
    for (sid, node, state) in sids {
        let mode = lrm_mode(c, &node);
        if mode == "restart" && matches!(state.as_str(), "started" | "stopped" | "request_stop") {
            ha_manager::change_state(c, t, &sid, "freeze");
        } else if state == "freeze" && mode == "active" && c.node_online(&node) {
            let next = if ha_manager::config_wants_running(c, &sid) {
                "started"
            } else {
                "request_stop"
            };
            ha_manager::change_state(c, t, &sid, next);
        }
    }
}

/// Round step at the end: power off the nodes whose planned event has nothing left to wait for. A
/// `shutdown`-mode LRM just stops its services; `restart` waits for the freeze, `maintenance` for every
/// running service to have moved away (upstream waits as long as it takes).
pub fn complete_planned(c: &mut Cluster, t: f64) {
    let planned: Vec<(String, Planned)> = c
        .manager
        .planned
        .iter()
        .map(|(n, p)| (n.clone(), p.clone()))
        .collect();
    for (node, p) in planned {
        if waiting_to_boot(c, &node) {
            continue;
        }
        let mode = lrm_mode(c, &node).to_string();
        let busy = c.manager.services.values().any(|s| {
            let here = s.node == node || s.target.as_deref() == Some(node.as_str());
            here && match mode.as_str() {
                "shutdown" => false,
                "restart" => matches!(s.state.as_str(), "started" | "stopped" | "request_stop"),
                _ => matches!(
                    s.state.as_str(),
                    "started" | "migrate" | "relocate" | "request_start_balance"
                ),
            }
        });
        if busy {
            continue;
        }
        // The planned event stays recorded until the node is on again, so the LRM mode survives the
        // power-off (a migrate-policy node stays in `maintenance` while it is down).
        ha_manager::power_at(c, &node, false, t);
        if p.reboot {
            c.manager.boot_at.insert(node, t + p.down_seconds);
        }
    }
}

/// Whether a planned event of the node has already powered it off (so it must not be completed again).
pub fn waiting_to_boot(c: &Cluster, node: &str) -> bool {
    c.manager.planned.contains_key(node) && !c.node_online(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn option_keys_read_parsed_and_text_forms() {
        let parsed = json!({"shutdown_policy": "migrate"});
        assert_eq!(
            option_key(Some(&parsed), "shutdown_policy", "shutdown_policy").as_deref(),
            Some("migrate")
        );
        let text = json!("shutdown_policy=freeze");
        assert_eq!(
            option_key(Some(&text), "shutdown_policy", "shutdown_policy").as_deref(),
            Some("freeze")
        );
        let crs = json!("static,ha-rebalance-on-start=1");
        assert_eq!(
            option_key(Some(&crs), "ha", "ha").as_deref(),
            Some("static")
        );
        assert_eq!(
            option_key(Some(&crs), "ha", "ha-rebalance-on-start").as_deref(),
            Some("1")
        );
        let numeric = json!({"ha": "static", "ha-rebalance-on-start": 1});
        assert_eq!(
            option_key(Some(&numeric), "ha", "ha-rebalance-on-start").as_deref(),
            Some("1")
        );
        assert_eq!(option_key(None, "ha", "ha"), None);
    }

    #[test]
    fn unknown_or_missing_policy_reads_as_conditional() {
        let mut c =
            crate::snapshot::load(include_str!("../../../examples/homelab/cluster-pve8.json"))
                .expect("fixture loads");
        assert_eq!(
            HaSettings::read(&c).shutdown_policy,
            ShutdownPolicy::Conditional
        );
        assert_eq!(HaSettings::read(&c).crs, "basic");
        c.verbatim.insert(
            "/cluster/options".into(),
            json!({"ha": {"shutdown_policy": "sideways"}, "crs": "static,ha-rebalance-on-start=1"}),
        );
        let read = HaSettings::read(&c);
        assert_eq!(read.shutdown_policy, ShutdownPolicy::Conditional);
        assert_eq!(
            (read.crs.as_str(), read.rebalance_on_start),
            ("static", true)
        );
    }
}
