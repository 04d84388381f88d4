//! A guest config's other keys: kept in a sorted vector, they must read exactly as the map they replace did.

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use pveha_model::{ConfigKeys, GuestConfig};
use serde_json::{json, Value};

proptest! {
    #[test]
    fn config_keys_read_as_a_map_filled_in_the_same_order(
        entries in vec(("[a-d][0-2]?", 0u32..5), 0..24),
    ) {
        let entries: Vec<(String, Value)> = entries.into_iter().map(|(k, v)| (k, json!(v))).collect();
        let map: BTreeMap<String, Value> = entries.iter().cloned().collect();
        let keys = ConfigKeys::from_entries(entries);
        let read: Vec<(&str, &Value)> = keys.iter().collect();
        let expected: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
        prop_assert_eq!(read, expected);
        prop_assert_eq!(keys.len(), map.len());
        for (k, v) in &map {
            prop_assert_eq!(keys.get(k), Some(v));
        }
        prop_assert_eq!(keys.get("zz"), None);
    }
}

#[test]
fn a_repeated_disk_key_in_a_config_counts_once_with_its_last_value() {
    // serde_json hands a repeated key to the visitor twice; the API never sends one, but a hand-edited snapshot may.
    let text = r#"{"rootfs": "local-lvm:vm-100-disk-0,size=8G", "net0": "name=eth0",
        "mp0": "ceph:vm-100-disk-1,mp=/data", "rootfs": "ceph:vm-100-disk-0,size=8G", "memory": 512}"#;
    let config: GuestConfig = serde_json::from_str(text).unwrap();
    assert_eq!(config.memory, Some(512));
    assert_eq!(config.other.len(), 3);
    assert_eq!(
        config.other.get("rootfs"),
        Some(&json!("ceph:vm-100-disk-0,size=8G"))
    );
    assert_eq!(config.storages(), ["ceph"]);
}
