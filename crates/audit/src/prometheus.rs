//! The audit as metrics in the Prometheus text exposition format (0.0.4), for node_exporter's textfile collector:
//! the risk, findings per severity and code, each HA service's CRM state and node, the services a node's failure
//! loses, the quorum margin and the snapshot's time. Rendering only: figures come from the report, or from the
//! snapshot's view as the findings read it; no sample carries a timestamp, as the textfile collector refuses them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Display, Write};

use pveha_model::SnapshotData;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::findings::CATALOG;
use crate::report::{Report, Risk, Severity};
use crate::view::ClusterView;

/// The state label of an HA service whose CRM state the snapshot does not show (no `/cluster/ha/status`).
pub const UNKNOWN_STATE: &str = "unknown";

/// Every metric family, in the order they are written: (name, help).
pub const FAMILIES: [(&str, &str); 6] = [
    (
        "pveha_audit_risk",
        "Overall HA risk of the audit on the severity scale (info 0 ... critical 4): 1 LOW, 2 MEDIUM, 3 HIGH, 4 CRITICAL.",
    ),
    (
        "pveha_audit_findings",
        "Findings of the audit per severity and code; every catalog code at every severity is written, 0 when not raised.",
    ),
    (
        "pveha_ha_service_state",
        "1 per HA service (ignored ones left out), labelled with its CRM state (unknown when the snapshot has no HA status) and node.",
    ),
    (
        "pveha_node_failure_lost_services",
        "Services left with no running replica if this online node failed, as the audit predicts.",
    ),
    (
        "pveha_quorum_margin",
        "Online votes minus the votes quorum needs (floor(total/2)+1), one vote per node: 0 means the next node failure loses quorum, below 0 means no quorum.",
    ),
    (
        "pveha_audit_timestamp_seconds",
        "When the audited snapshot was captured (its captured_at), seconds since the Unix epoch.",
    ),
];

/// One sample: its labels in the order written, and its value.
type Sample = (Vec<(&'static str, String)>, String);

impl Report {
    /// The report as Prometheus text-format metrics; `snapshot` is the one audited, for the HA service states, the
    /// quorum and the capture time, which the report does not carry.
    ///
    /// A family with nothing to say (no HA services, no online node, no `captured_at`) is still written with its
    /// HELP and TYPE but no sample: the series is absent, which `absent()` sees, rather than a 0 that would read as
    /// a measured value. Findings are the exception: every code is written at every severity, 0 when not raised,
    /// so the set of series depends only on the pveha version and `> 0` alerts never wait for a series to appear.
    pub fn to_prometheus<S: SnapshotData>(&self, snapshot: &S) -> String {
        // The audit already built this view once; an inventory it could not read leaves no services to list.
        let view = ClusterView::from_snapshot(snapshot).ok();
        let mut out = String::new();
        for (name, help) in FAMILIES {
            let samples = match name {
                "pveha_audit_risk" => vec![(Vec::new(), risk_value(self.risk).to_string())],
                "pveha_audit_findings" => self.finding_samples(),
                "pveha_ha_service_state" => view.as_ref().map(service_samples).unwrap_or_default(),
                "pveha_node_failure_lost_services" => self.lost_service_samples(),
                "pveha_quorum_margin" => view
                    .as_ref()
                    .and_then(quorum_margin)
                    .map(|m| vec![(Vec::new(), m.to_string())])
                    .unwrap_or_default(),
                "pveha_audit_timestamp_seconds" => self
                    .header
                    .captured_at
                    .as_deref()
                    .and_then(unix_seconds)
                    .map(|t| vec![(Vec::new(), t)])
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            family(&mut out, name, help, &samples);
        }
        out
    }

    fn finding_samples(&self) -> Vec<Sample> {
        let mut counts: BTreeMap<(Severity, &str), usize> = BTreeMap::new();
        let codes: BTreeSet<&str> = CATALOG
            .iter()
            .map(|(code, ..)| *code)
            .chain(self.findings.iter().map(|f| f.code.as_str()))
            .collect();
        for code in &codes {
            for severity in Severity::ALL_DESC {
                counts.insert((severity, code), 0);
            }
        }
        for f in &self.findings {
            *counts.entry((f.severity, f.code.as_str())).or_default() += 1;
        }
        // Most severe first, codes alphabetical within a severity: the order the labels are written in.
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by(|((sa, ca), _), ((sb, cb), _)| sb.cmp(sa).then(ca.cmp(cb)));
        rows.into_iter()
            .map(|((severity, code), n)| {
                (
                    vec![
                        ("severity", severity.to_string()),
                        ("code", code.to_string()),
                    ],
                    n.to_string(),
                )
            })
            .collect()
    }

    fn lost_service_samples(&self) -> Vec<Sample> {
        let by_node: BTreeMap<&str, usize> = self
            .node_failure_impact
            .iter()
            .map(|i| (i.node.as_str(), i.lost_services.len()))
            .collect();
        by_node
            .into_iter()
            .map(|(node, n)| (vec![("node", node.to_string())], n.to_string()))
            .collect()
    }
}

/// The risk on the severity scale, so that `pveha_audit_risk >= 3` fails exactly when `--fail-on high` does.
fn risk_value(risk: Risk) -> u8 {
    match risk {
        Risk::Low => 1,
        Risk::Medium => 2,
        Risk::High => 3,
        Risk::Critical => 4,
    }
}

/// One sample per HA service, in sid order; the node is the CRM's, else the inventory's, else empty.
fn service_samples(view: &ClusterView) -> Vec<Sample> {
    view.ha
        .values()
        .map(|s| {
            let state = s.crm_state.as_deref().unwrap_or(UNKNOWN_STATE);
            (
                vec![
                    ("sid", s.sid.to_string()),
                    ("state", state.to_string()),
                    ("node", s.node.clone().unwrap_or_default()),
                ],
                "1".to_string(),
            )
        })
        .collect()
}

/// Online votes minus the majority, one vote per node as `quorum-at-risk` counts them (the snapshot carries no
/// corosync votes, so a QDevice or changed `quorum_votes` is not seen); a cluster that itself reports no quorum is
/// at most -1, whatever the count says. None when the snapshot lists no node.
fn quorum_margin(view: &ClusterView) -> Option<i64> {
    let total = i64::try_from(view.nodes.len()).ok().filter(|t| *t > 0)?;
    let online = i64::try_from(view.nodes.iter().filter(|n| n.online).count()).ok()?;
    let margin = online - (total / 2 + 1);
    Some(if view.quorate == Some(false) {
        margin.min(-1)
    } else {
        margin
    })
}

/// `captured_at` as Unix seconds (a fraction only when the time has one); None when it is not RFC 3339.
fn unix_seconds(text: &str) -> Option<String> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    let nanos = t.nanosecond();
    if nanos == 0 {
        return Some(t.unix_timestamp().to_string());
    }
    let fraction = format!("{nanos:09}");
    Some(format!(
        "{}.{}",
        t.unix_timestamp(),
        fraction.trim_end_matches('0')
    ))
}

/// Writes one gauge family: HELP, TYPE and its samples.
fn family(out: &mut String, name: &str, help: &str, samples: &[Sample]) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        sample(out, name, labels, value);
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, String)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the format quotes it: backslash, double quote and line feed escaped.
pub(crate) fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text as the format escapes it: backslash and line feed (a quote needs no escape there).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), r"two\nlines");
        assert_eq!(escape_label("ct:100"), "ct:100");
    }

    #[test]
    fn help_text_escapes_backslash_and_newline_but_not_quotes() {
        assert_eq!(escape_help("a\\b\n\"c\""), "a\\\\b\\n\"c\"");
    }

    #[test]
    fn a_family_without_samples_still_has_help_and_type() {
        let mut out = String::new();
        family(&mut out, "pveha_x", "Nothing yet.", &[]);
        assert_eq!(out, "# HELP pveha_x Nothing yet.\n# TYPE pveha_x gauge\n");
    }

    #[test]
    fn labels_are_written_in_the_order_given_and_escaped() {
        let mut out = String::new();
        sample(
            &mut out,
            "pveha_x",
            &[("sid", "ct:1".into()), ("node", "we\"ird".into())],
            1,
        );
        assert_eq!(out, "pveha_x{sid=\"ct:1\",node=\"we\\\"ird\"} 1\n");
    }

    #[test]
    fn capture_time_becomes_unix_seconds_with_a_fraction_only_when_there_is_one() {
        assert_eq!(
            unix_seconds("2025-11-10T09:30:00Z").as_deref(),
            Some("1762767000")
        );
        assert_eq!(
            unix_seconds("2025-11-10T10:30:00.250+01:00").as_deref(),
            Some("1762767000.25")
        );
        assert_eq!(unix_seconds("yesterday"), None);
    }

    #[test]
    fn risk_thresholds_match_what_fail_on_fails_on() {
        for severity in Severity::ALL_DESC {
            let value = risk_value(crate::risk::risk(&[crate::risk::tests::with(severity)]));
            assert_eq!(value >= 4, severity >= Severity::Critical, "{severity}");
            assert_eq!(value >= 3, severity >= Severity::High, "{severity}");
            assert_eq!(value >= 2, severity >= Severity::Medium, "{severity}");
            assert!(value >= 1, "{severity}");
        }
    }
}
