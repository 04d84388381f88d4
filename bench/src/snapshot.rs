//! Synthetic `pveha-snapshot/1` clusters for the benchmark: a few nodes and N running containers spread
//! over them, no HA configuration yet, and the fixtures' API token. Pure: it builds JSON and does no I/O.

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
}
