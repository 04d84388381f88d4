//! One test per finding code: a small cluster that raises it and the nearest cluster that must not. A check derives
//! the codes from `CATALOG` and finds each one exercised in this file, so a new code cannot ship untested.

mod support;

use pveha_audit::{Options, Risk, Severity, CATALOG};
use serde_json::json;
use support::{actions, with_code, Cluster, GIB};

/// Three HA services spread evenly with a group, so the baseline raises nothing about placement; the `migrate`
/// shutdown policy moves them away before a reboot, so it raises nothing about reboots either.
fn balanced() -> Cluster {
    Cluster::pve8()
        .policy("migrate")
        .ct(101, "alpha", "pve1")
        .ct(102, "beta", "pve2")
        .ct(103, "gamma", "pve3")
        .ha(101)
        .ha(102)
        .ha(103)
        .group("all", "pve1,pve2,pve3", false)
        .ha_set(101, "group", json!("all"))
        .ha_set(102, "group", json!("all"))
        .ha_set(103, "group", json!("all"))
}

#[test]
fn baseline_cluster_has_no_findings() {
    let report = balanced().audit();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.risk, Risk::Low);
}

#[test]
fn replicas_on_one_node_are_colocated_and_split_ones_are_not() {
    let together = balanced()
        .ct(110, "traefik", "pve1")
        .ct(121, "traefik-2", "pve1")
        .tag(110, "critical");
    let found = with_code(&together.audit(), "replicas-colocated")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].subjects, ["traefik", "ct:110", "ct:121", "pve1"]);
    assert_eq!(found[0].severity, Severity::Critical, "critical service");
    assert!(
        actions(&found[0]).contains("\"kind\":\"ha_group\""),
        "{}",
        actions(&found[0])
    );

    let apart = balanced()
        .ct(110, "traefik", "pve1")
        .ct(121, "traefik-2", "pve2");
    assert!(with_code(&apart.audit(), "replicas-colocated").is_empty());
}

#[test]
fn services_option_and_negative_rules_define_replicas_too() {
    let named = balanced()
        .ct(201, "dns-a", "pve2")
        .ct(202, "resolver", "pve2");
    assert!(
        with_code(&named.audit(), "replicas-colocated").is_empty(),
        "different names: not one service"
    );
    let options = Options {
        services: [("dns".to_string(), vec![201, 202])].into(),
        ..Options::default()
    };
    let found = named.audit_with(&options);
    assert_eq!(with_code(&found, "replicas-colocated").len(), 1);
    assert!(with_code(
        &named.audit_with(&Options {
            infer_services: false,
            ..Options::default()
        }),
        "replicas-colocated"
    )
    .is_empty());

    let rule = Cluster::pve9()
        .ct(201, "dns-a", "pve2")
        .ct(202, "resolver", "pve2")
        .ha(201)
        .ha(202)
        .rule(json!({"rule": "dns-apart", "type": "resource-affinity", "affinity": "negative", "resources": "ct:201,ct:202"}));
    let report = rule.audit();
    let found = with_code(&report, "replicas-colocated");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].subjects[0], "dns-apart");
    assert!(
        actions(found[0]).contains("\"kind\":\"resource_affinity_rule\",\"name\":\"dns-apart-apart\",\"resources\":[\"ct:201\",\"ct:202\"],\"positive\":false"),
        "{}",
        actions(found[0])
    );
}

#[test]
fn inferred_replicas_differ_only_by_a_trailing_number() {
    let c = balanced()
        .ct(133, "kea-dhcp-1", "pve1")
        .ct(134, "kea-dhcp-2", "pve1")
        .ct(150, "adguard", "pve2")
        .ct(151, "adguard-2", "pve2");
    let report = c.audit();
    let services: Vec<&str> = with_code(&report, "replicas-colocated")
        .iter()
        .map(|f| f.subjects[0].as_str())
        .collect();
    assert_eq!(services, ["adguard", "kea-dhcp"]);
}

#[test]
fn rule_violations_are_reported_for_each_kind() {
    let negative = Cluster::pve9()
        .ct(201, "a", "pve1")
        .ct(202, "b", "pve1")
        .ha(201)
        .ha(202);
    let with_rule = |c: Cluster, rule| c.rule(rule);
    let neg = json!({"rule": "apart", "type": "resource-affinity", "affinity": "negative", "resources": "ct:201,ct:202"});
    let report = with_rule(negative.clone(), neg.clone()).audit();
    assert_eq!(with_code(&report, "rule-violated").len(), 1);
    let split = Cluster::pve9()
        .ct(201, "a", "pve1")
        .ct(202, "b", "pve2")
        .ha(201)
        .ha(202);
    assert!(with_code(&with_rule(split.clone(), neg).audit(), "rule-violated").is_empty());

    let pos = json!({"rule": "together", "type": "resource-affinity", "affinity": "positive", "resources": "ct:201,ct:202"});
    assert_eq!(
        with_code(
            &with_rule(split.clone(), pos.clone()).audit(),
            "rule-violated"
        )
        .len(),
        1
    );
    assert!(with_code(&with_rule(negative.clone(), pos).audit(), "rule-violated").is_empty());

    let strict = json!({"rule": "pin", "type": "node-affinity", "resources": "ct:201", "nodes": "pve2", "strict": 1});
    assert_eq!(
        with_code(
            &with_rule(split.clone(), strict.clone()).audit(),
            "rule-violated"
        )
        .len(),
        1
    );
    let lenient =
        json!({"rule": "pin", "type": "node-affinity", "resources": "ct:201", "nodes": "pve2"});
    assert!(with_code(&with_rule(split, lenient).audit(), "rule-violated").is_empty());

    let pve8 = Cluster::pve8()
        .ct(201, "a", "pve1")
        .ha(201)
        .group("only2", "pve2", true)
        .ha_set(201, "group", json!("only2"));
    assert_eq!(with_code(&pve8.audit(), "rule-violated").len(), 1);
    let pve8_ok = Cluster::pve8()
        .ct(201, "a", "pve2")
        .ha(201)
        .group("only2", "pve2", true)
        .ha_set(201, "group", json!("only2"));
    assert!(with_code(&pve8_ok.audit(), "rule-violated").is_empty());
}

#[test]
fn server_errors_on_rules_are_infeasible() {
    let base = Cluster::pve9()
        .ct(201, "a", "pve1")
        .ct(202, "b", "pve2")
        .ha(201)
        .ha(202);
    let bad = base.clone().rule(json!({"rule": "r1", "type": "resource-affinity", "affinity": "negative",
        "resources": "ct:201,ct:202", "errors": {"resources": "rule defines more resources than available nodes"}}));
    let report = bad.audit();
    let found = with_code(&report, "rule-infeasible");
    assert_eq!(found.len(), 1);
    assert!(found[0]
        .detail
        .contains("more resources than available nodes"));
    let good = base.rule(json!({"rule": "r1", "type": "resource-affinity", "affinity": "negative", "resources": "ct:201,ct:202"}));
    assert!(with_code(&good.audit(), "rule-infeasible").is_empty());

    let missing_group =
        balanced().ha_set(101, "errors", json!({"group": "group 'x' does not exist"}));
    assert_eq!(
        with_code(&missing_group.audit(), "rule-infeasible")[0].subjects,
        ["ct:101"]
    );
}

#[test]
fn critical_guests_need_ha_by_tag_vmid_or_name() {
    let c = balanced()
        .ct(110, "traefik", "pve1")
        .tag(110, "critical")
        .ct(120, "vault", "pve2")
        .ct(130, "web-prod", "pve3");
    let options = Options {
        critical_vmids: vec![120],
        critical_name_patterns: vec!["-prod$".into()],
        ..Options::default()
    };
    let report = c.audit_with(&options);
    assert_eq!(
        with_code(&report, "critical-not-ha")[0].subjects,
        ["ct:110", "ct:120", "ct:130"]
    );
    assert!(
        actions(with_code(&report, "critical-not-ha")[0]).contains("\"action\":\"create\",\"kind\":\"ha_resource\",\"sid\":\"ct:120\",\"state\":\"started\""),
        "{}",
        actions(with_code(&report, "critical-not-ha")[0])
    );

    let managed = c.ha(110).ha(120).ha(130);
    assert!(with_code(&managed.audit_with(&options), "critical-not-ha").is_empty());
    assert!(
        with_code(
            &balanced().ct(110, "traefik", "pve1").audit(),
            "critical-not-ha"
        )
        .is_empty(),
        "untagged"
    );
}

#[test]
fn critical_guest_without_ha_or_onboot_is_reported() {
    let off = balanced()
        .ct(110, "traefik", "pve1")
        .tag(110, "critical")
        .config(110, "onboot", json!(0));
    let report = off.audit();
    assert_eq!(
        with_code(&report, "critical-no-onboot")[0].subjects,
        ["ct:110"]
    );
    assert!(
        actions(with_code(&report, "critical-no-onboot")[0])
            .contains("\"kind\":\"guest_startup\",\"sid\":\"ct:110\",\"onboot\":true"),
        "{}",
        actions(with_code(&report, "critical-no-onboot")[0])
    );
    let on = off.clone().config(110, "onboot", json!(1));
    assert!(with_code(&on.audit(), "critical-no-onboot").is_empty());
    assert!(
        with_code(&off.ha(110).audit(), "critical-no-onboot").is_empty(),
        "HA starts it"
    );
}

#[test]
fn ha_without_groups_or_rules_has_no_placement_policy() {
    let c = Cluster::pve8().ct(101, "a", "pve1").ha(101);
    assert_eq!(with_code(&c.audit(), "no-placement-policy").len(), 1);
    let unused = c.clone().group("g", "pve1,pve2", false);
    assert_eq!(
        with_code(&unused.audit(), "no-placement-policy").len(),
        1,
        "a group no resource uses"
    );
    assert!(with_code(&balanced().audit(), "no-placement-policy").is_empty());
    assert!(
        with_code(
            &Cluster::pve8().ct(101, "a", "pve1").audit(),
            "no-placement-policy"
        )
        .is_empty(),
        "no HA at all"
    );

    let pve9 = Cluster::pve9().ct(101, "a", "pve1").ha(101);
    let report = pve9.audit();
    assert!(
        actions(with_code(&report, "no-placement-policy")[0])
            .contains("\"kind\":\"node_affinity_rule\""),
        "{}",
        actions(with_code(&report, "no-placement-policy")[0])
    );
    let ruled = pve9.rule(json!({"rule": "r", "type": "node-affinity", "resources": "ct:101", "nodes": "pve1:2,pve2"}));
    assert!(with_code(&ruled.audit(), "no-placement-policy").is_empty());
}

#[test]
fn uneven_ha_counts_are_an_imbalance_beyond_tolerance() {
    let mut c = balanced();
    for vmid in 104..=107 {
        c = c.ct(vmid, &format!("svc{vmid}x"), "pve1").ha(vmid);
    }
    let report = c.audit();
    let found = with_code(&report, "ha-imbalance");
    assert_eq!(found.len(), 1, "5/1/1");
    assert!(
        actions(found[0]).contains("\"action\":\"update\",\"kind\":\"ha_resource\""),
        "{}",
        actions(found[0])
    );
    let loose = Options {
        balance_tolerance_percent: 500.0,
        ..Options::default()
    };
    assert!(with_code(&c.audit_with(&loose), "ha-imbalance").is_empty());
    let uneven_by_one = balanced().ct(104, "delta", "pve1").ha(104);
    assert!(
        with_code(&uneven_by_one.audit(), "ha-imbalance").is_empty(),
        "2/1/1 cannot be better"
    );
}

#[test]
fn a_node_whose_failure_loses_a_service_is_an_outage() {
    let c = balanced()
        .ct(110, "traefik", "pve1")
        .ct(121, "traefik-2", "pve1");
    let report = c.audit();
    let found = with_code(&report, "node-failure-outage");
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].title,
        "A failure of pve1 takes down traefik entirely"
    );
    assert_eq!(found[0].severity, Severity::High, "not critical");
    let impact = report
        .node_failure_impact
        .iter()
        .find(|i| i.node == "pve1")
        .cloned();
    assert_eq!(
        impact.as_ref().map(|i| i.lost_services.clone()),
        Some(vec!["traefik".to_string()])
    );
    assert_eq!(
        impact.map(|i| i.down),
        Some(vec!["ct:110".to_string(), "ct:121".to_string()])
    );

    let recovered = c.clone().ha(110).ha(121);
    assert!(
        with_code(&recovered.audit(), "node-failure-outage").is_empty(),
        "HA recovers them"
    );
    let lone = balanced().ct(140, "scratch", "pve1");
    assert!(
        with_code(&lone.audit(), "node-failure-outage").is_empty(),
        "a lone non-HA guest nobody marked"
    );
}

#[test]
fn restricted_group_without_other_members_has_no_recovery_node() {
    let c = balanced()
        .ct(150, "pinned", "pve1")
        .ha(150)
        .group("one", "pve1", true)
        .ha_set(150, "group", json!("one"));
    let report = c.audit();
    let found = with_code(&report, "no-recovery-node");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].subjects, ["ct:150", "pve1"]);
    assert!(with_code(&report, "node-failure-outage")
        .iter()
        .any(|f| f.subjects.contains(&"pinned".to_string())));
    let open = balanced()
        .ct(150, "pinned", "pve1")
        .ha(150)
        .group("one", "pve1", false)
        .ha_set(150, "group", json!("one"));
    assert!(with_code(&open.audit(), "no-recovery-node").is_empty());
}

#[test]
fn survivors_without_memory_for_recovered_services_are_reported() {
    let c = Cluster::pve8()
        .only_nodes(&["pve1", "pve2"])
        .node_mem("pve1", 8 * GIB)
        .node_mem("pve2", 8 * GIB)
        .ct(101, "big-a", "pve1")
        .mem(101, 6 * GIB)
        .ha(101)
        .ct(102, "big-b", "pve2")
        .mem(102, 6 * GIB)
        .ha(102)
        .group("both", "pve1,pve2", false)
        .ha_set(101, "group", json!("both"))
        .ha_set(102, "group", json!("both"));
    let report = c.audit();
    assert_eq!(with_code(&report, "capacity-after-failure").len(), 2);
    let pve1 = report
        .node_failure_impact
        .iter()
        .find(|i| i.node == "pve1")
        .map(|i| i.memory_after.clone());
    assert_eq!(pve1.and_then(|m| m.get("pve2").copied()), Some(12 * GIB));
    let roomy = c.node_mem("pve1", 16 * GIB).node_mem("pve2", 16 * GIB);
    assert!(with_code(&roomy.audit(), "capacity-after-failure").is_empty());
}

#[test]
fn critical_service_with_one_instance_misses_a_two_minute_rto() {
    let single = balanced()
        .ct(132, "uptime-kuma", "pve1")
        .tag(132, "critical")
        .ha(132);
    let report = single.audit();
    let found = with_code(&report, "rto-target-missed");
    assert_eq!(found[0].subjects, ["uptime-kuma"]);
    assert!(
        found[0].detail.contains("~120 s if pve1 fails"),
        "{}",
        found[0].detail
    );
    let generous = Options {
        rto_target: std::time::Duration::from_secs(300),
        ..Options::default()
    };
    assert!(with_code(&single.audit_with(&generous), "rto-target-missed").is_empty());
    let replicas = balanced()
        .ct(110, "traefik", "pve1")
        .ct(121, "traefik-2", "pve2")
        .tag(110, "critical")
        .tag(121, "critical")
        .ha(110)
        .ha(121);
    assert!(
        with_code(&replicas.audit(), "rto-target-missed").is_empty(),
        "a replica keeps serving: 0 s"
    );
}

#[test]
fn ha_services_in_error_or_fence_are_unhealthy() {
    let report = balanced().crm(101, "error").crm(102, "freeze").audit();
    let found = with_code(&report, "ha-service-unhealthy");
    let states: Vec<(&str, Severity)> = found
        .iter()
        .map(|f| (f.subjects[0].as_str(), f.severity))
        .collect();
    assert_eq!(
        states,
        [("ct:101", Severity::High), ("ct:102", Severity::Medium)]
    );
    assert!(with_code(
        &balanced().crm(101, "migrate").audit(),
        "ha-service-unhealthy"
    )
    .is_empty());
}

#[test]
fn offline_nodes_are_reported_and_quorum_checked() {
    let report = balanced().offline("pve3").audit();
    assert_eq!(with_code(&report, "node-offline")[0].subjects, ["pve3"]);
    let quorum = with_code(&report, "quorum-at-risk");
    assert_eq!(
        quorum.len(),
        1,
        "2 of 3 online: one more failure loses quorum"
    );
    assert_eq!(quorum[0].severity, Severity::High);
    assert!(
        report.node_failure_impact.iter().all(|i| i.node != "pve3"),
        "an offline node cannot fail again"
    );

    let healthy = balanced().audit();
    assert!(
        with_code(&healthy, "node-offline").is_empty()
            && with_code(&healthy, "quorum-at-risk").is_empty()
    );
    let lost = balanced()
        .offline("pve2")
        .offline("pve3")
        .no_quorum()
        .audit();
    assert_eq!(
        with_code(&lost, "quorum-at-risk")[0].severity,
        Severity::Critical
    );
    let two_nodes = Cluster::pve8().only_nodes(&["pve1", "pve2"]).audit();
    assert_eq!(
        with_code(&two_nodes, "quorum-at-risk").len(),
        1,
        "two nodes: any failure loses quorum"
    );
}

#[test]
fn memory_errors_in_the_window_are_reported() {
    let line = "Nov 10 08:36:35 pve1 kernel: EDAC igen6 MC0: HANDLING IBECC MEMORY ERROR";
    let report = balanced().journal("pve1", &[line]).audit();
    let found = with_code(&report, "memory-errors");
    assert_eq!(found[0].subjects, ["pve1"]);
    assert_eq!(found[0].severity, Severity::High);
    let old = "Nov 08 08:36:35 pve1 kernel: EDAC igen6 MC0: HANDLING IBECC MEMORY ERROR";
    assert!(
        with_code(&balanced().journal("pve1", &[old]).audit(), "memory-errors").is_empty(),
        "outside 24 h"
    );
    let week = Options {
        journal_window: std::time::Duration::from_secs(7 * 86_400),
        ..Options::default()
    };
    assert_eq!(
        with_code(
            &balanced().journal("pve1", &[old]).audit_with(&week),
            "memory-errors"
        )
        .len(),
        1
    );
    let benign =
        "Nov 10 01:48:02 pve1 kernel: EDAC MC0: Giving out device to module igen6_edac controller";
    assert!(with_code(
        &balanced().journal("pve1", &[benign]).audit(),
        "memory-errors"
    )
    .is_empty());
    let ue = "Nov 10 08:00:00 pve1 kernel: EDAC MC0: 1 UE memory read error on CPU_SrcID#0";
    assert_eq!(
        with_code(&balanced().journal("pve1", &[ue]).audit(), "memory-errors")[0].severity,
        Severity::Critical
    );
}

#[test]
fn filesystem_errors_name_their_devices() {
    let lines = [
        "Nov 10 08:38:33 pve1 kernel: EXT4-fs error (device dm-16): ext4_journal_check_start:84: comm x: Detected aborted journal",
        "Nov 10 08:38:38 pve1 kernel: EXT4-fs (dm-14): error count since last fsck: 3",
    ];
    let report = balanced().journal("pve1", &lines).audit();
    assert_eq!(
        with_code(&report, "filesystem-errors")[0].subjects,
        ["pve1", "dm-14", "dm-16"]
    );
    let fine = [
        "Nov 10 08:38:33 pve1 kernel: EXT4-fs (dm-16): mounted filesystem with ordered data mode",
    ];
    assert!(with_code(
        &balanced().journal("pve1", &fine).audit(),
        "filesystem-errors"
    )
    .is_empty());
}

#[test]
fn a_boot_without_shutdown_is_unclean() {
    let unclean = [
        "Nov 10 08:36:35 pve1 kernel: EDAC igen6 MC0: ADDR 0x1f4a2b000",
        "-- Reboot --",
        "Nov 10 08:38:11 pve1 kernel: Linux version 6.8",
    ];
    assert_eq!(
        with_code(
            &balanced().journal("pve1", &unclean).audit(),
            "unclean-shutdown"
        )[0]
        .subjects,
        ["pve1"]
    );
    let clean = [
        "Nov 10 08:36:30 pve1 systemd[1]: Reached target System Reboot.",
        "Nov 10 08:36:35 pve1 systemd-shutdown[1]: Syncing filesystems and block devices.",
        "-- Reboot --",
        "Nov 10 08:38:11 pve1 kernel: Linux version 6.8",
    ];
    assert!(with_code(
        &balanced().journal("pve1", &clean).audit(),
        "unclean-shutdown"
    )
    .is_empty());
    let long_ago = [
        "Nov 01 08:36:35 pve1 kernel: x",
        "-- Reboot --",
        "Nov 01 08:38:11 pve1 kernel: Linux version 6.8",
    ];
    assert!(
        with_code(
            &balanced().journal("pve1", &long_ago).audit(),
            "unclean-shutdown"
        )
        .is_empty(),
        "outside the window"
    );
}

#[test]
fn guests_outside_every_enabled_job_have_no_backup_ranked_by_stake() {
    let c = balanced()
        .ct(110, "traefik", "pve1")
        .tag(110, "critical")
        .ct(140, "scratch", "pve2");
    let none = c
        .clone()
        .backups(vec![json!({"id": "b", "vmid": "140", "enabled": 1})])
        .audit();
    let tiers: Vec<(Severity, Vec<String>)> = with_code(&none, "no-backup")
        .iter()
        .map(|f| (f.severity, f.subjects.clone()))
        .collect();
    assert_eq!(
        tiers,
        [
            (Severity::High, vec!["ct:110".to_string()]),
            (
                Severity::Medium,
                vec![
                    "ct:101".to_string(),
                    "ct:102".to_string(),
                    "ct:103".to_string()
                ]
            ),
        ]
    );
    assert!(
        with_code(&c.audit(), "no-backup").is_empty(),
        "the default all=1 job covers everything"
    );
    let disabled = c
        .clone()
        .backups(vec![json!({"id": "b", "all": 1, "enabled": 0})])
        .audit();
    assert_eq!(with_code(&disabled, "no-backup").len(), 3);
    let pinned = c
        .clone()
        .backups(vec![
            json!({"id": "b", "all": 1, "node": "pve1"}),
            json!({"id": "c", "all": 1, "node": "pve2"}),
            json!({"id": "d", "all": 1, "node": "pve3"}),
        ])
        .audit();
    let found = with_code(&pinned, "no-backup");
    assert_eq!(
        found.len(),
        1,
        "only the HA guests lose coverage to node pinning: {found:#?}"
    );
    assert!(found[0].detail.contains("only by a node-pinned job"));
    let excluded = c
        .backups(vec![json!({"id": "b", "all": 1, "exclude": "140"})])
        .audit();
    assert_eq!(with_code(&excluded, "no-backup")[0].subjects, ["ct:140"]);
}

#[test]
fn ha_guests_on_local_storage_cannot_move() {
    let local = balanced().config(101, "rootfs", json!("local-lvm:vm-101-disk-0,size=8G"));
    assert_eq!(
        with_code(&local.audit(), "local-storage-ha")[0].subjects,
        ["ct:101"]
    );
    assert!(
        with_code(
            &local.clone().replicate(101, "pve2").audit(),
            "local-storage-ha"
        )
        .is_empty(),
        "replicated"
    );
    assert!(
        with_code(&balanced().audit(), "local-storage-ha").is_empty(),
        "shared storage"
    );
    let not_ha = balanced().ct(140, "scratch", "pve2").config(
        140,
        "rootfs",
        json!("local-lvm:vm-140-disk-0,size=8G"),
    );
    assert!(with_code(&not_ha.audit(), "local-storage-ha").is_empty());
}

#[test]
fn startup_settings_on_ha_guests_are_noted_as_ignored() {
    let c =
        balanced()
            .config(101, "onboot", json!(1))
            .config(102, "startup", json!("order=3,up=30"));
    let report = c.audit();
    let found = with_code(&report, "startup-ignored-for-ha");
    assert_eq!(found[0].subjects, ["ct:101", "ct:102"]);
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(report.risk, Risk::Low, "info never raises the risk");
    let not_ha = balanced()
        .ct(140, "scratch", "pve2")
        .config(140, "onboot", json!(1));
    assert!(with_code(&not_ha.audit(), "startup-ignored-for-ha").is_empty());
}

#[test]
fn a_reboot_that_freezes_or_holds_every_replica_is_an_outage() {
    // The default policy (conditional) freezes a rebooted node's HA services: each single-instance service is down.
    let report = balanced().option("ha", json!({})).audit();
    let found = with_code(&report, "reboot-outage");
    assert_eq!(found.len(), 3, "one per node: {found:#?}");
    assert_eq!(found[0].subjects, ["pve1", "alpha"]);
    assert_eq!(found[0].severity, Severity::Medium);
    assert!(
        actions(found[0]).contains("\"kind\":\"ha_settings\",\"shutdown_policy\":\"migrate\""),
        "{}",
        actions(found[0])
    );
    let pve1 = report.node_reboot_impact.iter().find(|i| i.node == "pve1");
    assert_eq!(pve1.map(|i| i.policy.as_str()), Some("conditional"));
    assert_eq!(
        pve1.map(|i| i.frozen.clone()),
        Some(vec!["ct:101".to_string()])
    );
    assert_eq!(
        pve1.map(|i| i.lost_services.clone()),
        Some(vec!["alpha".to_string()])
    );
    assert_eq!(
        pve1.and_then(|i| i.rto_seconds.get("alpha").copied()),
        Some(None)
    );

    // Under migrate the HA manager relocates the container first: a restart, not an outage.
    let report = balanced().audit();
    assert!(with_code(&report, "reboot-outage").is_empty());
    let pve1 = report.node_reboot_impact.iter().find(|i| i.node == "pve1");
    let migrated = pve1.map(|i| i.migrated.keys().cloned().collect::<Vec<_>>());
    assert_eq!(migrated, Some(vec!["ct:101".to_string()]));
    assert_eq!(
        pve1.and_then(|i| i.rto_seconds.get("alpha").copied()),
        Some(Some(pveha_audit::reboot::CT_RELOCATE_SECONDS))
    );

    // Even under migrate, replicas outside HA that share the node go down with it; high when critical.
    let together = balanced()
        .ct(110, "traefik", "pve1")
        .ct(121, "traefik-2", "pve1")
        .tag(110, "critical");
    let report = together.audit();
    let found = with_code(&report, "reboot-outage");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].subjects, ["pve1", "traefik"]);
    assert_eq!(found[0].severity, Severity::High);
    let fix = actions(found[0]);
    assert!(
        !fix.contains("ha_settings"),
        "the policy is already migrate: {fix}"
    );
    assert!(fix.contains("\"kind\":\"ha_group\""), "{fix}");
    let apart = balanced()
        .ct(110, "traefik", "pve1")
        .ct(121, "traefik-2", "pve2")
        .tag(110, "critical");
    assert!(with_code(&apart.audit(), "reboot-outage").is_empty());
}

#[test]
fn a_crs_mode_the_model_cannot_follow_is_noted() {
    let dynamic = balanced().option("crs", json!({"ha": "dynamic"}));
    let report = dynamic.audit();
    let found = with_code(&report, "crs-unmodelled");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Info);
    assert_eq!(report.risk, Risk::Low);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("use the basic scheduler")),
        "{:?}",
        report.notes
    );
    // Static without a node's memory figure cannot be scored either.
    let mut blind = balanced().option("crs", json!("ha=static"));
    blind.nodes[0].2 = 0;
    assert_eq!(with_code(&blind.audit(), "crs-unmodelled").len(), 1);
    // Static with every figure is modelled; basic always is.
    let modelled = balanced().option("crs", json!({"ha": "static"}));
    assert!(with_code(&modelled.audit(), "crs-unmodelled").is_empty());
    assert!(with_code(&balanced().audit(), "crs-unmodelled").is_empty());
}

#[test]
fn hardware_fencing_cannot_be_verified() {
    for mode in ["hardware", "both"] {
        let report = balanced().option("fencing", json!(mode)).audit();
        let found = with_code(&report, "fencing-hardware-unverified");
        assert_eq!(found.len(), 1, "{mode}");
        assert_eq!(found[0].severity, Severity::Medium);
        assert!(found[0].detail.contains("fence.cfg"));
    }
    let watchdog = balanced().option("fencing", json!("watchdog"));
    assert!(with_code(&watchdog.audit(), "fencing-hardware-unverified").is_empty());
}

#[test]
fn every_catalog_code_is_unique_documented_and_tested_here() {
    // The catalog is the list: each of its codes must be named by a raised and a not-raised assertion below, which
    // is at least two mentions in this file outside this check.
    let source = include_str!("findings.rs");
    let check = source
        .find("fn every_catalog_code_is_unique_documented_and_tested_here")
        .unwrap_or(source.len());
    let tests = &source[..check];
    let mut codes: Vec<&str> = CATALOG.iter().map(|e| e.0).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), CATALOG.len(), "duplicate code");
    let untested: Vec<&str> = codes
        .iter()
        .copied()
        .filter(|code| tests.matches(&format!("\"{code}\"")).count() < 2)
        .collect();
    assert!(
        untested.is_empty(),
        "catalog codes not exercised here: {untested:?}"
    );
    for (code, _, raised_when, fix) in CATALOG {
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{code} is not kebab-case"
        );
        assert!(
            !raised_when.is_empty() && !fix.is_empty(),
            "{code} lacks docs"
        );
    }
}

#[test]
fn report_json_uses_the_data_source_field_names() {
    let value = serde_json::to_value(
        balanced()
            .ct(110, "traefik", "pve1")
            .ct(121, "traefik-2", "pve1")
            .audit(),
    )
    .unwrap_or_default();
    let keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "risk",
            "findings",
            "counts",
            "distribution",
            "node_failure_impact",
            "node_reboot_impact",
            "notes"
        ]
    );
    assert_eq!(value["risk"], "HIGH");
    assert_eq!(value["counts"]["high"], 2);
    let finding_keys: Vec<&str> = value["findings"][0]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        finding_keys,
        [
            "code",
            "severity",
            "title",
            "detail",
            "subjects",
            "remediation",
            "remediation_hcl",
            "remediation_actions"
        ]
    );
    assert_eq!(
        value["node_failure_impact"][0]["rto_seconds"]["traefik"],
        serde_json::Value::Null
    );
}
