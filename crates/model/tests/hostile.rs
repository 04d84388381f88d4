//! Hostile input for the model's parsers: the `startup` and group-`nodes` property strings, sids and the
//! snapshot document with arbitrary data under every path. Nothing may panic; what parses must format back
//! to text that parses to the same value; errors must name the path they are about. Case counts are
//! bounded so `make test` stays fast; `make fuzz` runs the same properties for longer.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use pveha_model::snapshot::CLUSTER_PATHS;
use pveha_model::{
    GuestKind, NodePriorities, Sid, Snapshot, SnapshotError, Startup, SNAPSHOT_FORMAT,
};
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings close to the property grammar, where the interesting mistakes are, and anything at all.
fn property_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9:=,; \t-]{0,40}",
        "((order|up|down|wait)=?[0-9]{0,21},?){0,4}",
        "([a-z][a-z0-9-]{0,6}(:[0-9+-]{0,12})?[,; ]?){0,5}",
        ".{0,48}",
    ]
}

fn sid_text() -> impl Strategy<Value = String> {
    prop_oneof!["(vm|ct|qemu|lxc|VM)?:?[0-9 +-]{0,12}", ".{0,16}"]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "sid",
            "state",
            "group",
            "nodes",
            "type",
            "node",
            "vmid",
            "status",
            "id",
            "name",
            "max_restart",
            "restricted",
            "nofailback",
            "shared",
            "storage",
            "content",
            "guest",
            "target",
            "disable",
            "startup",
            "onboot",
            "rootfs",
            "mp0",
            "scsi1",
            "tags",
            "online",
            "quorate",
            "rule",
            "resources",
            "enabled",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z0-9:,=. -]{0,16}".prop_map(Value::from),
        prop::sample::select(vec![
            "ct:110",
            "vm:100",
            "started",
            "proxmox:2,proxmox2",
            "order=1,up=30",
            "1",
            "0"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn snapshot_path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(CLUSTER_PATHS.to_vec()).prop_map(str::to_string),
        Just("/nodes/proxmox/lxc/110/config".to_string()),
        Just("/nodes/proxmox/journal".to_string()),
    ]
}

fn document(version: &str, api: BTreeMap<String, Value>) -> String {
    json!({"format": SNAPSHOT_FORMAT, "pve_version": version, "api": api}).to_string()
}

/// Every accessor on `snap`; each may fail, but only with an error about its own path, never a panic.
fn read_everything(snap: &Snapshot) {
    fn named<T>(r: Result<T, SnapshotError>, path: &str) {
        match r {
            Ok(_) | Err(SnapshotError::Missing(_)) => {}
            Err(SnapshotError::Malformed { path: p, message }) => assert_eq!(p, path, "{message}"),
            Err(e) => panic!("{path}: unexpected error kind {e}"),
        }
    }
    let _ = snap.ha_model();
    let _ = snap.cluster_options();
    named(snap.cluster_status(), "/cluster/status");
    named(snap.ha_resources(), "/cluster/ha/resources");
    named(snap.ha_groups(), "/cluster/ha/groups");
    named(snap.ha_rules(), "/cluster/ha/rules");
    named(snap.ha_status(), "/cluster/ha/status/current");
    named(snap.backup_jobs(), "/cluster/backup");
    named(
        snap.storage()
            .map(|s| s.iter().filter(|s| s.is_shared()).count()),
        "/storage",
    );
    named(snap.replication(), "/cluster/replication");
    named(snap.journal("proxmox"), "/nodes/proxmox/journal");
    named(
        snap.guest_config("proxmox", GuestKind::Ct, 110)
            .map(|c| c.map(|c| (c.startup(), c.storages()))),
        "/nodes/proxmox/lxc/110/config",
    );
    match snap.resources() {
        Ok(rs) => {
            for r in rs {
                if let Some(sid) = r.sid() {
                    assert_eq!(sid.to_string().parse::<Sid>(), Ok(sid));
                }
            }
        }
        Err(SnapshotError::Missing(p)) => assert_eq!(p, "/cluster/resources"),
        Err(e) => named::<()>(Err(e), "/cluster/resources"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn startup_parses_or_errors_and_what_parses_round_trips(text in property_text()) {
        if let Ok(s) = text.parse::<Startup>() {
            let shown = s.to_string();
            prop_assert_eq!(shown.parse::<Startup>(), Ok(s));
            prop_assert_eq!(s.is_empty(), shown.is_empty());
        }
    }

    #[test]
    fn node_list_parses_or_errors_and_what_parses_round_trips(text in property_text()) {
        if let Ok(n) = text.parse::<NodePriorities>() {
            prop_assert!(!n.0.is_empty());
            let shown = n.to_string();
            prop_assert_eq!(shown.parse::<NodePriorities>(), Ok(n));
        }
    }

    #[test]
    fn sid_parses_only_its_canonical_spelling(text in sid_text()) {
        if let Ok(sid) = text.parse::<Sid>() {
            prop_assert_eq!(sid.to_string(), text);
        }
    }

    #[test]
    fn snapshot_text_never_panics(text in ".{0,200}") {
        let _ = Snapshot::from_json(&text);
    }

    #[test]
    fn snapshot_accessors_survive_any_data(
        version in prop_oneof![Just("8.4.1".to_string()), Just("9.0.3".to_string()), "[0-9a-z.~-]{0,8}"],
        api in btree_map(snapshot_path(), json_value(), 0..8),
    ) {
        let text = document(&version, api);
        let snap = Snapshot::from_json(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_everything(&snap);
        let again = serde_json::to_string(&snap).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Snapshot::from_json(&again).ok(), Some(snap));
    }
}

#[test]
fn priority_beyond_u32_is_an_error_not_a_wrap() {
    assert!("proxmox:4294967296".parse::<NodePriorities>().is_err());
    assert_eq!(
        "proxmox:4294967295"
            .parse::<NodePriorities>()
            .map(|n| n.0["proxmox"]),
        Ok(u32::MAX)
    );
}

#[test]
fn startup_number_beyond_u64_is_an_error_not_a_wrap() {
    assert!("up=18446744073709551616".parse::<Startup>().is_err());
    assert_eq!(
        "up=18446744073709551615".parse::<Startup>().map(|s| s.up),
        Ok(Some(u64::MAX))
    );
}

#[test]
fn snapshot_with_wrong_format_or_shape_is_an_error() {
    assert!(matches!(
        Snapshot::from_json(r#"{"format":"x","pve_version":"8","api":{}}"#),
        Err(SnapshotError::Format(_))
    ));
    assert!(matches!(
        Snapshot::from_json(r#"{"format":"pveha-snapshot/1","api":[]}"#),
        Err(SnapshotError::Syntax(_))
    ));
    let snap = Snapshot::from_json(&document("8.4.1", BTreeMap::new())).unwrap();
    assert!(matches!(
        snap.resources(),
        Err(SnapshotError::Missing("/cluster/resources"))
    ));
    let groups = [(
        "/cluster/ha/groups".to_string(),
        json!([{"group": "g", "nodes": "-bad"}]),
    )]
    .into();
    let snap = Snapshot::from_json(&document("8.4.1", groups)).unwrap();
    assert!(
        matches!(snap.ha_groups(), Err(SnapshotError::Malformed { path, .. }) if path == "/cluster/ha/groups")
    );
}

/// Found by `snapshot_accessors_survive_any_data`: without serde_json's `float_roundtrip`, this float came
/// back one unit in the last place off after a write and a read.
#[test]
fn snapshot_floats_survive_a_round_trip() {
    let api = [(
        "/version".to_string(),
        json!({"sid": 8.001_422_612_503_375e152, "mem": 0.123_456_789_012_345_67}),
    )]
    .into();
    let snap = Snapshot::from_json(&document("8.4.1", api)).unwrap();
    let again = Snapshot::from_json(&serde_json::to_string(&snap).unwrap()).unwrap();
    assert_eq!(again, snap);
}
