//! Hostile input for the audit: the seed's homelab snapshots with one path, or one entry of a list, replaced by
//! arbitrary JSON. The audit must still return a report (odd data becomes a note), never an error or a panic, as
//! long as the inventory (`/cluster/resources`) is a list. `make fuzz` runs `audit()` on arbitrary documents for
//! longer (`fuzz/fuzz_targets/audit.rs`).

use std::path::PathBuf;

use proptest::prelude::*;
use pveha_audit::{audit, audit_data, Options};
use pveha_model::{RawSnapshot, Snapshot};
use serde_json::{json, Value};

fn fixture(name: &str) -> Snapshot {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/homelab")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Snapshot::from_json(&text).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Scalars and shapes an API path could plausibly (or implausibly) hold.
fn odd_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-z0-9:=,;/ -]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "ct:110",
            "vm:1",
            "migrate",
            "static",
            "dynamic",
            "hardware",
            "ha=static",
            "shutdown_policy=x",
            "proxmox:1,proxmox2",
            "enabled",
            "error",
            "fence",
        ])
        .prop_map(Value::from),
    ];
    let field = prop::sample::select(vec![
        "sid",
        "node",
        "type",
        "state",
        "group",
        "nodes",
        "vmid",
        "status",
        "maxmem",
        "maxcpu",
        "memory",
        "cores",
        "cpulimit",
        "ha",
        "crs",
        "fencing",
        "shutdown_policy",
        "rule",
        "resources",
        "affinity",
        "storage",
        "shared",
        "enabled",
        "all",
        "rootfs",
        "onboot",
        "online",
        "name",
        "id",
        "target",
    ]);
    scalar.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field.clone().prop_map(str::to_string), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces one path's data, or one entry of it when it is a list (so `/cluster/resources` stays a list).
fn mutate(snapshot: &mut Snapshot, pick: usize, entry: usize, value: Value) {
    let paths: Vec<String> = snapshot.api.keys().cloned().collect();
    let Some(path) = paths.get(pick % paths.len().max(1)) else {
        return;
    };
    match snapshot.api.get_mut(path) {
        Some(Value::Array(items)) if !items.is_empty() => {
            let i = entry % items.len();
            items[i] = value;
        }
        _ if path == "/cluster/resources" => {}
        Some(slot) => *slot = value,
        None => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn one_odd_path_or_entry_never_fails_the_audit(
        pve9 in any::<bool>(),
        mutations in prop::collection::vec((any::<usize>(), any::<usize>(), odd_value()), 1..4),
    ) {
        let mut snapshot = fixture(if pve9 { "cluster-pve9.json" } else { "cluster-pve8.json" });
        for (pick, entry, value) in mutations {
            mutate(&mut snapshot, pick, entry, value);
        }
        let report = audit(&snapshot, &Options::default());
        prop_assert!(report.is_ok(), "{:?}", report.err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// `pveha audit --snapshot` reads the file's text straight into the records; the data source audits a parsed
    /// snapshot. Odd data included, both must give the same report, notes and errors word for word.
    #[test]
    fn a_snapshot_file_read_as_text_audits_exactly_as_the_parsed_snapshot(
        pve9 in any::<bool>(),
        mutations in prop::collection::vec((any::<usize>(), any::<usize>(), odd_value()), 0..4),
    ) {
        let mut snapshot = fixture(if pve9 { "cluster-pve9.json" } else { "cluster-pve8.json" });
        for (pick, entry, value) in mutations {
            mutate(&mut snapshot, pick, entry, value);
        }
        let text = serde_json::to_string(&snapshot).unwrap_or_default();
        let raw = RawSnapshot::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        let parsed = audit(&snapshot, &Options::default()).map_err(|e| e.to_string());
        let from_text = audit_data(&raw, &Options::default()).map_err(|e| e.to_string());
        prop_assert_eq!(parsed, from_text);
    }
}

#[test]
fn a_non_list_inventory_fails_alike_from_text() {
    let mut snapshot = fixture("cluster-pve8.json");
    snapshot
        .api
        .insert("/cluster/resources".into(), json!({"a": 1}));
    let text = serde_json::to_string(&snapshot).unwrap_or_default();
    let raw = RawSnapshot::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    let parsed = audit(&snapshot, &Options::default())
        .map(|_| ())
        .map_err(|e| e.to_string());
    let from_text = audit_data(&raw, &Options::default())
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(parsed.is_err());
    assert_eq!(parsed, from_text);
}

#[test]
fn malformed_optional_lists_become_notes() {
    let mut snapshot = fixture("cluster-pve8.json");
    snapshot
        .api
        .insert("/storage".into(), json!({"not": "a list"}));
    snapshot
        .api
        .insert("/cluster/backup".into(), json!([{"id": 7}, "x"]));
    snapshot.api.insert(
        "/cluster/options".into(),
        json!({"ha": 3, "crs": {"ha": "quantum"}}),
    );
    snapshot.api.insert(
        "/cluster/ha/resources".into(),
        json!([{"sid": "110"}, {"sid": "ct:110", "type": "ct"}]),
    );
    let journal = snapshot
        .api
        .keys()
        .find(|k| k.ends_with("/journal"))
        .cloned()
        .unwrap_or_default();
    snapshot.api.insert(journal, json!(42));
    let report = audit(&snapshot, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    for needle in [
        "/storage",
        "/cluster/backup",
        "crs: ha 'quantum'",
        "'ha'",
        "/cluster/ha/resources",
        "journal",
    ] {
        assert!(
            report.notes.iter().any(|n| n.contains(needle)),
            "no note about {needle}: {:#?}",
            report.notes
        );
    }
    // The one well-formed HA resource is still read.
    assert!(report.distribution.iter().any(|d| d.ha_resources > 0));
}

#[test]
fn only_a_missing_or_non_list_inventory_fails() {
    let mut snapshot = fixture("cluster-pve8.json");
    snapshot
        .api
        .insert("/cluster/resources".into(), json!("nope"));
    assert!(audit(&snapshot, &Options::default()).is_err());
    snapshot.api.remove("/cluster/resources");
    assert!(audit(&snapshot, &Options::default()).is_err());
    snapshot
        .api
        .insert("/cluster/resources".into(), json!([1, {"type": "lxc"}]));
    let report = audit(&snapshot, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(report
        .notes
        .iter()
        .any(|n| n.contains("/cluster/resources")));
}
