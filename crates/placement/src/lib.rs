//! HA recovery placement: which node Proxmox VE's HA manager (CRM) picks for a service, pure.
//!
//! This is one implementation of pve-ha-manager's basic scheduler (`select_service_node`, node affinity from groups or
//! rules, resource affinity, recovery order), shared by the audit and the simulator. It must do no I/O, run no async
//! and read no clock; its truth is upstream's regression scenarios under `tests/scenarios/`.

mod affinity;
#[cfg(test)]
mod oracle;
mod recover;
mod round;
mod select;
mod types;
mod usage;

pub use recover::{recover, Recoverer, Recovery};
pub use select::{select_service_node, select_service_node_with, Hints, Preference};
pub use types::{
    Cluster, CrmState, Node, NodeAffinity, ParseCrmStateError, ResourceAffinity, Service,
};
pub use usage::Usage;
