//! `pveha_audit`: captures the cluster into a snapshot (one capture per read, through `pveha_pve::snapshot`)
//! and runs the pure audit engine on it. Findings become data; critical ones also become plan warnings, and
//! `fail_on` turns findings at or above a severity into errors so `plan` fails in CI. It changes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use pveha_audit::{
    Finding, NodeDistribution, NodeFailureImpact, NodeRebootImpact, Options, Report, Severity,
};
use pveha_pve::snapshot::{capture, CaptureOptions};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tfplugin::{async_trait, Context, DataSource, Diagnostics, ReadDataRequest, Value};

use crate::diag;
use crate::provider::Pve;

/// An HA audit of the cluster, computed at every read: findings with stable codes, severity and
/// remediation (prose and HCL), HA distribution, what each node's failure or planned reboot would do, an overall risk and
/// the Markdown report. Findings of severity `critical` are shown as warnings in `plan` output; set
/// `fail_on` to make `plan` fail on findings at or above a severity. The finding codes are listed in the
/// findings catalog guide.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuditModel {
    /// Guests carrying any of these Proxmox tags are critical. Defaults to `["critical"]`.
    #[schemars(extend("x-tf-default" = ["critical"]))]
    pub critical_tags: Value<Vec<String>>,
    /// Guests with these VMIDs are critical.
    pub critical_vmids: Value<Vec<i64>>,
    /// Guests whose name matches any of these regular expressions are critical, e.g. `["^traefik"]`.
    pub critical_name_patterns: Value<Vec<String>>,
    /// Services and their replicas: service name → member VMIDs, e.g. `{ dns = [100, 113] }`. Adds to the
    /// services found from negative resource-affinity rules and (unless `infer_services = false`) guest names.
    pub services: Value<BTreeMap<String, Vec<i64>>>,
    /// Infer services from guest names (`traefik` and `traefik-2` are one service). Defaults to `true`.
    #[schemars(extend("x-tf-default" = true))]
    pub infer_services: Value<bool>,
    /// Allowed HA load difference between online nodes, in percent, before `ha-imbalance` is raised.
    /// Defaults to `25`.
    #[schemars(extend("x-tf-default" = 25))]
    pub balance_tolerance_percent: Value<f64>,
    /// How far back each node's kernel journal is searched for hardware and filesystem errors, e.g. `"24h"`,
    /// `"7d"`, `"1h30m"`. Measured back from the cluster's clock at the time of the read. Defaults to `"24h"`.
    #[schemars(extend("x-tf-default" = "24h"))]
    pub journal_window: Value<String>,
    /// Recovery time critical services must stay under; `rto-target-missed` is raised for those that cannot
    /// (for node failures only replicas on separate nodes can). Defaults to `"2m"`.
    #[schemars(extend("x-tf-default" = "2m"))]
    pub rto_target: Value<String>,
    /// Fail the read (and so `plan`) when any finding has this severity or a higher one: `critical`, `high`,
    /// `medium`, `low` or `info`. Unset by default: findings are then data, and critical ones warnings.
    pub fail_on: Value<String>,
    /// Overall risk: `LOW`, `MEDIUM`, `HIGH` or `CRITICAL` — the severity of the worst finding (`LOW` when
    /// there is nothing above `low`).
    #[schemars(extend("x-tf-computed" = true))]
    pub risk: Value<String>,
    /// Every finding, most severe first.
    #[schemars(extend("x-tf-computed" = true))]
    pub findings: Value<Vec<FindingModel>>,
    /// Number of findings per severity.
    #[schemars(extend("x-tf-computed" = true))]
    pub counts: Value<CountsModel>,
    /// HA load per node.
    #[schemars(extend("x-tf-computed" = true))]
    pub distribution: Value<Vec<DistributionModel>>,
    /// For each online node, what its failure would do.
    #[schemars(extend("x-tf-computed" = true))]
    pub node_failure_impact: Value<Vec<ImpactModel>>,
    /// For each online node, what a planned reboot would do under the cluster's `shutdown_policy`.
    #[schemars(extend("x-tf-computed" = true))]
    pub node_reboot_impact: Value<Vec<RebootImpactModel>>,
    /// The whole audit as a Markdown report (executive summary, findings, distribution, node-failure impact,
    /// planned reboot, remediation with HCL), e.g. for `local_file` or a CI artifact.
    #[schemars(extend("x-tf-computed" = true))]
    pub report: Value<String>,
    /// What the audit could not read or judge (paths that could not be captured, odd data).
    #[schemars(extend("x-tf-computed" = true))]
    pub notes: Value<Vec<String>>,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FindingModel {
    /// Stable kebab-case code, e.g. `replicas-colocated` (see the findings catalog).
    #[schemars(extend("x-tf-computed" = true))]
    pub code: String,
    /// `critical`, `high`, `medium`, `low` or `info`.
    #[schemars(extend("x-tf-computed" = true))]
    pub severity: String,
    /// One line.
    #[schemars(extend("x-tf-computed" = true))]
    pub title: String,
    /// What was seen, with the evidence.
    #[schemars(extend("x-tf-computed" = true))]
    pub detail: String,
    /// Guests (`ct:N`/`vm:N`), nodes, services and rules concerned.
    #[schemars(extend("x-tf-computed" = true))]
    pub subjects: Vec<String>,
    /// How to fix it.
    #[schemars(extend("x-tf-computed" = true))]
    pub remediation: String,
    /// The pveha resources that fix it, as HCL; null when Terraform cannot fix it.
    #[schemars(extend("x-tf-computed" = true))]
    pub remediation_hcl: Option<String>,
}

/// Number of findings per severity.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CountsModel {
    /// Critical findings.
    #[schemars(extend("x-tf-computed" = true))]
    pub critical: u64,
    /// High findings.
    #[schemars(extend("x-tf-computed" = true))]
    pub high: u64,
    /// Medium findings.
    #[schemars(extend("x-tf-computed" = true))]
    pub medium: u64,
    /// Low findings.
    #[schemars(extend("x-tf-computed" = true))]
    pub low: u64,
    /// Informational findings.
    #[schemars(extend("x-tf-computed" = true))]
    pub info: u64,
}

/// HA load on one node.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DistributionModel {
    /// Node name.
    #[schemars(extend("x-tf-computed" = true))]
    pub node: String,
    /// Whether the node is online.
    #[schemars(extend("x-tf-computed" = true))]
    pub online: bool,
    /// HA resources on the node.
    #[schemars(extend("x-tf-computed" = true))]
    pub ha_resources: u64,
    /// Guests on the node, HA-managed or not.
    #[schemars(extend("x-tf-computed" = true))]
    pub guests: u64,
    /// Memory of the running guests on the node, bytes.
    #[schemars(extend("x-tf-computed" = true))]
    pub memory_committed: u64,
    /// The node's memory, bytes (0 when unknown).
    #[schemars(extend("x-tf-computed" = true))]
    pub memory_total: u64,
}

/// What one node's failure would do.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ImpactModel {
    /// The failed node.
    #[schemars(extend("x-tf-computed" = true))]
    pub node: String,
    /// HA services the HA manager would recover: sid → the node it would pick.
    #[schemars(extend("x-tf-computed" = true))]
    pub recovered: BTreeMap<String, String>,
    /// Guests that would go down and stay down (non-HA guests, HA services with no recovery node).
    #[schemars(extend("x-tf-computed" = true))]
    pub down: Vec<String>,
    /// Services that would be left with no running replica.
    #[schemars(extend("x-tf-computed" = true))]
    pub lost_services: Vec<String>,
    /// Memory committed afterwards on each surviving node that receives a recovered HA service, bytes; every other
    /// survivor keeps the memory committed in `distribution`.
    #[schemars(extend("x-tf-computed" = true))]
    pub memory_after: BTreeMap<String, u64>,
    /// Predicted recovery time of each affected service, seconds: about 120 for a recovered HA service, 0
    /// for one that keeps a replica elsewhere, null for one that stays down.
    #[schemars(extend("x-tf-computed" = true))]
    pub rto_seconds: BTreeMap<String, Option<u64>>,
}

/// What a planned reboot of one node would do.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RebootImpactModel {
    /// The rebooted node.
    #[schemars(extend("x-tf-computed" = true))]
    pub node: String,
    /// The shutdown policy the prediction uses: `conditional` (the default), `freeze`, `failover` or `migrate`.
    #[schemars(extend("x-tf-computed" = true))]
    pub policy: String,
    /// HA services frozen on the node until it is back.
    #[schemars(extend("x-tf-computed" = true))]
    pub frozen: Vec<String>,
    /// HA services stopped with the node and recovered after fencing: sid → new node.
    #[schemars(extend("x-tf-computed" = true))]
    pub recovered: BTreeMap<String, String>,
    /// HA services moved away before the reboot (VMs live-migrate, containers restart on the target): sid → node.
    #[schemars(extend("x-tf-computed" = true))]
    pub migrated: BTreeMap<String, String>,
    /// Guests with no running instance until the node is back (frozen, not HA-managed, or with nowhere to go).
    #[schemars(extend("x-tf-computed" = true))]
    pub down: Vec<String>,
    /// Services left with no running replica while the node reboots.
    #[schemars(extend("x-tf-computed" = true))]
    pub lost_services: Vec<String>,
    /// Seconds each affected service has no running replica: 0 when a replica keeps running or a VM
    /// live-migrates, about 30 for a relocated container, about 120 for a service recovered after fencing, null
    /// when it is down until the node is back.
    #[schemars(extend("x-tf-computed" = true))]
    pub rto_seconds: BTreeMap<String, Option<u64>>,
}

/// The `pveha_audit` type.
pub struct AuditDataSource;

#[async_trait]
impl DataSource for AuditDataSource {
    type Client = Pve;
    type Model = AuditModel;

    fn type_name(&self) -> &'static str {
        "pveha_audit"
    }

    fn validate(&self, config: &AuditModel, diags: &mut Diagnostics) {
        let _ = options(config, diags);
        let _ = fail_on(config, diags);
    }

    async fn read(
        &self,
        ctx: &Context<Pve>,
        req: ReadDataRequest<AuditModel>,
        diags: &mut Diagnostics,
    ) -> Option<AuditModel> {
        let pve = ctx.require_client(diags)?;
        let options = options(&req.config, diags)?;
        let threshold = fail_on(&req.config, diags)?;
        // The capture stamps the cluster's own clock into `captured_at`.
        let captured = match capture(pve.api(), &CaptureOptions::default()).await {
            Ok(c) => c,
            Err(e) => {
                diag::api_error(diags, "capture", "the cluster for the HA audit", &e, &[]);
                return None;
            }
        };
        let snapshot = captured.snapshot;
        let mut report = match pveha_audit::audit(&snapshot, &options) {
            Ok(r) => r,
            Err(e) => {
                diags.error("Unable to audit the cluster", format!("{e}."));
                return None;
            }
        };
        report.notes.extend(captured.warnings);
        terraform_provider_pveha::remediation::fill(&mut report);
        findings_to_diagnostics(&report, threshold, diags);
        Some(fill(req.config, &options, &report))
    }
}

/// The engine's options from the configuration, with errors at the attribute that is wrong.
fn options(config: &AuditModel, diags: &mut Diagnostics) -> Option<Options> {
    let mut o = Options::default();
    let before = diags
        .iter()
        .filter(|d| d.severity == tfplugin::Severity::Error)
        .count();
    if let Value::Known(tags) = &config.critical_tags {
        o.critical_tags = tags.clone();
    }
    if let Value::Known(vmids) = &config.critical_vmids {
        o.critical_vmids = vmids_of(diags, "critical_vmids", vmids);
    }
    if let Value::Known(patterns) = &config.critical_name_patterns {
        for (i, p) in patterns.iter().enumerate() {
            if let Err(e) = regex_check(p) {
                diags.error_at(
                    tfplugin::AttributePath::root("critical_name_patterns").index(i as i64),
                    "Invalid name pattern",
                    format!("{p:?} is not a valid regular expression: {e}"),
                );
            }
        }
        o.critical_name_patterns = patterns.clone();
    }
    if let Value::Known(services) = &config.services {
        o.services = services
            .iter()
            .map(|(name, vmids)| (name.clone(), vmids_of(diags, "services", vmids)))
            .collect();
    }
    if let Value::Known(b) = config.infer_services {
        o.infer_services = b;
    }
    if let Value::Known(p) = config.balance_tolerance_percent {
        if !p.is_finite() || p < 0.0 {
            diags.error_at(
                "balance_tolerance_percent",
                "Invalid balance_tolerance_percent",
                format!("balance_tolerance_percent must be a percentage of 0 or more; got {p}."),
            );
        }
        o.balance_tolerance_percent = p;
    }
    if let Some(w) = duration_of(diags, "journal_window", &config.journal_window) {
        o.journal_window = w;
    }
    if let Some(t) = duration_of(diags, "rto_target", &config.rto_target) {
        o.rto_target = t;
    }
    let after = diags
        .iter()
        .filter(|d| d.severity == tfplugin::Severity::Error)
        .count();
    (after == before).then_some(o)
}

/// Whether `pattern` compiles, as the engine would compile it.
fn regex_check(pattern: &str) -> Result<(), String> {
    let probe = Options {
        critical_name_patterns: vec![pattern.to_string()],
        ..Options::default()
    };
    probe.check().map_err(|e| match e {
        pveha_audit::AuditError::Pattern { message, .. } => message,
        other => other.to_string(),
    })
}

fn vmids_of(diags: &mut Diagnostics, path: &str, vmids: &[i64]) -> Vec<u64> {
    vmids
        .iter()
        .filter_map(|v| match u64::try_from(*v) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                diags.error_at(
                    path,
                    format!("Invalid {path}"),
                    format!("{v} is not a VMID (VMIDs are positive)."),
                );
                None
            }
        })
        .collect()
}

fn duration_of(
    diags: &mut Diagnostics,
    path: &str,
    value: &Value<String>,
) -> Option<std::time::Duration> {
    let text = value.as_str()?;
    match pveha_audit::parse_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            diags.error_at(path, format!("Invalid {path}"), format!("{e}."));
            None
        }
    }
}

/// The `fail_on` threshold: `Some(None)` when unset, `None` (with an error) when it is not a severity.
fn fail_on(config: &AuditModel, diags: &mut Diagnostics) -> Option<Option<Severity>> {
    let Some(text) = config.fail_on.as_str() else {
        return Some(None);
    };
    match Severity::from_str(text) {
        Ok(s) => Some(Some(s)),
        Err(e) => {
            diags.error_at("fail_on", "Invalid fail_on", format!("{e}."));
            None
        }
    }
}

/// One line per finding, for diagnostics: `[critical] replicas-colocated: title (subjects)`.
fn finding_line(f: &Finding) -> String {
    let mut line = format!("[{}] {}: {}", f.severity, f.code, f.title);
    if !f.subjects.is_empty() {
        let _ = write!(line, " ({})", f.subjects.join(", "));
    }
    line
}

/// Errors for `fail_on`, and a warning per critical finding the errors do not already list.
fn findings_to_diagnostics(report: &Report, threshold: Option<Severity>, diags: &mut Diagnostics) {
    if let Some(threshold) = threshold {
        let failing: Vec<&Finding> = report.at_or_above(threshold).collect();
        if !failing.is_empty() {
            let mut detail = format!(
                "The HA audit (risk {}) found {} finding(s) at or above fail_on = \"{threshold}\":\n",
                report.risk,
                failing.len()
            );
            for f in &failing {
                let _ = write!(
                    detail,
                    "\n  - {}\n    Fix: {}",
                    finding_line(f),
                    f.remediation
                );
            }
            detail.push_str("\n\nFix them, or raise fail_on, to let the plan proceed.");
            diags.error_at(
                "fail_on",
                format!(
                    "HA audit failed: {} finding(s) at or above {threshold}",
                    failing.len()
                ),
                detail,
            );
        }
        if threshold <= Severity::Critical {
            return;
        }
    }
    for f in report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
    {
        diags.warning(
            format!("Critical HA finding: {}", f.title),
            format!(
                "{}\n\n{}\n\nFix: {}",
                finding_line(f),
                f.detail,
                f.remediation
            ),
        );
    }
}

/// The model with defaults filled and every computed attribute set from the report.
fn fill(mut m: AuditModel, options: &Options, report: &Report) -> AuditModel {
    m.critical_tags = Value::Known(options.critical_tags.clone());
    m.infer_services = Value::Known(options.infer_services);
    m.balance_tolerance_percent = Value::Known(options.balance_tolerance_percent);
    if m.journal_window.is_null() {
        m.journal_window = Value::Known("24h".to_string());
    }
    if m.rto_target.is_null() {
        m.rto_target = Value::Known("2m".to_string());
    }
    m.risk = Value::Known(report.risk.to_string());
    m.findings = Value::Known(report.findings.iter().map(finding).collect());
    let c = report.counts;
    let n = |s| c.get(s) as u64;
    m.counts = Value::Known(CountsModel {
        critical: n(Severity::Critical),
        high: n(Severity::High),
        medium: n(Severity::Medium),
        low: n(Severity::Low),
        info: n(Severity::Info),
    });
    m.distribution = Value::Known(report.distribution.iter().map(distribution).collect());
    m.node_failure_impact = Value::Known(report.node_failure_impact.iter().map(impact).collect());
    m.node_reboot_impact = Value::Known(report.node_reboot_impact.iter().map(reboot).collect());
    m.report = Value::Known(report.to_markdown());
    m.notes = Value::Known(report.notes.clone());
    m
}

fn finding(f: &Finding) -> FindingModel {
    FindingModel {
        code: f.code.clone(),
        severity: f.severity.to_string(),
        title: f.title.clone(),
        detail: f.detail.clone(),
        subjects: f.subjects.clone(),
        remediation: f.remediation.clone(),
        remediation_hcl: f.remediation_hcl.clone(),
    }
}

fn distribution(d: &NodeDistribution) -> DistributionModel {
    DistributionModel {
        node: d.node.clone(),
        online: d.online,
        ha_resources: d.ha_resources as u64,
        guests: d.guests as u64,
        memory_committed: d.memory_committed,
        memory_total: d.memory_total,
    }
}

fn impact(i: &NodeFailureImpact) -> ImpactModel {
    ImpactModel {
        node: i.node.clone(),
        recovered: i.recovered.clone(),
        down: i.down.clone(),
        lost_services: i.lost_services.clone(),
        memory_after: i.memory_after.clone(),
        rto_seconds: i.rto_seconds.clone(),
    }
}

fn reboot(i: &NodeRebootImpact) -> RebootImpactModel {
    RebootImpactModel {
        node: i.node.clone(),
        policy: i.policy.clone(),
        frozen: i.frozen.clone(),
        recovered: i.recovered.clone(),
        migrated: i.migrated.clone(),
        down: i.down.clone(),
        lost_services: i.lost_services.clone(),
        rto_seconds: i.rto_seconds.clone(),
    }
}

#[cfg(test)]
mod tests {
    use tfplugin::Severity as DiagSeverity;

    use super::*;

    fn empty() -> AuditModel {
        AuditModel {
            critical_tags: Value::Null,
            critical_vmids: Value::Null,
            critical_name_patterns: Value::Null,
            services: Value::Null,
            infer_services: Value::Null,
            balance_tolerance_percent: Value::Null,
            journal_window: Value::Null,
            rto_target: Value::Null,
            fail_on: Value::Null,
            risk: Value::Null,
            findings: Value::Null,
            counts: Value::Null,
            distribution: Value::Null,
            node_failure_impact: Value::Null,
            node_reboot_impact: Value::Null,
            report: Value::Null,
            notes: Value::Null,
        }
    }

    fn finding_of(code: &str, severity: Severity) -> Finding {
        Finding {
            code: code.into(),
            severity,
            title: format!("{code} title"),
            detail: "detail".into(),
            subjects: vec!["ct:110".into()],
            remediation: "fix it".into(),
            remediation_hcl: None,
            remediation_actions: Vec::new(),
        }
    }

    fn report(findings: Vec<Finding>) -> Report {
        Report {
            risk: pveha_audit::risk::risk(&findings),
            counts: pveha_audit::Counts::of(&findings),
            findings,
            distribution: Vec::new(),
            node_failure_impact: Vec::new(),
            node_reboot_impact: Vec::new(),
            notes: Vec::new(),
            header: Default::default(),
        }
    }

    /// One remediation step of every kind, with every optional value set.
    fn every_kind_of_remediation() -> Vec<pveha_audit::Remediation> {
        use pveha_audit::{Action, Object, Remediation};
        let nodes = BTreeMap::from([("pve1".to_string(), 2), ("pve2".to_string(), 1)]);
        let objects = vec![
            Object::HaResource {
                sid: "ct:110".into(),
                state: Some("started".into()),
                max_restart: Some(3),
                max_relocate: Some(2),
                group: Some("g".into()),
                node: Some("pve1".into()),
            },
            Object::HaGroup {
                name: "g".into(),
                nodes: nodes.clone(),
                restricted: true,
                comment: "c".into(),
            },
            Object::NodeAffinityRule {
                name: "n".into(),
                resources: vec!["ct:110".into()],
                nodes,
                comment: "c".into(),
            },
            Object::ResourceAffinityRule {
                name: "r".into(),
                resources: vec!["ct:110".into(), "ct:121".into()],
                positive: false,
                comment: "c".into(),
            },
            Object::GuestStartup {
                sid: "ct:110".into(),
                onboot: true,
            },
            Object::HaSettings {
                shutdown_policy: Some("migrate".into()),
            },
        ];
        objects
            .into_iter()
            .map(|object| Remediation {
                action: Action::Create,
                object,
            })
            .collect()
    }

    #[test]
    fn every_attribute_the_remediation_renderer_writes_is_served_and_settable() {
        use tfplugin::Provider as _;
        let served: BTreeMap<String, tfplugin::Schema> = crate::provider::Pveha
            .resources()
            .iter()
            .filter_map(|r| Some((r.type_name().to_string(), r.schema().ok()?)))
            .collect();
        let text = terraform_provider_pveha::remediation::hcl(&every_kind_of_remediation())
            .unwrap_or_default();
        let mut kind = String::new();
        let mut written = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("resource \"") {
                kind = rest.split('"').next().unwrap_or_default().to_string();
            } else if let Some((attribute, _)) =
                line.strip_prefix("  ").and_then(|l| l.split_once(" = "))
            {
                written.push((kind.clone(), attribute.trim().to_string()));
            }
        }
        assert!(written.len() >= 20, "{text}");
        for (kind, attribute) in &written {
            let schema = served
                .get(kind)
                .unwrap_or_else(|| panic!("{kind} is not a served resource"));
            let found = schema
                .block
                .attributes
                .iter()
                .find(|a| &a.name == attribute);
            assert!(
                found.is_some_and(|a| a.required || a.optional),
                "{kind}.{attribute} is not a settable attribute of the served schema"
            );
        }
    }

    #[test]
    fn unset_options_are_the_engines_defaults() {
        let mut diags = Diagnostics::new();
        assert_eq!(options(&empty(), &mut diags), Some(Options::default()));
        assert!(diags.iter().next().is_none());
    }

    #[test]
    fn bad_options_point_at_their_attribute() {
        let mut m = empty();
        m.journal_window = Value::Known("24x".into());
        m.critical_name_patterns = Value::Known(vec!["ok".into(), "traefik(".into()]);
        m.critical_vmids = Value::Known(vec![-1]);
        m.fail_on = Value::Known("severe".into());
        let mut diags = Diagnostics::new();
        assert!(options(&m, &mut diags).is_none());
        assert!(fail_on(&m, &mut diags).is_none());
        let paths: Vec<String> = diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(|p| p.to_string()))
            .collect();
        assert_eq!(
            paths,
            [
                "critical_vmids",
                "critical_name_patterns[1]",
                "journal_window",
                "fail_on"
            ]
        );
    }

    #[test]
    fn critical_findings_warn_without_fail_on() {
        let r = report(vec![
            finding_of("replicas-colocated", Severity::Critical),
            finding_of("ha-imbalance", Severity::Medium),
        ]);
        let mut diags = Diagnostics::new();
        findings_to_diagnostics(&r, None, &mut diags);
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].severity, DiagSeverity::Warning);
        assert!(all[0].summary.contains("replicas-colocated title"));
        assert!(all[0].detail.contains("[critical] replicas-colocated"));
    }

    #[test]
    fn fail_on_lists_every_finding_at_or_above_it_in_one_error() {
        let r = report(vec![
            finding_of("replicas-colocated", Severity::Critical),
            finding_of("critical-not-ha", Severity::High),
            finding_of("ha-imbalance", Severity::Medium),
        ]);
        let mut diags = Diagnostics::new();
        findings_to_diagnostics(&r, Some(Severity::High), &mut diags);
        let errors: Vec<_> = diags
            .iter()
            .filter(|d| d.severity == DiagSeverity::Error)
            .collect();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].detail.contains("replicas-colocated")
                && errors[0].detail.contains("critical-not-ha")
        );
        assert!(!errors[0].detail.contains("ha-imbalance"));
        assert!(
            diags.iter().all(|d| d.severity == DiagSeverity::Error),
            "critical findings are already errors"
        );

        let mut diags = Diagnostics::new();
        findings_to_diagnostics(&r, Some(Severity::Critical), &mut diags);
        assert_eq!(
            diags
                .iter()
                .filter(|d| d.severity == DiagSeverity::Error)
                .count(),
            1
        );
    }

    #[test]
    fn fail_on_met_by_nothing_adds_no_error() {
        let r = report(vec![finding_of("ha-imbalance", Severity::Medium)]);
        let mut diags = Diagnostics::new();
        findings_to_diagnostics(&r, Some(Severity::High), &mut diags);
        assert!(diags.iter().next().is_none());
    }

    #[test]
    fn the_model_carries_the_report_and_the_defaults() {
        let r = report(vec![finding_of("no-backup", Severity::High)]);
        let m = fill(empty(), &Options::default(), &r);
        assert_eq!(m.risk.as_str(), Some("HIGH"));
        assert_eq!(m.critical_tags, Value::Known(vec!["critical".to_string()]));
        assert_eq!(m.journal_window.as_str(), Some("24h"));
        assert_eq!(m.counts.as_ref().map(|c| c.high), Some(1));
        assert!(m.report.as_str().is_some_and(|t| t.contains("no-backup")));
    }
}
