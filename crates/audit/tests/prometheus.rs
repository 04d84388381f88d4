//! The audit's Prometheus metrics read back with a Prometheus text-format parser (`prometheus-parse`), on the
//! seed's homelab (PVE 8 and 9) and on small clusters: the values alert rules rely on (risk, finding counts, HA
//! service states, lost services per node failure, quorum margin, capture time) and the format's conventions.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use prometheus_parse::{Scrape, Value as Sampled};
use pveha_audit::prometheus::FAMILIES;
use pveha_audit::{audit, Options, Report, Risk, Severity, CATALOG};
use pveha_model::Snapshot;
use serde_json::json;
use support::Cluster;

fn fixture(name: &str) -> anyhow::Result<Snapshot> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/homelab")
        .join(name);
    Ok(Snapshot::from_json(&std::fs::read_to_string(path)?)?)
}

/// The parsed metrics: every sample by name and labels, in the order written, plus the HELP texts.
struct Metrics {
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
    in_order: Vec<(String, BTreeMap<String, String>, f64)>,
    help: BTreeMap<String, String>,
}

impl Metrics {
    /// Parses `text`; every line that is not a comment must come back as a gauge sample, since the parser skips
    /// lines it does not understand instead of failing.
    fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}"));
        let sample_lines = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(
            scrape.samples.len(),
            sample_lines,
            "some lines were not understood:\n{text}"
        );
        let mut samples = BTreeMap::new();
        let mut in_order = Vec::new();
        for s in scrape.samples {
            let Sampled::Gauge(v) = s.value else {
                panic!("{} is not typed as a gauge: {:?}", s.metric, s.value);
            };
            let labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            in_order.push((s.metric.clone(), labels.clone(), v));
            let key = (s.metric.clone(), labels);
            assert!(
                samples.insert(key.clone(), v).is_none(),
                "duplicate series {key:?}"
            );
        }
        Metrics {
            samples,
            in_order,
            help: scrape.docs.into_iter().collect(),
        }
    }

    /// The value of the one series with exactly these labels.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    /// Every series of a family in the order written: labels and value.
    fn family(&self, name: &str) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.in_order
            .iter()
            .filter(|(n, ..)| n == name)
            .map(|(_, l, v)| (l, *v))
            .collect()
    }
}

fn metrics(snapshot: &Snapshot) -> (Report, String, Metrics) {
    let report = audit(snapshot, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    let text = report.to_prometheus(snapshot);
    let parsed = Metrics::parse(&text);
    (report, text, parsed)
}

fn risk_number(risk: Risk) -> f64 {
    match risk {
        Risk::Low => 1.0,
        Risk::Medium => 2.0,
        Risk::High => 3.0,
        Risk::Critical => 4.0,
    }
}

/// What the seed's homelab shows on both PVE versions: HIGH or worse, Traefik co-located on proxmox and lost with
/// it, no HA status in the fixture (so every state is unknown), three online nodes of three.
fn assert_homelab(snapshot: &Snapshot) {
    let (report, text, m) = metrics(snapshot);

    let risk = m.get("pveha_audit_risk", &[]);
    assert_eq!(risk, Some(risk_number(report.risk)));
    assert!(
        risk.is_some_and(|r| r >= 3.0),
        "seed risk is HIGH or worse: {risk:?}"
    );

    // Traefik is tagged critical, so its replicas sharing proxmox is a critical finding, not the default high.
    let colocated = m.get(
        "pveha_audit_findings",
        &[("severity", "critical"), ("code", "replicas-colocated")],
    );
    assert_eq!(colocated, Some(1.0), "Traefik's replicas share proxmox");
    assert_eq!(
        m.get(
            "pveha_audit_findings",
            &[("severity", "high"), ("code", "replicas-colocated")]
        ),
        Some(0.0)
    );
    let not_ha = report
        .findings
        .iter()
        .filter(|f| f.code == "critical-not-ha")
        .count();
    assert_eq!(
        m.get(
            "pveha_audit_findings",
            &[("severity", "high"), ("code", "critical-not-ha")]
        ),
        Some(not_ha as f64)
    );
    let total: f64 = m
        .family("pveha_audit_findings")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, report.findings.len() as f64);

    // Traefik (ct:110, ct:121) is not HA-managed: no state series, but proxmox's failure loses it.
    let states = m.family("pveha_ha_service_state");
    let sids: Vec<&str> = states.iter().map(|(l, _)| l["sid"].as_str()).collect();
    assert_eq!(
        sids,
        ["ct:100", "ct:113", "ct:116", "ct:122", "ct:1250", "ct:130", "ct:131"]
    );
    assert!(
        states
            .iter()
            .all(|(l, v)| *v == 1.0 && l["state"] == "unknown"),
        "the fixture has no HA status: {states:?}"
    );
    assert_eq!(
        m.get(
            "pveha_ha_service_state",
            &[
                ("sid", "ct:113"),
                ("state", "unknown"),
                ("node", "proxmox3")
            ]
        ),
        Some(1.0)
    );
    let proxmox = report
        .node_failure_impact
        .iter()
        .find(|i| i.node == "proxmox")
        .unwrap_or_else(|| panic!("no impact row for proxmox"));
    assert!(proxmox.lost_services.contains(&"traefik".to_string()));
    assert_eq!(
        m.get("pveha_node_failure_lost_services", &[("node", "proxmox")]),
        Some(proxmox.lost_services.len() as f64)
    );
    for node in ["proxmox2", "proxmox3"] {
        assert!(
            m.get("pveha_node_failure_lost_services", &[("node", node)])
                .is_some(),
            "{node}"
        );
    }

    assert_eq!(
        m.get("pveha_quorum_margin", &[]),
        Some(1.0),
        "3 of 3, 2 needed"
    );
    // 2025-11-10T09:30:00Z.
    assert_eq!(
        m.get("pveha_audit_timestamp_seconds", &[]),
        Some(1_762_767_000.0)
    );
    assert_conventions(&text, &m);
}

/// Names and labels as Prometheus wants them: one HELP and one gauge TYPE per family before its samples, in the
/// documented order; snake_case names with the `pveha_` prefix, base units, no `_total` on a gauge; no sample
/// timestamps (the textfile collector refuses them); the text ends with a line feed.
fn assert_conventions(text: &str, m: &Metrics) {
    let name_ok = |n: &str| {
        n.starts_with("pveha_")
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut order = Vec::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            order.push(name.to_string());
            current = Some(name);
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            assert_eq!(Some(rest), current.map(|n| format!("{n} gauge")).as_deref());
        } else {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert_eq!(Some(name), current, "sample outside its family: {line}");
            let value_and_more: Vec<&str> = line
                .rsplit('}')
                .next()
                .unwrap_or(line)
                .split_whitespace()
                .collect();
            assert_eq!(
                value_and_more.len(),
                if line.contains('{') { 1 } else { 2 },
                "a timestamp? {line}"
            );
        }
    }
    let families: Vec<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
    assert_eq!(order, families, "every family once, in order");
    for (name, help) in &m.help {
        assert!(name_ok(name), "{name}");
        assert!(!name.ends_with("_total"), "{name} is a gauge");
        assert!(help.ends_with('.'), "{name}: {help}");
    }
    for (name, labels) in m.samples.keys() {
        assert!(name_ok(name), "{name}");
        for label in labels.keys() {
            assert!(
                !label.starts_with("__")
                    && label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}: label {label}"
            );
        }
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn pve8_homelab_metrics_parse_and_say_what_the_report_says() -> anyhow::Result<()> {
    assert_homelab(&fixture("cluster-pve8.json")?);
    Ok(())
}

#[test]
fn pve9_homelab_metrics_parse_and_say_what_the_report_says() -> anyhow::Result<()> {
    assert_homelab(&fixture("cluster-pve9.json")?);
    Ok(())
}

#[test]
fn every_catalog_code_is_written_at_every_severity_even_when_not_raised() -> anyhow::Result<()> {
    let (report, _, m) = metrics(&fixture("cluster-pve8.json")?);
    let series: BTreeSet<(String, String)> = m
        .family("pveha_audit_findings")
        .iter()
        .map(|(l, _)| (l["severity"].clone(), l["code"].clone()))
        .collect();
    assert_eq!(series.len(), CATALOG.len() * Severity::ALL_DESC.len());
    for (code, ..) in CATALOG {
        for severity in Severity::ALL_DESC {
            let raised = report
                .findings
                .iter()
                .filter(|f| f.code == *code && f.severity == severity)
                .count();
            assert_eq!(
                m.get(
                    "pveha_audit_findings",
                    &[("severity", severity.as_str()), ("code", code)]
                ),
                Some(raised as f64),
                "{severity} {code}"
            );
        }
    }
    let healthy =
        Cluster::pve8()
            .ct(100, "app", "pve1")
            .ha(100)
            .group("g", "pve1,pve2,pve3", false);
    let (clean, _, m) = metrics(&healthy.snapshot());
    let raised: f64 = m
        .family("pveha_audit_findings")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(raised, clean.findings.len() as f64);
    assert_eq!(
        m.family("pveha_audit_findings").len(),
        CATALOG.len() * Severity::ALL_DESC.len(),
        "the same series whatever is raised"
    );
    Ok(())
}

/// The homelab with Traefik under HA and the CRM's status as a live capture has it: ct:110 started on proxmox,
/// ct:121 in error, ct:113 migrating from proxmox3 to proxmox2.
fn with_ha_status(mut snapshot: Snapshot) -> Snapshot {
    if let Some(serde_json::Value::Array(ha)) = snapshot.api.get_mut("/cluster/ha/resources") {
        for vmid in [110, 121] {
            ha.push(json!({"sid": format!("ct:{vmid}"), "type": "ct", "state": "started"}));
        }
    }
    snapshot.api.insert(
        "/cluster/ha/status/current".into(),
        json!([
            {"id": "quorum", "type": "quorum", "quorate": 1, "node": "proxmox"},
            {"id": "service:ct:110", "type": "service", "sid": "ct:110", "node": "proxmox", "crm_state": "started", "state": "started"},
            {"id": "service:ct:121", "type": "service", "sid": "ct:121", "node": "proxmox", "crm_state": "error", "state": "error"},
        ]),
    );
    snapshot.api.insert(
        "/cluster/ha/status/manager_status".into(),
        json!({"manager_status": {"service_status": {
            "ct:113": {"state": "migrate", "node": "proxmox3", "target": "proxmox2"},
        }}}),
    );
    snapshot
}

#[test]
fn service_states_are_the_crms_with_its_node() -> anyhow::Result<()> {
    for name in ["cluster-pve8.json", "cluster-pve9.json"] {
        let (report, _, m) = metrics(&with_ha_status(fixture(name)?));
        let state = |sid: &str| -> Vec<(String, String)> {
            m.family("pveha_ha_service_state")
                .iter()
                .filter(|(l, _)| l["sid"] == sid)
                .map(|(l, _)| (l["state"].clone(), l["node"].clone()))
                .collect()
        };
        assert_eq!(
            state("ct:110"),
            [("started".into(), "proxmox".into())],
            "{name}"
        );
        assert_eq!(
            state("ct:121"),
            [("error".into(), "proxmox".into())],
            "{name}"
        );
        assert_eq!(
            state("ct:113"),
            [("migrate".into(), "proxmox3".into())],
            "{name}"
        );
        assert_eq!(
            state("ct:100"),
            [("unknown".into(), "proxmox2".into())],
            "{name}"
        );
        let unhealthy = report
            .findings
            .iter()
            .filter(|f| f.code == "ha-service-unhealthy")
            .collect::<Vec<_>>();
        assert!(!unhealthy.is_empty(), "ct:121 in error is a finding");
        for f in unhealthy {
            assert!(
                m.get(
                    "pveha_audit_findings",
                    &[
                        ("severity", f.severity.as_str()),
                        ("code", "ha-service-unhealthy")
                    ]
                )
                .is_some_and(|v| v >= 1.0),
                "{name}"
            );
        }
    }
    Ok(())
}

#[test]
fn quorum_margin_is_online_nodes_minus_the_majority() {
    let margin = |c: Cluster| {
        let (_, _, m) = metrics(&c.snapshot());
        m.get("pveha_quorum_margin", &[])
    };
    assert_eq!(
        margin(Cluster::pve8()),
        Some(1.0),
        "3 of 3 online, 2 needed"
    );
    assert_eq!(
        margin(Cluster::pve8().offline("pve3")),
        Some(0.0),
        "the next failure loses quorum"
    );
    assert_eq!(
        margin(Cluster::pve8().offline("pve2").offline("pve3")),
        Some(-1.0)
    );
    assert_eq!(
        margin(Cluster::pve8().only_nodes(&["pve1", "pve2"])),
        Some(0.0),
        "two nodes: 2 needed"
    );
    assert_eq!(
        margin(Cluster::pve8().no_quorum()),
        Some(-1.0),
        "the cluster's own word that it has no quorum wins over the count"
    );
}

#[test]
fn families_with_nothing_to_report_keep_help_and_type_but_no_sample() {
    let mut snapshot = Cluster::pve8().ct(100, "app", "pve1").snapshot();
    snapshot.captured_at = None;
    let (_, text, m) = metrics(&snapshot);
    for name in ["pveha_ha_service_state", "pveha_audit_timestamp_seconds"] {
        assert!(m.family(name).is_empty(), "{name} has samples");
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
    }
    assert!(m.get("pveha_audit_risk", &[]).is_some());
    assert!(m.get("pveha_quorum_margin", &[]).is_some());
}

#[test]
fn offline_nodes_have_no_lost_services_series_as_their_failure_already_happened() {
    let (report, _, m) = metrics(
        &Cluster::pve8()
            .ct(100, "app", "pve1")
            .ha(100)
            .offline("pve3")
            .snapshot(),
    );
    let nodes: Vec<&str> = m
        .family("pveha_node_failure_lost_services")
        .iter()
        .map(|(l, _)| l["node"].as_str())
        .collect();
    assert_eq!(nodes, ["pve1", "pve2"]);
    assert_eq!(report.node_failure_impact.len(), 2);
}
