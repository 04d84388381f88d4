//! The Markdown report, shaped like the seed's hand-written audit: executive summary with the risk, findings by
//! severity, HA distribution table, node-failure impact table, remediation (with the HCL a caller rendered into
//! `remediation_hcl`, if any), notes. Rendering only.

use std::fmt::Write;

use crate::findings::gib;
use crate::report::{Report, Severity};
use crate::risk;

/// Items shown in one table cell before "+N more".
const CELL_ITEMS: usize = 6;

fn cell<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return "—".to_string();
    }
    let shown: Vec<String> = items
        .iter()
        .take(CELL_ITEMS)
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    let mut out = shown.join(", ");
    if items.len() > CELL_ITEMS {
        let _ = write!(out, " +{} more", items.len() - CELL_ITEMS);
    }
    out
}

/// The longest outage of a table row: `none_text` when some service has none (down for good, or until the node is
/// back), else the maximum in seconds.
fn worst(rto: &std::collections::BTreeMap<String, Option<u64>>, none_text: &str) -> String {
    if rto.values().any(Option::is_none) {
        return none_text.to_string();
    }
    rto.values()
        .flatten()
        .max()
        .map(|s| format!("{s} s"))
        .unwrap_or_else(|| "—".to_string())
}

fn heading(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Info",
    }
}

impl Report {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let cluster = self.header.cluster.as_deref().unwrap_or("cluster");
        let _ = writeln!(md, "# Proxmox HA audit: {cluster}\n");
        let model = if self.header.rules {
            "HA rules"
        } else {
            "HA groups"
        };
        let _ = writeln!(
            md,
            "**Captured:** {} · **PVE:** {} ({model}) · **Nodes:** {} ({} online)\n",
            self.header.captured_at.as_deref().unwrap_or("unknown"),
            self.header.pve_version,
            self.distribution.len(),
            self.distribution.iter().filter(|d| d.online).count()
        );

        md.push_str("## Executive summary\n\n");
        let _ = writeln!(md, "**Risk: {}**\n", self.risk);
        let c = &self.counts;
        let _ = writeln!(
            md,
            "{} finding(s): {} critical, {} high, {} medium, {} low, {} info.\n",
            self.findings.len(),
            c.critical,
            c.high,
            c.medium,
            c.low,
            c.info
        );
        let top: Vec<_> = self.at_or_above(Severity::High).collect();
        if !top.is_empty() {
            md.push_str("### Critical and high issues\n\n");
            for (i, f) in top.iter().enumerate() {
                let _ = writeln!(
                    md,
                    "{}. ✗ **{}** (`{}`, {})",
                    i + 1,
                    f.title,
                    f.code,
                    f.severity
                );
            }
            md.push('\n');
        }

        md.push_str("## Findings\n\n");
        if self.findings.is_empty() {
            md.push_str("No findings.\n\n");
        }
        for severity in Severity::ALL_DESC {
            let group: Vec<_> = self
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(md, "### {}\n", heading(severity));
            for f in group {
                let _ = writeln!(md, "#### `{}`: {}\n", f.code, f.title);
                let _ = writeln!(md, "{}\n", f.detail);
                if !f.subjects.is_empty() {
                    let _ = writeln!(md, "Subjects: {}\n", cell(&f.subjects));
                }
            }
        }

        md.push_str("## HA distribution\n\n");
        md.push_str(
            "| Node | Online | HA resources | Guests | Memory committed | Memory total |\n",
        );
        md.push_str(
            "|------|--------|-------------:|-------:|-----------------:|-------------:|\n",
        );
        for d in &self.distribution {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                d.node,
                if d.online { "yes" } else { "**no**" },
                d.ha_resources,
                d.guests,
                gib(d.memory_committed),
                if d.memory_total > 0 {
                    gib(d.memory_total)
                } else {
                    "unknown".to_string()
                }
            );
        }
        md.push('\n');

        md.push_str("## Node-failure impact\n\n");
        md.push_str("| If this node fails | HA services recovered | Stays down | Services lost | Worst RTO |\n");
        md.push_str("|--------------------|-----------------------|------------|---------------|-----------|\n");
        for i in &self.node_failure_impact {
            let recovered: Vec<String> = i
                .recovered
                .iter()
                .map(|(s, n)| format!("{s}→{n}"))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                i.node,
                cell(&recovered),
                cell(&i.down),
                cell(&i.lost_services),
                worst(&i.rto_seconds, "down")
            );
        }
        md.push('\n');

        md.push_str("## Planned reboot\n\n");
        md.push_str("| If this node reboots | Policy | Frozen | Migrated | Recovered | Down | Services lost | Worst outage |\n");
        md.push_str("|----------------------|--------|--------|----------|-----------|------|---------------|--------------|\n");
        for i in &self.node_reboot_impact {
            let arrows = |m: &std::collections::BTreeMap<String, String>| -> Vec<String> {
                m.iter().map(|(s, n)| format!("{s}→{n}")).collect()
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                i.node,
                i.policy,
                cell(&i.frozen),
                cell(&arrows(&i.migrated)),
                cell(&arrows(&i.recovered)),
                cell(&i.down),
                cell(&i.lost_services),
                worst(&i.rto_seconds, "until back")
            );
        }
        md.push_str("\nOutage: 0 when a replica keeps running or a VM live-migrates; a relocated container restarts on its target; a recovered service waits for fencing; frozen and unmanaged guests are down until the node is back.\n\n");

        let fixes: Vec<_> = self
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info || f.remediation_hcl.is_some())
            .collect();
        if !fixes.is_empty() {
            md.push_str("## Remediation\n\n");
            for f in fixes {
                let _ = writeln!(md, "### `{}`: {}\n", f.code, f.title);
                let _ = writeln!(md, "{}\n", f.remediation);
                if let Some(hcl) = &f.remediation_hcl {
                    let _ = writeln!(md, "```hcl\n{}```\n", hcl);
                }
            }
        }

        if !self.notes.is_empty() {
            md.push_str("## Notes\n\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
            md.push('\n');
        }
        let _ = writeln!(md, "---\nRisk rule: {}.", risk::RULE);
        md
    }
}
