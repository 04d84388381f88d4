//! `pveha review`: the HA risk a Terraform plan leaves behind. Reads `terraform show -json tfplan` (the provider's
//! reader), applies its `pveha_*` changes to the cluster (a `--snapshot` file or live, as `pveha audit` takes it)
//! with the audit's `plan::apply`, audits before and after, and prints what the change resolves, introduces and
//! leaves, as a pull-request comment or JSON. Exit codes: 0 reviewed, 1 bad input (nothing printed on stdout),
//! 2 usage error or, with `--fail-on-regression`, a regression.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use pveha_audit::plan::Move;
use pveha_audit::{Finding, Report, Risk, Severity};
use serde::Serialize;
use serde_json::Value;

use crate::audit::{Format, SourceArgs};

/// Flags of `pveha review`.
#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// The plan as JSON: `terraform show -json tfplan > PLAN.json`.
    #[arg(long, value_name = "PLAN.json")]
    plan: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    /// Output format: a pull-request comment, or the same as data.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    format: Format,
    /// Exit 2 when the risk rises or a finding of severity high or critical is introduced.
    #[arg(long)]
    fail_on_regression: bool,
}

/// One impact row (node failure or planned reboot) that the change alters.
#[derive(Debug, Serialize)]
pub struct ImpactChange {
    /// `node_failure` or `node_reboot`.
    pub kind: &'static str,
    /// The node failing or rebooting.
    pub node: String,
    /// The row before the change (null when the node is new).
    pub before: Value,
    /// The row after it (null when the node is gone).
    pub after: Value,
}

/// The review as data; `--format json` prints it.
#[derive(Debug, Serialize)]
pub struct Review {
    /// Overall risk now.
    pub risk_before: Risk,
    /// Overall risk after apply and the HA rounds that follow.
    pub risk_after: Risk,
    /// Findings the change fixes.
    pub resolved: Vec<Finding>,
    /// Findings the change causes.
    pub introduced: Vec<Finding>,
    /// Findings that stay.
    pub unchanged: Vec<Finding>,
    /// Impact rows that differ.
    pub impact_changes: Vec<ImpactChange>,
    /// Services that move, and why.
    pub moves: Vec<Move>,
    /// The node of every HA service after the change.
    pub nodes_after: BTreeMap<String, String>,
    /// Planned changes of pveha resources read from the plan.
    pub changes: usize,
    /// Unknown values, ignored resources and other remarks.
    pub notes: Vec<String>,
}

impl Review {
    /// Whether `--fail-on-regression` fails: the risk rises or a high-or-worse finding is introduced.
    pub fn regressed(&self) -> bool {
        self.risk_after > self.risk_before
            || self.introduced.iter().any(|f| f.severity >= Severity::High)
    }
}

/// A finding's identity across the two audits: its code, severity and first subject (the node, service or first
/// guest it is about). The rest of the subjects is what the finding lists, which a change may alter without fixing
/// or causing the problem (a reboot of `proxmox` still takes services down, only others); a severity that rises is
/// a new finding.
fn key(f: &Finding) -> (String, Severity, Option<String>) {
    (f.code.clone(), f.severity, f.subjects.first().cloned())
}

/// Splits the findings by identity ([`key`]): resolved, introduced, unchanged.
fn diff(before: &Report, after: &Report) -> (Vec<Finding>, Vec<Finding>, Vec<Finding>) {
    let keys_before: Vec<_> = before.findings.iter().map(key).collect();
    let keys_after: Vec<_> = after.findings.iter().map(key).collect();
    let resolved = before
        .findings
        .iter()
        .filter(|f| !keys_after.contains(&key(f)))
        .cloned()
        .collect();
    let (unchanged, introduced) = after
        .findings
        .iter()
        .cloned()
        .partition(|f| keys_before.contains(&key(f)));
    (resolved, introduced, unchanged)
}

fn impact_rows<T: Serialize>(
    kind: &'static str,
    before: &[T],
    after: &[T],
    node: fn(&T) -> &str,
    out: &mut Vec<ImpactChange>,
) -> Result<()> {
    let index = |rows: &[T]| -> Result<BTreeMap<String, Value>> {
        rows.iter()
            .map(|r| Ok((node(r).to_string(), serde_json::to_value(r)?)))
            .collect()
    };
    let (b, a) = (index(before)?, index(after)?);
    let nodes: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    for n in nodes {
        let (rb, ra) = (b.get(n), a.get(n));
        if rb != ra {
            out.push(ImpactChange {
                kind,
                node: n.clone(),
                before: rb.cloned().unwrap_or(Value::Null),
                after: ra.cloned().unwrap_or(Value::Null),
            });
        }
    }
    Ok(())
}

/// Reads, applies and audits; every error here is bad input (exit 1).
fn review(args: &ReviewArgs, options: &pveha_audit::Options) -> Result<Review> {
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read {}", args.plan.display()))?;
    let plan = terraform_provider_pveha::plan::parse(&text)
        .with_context(|| args.plan.display().to_string())?;
    let (snapshot, warnings) = crate::audit::load(&args.source)?;
    let applied = pveha_audit::plan::apply(&snapshot, &plan.changes)
        .with_context(|| args.plan.display().to_string())?;
    let before = pveha_audit::audit(&snapshot, options)?;
    let mut after = pveha_audit::audit(&applied.snapshot, options)?;
    terraform_provider_pveha::remediation::fill(&mut after);
    let (resolved, introduced, unchanged) = diff(&before, &after);
    let mut impact_changes = Vec::new();
    impact_rows(
        "node_failure",
        &before.node_failure_impact,
        &after.node_failure_impact,
        |r| &r.node,
        &mut impact_changes,
    )?;
    impact_rows(
        "node_reboot",
        &before.node_reboot_impact,
        &after.node_reboot_impact,
        |r| &r.node,
        &mut impact_changes,
    )?;
    let mut notes = warnings;
    if plan.other_providers > 0 {
        notes.push(format!(
            "{} resource change(s) of other providers were ignored",
            plan.other_providers
        ));
    }
    notes.extend(applied.notes);
    Ok(Review {
        risk_before: before.risk,
        risk_after: after.risk,
        resolved,
        introduced,
        unchanged,
        impact_changes,
        nodes_after: pveha_audit::plan::ha_nodes(&applied.snapshot)?,
        moves: applied.moves,
        changes: plan.changes.len(),
        notes,
    })
}

fn finding_line(f: &Finding) -> String {
    format!(
        "- **{}** `{}` {} ({})\n",
        f.severity,
        f.code,
        f.title,
        f.subjects.join(", ")
    )
}

fn map_text(m: &Value) -> String {
    match m.as_object() {
        Some(o) if !o.is_empty() => o
            .iter()
            .map(|(k, v)| format!("{k}→{}", v.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "—".into(),
    }
}

fn list_text(v: &Value) -> String {
    match v.as_array() {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "—".into(),
    }
}

/// The review as a pull-request comment.
pub fn to_markdown(r: &Review) -> String {
    let mut s = String::from("## pveha review: HA risk of this plan\n\n");
    let arrow = match r.risk_after.cmp(&r.risk_before) {
        std::cmp::Ordering::Less => "lower",
        std::cmp::Ordering::Equal => "unchanged",
        std::cmp::Ordering::Greater => "**higher**",
    };
    s += &format!(
        "**Risk: {} → {}** ({arrow}); {} planned pveha change(s), {} resolved, {} introduced, {} unchanged.\n\n",
        r.risk_before,
        r.risk_after,
        r.changes,
        r.resolved.len(),
        r.introduced.len(),
        r.unchanged.len()
    );
    for (title, list) in [("Introduced", &r.introduced), ("Resolved", &r.resolved)] {
        s += &format!("### {title} ({})\n\n", list.len());
        if list.is_empty() {
            s += "None.\n";
        }
        for f in list {
            s += &finding_line(f);
        }
        s += "\n";
    }
    s += &format!(
        "<details><summary>Unchanged findings ({})</summary>\n\n",
        r.unchanged.len()
    );
    for f in &r.unchanged {
        s += &finding_line(f);
    }
    s += "\n</details>\n\n";
    if !r.moves.is_empty() {
        s += "### Services that move\n\n| Service | From | To | Why |\n|---|---|---|---|\n";
        for m in &r.moves {
            s += &format!("| {} | {} | {} | {} |\n", m.sid, m.from, m.to, m.reason);
        }
        s += "\n";
    }
    if !r.impact_changes.is_empty() {
        s += "### Impact that changes\n\n| Event | Node | Down before | Down after | Recovered before | Recovered after |\n|---|---|---|---|---|---|\n";
        for c in &r.impact_changes {
            let event = if c.kind == "node_failure" {
                "failure"
            } else {
                "reboot"
            };
            s += &format!(
                "| {event} | {} | {} | {} | {} | {} |\n",
                c.node,
                list_text(&c.before["down"]),
                list_text(&c.after["down"]),
                map_text(&c.before["recovered"]),
                map_text(&c.after["recovered"]),
            );
        }
        s += "\n";
    }
    if !r.notes.is_empty() {
        s += "<details><summary>Notes</summary>\n\n";
        for n in &r.notes {
            s += &format!("- {n}\n");
        }
        s += "\n</details>\n";
    }
    s
}

/// Runs `pveha review`; returns the exit code.
pub fn run(args: ReviewArgs) -> i32 {
    let options = match args.source.checked_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pveha review: {e}");
            return 2;
        }
    };
    let review = match review(&args, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pveha review: {}", one_line(&e));
            return 1;
        }
    };
    let text = match args.format {
        Format::Markdown => to_markdown(&review),
        Format::Json => match serde_json::to_string_pretty(&review) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("pveha review: {}", one_line(&anyhow!(e)));
                return 1;
            }
        },
    };
    if !crate::audit::print(&text) {
        return 1;
    }
    if args.fail_on_regression && review.regressed() {
        eprintln!(
            "pveha review: the plan is a regression (risk {} → {}, {} finding(s) introduced)",
            review.risk_before,
            review.risk_after,
            review.introduced.len()
        );
        return 2;
    }
    0
}

/// The error chain on one line, whatever the messages hold.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(code: &str, severity: Severity, subjects: &[&str]) -> Finding {
        Finding {
            code: code.into(),
            severity,
            title: code.into(),
            detail: String::new(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            remediation: String::new(),
            remediation_hcl: None,
            remediation_actions: Vec::new(),
        }
    }

    fn review(before: Risk, after: Risk, introduced: Vec<Finding>) -> Review {
        Review {
            risk_before: before,
            risk_after: after,
            resolved: Vec::new(),
            introduced,
            unchanged: Vec::new(),
            impact_changes: Vec::new(),
            moves: Vec::new(),
            nodes_after: BTreeMap::new(),
            changes: 0,
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_regression_is_a_higher_risk_or_a_new_high_finding() {
        assert!(!review(Risk::Critical, Risk::High, Vec::new()).regressed());
        assert!(review(Risk::Medium, Risk::High, Vec::new()).regressed());
        let high = finding("replicas-colocated", Severity::High, &["traefik"]);
        assert!(review(Risk::High, Risk::High, vec![high]).regressed());
        let low = finding("x", Severity::Medium, &[]);
        assert!(!review(Risk::High, Risk::High, vec![low]).regressed());
    }

    #[test]
    fn findings_are_matched_by_code_severity_and_first_subject() {
        let mut before = pveha_audit::Report {
            risk: Risk::High,
            findings: vec![
                finding("a", Severity::High, &["ct:1", "ct:2"]),
                finding("b", Severity::Low, &["ct:1"]),
            ],
            counts: Default::default(),
            distribution: Vec::new(),
            node_failure_impact: Vec::new(),
            node_reboot_impact: Vec::new(),
            notes: Vec::new(),
            header: Default::default(),
        };
        let mut after = before.clone();
        after.findings = vec![
            finding("a", Severity::High, &["ct:1", "ct:3"]),
            finding("b", Severity::Low, &["ct:3"]),
        ];
        let (resolved, introduced, unchanged) = diff(&before, &after);
        assert_eq!(resolved[0].subjects, ["ct:1"]);
        assert_eq!(introduced[0].subjects, ["ct:3"]);
        assert_eq!(
            unchanged[0].subjects,
            ["ct:1", "ct:3"],
            "same problem, other members"
        );
        after.findings[0].severity = Severity::Critical;
        assert_eq!(
            diff(&before, &after).1.len(),
            2,
            "a rising severity is introduced"
        );
        before.findings.clear();
        assert_eq!(diff(&before, &after).1.len(), 2);
    }
}
