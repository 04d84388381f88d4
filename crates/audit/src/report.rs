//! The audit's result as data: findings, counts, HA distribution, node-failure impact and notes. Field names are
//! the `pveha_audit` data source's and the CLI's JSON (issue 6 §5) and must not be renamed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is, from `info` up to `critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// Minor.
    Low,
    /// Fix this month.
    Medium,
    /// Fix this week.
    High,
    /// Fix now.
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL_DESC: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The lower-case name used in JSON and options (`critical` … `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL_DESC
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("'{s}' is not a severity (critical, high, medium, low or info)"))
    }
}

/// The overall risk level (see [`crate::risk`] for the rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Risk {
    /// No finding above low.
    Low,
    /// At least one medium finding.
    Medium,
    /// At least one high finding.
    High,
    /// At least one critical finding.
    Critical,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Low => "LOW",
            Risk::Medium => "MEDIUM",
            Risk::High => "HIGH",
            Risk::Critical => "CRITICAL",
        })
    }
}

/// One problem found, with how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case code (see [`crate::CATALOG`]).
    pub code: String,
    /// How bad it is.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What was seen, with the evidence.
    pub detail: String,
    /// Guests (`ct:N`/`vm:N`), nodes, services and rules concerned.
    pub subjects: Vec<String>,
    /// How to fix it, in prose.
    pub remediation: String,
    /// The fix rendered for the reader (the Terraform provider writes HCL for its resources here); the engine
    /// leaves it empty and describes the fix in `remediation_actions`.
    pub remediation_hcl: Option<String>,
    /// The objects that fix it, as data; empty when no HA object can.
    #[serde(default)]
    pub remediation_actions: Vec<crate::remediation::Remediation>,
}

/// Number of findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Critical findings.
    pub critical: usize,
    /// High findings.
    pub high: usize,
    /// Medium findings.
    pub medium: usize,
    /// Low findings.
    pub low: usize,
    /// Informational findings.
    pub info: usize,
}

impl Counts {
    /// Counts the findings.
    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            *c.slot(f.severity) += 1;
        }
        c
    }

    fn slot(&mut self, s: Severity) -> &mut usize {
        match s {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
        }
    }

    /// The count for one severity.
    pub fn get(&self, s: Severity) -> usize {
        let mut copy = *self;
        *copy.slot(s)
    }
}

/// HA load on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDistribution {
    /// Node name.
    pub node: String,
    /// Online in the cluster membership.
    pub online: bool,
    /// HA resources on the node.
    pub ha_resources: usize,
    /// Guests on the node (HA or not).
    pub guests: usize,
    /// Memory of the running guests on the node, bytes.
    pub memory_committed: u64,
    /// The node's memory, bytes (0 when unknown).
    pub memory_total: u64,
}

/// What one node's failure would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFailureImpact {
    /// The failed node.
    pub node: String,
    /// HA services recovered: sid → new node.
    pub recovered: BTreeMap<String, String>,
    /// Guests that go down and stay down (non-HA guests, HA services with no recovery node).
    pub down: Vec<String>,
    /// Services left with no running replica.
    pub lost_services: Vec<String>,
    /// Memory committed afterwards on each surviving node that receives a recovered HA service, bytes; every other
    /// survivor keeps the memory committed in `distribution`.
    pub memory_after: BTreeMap<String, u64>,
    /// Predicted recovery time of each affected service, seconds; null when it stays down.
    pub rto_seconds: BTreeMap<String, Option<u64>>,
}

/// What a planned reboot of one node would do under the cluster's shutdown policy (see [`crate::reboot`] for how
/// the outage times are derived).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRebootImpact {
    /// The rebooted node.
    pub node: String,
    /// The `shutdown_policy` the prediction uses (`conditional`, `freeze`, `failover` or `migrate`).
    pub policy: String,
    /// HA services frozen on the node until it is back.
    pub frozen: Vec<String>,
    /// HA services stopped with the node and recovered after fencing: sid → new node.
    pub recovered: BTreeMap<String, String>,
    /// HA services migrated (VMs) or relocated (containers) away before the reboot: sid → target node.
    pub migrated: BTreeMap<String, String>,
    /// Guests with no running instance until the node is back (frozen, not HA-managed, or with nowhere to go).
    pub down: Vec<String>,
    /// Services left with no running replica while the node reboots.
    pub lost_services: Vec<String>,
    /// Seconds each affected service has no running replica; null when down until the node is back.
    pub rto_seconds: BTreeMap<String, Option<u64>>,
}

/// The audit result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Overall risk.
    pub risk: Risk,
    /// Every finding, most severe first.
    pub findings: Vec<Finding>,
    /// Findings per severity.
    pub counts: Counts,
    /// HA load per node.
    pub distribution: Vec<NodeDistribution>,
    /// Per online node, what its failure would do.
    pub node_failure_impact: Vec<NodeFailureImpact>,
    /// Per online node, what a planned reboot would do under the cluster's shutdown policy.
    pub node_reboot_impact: Vec<NodeRebootImpact>,
    /// What the engine could not read or judge.
    pub notes: Vec<String>,
    /// Report header facts (cluster, version, time), used by the Markdown rendering.
    #[serde(skip)]
    pub header: Header,
}

/// Facts for the report's heading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Cluster name, if the snapshot shows one.
    pub cluster: Option<String>,
    /// pve-manager version.
    pub pve_version: String,
    /// Snapshot time (RFC 3339) as given.
    pub captured_at: Option<String>,
    /// Whether the cluster uses PVE 9 rules (else PVE 8 groups).
    pub rules: bool,
}

impl Report {
    /// Findings at or above `severity`.
    pub fn at_or_above(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }

    /// Whether any finding has this code.
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}
