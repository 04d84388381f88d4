//! Audit benchmark on synthetic PVE 9 clusters: 100 nodes / 10,000 guests / 3,000 HA resources with rules, and
//! 1,000 nodes / 100,000 guests / 30,000 HA resources. Building the snapshot is outside the measurement.

// criterion_group! defines a public function without a doc comment.
#![allow(missing_docs)]

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pveha_audit::{audit, Options};
use pveha_model::Snapshot;
use serde_json::{json, Value};

const GIB: u64 = 1 << 30;

/// A cluster with `nodes` nodes, `guests` containers and `ha` of them HA-managed. Every tenth HA service has a
/// second replica kept apart by a negative resource-affinity rule; HA services are placed in node-affinity rules of
/// 20; some guests are critical; each node's journal holds a few hundred lines.
fn synthetic(nodes: usize, guests: usize, ha: usize) -> Snapshot {
    let node = |i: usize| format!("node{i:04}");
    let mut resources: Vec<Value> = (0..nodes)
        .map(|i| json!({"type": "node", "id": format!("node/{}", node(i)), "node": node(i), "status": "online", "maxmem": 256 * GIB}))
        .collect();
    let mut status =
        vec![json!({"type": "cluster", "name": "bench", "quorate": 1, "nodes": nodes})];
    status.extend(
        (0..nodes).map(|i| json!({"type": "node", "name": node(i), "online": 1, "nodeid": i + 1})),
    );
    let mut api: BTreeMap<String, Value> = BTreeMap::new();
    let mut ha_resources = Vec::new();
    let mut rules = Vec::new();
    let mut in_rule: Vec<String> = Vec::new();
    for g in 0..guests {
        let vmid = 100 + g;
        let replica = g % 20 == 1 && g <= ha;
        let name = if replica {
            format!("svc{}-2", g - 1)
        } else {
            format!("svc{g}")
        };
        let host = node((g * 7 + g / nodes) % nodes);
        let tags = if g % 50 == 0 { "critical" } else { "" };
        resources.push(json!({"type": "lxc", "id": format!("lxc/{vmid}"), "vmid": vmid, "name": name, "node": host,
            "status": "running", "maxmem": GIB, "tags": tags}));
        api.insert(
            format!("/nodes/{host}/lxc/{vmid}/config"),
            json!({"hostname": name, "onboot": u8::from(g % 3 == 0), "rootfs": format!("ceph:vm-{vmid}-disk-0,size=8G")}),
        );
        if g < ha {
            let sid = format!("ct:{vmid}");
            ha_resources.push(json!({"sid": sid, "type": "ct", "state": "started"}));
            in_rule.push(sid.clone());
            if in_rule.len() == 20 {
                let prefs: Vec<String> = (0..3)
                    .map(|k| format!("{}:{}", node((g + k * 13) % nodes), 3 - k))
                    .collect();
                rules.push(json!({"rule": format!("place-{g}"), "type": "node-affinity", "resources": in_rule.join(","), "nodes": prefs.join(",")}));
                in_rule.clear();
            }
            if replica {
                rules.push(json!({"rule": format!("apart-{g}"), "type": "resource-affinity", "affinity": "negative",
                    "resources": format!("ct:{},{sid}", vmid - 1)}));
            }
        }
    }
    for i in 0..nodes {
        let mut lines = vec!["s=first".to_string()];
        for m in 0..300 {
            lines.push(format!(
                "Nov 10 {:02}:{:02}:00 {} pveproxy[1]: worker {m} finished",
                m / 60 % 24,
                m % 60,
                node(i)
            ));
        }
        if i % 10 == 0 {
            lines.push(format!(
                "Nov 10 08:36:35 {} kernel: EDAC igen6 MC0: HANDLING IBECC MEMORY ERROR",
                node(i)
            ));
        }
        lines.push("s=last".into());
        api.insert(format!("/nodes/{}/journal", node(i)), json!(lines));
    }
    api.insert("/version".into(), json!({"version": "9.0.10"}));
    api.insert("/cluster/resources".into(), json!(resources));
    api.insert("/cluster/status".into(), json!(status));
    api.insert("/cluster/ha/resources".into(), json!(ha_resources));
    api.insert("/cluster/ha/rules".into(), json!(rules));
    api.insert(
        "/cluster/backup".into(),
        json!([{"id": "b", "all": 1, "enabled": 1}]),
    );
    api.insert(
        "/storage".into(),
        json!([{"storage": "ceph", "type": "rbd"}]),
    );
    let doc = json!({"format": "pveha-snapshot/1", "pve_version": "9.0.10", "captured_at": "2025-11-10T09:30:00Z", "api": api});
    Snapshot::from_json(&doc.to_string()).unwrap_or_else(|e| panic!("synthetic snapshot: {e}"))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    for (nodes, guests, ha) in [(100, 10_000, 3_000), (1_000, 100_000, 30_000)] {
        let snapshot = synthetic(nodes, guests, ha);
        let options = Options::default();
        let report = audit(&snapshot, &options).unwrap_or_else(|e| panic!("audit: {e}"));
        eprintln!(
            "{nodes} nodes / {guests} guests / {ha} HA: {} findings, risk {}, {} impacts",
            report.findings.len(),
            report.risk,
            report.node_failure_impact.len()
        );
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{nodes}n-{guests}g")),
            &snapshot,
            |b, s| b.iter(|| audit(s, &options)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
