//! Synthetic `pveha-snapshot/1` clusters for the benchmark: a few nodes and N running containers spread
//! over them, no HA configuration yet, and the fixtures' API token ([`cluster`], for the simulator); and large
//! PVE 9 clusters with HA resources, rules and journals ([`audit_cluster`], for the audit). Pure: it builds JSON
//! and does no I/O.

use serde_json::{json, Value};

/// Token id and secret accepted by the generated cluster (the same as the homelab fixtures').
const TOKEN_ID: &str = "root@pam!terraform";
const TOKEN_SECRET: &str = "3f1e9c2a-7b4d-4e8f-9a6b-2c5d8e1f0a7b";

/// The first vmid handed out; guests are numbered consecutively from here.
pub const FIRST_VMID: u32 = 1000;

/// A PVE 8 cluster of `nodes` nodes named `node1…` and `guests` containers `FIRST_VMID…`, round-robin.
pub fn cluster(nodes: usize, guests: usize) -> Value {
    let node_names: Vec<String> = (1..=nodes).map(|i| format!("node{i}")).collect();
    let mut status = vec![json!({
        "type": "cluster", "id": "cluster", "name": "bench", "nodes": nodes, "quorate": 1, "version": 3
    })];
    for (i, name) in node_names.iter().enumerate() {
        status.push(json!({
            "type": "node", "id": format!("node/{name}"), "name": name, "nodeid": i + 1,
            "ip": format!("127.0.1.{}", i + 1), "local": u8::from(i == 0), "online": 1, "level": ""
        }));
    }
    let mut resources = Vec::with_capacity(guests + nodes * 3);
    for name in &node_names {
        resources.push(json!({
            "id": format!("node/{name}"), "node": name, "type": "node", "status": "online", "maxcpu": 64,
            "cpu": 0.08, "maxmem": 274_877_906_944u64, "mem": 4_080_218_929u64, "maxdisk": 255_550_554_112u64,
            "disk": 32_212_254_720u64, "uptime": 1_900_000, "level": "", "cgroup-mode": 2, "hastate": "online"
        }));
        for (storage, plugin, shared, content) in [
            ("local", "dir", 0, "backup,iso,vztmpl"),
            ("ceph-vm", "rbd", 1, "images,rootdir"),
        ] {
            resources.push(json!({
                "id": format!("storage/{name}/{storage}"), "storage": storage, "node": name, "type": "storage",
                "status": "available", "shared": shared, "content": content, "plugintype": plugin,
                "disk": 12_884_901_888u64, "maxdisk": 1_099_511_627_776u64
            }));
        }
    }
    let mut api = serde_json::Map::new();
    for g in 0..guests {
        let vmid = FIRST_VMID as usize + g;
        let node = &node_names[g % nodes.max(1)];
        resources.push(json!({
            "id": format!("lxc/{vmid}"), "vmid": vmid, "name": format!("ct{vmid}"), "node": node,
            "type": "lxc", "status": "running", "template": 0, "maxcpu": 1, "cpu": 0.01,
            "maxmem": 536_870_912u64, "mem": 241_591_910u64, "maxdisk": 4_294_967_296u64,
            "disk": 1_288_490_188u64, "uptime": 86_400
        }));
        api.insert(
            format!("/nodes/{node}/lxc/{vmid}/config"),
            json!({
                "arch": "amd64", "cores": 1, "hostname": format!("ct{vmid}"), "memory": 512, "swap": 512,
                "ostype": "debian", "unprivileged": 1,
                // On shared storage, so the HA manager may recover the guest on any node.
                "rootfs": format!("ceph-vm:vm-{vmid}-disk-0,size=4G"),
                "net0": "name=eth0,bridge=vmbr0,ip=dhcp,type=veth"
            }),
        );
    }
    api.insert(
        "/version".into(),
        json!({"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a8503f96d"}),
    );
    api.insert("/cluster/status".into(), Value::Array(status));
    api.insert("/cluster/resources".into(), Value::Array(resources));
    api.insert(
        "/cluster/options".into(),
        json!({"keyboard": "en-us", "crs": {"ha": "basic"}, "next-id": {"lower": "100", "upper": "1000000"}}),
    );
    api.insert("/cluster/ha/resources".into(), json!([]));
    api.insert("/cluster/ha/groups".into(), json!([]));
    api.insert("/cluster/backup".into(), json!([]));
    api.insert("/cluster/replication".into(), json!([]));
    api.insert(
        "/storage".into(),
        json!([
            {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "backup,iso,vztmpl"},
            {"storage": "ceph-vm", "type": "rbd", "pool": "vm", "content": "images,rootdir", "shared": 1}
        ]),
    );
    json!({
        "format": "pveha-snapshot/1",
        "pve_version": "8.4.1",
        "captured_at": "2025-11-10T09:30:00Z",
        "api": api,
        "auth": {"tokens": {TOKEN_ID: TOKEN_SECRET}, "users": {}}
    })
}

/// A PVE 9 cluster for the audit: `nodes` nodes `node0000…` with journals, `guests` running containers with a config
/// each, the first `ha` of them HA-managed in node-affinity rules of 20 (three preferred nodes each), every tenth
/// HA service with a second replica kept apart by a negative resource-affinity rule, every fiftieth guest tagged
/// critical, and every tenth node's journal showing a memory error. The shape of `crates/audit/benches/audit.rs`,
/// so the criterion figures and the whole-process figures audit the same kind of cluster.
pub fn audit_cluster(nodes: usize, guests: usize, ha: usize) -> Value {
    const GIB: u64 = 1 << 30;
    let nodes = nodes.max(1);
    let node = |i: usize| format!("node{i:04}");
    let mut resources: Vec<Value> = (0..nodes)
        .map(|i| {
            json!({"type": "node", "id": format!("node/{}", node(i)), "node": node(i), "status": "online",
                "maxmem": 256 * GIB, "maxcpu": 64})
        })
        .collect();
    let mut status =
        vec![json!({"type": "cluster", "name": "bench", "quorate": 1, "nodes": nodes})];
    status.extend(
        (0..nodes).map(|i| json!({"type": "node", "name": node(i), "online": 1, "nodeid": i + 1})),
    );
    let mut api = serde_json::Map::new();
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
        resources.push(
            json!({"type": "lxc", "id": format!("lxc/{vmid}"), "vmid": vmid, "name": name,
            "node": host, "status": "running", "maxmem": GIB, "maxcpu": 1, "tags": tags}),
        );
        api.insert(
            format!("/nodes/{host}/lxc/{vmid}/config"),
            json!({"hostname": name, "onboot": u8::from(g % 3 == 0), "cores": 1, "memory": 1024,
                "rootfs": format!("ceph:vm-{vmid}-disk-0,size=8G"),
                "net0": "name=eth0,bridge=vmbr0,ip=dhcp,type=veth"}),
        );
        if g >= ha {
            continue;
        }
        let sid = format!("ct:{vmid}");
        ha_resources.push(json!({"sid": sid, "type": "ct", "state": "started"}));
        in_rule.push(sid.clone());
        if in_rule.len() == 20 {
            let prefs: Vec<String> = (0..3)
                .map(|k| format!("{}:{}", node((g + k * 13) % nodes), 3 - k))
                .collect();
            rules.push(
                json!({"rule": format!("place-{g}"), "type": "node-affinity",
                "resources": in_rule.join(","), "nodes": prefs.join(",")}),
            );
            in_rule.clear();
        }
        if replica {
            rules.push(
                json!({"rule": format!("apart-{g}"), "type": "resource-affinity",
                "affinity": "negative", "resources": format!("ct:{},{sid}", vmid - 1)}),
            );
        }
    }
    for i in 0..nodes {
        let mut lines = vec![json!("s=first")];
        for m in 0..300 {
            lines.push(json!(format!(
                "Nov 10 {:02}:{:02}:00 {} pveproxy[1]: worker {m} finished",
                m / 60 % 24,
                m % 60,
                node(i)
            )));
        }
        if i % 10 == 0 {
            lines.push(json!(format!(
                "Nov 10 08:36:35 {} kernel: EDAC igen6 MC0: HANDLING IBECC MEMORY ERROR",
                node(i)
            )));
        }
        lines.push(json!("s=last"));
        api.insert(format!("/nodes/{}/journal", node(i)), Value::Array(lines));
    }
    api.insert(
        "/version".into(),
        json!({"version": "9.0.10", "release": "9.0"}),
    );
    api.insert("/cluster/resources".into(), Value::Array(resources));
    api.insert("/cluster/status".into(), Value::Array(status));
    api.insert("/cluster/ha/resources".into(), Value::Array(ha_resources));
    api.insert("/cluster/ha/rules".into(), Value::Array(rules));
    api.insert(
        "/cluster/backup".into(),
        json!([{"id": "b", "all": 1, "enabled": 1}]),
    );
    api.insert(
        "/storage".into(),
        json!([{"storage": "ceph", "type": "rbd", "content": "images,rootdir"}]),
    );
    json!({
        "format": "pveha-snapshot/1",
        "pve_version": "9.0.10",
        "captured_at": "2025-11-10T09:30:00Z",
        "api": api
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_are_spread_over_the_nodes_with_a_config_each() {
        let doc = cluster(3, 7);
        let resources = doc["api"]["/cluster/resources"].as_array().unwrap();
        let guests: Vec<&Value> = resources.iter().filter(|r| r["type"] == "lxc").collect();
        assert_eq!(guests.len(), 7);
        assert_eq!(guests[0]["node"], "node1");
        assert_eq!(guests[4]["node"], "node2");
        assert_eq!(guests[6]["vmid"], FIRST_VMID + 6);
        assert_eq!(resources.iter().filter(|r| r["type"] == "node").count(), 3);
        assert!(doc["api"]["/nodes/node3/lxc/1002/config"].is_object());
        assert_eq!(doc["api"]["/cluster/status"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn audit_clusters_have_the_requested_ha_services_rules_and_journals() {
        let doc = audit_cluster(10, 400, 100);
        let api = &doc["api"];
        let guests = api["/cluster/resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "lxc")
            .count();
        assert_eq!(guests, 400);
        assert_eq!(api["/cluster/ha/resources"].as_array().unwrap().len(), 100);
        let rules = api["/cluster/ha/rules"].as_array().unwrap();
        let placing = rules
            .iter()
            .filter(|r| r["type"] == "node-affinity")
            .count();
        assert_eq!(placing, 5, "one node-affinity rule per 20 HA services");
        assert!(rules.iter().any(|r| r["affinity"] == "negative"));
        assert!(api["/nodes/node0009/journal"].is_array());
        assert!(api["/nodes/node0000/lxc/100/config"].is_object());
    }
}
