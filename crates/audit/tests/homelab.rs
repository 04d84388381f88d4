//! Golden tests on the seed's homelab (`examples/homelab/cluster-pve8.json`, `cluster-pve9.json`): the audit must
//! report each problem of the hand-written seed audit, and none of the placement / HA-management problems once the
//! seed's blueprint is applied (built here by editing the snapshot the way the blueprint changes the cluster).

use std::path::PathBuf;

use expect_test::expect_file;
use pveha_audit::{audit, Options, Report, Risk};
use pveha_model::Snapshot;
use serde_json::{json, Value};

fn fixture(name: &str) -> anyhow::Result<Snapshot> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/homelab")
        .join(name);
    Ok(Snapshot::from_json(&std::fs::read_to_string(path)?)?)
}

fn finding<'r>(report: &'r Report, code: &str) -> Vec<&'r pveha_audit::Finding> {
    report.findings.iter().filter(|f| f.code == code).collect()
}

fn subjects(report: &Report, code: &str) -> Vec<String> {
    finding(report, code)
        .iter()
        .flat_map(|f| f.subjects.iter().cloned())
        .collect()
}

fn assert_seed_problems(report: &Report) {
    assert!(report.risk >= Risk::High, "risk {}", report.risk);

    let colocated = finding(report, "replicas-colocated");
    assert_eq!(colocated.len(), 1, "{colocated:#?}");
    for s in ["traefik", "ct:110", "ct:121", "proxmox"] {
        assert!(
            colocated[0].subjects.iter().any(|x| x == s),
            "{s} in {:?}",
            colocated[0].subjects
        );
    }

    let not_ha = subjects(report, "critical-not-ha");
    assert_eq!(not_ha, ["ct:110", "ct:121", "ct:132", "ct:134"]);

    let distribution: Vec<(&str, usize)> = report
        .distribution
        .iter()
        .map(|d| (d.node.as_str(), d.ha_resources))
        .collect();
    assert_eq!(
        distribution,
        [("proxmox", 0), ("proxmox2", 3), ("proxmox3", 4)]
    );
    assert!(report.has("ha-imbalance"));

    let memory = finding(report, "memory-errors");
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0].subjects, ["proxmox"]);
    assert!(memory[0].detail.contains("IBECC"), "{}", memory[0].detail);
    let fs = subjects(report, "filesystem-errors");
    assert_eq!(fs, ["proxmox", "dm-14", "dm-15", "dm-16", "dm-17", "dm-19"]);
    assert_eq!(subjects(report, "unclean-shutdown"), ["proxmox"]);

    let outage = finding(report, "node-failure-outage");
    assert_eq!(
        outage.len(),
        1,
        "only proxmox's failure loses a service: {outage:#?}"
    );
    assert_eq!(
        outage[0].title.split(" takes down").next(),
        Some("A failure of proxmox")
    );
    assert!(
        outage[0].subjects.contains(&"traefik".to_string()),
        "{:?}",
        outage[0].subjects
    );
    let proxmox = report
        .node_failure_impact
        .iter()
        .find(|i| i.node == "proxmox")
        .map(|i| &i.lost_services);
    assert!(
        proxmox.is_some_and(|l| l.contains(&"traefik".to_string())),
        "{proxmox:?}"
    );
}

#[test]
fn pve8_homelab_reports_every_seed_problem() -> anyhow::Result<()> {
    let report = audit(&fixture("cluster-pve8.json")?, &Options::default())?;
    assert!(report.has("no-placement-policy"), "no HA groups");
    assert_seed_problems(&report);
    expect_file!["golden/homelab-pve8.md"].assert_eq(&report.to_markdown());
    Ok(())
}

#[test]
fn pve9_homelab_reports_every_seed_problem() -> anyhow::Result<()> {
    let report = audit(&fixture("cluster-pve9.json")?, &Options::default())?;
    assert!(report.has("no-placement-policy"), "no HA rules");
    assert_seed_problems(&report);
    Ok(())
}

/// The seed's blueprint applied to the PVE 8 homelab: HA for 110, 121, 132 and 134, HA groups, Traefik split over
/// proxmox2 / proxmox3, and mqtt-prod moved to proxmox (the seed's rebalance step E).
fn blueprint(mut snapshot: Snapshot) -> Snapshot {
    let moves = [(110, "proxmox2"), (121, "proxmox3"), (130, "proxmox")];
    if let Some(Value::Array(resources)) = snapshot.api.get_mut("/cluster/resources") {
        for r in resources.iter_mut() {
            let vmid = r.get("vmid").and_then(Value::as_u64);
            if let Some((_, node)) = moves.iter().find(|(v, _)| Some(*v) == vmid) {
                r["node"] = json!(node);
            }
            if matches!(vmid, Some(110 | 121 | 132 | 134)) {
                r["hastate"] = json!("started");
            }
        }
    }
    for (vmid, node) in moves {
        let old = snapshot
            .api
            .keys()
            .find(|k| k.ends_with(&format!("/lxc/{vmid}/config")))
            .cloned();
        if let Some(config) = old.and_then(|k| snapshot.api.remove(&k)) {
            snapshot
                .api
                .insert(format!("/nodes/{node}/lxc/{vmid}/config"), config);
        }
    }
    let group_of = |vmid: u64| match vmid {
        110 | 121 => "reverse-proxy",
        116 | 1250 | 133 | 134 => "critical-infrastructure",
        100 | 113 => "databases",
        _ => "applications",
    };
    if let Some(Value::Array(ha)) = snapshot.api.get_mut("/cluster/ha/resources") {
        for vmid in [110, 121, 132, 134] {
            ha.push(json!({"sid": format!("ct:{vmid}"), "type": "ct", "state": "started", "max_restart": 3, "max_relocate": 2}));
        }
        for r in ha.iter_mut() {
            let vmid = r["sid"]
                .as_str()
                .and_then(|s| s.strip_prefix("ct:"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            r["group"] = json!(group_of(vmid));
        }
    }
    snapshot.api.insert(
        "/cluster/ha/groups".to_string(),
        json!([
            {"group": "reverse-proxy", "type": "group", "nodes": "proxmox2:1,proxmox3:1", "restricted": 1},
            {"group": "critical-infrastructure", "type": "group", "nodes": "proxmox2:2,proxmox3:2,proxmox:1"},
            {"group": "databases", "type": "group", "nodes": "proxmox2:1,proxmox3:1,proxmox:1"},
            {"group": "applications", "type": "group", "nodes": "proxmox:1,proxmox2:1,proxmox3:1"},
        ]),
    );
    snapshot
}

#[test]
fn pve8_homelab_after_the_blueprint_keeps_only_hardware_and_storage_findings() -> anyhow::Result<()>
{
    let before = audit(&fixture("cluster-pve8.json")?, &Options::default())?;
    let report = audit(
        &blueprint(fixture("cluster-pve8.json")?),
        &Options::default(),
    )?;
    for code in [
        "replicas-colocated",
        "rule-violated",
        "critical-not-ha",
        "critical-no-onboot",
        "no-placement-policy",
        "ha-imbalance",
        "node-failure-outage",
        "no-recovery-node",
        "capacity-after-failure",
    ] {
        assert!(
            !report.has(code),
            "{code} remains: {:#?}",
            finding(&report, code)
        );
    }
    for code in ["memory-errors", "filesystem-errors", "unclean-shutdown"] {
        assert!(report.has(code), "hardware finding {code} must remain");
    }
    // Traefik now keeps a replica through any single failure; uptime-kuma, one HA instance, still needs ~2 minutes.
    assert_eq!(subjects(&report, "rto-target-missed"), ["uptime-kuma"]);
    assert!(subjects(&before, "rto-target-missed").contains(&"traefik".to_string()));
    let proxmox = report
        .node_failure_impact
        .iter()
        .find(|i| i.node == "proxmox");
    let recovered = proxmox
        .map(|i| i.recovered.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    assert_eq!(recovered, ["ct:130", "ct:132", "ct:134"]);
    let proxmox2 = report
        .node_failure_impact
        .iter()
        .find(|i| i.node == "proxmox2");
    assert_eq!(
        proxmox2.and_then(|i| i.rto_seconds.get("traefik").copied()),
        Some(Some(0))
    );
    assert_eq!(
        proxmox.and_then(|i| i.rto_seconds.get("uptime-kuma").copied()),
        Some(Some(120))
    );
    Ok(())
}

#[test]
fn a_reboot_of_proxmox_takes_traefik_down_before_the_blueprint_and_not_after() -> anyhow::Result<()>
{
    let before = audit(&fixture("cluster-pve8.json")?, &Options::default())?;
    let outage = finding(&before, "reboot-outage");
    let proxmox = outage.iter().find(|f| f.subjects[0] == "proxmox");
    assert!(
        proxmox.is_some_and(|f| f.subjects.contains(&"traefik".to_string())),
        "{outage:#?}"
    );
    let impact = before
        .node_reboot_impact
        .iter()
        .find(|i| i.node == "proxmox");
    assert_eq!(impact.map(|i| i.policy.as_str()), Some("conditional"));
    assert!(impact.is_some_and(|i| i.lost_services.contains(&"traefik".to_string())));

    let mut after = blueprint(fixture("cluster-pve8.json")?);
    after.api.insert(
        "/cluster/options".into(),
        json!({"keyboard": "en-us", "crs": {"ha": "basic"}, "ha": {"shutdown_policy": "migrate"}}),
    );
    let report = audit(&after, &Options::default())?;
    assert!(
        !report.has("reboot-outage"),
        "{:#?}",
        finding(&report, "reboot-outage")
    );
    let impact = report
        .node_reboot_impact
        .iter()
        .find(|i| i.node == "proxmox");
    assert_eq!(impact.map(|i| i.policy.as_str()), Some("migrate"));
    assert!(impact.is_some_and(|i| i.frozen.is_empty() && !i.migrated.is_empty()));
    assert!(impact.is_some_and(|i| !i.lost_services.contains(&"traefik".to_string())));

    // The blueprint without the policy still freezes proxmox's HA services on a reboot: the policy is the fix.
    let frozen = audit(
        &blueprint(fixture("cluster-pve8.json")?),
        &Options::default(),
    )?;
    assert!(frozen.has("reboot-outage"));
    Ok(())
}
