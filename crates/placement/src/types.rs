//! The input vocabulary of placement: nodes, services as the CRM sees them, and the rules that constrain them.
//!
//! Plain data only; no parsing of Proxmox config files happens here (callers translate groups, rules and
//! `manager_status` into these types).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One cluster node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Node {
    /// Node name, e.g. `node1`.
    pub name: String,
    /// Whether the CRM counts the node as online (only online nodes receive services).
    pub online: bool,
    /// What the static scheduler reads of the node; None when unknown (static then falls back to basic).
    #[serde(default)]
    pub stats: Option<NodeStats>,
}

/// The CRS scheduler mode (`datacenter.cfg` `crs: ha=`). `dynamic` is not modelled: callers map it to Basic and say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheduler {
    /// `basic`: the node with the fewest services wins.
    #[default]
    Basic,
    /// `static`: a TOPSIS score over the CPU and memory the services commit on each node.
    Static,
}

impl Scheduler {
    /// The spelling in `datacenter.cfg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Basic => "basic",
            Scheduler::Static => "static",
        }
    }
}

/// What the static scheduler reads of a node (hardware_status / `/nodes` maxcpu, maxmem).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeStats {
    /// CPU threads (`maxcpu`).
    pub cpus: f64,
    /// Memory in bytes (`maxmem`).
    pub memory: u64,
}

// Stats come from integers and finite config values; NaN never occurs, so equality is total.
impl Eq for NodeStats {}

/// What the static scheduler reads of a service (static_service_stats: maxcpu = cores*sockets or vcpus, capped
/// by cpulimit; maxmem in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceStats {
    /// CPUs the guest may use; 0 means unlimited (it then counts as the whole node).
    pub maxcpu: f64,
    /// Memory the guest may use, in bytes.
    pub maxmem: u64,
}

impl Eq for ServiceStats {}

/// A CRM service state, as written in `manager_status` (`service_status.<sid>.state`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CrmState {
    /// `started`: running (or to be started) on its node.
    #[default]
    Started,
    /// `stopped`: stopped on its node; still recovered when the node fails.
    Stopped,
    /// `request_stop`: the LRM is asked to stop it.
    RequestStop,
    /// `request_start`: about to become `started` (not counted by the basic scheduler).
    RequestStart,
    /// `request_start_balance`: starting on `target` after a rebalance-on-start decision.
    RequestStartBalance,
    /// `fence`: its node is being fenced.
    Fence,
    /// `recovery`: its node was fenced; waiting for a recovery node.
    Recovery,
    /// `migrate`: live migration from `node` to `target`.
    Migrate,
    /// `relocate`: stop, move to `target`, start.
    Relocate,
    /// `freeze`: frozen on its node (LRM restart or shutdown policy).
    Freeze,
    /// `error`: failed; stays put until disabled.
    Error,
    /// `disabled`: configured `state disabled` and stopped (the CRM keeps it as `stopped`; it is never recovered).
    Disabled,
}

impl CrmState {
    /// The CRM's own spelling of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmState::Started => "started",
            CrmState::Stopped => "stopped",
            CrmState::RequestStop => "request_stop",
            CrmState::RequestStart => "request_start",
            CrmState::RequestStartBalance => "request_start_balance",
            CrmState::Fence => "fence",
            CrmState::Recovery => "recovery",
            CrmState::Migrate => "migrate",
            CrmState::Relocate => "relocate",
            CrmState::Freeze => "freeze",
            CrmState::Error => "error",
            CrmState::Disabled => "disabled",
        }
    }

    /// Every state, in declaration order.
    pub const ALL: [CrmState; 12] = [
        CrmState::Started,
        CrmState::Stopped,
        CrmState::RequestStop,
        CrmState::RequestStart,
        CrmState::RequestStartBalance,
        CrmState::Fence,
        CrmState::Recovery,
        CrmState::Migrate,
        CrmState::Relocate,
        CrmState::Freeze,
        CrmState::Error,
        CrmState::Disabled,
    ];
}

impl fmt::Display for CrmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the CRM's service states.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CRM service state '{0}'")]
pub struct ParseCrmStateError(pub String);

impl FromStr for CrmState {
    type Err = ParseCrmStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CrmState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseCrmStateError(s.to_owned()))
    }
}

/// One HA service as the manager sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Service {
    /// Service id, `vm:100` or `ct:200`.
    pub sid: String,
    /// The node the service is on (for `migrate`/`relocate`, the source).
    pub node: String,
    /// The CRM state.
    pub state: CrmState,
    /// Migration target for `migrate`, `relocate` and `request_start_balance`.
    pub target: Option<String>,
    /// Whether it moves back to a higher-priority node (PVE 9 `failback`, PVE 8 `!nofailback`; default true).
    pub failback: bool,
    /// What the static scheduler reads of the service; None when unknown (static then falls back to basic).
    #[serde(default)]
    pub stats: Option<ServiceStats>,
}

/// Node preference of a service: from its PVE 8 group (`strict` = `restricted`, `failback` = !nofailback) or PVE 9
/// node-affinity rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct NodeAffinity {
    /// Member nodes and their priority (higher is preferred; no priority = 0).
    pub nodes: BTreeMap<String, i64>,
    /// Only member nodes may run the service; otherwise every other node is added at priority -1.
    pub strict: bool,
}

/// A PVE 9 resource-affinity rule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourceAffinity {
    /// Rule id.
    pub name: String,
    /// `positive` keeps the resources on one node, `negative` on separate nodes.
    pub positive: bool,
    /// Member service ids.
    pub resources: BTreeSet<String>,
}

/// Everything placement reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cluster {
    /// All cluster nodes, online or not.
    pub nodes: Vec<Node>,
    /// HA services by sid (the CRM's `service_status`).
    pub services: BTreeMap<String, Service>,
    /// Node preference per sid; a sid without an entry may run on every online node alike.
    pub node_affinity: BTreeMap<String, NodeAffinity>,
    /// Enabled resource-affinity rules (disabled ones must be left out by the caller).
    pub resource_affinity: Vec<ResourceAffinity>,
    /// Running guests per node that are not HA-managed.
    pub non_ha_running: BTreeMap<String, u32>,
    /// Whether running non-HA guests count (pve-ha-manager 5.1.2 and later): `non_ha_running` in the basic score,
    /// `non_ha_stats` in the static one.
    pub count_non_ha: bool,
    /// Static stats of the running guests per node that are not HA-managed (read with `count_non_ha`).
    #[serde(default)]
    pub non_ha_stats: BTreeMap<String, Vec<ServiceStats>>,
    /// The CRS mode the CRM schedules with (`crs: ha=`).
    #[serde(default)]
    pub scheduler: Scheduler,
    /// `crs: ha-rebalance-on-start=1`: a service being started moves to the best-scored node first.
    #[serde(default)]
    pub rebalance_on_start: bool,
    /// Nodes the CRM has in maintenance (`node_status` `maintenance`, manual or by the `migrate` policy); they
    /// should also be offline in `nodes`, since the CRM places nothing there.
    #[serde(default)]
    pub maintenance: BTreeSet<String>,
}

impl Cluster {
    /// Whether `name` is a known, online node.
    pub fn is_online(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.online && n.name == name)
    }

    /// Names of the online nodes, sorted.
    pub fn online_nodes(&self) -> BTreeSet<&str> {
        self.nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.as_str())
            .collect()
    }

    /// Whether selection really scores with the static scheduler: it is configured, every online node has usable
    /// stats (CPUs and memory above zero) and every service has stats. Upstream falls back to basic for the whole
    /// round when a node's stats are missing; a service without stats would fail scoring, so this falls back for
    /// it too, and callers can say so in their notes.
    pub fn uses_static(&self) -> bool {
        let usable = |s: &NodeStats| s.cpus > 0.0 && s.memory > 0;
        self.scheduler == Scheduler::Static
            && self
                .nodes
                .iter()
                .filter(|n| n.online)
                .all(|n| n.stats.as_ref().is_some_and(usable))
            && self.services.values().all(|s| s.stats.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_states_round_trip_through_their_crm_spelling() {
        for state in CrmState::ALL {
            assert_eq!(state.to_string().parse::<CrmState>(), Ok(state));
        }
        assert_eq!(
            "request_start_balance".parse::<CrmState>(),
            Ok(CrmState::RequestStartBalance)
        );
        assert!("Started".parse::<CrmState>().is_err());
        assert!("".parse::<CrmState>().is_err());
    }
}
