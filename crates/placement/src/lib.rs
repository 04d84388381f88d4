//! HA placement: which node Proxmox VE's HA manager (CRM) picks for a service, and what node events do, pure.
//!
//! This is one implementation of pve-ha-manager's schedulers (`select_service_node` with the basic or static CRS,
//! node affinity from groups or rules, resource affinity, recovery order, rebalance on start) and of its reaction to
//! node crashes, planned reboots and shutdowns under `shutdown_policy`, and maintenance, shared by the audit and the
//! simulator. It must do no I/O, run no async and read no clock; its truth is upstream's regression scenarios under `tests/scenarios/`.

mod affinity;
pub mod fasthash;
mod lifecycle;
#[cfg(test)]
mod oracle;
mod recover;
mod round;
mod score;
mod select;
mod types;
mod usage;

pub use lifecycle::{
    node_event, EventOutcome, Fate, NodeEvent, NodeEvents, ParseShutdownPolicyError, ShutdownPolicy,
};
pub use recover::{recover, Recoverer, Recovery};
pub use select::{
    rebalance_start_target, rebalance_starts, select_service_node, select_service_node_with, Hints,
    Preference,
};
pub use types::{
    Cluster, CrmState, Node, NodeAffinity, NodeStats, ParseCrmStateError, ResourceAffinity,
    Scheduler, Service, ServiceStats,
};
pub use usage::Usage;
