//! The findings: one file per family, each a pure function of the cluster view, the services and the node-failure
//! impact. [`CATALOG`] lists every code with its default severity, what raises it and how to fix it; codes are a
//! stable API (documented in `docs/`, never renamed).

pub(crate) mod backup;
pub(crate) mod capacity;
pub(crate) mod ha;
pub(crate) mod health;
pub(crate) mod journal;
pub(crate) mod lifecycle;
pub(crate) mod placement;
pub(crate) mod startup;
pub(crate) mod storage;

use crate::options::Options;
use crate::remediation::Remediation;
use crate::report::{Finding, NodeDistribution, NodeFailureImpact, Severity};
use crate::services::Services;
use crate::view::ClusterView;

/// Every finding code: (code, default severity, what raises it, how to fix it).
pub const CATALOG: &[(&str, Severity, &str, &str)] = &[
    (
        "replicas-colocated",
        Severity::High,
        "Every replica of a service runs on one node (critical when the service is critical).",
        "Spread the replicas: a negative resource-affinity HA rule (PVE 9) or one HA group per replica preferring different nodes (PVE 8).",
    ),
    (
        "rule-violated",
        Severity::High,
        "The current placement breaks an enabled resource-affinity rule or a strict node-affinity rule / restricted group.",
        "Let the HA manager move the services (check that it is active and that the target nodes are online), or fix the rule.",
    ),
    (
        "rule-infeasible",
        Severity::Medium,
        "The server lists errors on an HA rule or resource; the HA manager ignores what it cannot apply.",
        "Fix the rule or resource as the server's message says.",
    ),
    (
        "critical-not-ha",
        Severity::High,
        "A critical guest (by tag, VMID or name pattern) is not HA-managed.",
        "Put each of them under HA (an HA resource, started).",
    ),
    (
        "critical-no-onboot",
        Severity::High,
        "A critical guest is neither HA-managed nor started at boot.",
        "Put it under HA, or at least turn on onboot in its config.",
    ),
    (
        "no-placement-policy",
        Severity::Medium,
        "HA resources exist but no HA group (PVE 8) or HA rule (PVE 9) places them.",
        "Describe where services belong with HA groups (PVE 8) or node-affinity HA rules (PVE 9).",
    ),
    (
        "ha-imbalance",
        Severity::Medium,
        "HA services or their memory are spread over the online nodes beyond the balance tolerance.",
        "Migrate HA services from the busiest to the idlest nodes, or give them node preferences.",
    ),
    (
        "node-failure-outage",
        Severity::High,
        "A node's failure would leave a critical, HA-managed or replicated service with no running replica (critical when the service is critical).",
        "Put the service under HA and keep its replicas on separate nodes.",
    ),
    (
        "no-recovery-node",
        Severity::High,
        "An HA service could not be recovered anywhere if its node failed (restricted group or strict rule with no other member online).",
        "Add nodes to the group or rule, or make it non-restricted / non-strict.",
    ),
    (
        "capacity-after-failure",
        Severity::High,
        "After a node's failure, a survivor would be committed beyond its memory.",
        "Plan capacity for N-1: add memory, shrink guests or spread HA services with node preferences.",
    ),
    (
        "rto-target-missed",
        Severity::Medium,
        "A critical service cannot be back within the RTO target after some node failure (only replicas on separate nodes recover in less than the HA manager's ~2 minutes).",
        "Run replicas of the service on separate nodes, behind a shared address.",
    ),
    (
        "ha-service-unhealthy",
        Severity::High,
        "An HA service is in error, fence, recovery or freeze.",
        "Find the cause in the HA and task logs; services in error must be set to disabled, fixed and started again.",
    ),
    (
        "node-offline",
        Severity::High,
        "A cluster node is offline.",
        "Bring the node back or remove it from the cluster (pvecm delnode).",
    ),
    (
        "quorum-at-risk",
        Severity::High,
        "The cluster has no quorum (critical), or one more node failure loses it.",
        "Bring offline nodes back, or add a node or a QDevice so that one failure keeps quorum.",
    ),
    (
        "memory-errors",
        Severity::High,
        "The kernel journal shows EDAC / ECC / IBECC / MCE memory errors in the window (critical when uncorrected).",
        "Run memtest86+ on the node, check DIMM seating and replace failing memory; move HA services away meanwhile.",
    ),
    (
        "filesystem-errors",
        Severity::High,
        "The kernel journal shows ext4 / XFS / block I/O errors in the window.",
        "Stop the guests on the affected devices and run e2fsck / xfs_repair; check the disks' SMART data.",
    ),
    (
        "unclean-shutdown",
        Severity::Medium,
        "The journal shows a boot with no clean shutdown before it in the window.",
        "Find out why the node went down (power, watchdog fence, kernel panic, memory errors).",
    ),
    (
        "no-backup",
        Severity::Low,
        "Guests are not covered by any enabled backup job (medium when HA-managed, high when critical; a node-pinned job does not cover an HA guest).",
        "Add the guests to an enabled backup job without a node restriction.",
    ),
    (
        "local-storage-ha",
        Severity::High,
        "An HA guest has disks on storage that is neither shared nor replicated, so it cannot be recovered on another node.",
        "Move its disks to shared storage, or set up storage replication to the nodes it may fail over to.",
    ),
    (
        "startup-ignored-for-ha",
        Severity::Info,
        "An HA-managed guest has onboot or startup set, which Proxmox ignores for HA guests.",
        "Remove onboot/startup from HA guests (the HA stack starts them); order dependencies in the services instead.",
    ),
    (
        "reboot-outage",
        Severity::Medium,
        "A planned reboot of a node would leave a critical, HA-managed or replicated service with no running replica: its HA services are frozen there by the shutdown policy, or its replicas all run there (high when the service is critical).",
        "Set the datacenter's HA shutdown_policy to migrate, so that a reboot first moves HA services away, and keep replicas on separate nodes under HA.",
    ),
    (
        "crs-unmodelled",
        Severity::Info,
        "The cluster's CRS mode (crs: ha=) is dynamic, or static without the CPU and memory figures it scores with: the audit predicts placement with the basic scheduler instead.",
        "Read the placement predictions as approximate; give nodes and guests their CPU and memory figures (static), or run the basic or static CRS.",
    ),
    (
        "fencing-hardware-unverified",
        Severity::Medium,
        "The datacenter's fencing mode is hardware or both, which needs fence devices in /etc/pve/ha/fence.cfg; the API does not show that file, so the audit cannot check that a failed node can be fenced (Proxmox marks these modes experimental).",
        "Check /etc/pve/ha/fence.cfg on a node and test fencing each node, or set fencing back to watchdog.",
    ),
];

/// The catalog entry of a code.
pub fn catalog_entry(
    code: &str,
) -> Option<&'static (&'static str, Severity, &'static str, &'static str)> {
    CATALOG.iter().find(|(c, ..)| *c == code)
}

/// What every family reads.
pub(crate) struct Ctx<'a> {
    pub view: &'a ClusterView,
    pub services: &'a Services,
    pub options: &'a Options,
    pub impact: &'a [NodeFailureImpact],
    pub reboot: &'a [crate::report::NodeRebootImpact],
    /// The placement model's cluster (scheduler, stats).
    pub cluster: &'a pveha_placement::Cluster,
    pub distribution: &'a [NodeDistribution],
    pub unplaced: &'a crate::impact::Unplaced,
}

/// Builds a finding; the remediation prose starts from the catalog's.
pub(crate) fn finding(
    code: &'static str,
    severity: Severity,
    title: String,
    detail: String,
    subjects: Vec<String>,
    remediation_extra: Option<String>,
    actions: Vec<Remediation>,
) -> Finding {
    let base = catalog_entry(code).map(|e| e.3).unwrap_or_default();
    let remediation = match remediation_extra {
        Some(extra) => format!("{base} {extra}"),
        None => base.to_string(),
    };
    Finding {
        code: code.to_string(),
        severity,
        title,
        detail,
        subjects,
        remediation,
        remediation_hcl: None,
        remediation_actions: actions,
    }
}

/// A short list for prose: the first `max` items, then how many more.
pub(crate) fn short_list<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(AsRef::as_ref).collect();
    let mut out = shown.join(", ");
    if items.len() > max {
        out.push_str(&format!(" and {} more", items.len() - max));
    }
    out
}

/// Runs every family; findings come back most severe first, then by code and subjects.
pub(crate) fn run(ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    placement::check(ctx, &mut out);
    ha::check(ctx, &mut out);
    capacity::check(ctx, &mut out);
    health::check(ctx, &mut out);
    journal::check(ctx, &mut out, notes);
    backup::check(ctx, &mut out);
    storage::check(ctx, &mut out, notes);
    startup::check(ctx, &mut out);
    lifecycle::check(ctx, &mut out);
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.code.cmp(&b.code))
            .then_with(|| a.subjects.cmp(&b.subjects))
    });
    out
}

/// Bytes as GiB with one decimal, for prose and tables.
pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}
