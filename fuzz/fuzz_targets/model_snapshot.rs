//! `Snapshot::from_json` on arbitrary text, then every typed accessor and the record helpers: errors are
//! fine, panics are not; a parsed snapshot serializes to a document that parses to the same snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pveha_model::{GuestKind, NodePriorities, Sid, Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snap) = Snapshot::from_json(text) else {
        return;
    };
    let _ = snap.ha_model();
    let _ = snap.cluster_options();
    let _ = snap.cluster_status();
    if let Ok(resources) = snap.ha_resources() {
        for r in resources {
            assert_eq!(r.sid.to_string().parse::<Sid>(), Ok(r.sid));
        }
    }
    if let Ok(groups) = snap.ha_groups() {
        for g in groups {
            assert_eq!(
                g.nodes.to_string().parse::<NodePriorities>().as_ref(),
                Ok(&g.nodes)
            );
        }
    }
    let _ = snap.ha_rules();
    let _ = snap.ha_status();
    let _ = snap.backup_jobs();
    let _ = snap
        .storage()
        .map(|s| s.iter().filter(|s| s.is_shared()).count());
    let _ = snap.replication();
    if let Ok(resources) = snap.resources() {
        for r in &resources {
            let _ = r.sid();
            if let (Some(kind), Some(vmid), Some(node)) =
                (r.guest_kind(), r.vmid, r.node.as_deref())
            {
                if let Ok(Some(config)) = snap.guest_config(node, kind, vmid) {
                    let _ = config.startup();
                    let _ = config.storages();
                }
            }
            if let Some(node) = r.node.as_deref() {
                let _ = snap.journal(node);
            }
        }
    }
    let _ = snap.guest_config("proxmox", GuestKind::Ct, 110);
    let again = serde_json::to_string(&snap)
        .unwrap_or_else(|e| panic!("a parsed snapshot does not serialize: {e}"));
    let back = Snapshot::from_json(&again)
        .unwrap_or_else(|e| panic!("a serialized snapshot does not parse: {e}"));
    assert_eq!(back, snap, "snapshot JSON round trip changed the document");
});
