//! A builder for small synthetic snapshots, so each finding test states only the cluster it needs. Defaults: three
//! online nodes `pve1`..`pve3` with 16 GiB, quorate, shared storage `shared`, one backup job covering all guests,
//! and no datacenter options (so the default `conditional` shutdown policy).

#![allow(dead_code)]

use std::collections::BTreeMap;

use pveha_audit::{audit, Options, Report};
use pveha_model::Snapshot;
use serde_json::{json, Value};

/// GiB in bytes.
pub const GIB: u64 = 1 << 30;

/// One guest.
#[derive(Debug, Clone)]
pub struct Guest {
    pub vmid: u64,
    pub name: String,
    pub node: String,
    pub running: bool,
    pub tags: Vec<String>,
    pub maxmem: u64,
    pub config: Value,
    pub ha: Option<Value>,
    pub crm_state: Option<String>,
}

/// A cluster under construction.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub version: String,
    pub nodes: Vec<(String, bool, u64)>,
    pub guests: Vec<Guest>,
    pub groups: Vec<Value>,
    pub rules: Vec<Value>,
    pub backups: Vec<Value>,
    pub storage: Vec<Value>,
    pub replication: Vec<Value>,
    pub journals: BTreeMap<String, Vec<String>>,
    pub quorate: bool,
    /// `/cluster/options`.
    pub options: Value,
}

impl Cluster {
    /// A PVE 8 cluster of three empty nodes.
    pub fn pve8() -> Cluster {
        Cluster {
            version: "8.4.1".into(),
            nodes: ["pve1", "pve2", "pve3"]
                .iter()
                .map(|n| (n.to_string(), true, 16 * GIB))
                .collect(),
            guests: Vec::new(),
            groups: Vec::new(),
            rules: Vec::new(),
            backups: vec![json!({"id": "backup-all", "type": "vzdump", "all": 1, "enabled": 1})],
            storage: vec![
                json!({"storage": "shared", "type": "nfs"}),
                json!({"storage": "local-lvm", "type": "lvmthin"}),
            ],
            replication: Vec::new(),
            journals: BTreeMap::new(),
            quorate: true,
            options: json!({}),
        }
    }

    /// A PVE 9 cluster of three empty nodes.
    pub fn pve9() -> Cluster {
        Cluster {
            version: "9.0.10".into(),
            ..Cluster::pve8()
        }
    }

    /// Adds a running container with 1 GiB on shared storage.
    pub fn ct(mut self, vmid: u64, name: &str, node: &str) -> Cluster {
        self.guests.push(Guest {
            vmid,
            name: name.into(),
            node: node.into(),
            running: true,
            tags: Vec::new(),
            maxmem: GIB,
            config: json!({"hostname": name, "rootfs": format!("shared:subvol-{vmid}-disk-0,size=8G")}),
            ha: None,
            crm_state: None,
        });
        self
    }

    fn guest(&mut self, vmid: u64) -> &mut Guest {
        self.guests
            .iter_mut()
            .find(|g| g.vmid == vmid)
            .unwrap_or_else(|| panic!("no guest {vmid} in the test cluster"))
    }

    /// Puts a guest under HA (state started).
    pub fn ha(mut self, vmid: u64) -> Cluster {
        self.guest(vmid).ha =
            Some(json!({"sid": format!("ct:{vmid}"), "type": "ct", "state": "started"}));
        self
    }

    /// Sets a key of a guest's HA resource.
    pub fn ha_set(mut self, vmid: u64, key: &str, value: Value) -> Cluster {
        if let Some(Value::Object(m)) = self.guest(vmid).ha.as_mut() {
            m.insert(key.into(), value);
        }
        self
    }

    /// Sets the CRM state the HA status reports for a guest.
    pub fn crm(mut self, vmid: u64, state: &str) -> Cluster {
        self.guest(vmid).crm_state = Some(state.into());
        self
    }

    /// Tags a guest.
    pub fn tag(mut self, vmid: u64, tag: &str) -> Cluster {
        self.guest(vmid).tags.push(tag.into());
        self
    }

    /// Sets a key of a guest's config.
    pub fn config(mut self, vmid: u64, key: &str, value: Value) -> Cluster {
        if let Value::Object(m) = &mut self.guest(vmid).config {
            m.insert(key.into(), value);
        }
        self
    }

    /// Sets a guest's memory.
    pub fn mem(mut self, vmid: u64, bytes: u64) -> Cluster {
        self.guest(vmid).maxmem = bytes;
        self
    }

    /// Stops a guest.
    pub fn stopped(mut self, vmid: u64) -> Cluster {
        self.guest(vmid).running = false;
        self
    }

    /// Takes a node offline.
    pub fn offline(mut self, node: &str) -> Cluster {
        for n in self.nodes.iter_mut().filter(|n| n.0 == node) {
            n.1 = false;
        }
        self
    }

    /// Sets a node's memory.
    pub fn node_mem(mut self, node: &str, bytes: u64) -> Cluster {
        for n in self.nodes.iter_mut().filter(|n| n.0 == node) {
            n.2 = bytes;
        }
        self
    }

    /// Keeps only these nodes.
    pub fn only_nodes(mut self, names: &[&str]) -> Cluster {
        self.nodes.retain(|n| names.contains(&n.0.as_str()));
        self
    }

    /// Adds a PVE 8 group.
    pub fn group(mut self, name: &str, nodes: &str, restricted: bool) -> Cluster {
        self.groups.push(json!({"group": name, "type": "group", "nodes": nodes, "restricted": u8::from(restricted)}));
        self
    }

    /// Adds a PVE 9 rule as the API lists it.
    pub fn rule(mut self, rule: Value) -> Cluster {
        self.rules.push(rule);
        self
    }

    /// Replaces the backup jobs.
    pub fn backups(mut self, jobs: Vec<Value>) -> Cluster {
        self.backups = jobs;
        self
    }

    /// Adds a replication job for a guest.
    pub fn replicate(mut self, vmid: u64, target: &str) -> Cluster {
        self.replication
            .push(json!({"id": format!("{vmid}-0"), "guest": vmid, "target": target}));
        self
    }

    /// Sets a node's journal lines (cursors are added).
    pub fn journal(mut self, node: &str, lines: &[&str]) -> Cluster {
        self.journals
            .insert(node.into(), lines.iter().map(|l| l.to_string()).collect());
        self
    }

    /// Sets a datacenter option (`/cluster/options` key), e.g. `ha` to `{"shutdown_policy": "migrate"}`.
    pub fn option(mut self, key: &str, value: Value) -> Cluster {
        self.options[key] = value;
        self
    }

    /// Sets `ha: shutdown_policy=`.
    pub fn policy(self, policy: &str) -> Cluster {
        self.option("ha", json!({ "shutdown_policy": policy }))
    }

    /// Marks the cluster not quorate.
    pub fn no_quorum(mut self) -> Cluster {
        self.quorate = false;
        self
    }

    /// The snapshot document.
    pub fn snapshot(&self) -> Snapshot {
        let mut api: BTreeMap<String, Value> = BTreeMap::new();
        let mut resources: Vec<Value> = self
            .nodes
            .iter()
            .map(|(n, online, mem)| {
                json!({"type": "node", "id": format!("node/{n}"), "node": n, "status": if *online { "online" } else { "offline" }, "maxmem": mem, "maxcpu": 4})
            })
            .collect();
        let mut status = vec![
            json!({"type": "cluster", "id": "cluster", "name": "test", "quorate": u8::from(self.quorate), "nodes": self.nodes.len()}),
        ];
        for (i, (n, online, _)) in self.nodes.iter().enumerate() {
            status.push(json!({"type": "node", "id": format!("node/{n}"), "name": n, "nodeid": i + 1, "online": u8::from(*online)}));
        }
        let mut ha = Vec::new();
        let mut ha_status = Vec::new();
        for g in &self.guests {
            let mut r = json!({"type": "lxc", "id": format!("lxc/{}", g.vmid), "vmid": g.vmid, "name": g.name, "node": g.node,
                "status": if g.running { "running" } else { "stopped" }, "maxmem": g.maxmem, "tags": g.tags.join(";")});
            if let Some(h) = &g.ha {
                let state = g.crm_state.clone().unwrap_or_else(|| "started".into());
                r["hastate"] = json!(state);
                ha.push(h.clone());
                ha_status.push(json!({"type": "service", "id": format!("service:ct:{}", g.vmid), "sid": format!("ct:{}", g.vmid),
                    "node": g.node, "crm_state": state, "state": state}));
            }
            resources.push(r);
            api.insert(
                format!("/nodes/{}/lxc/{}/config", g.node, g.vmid),
                g.config.clone(),
            );
        }
        api.insert("/version".into(), json!({"version": self.version}));
        api.insert("/cluster/resources".into(), json!(resources));
        api.insert("/cluster/status".into(), json!(status));
        api.insert("/cluster/ha/resources".into(), json!(ha));
        api.insert("/cluster/ha/status/current".into(), json!(ha_status));
        api.insert("/cluster/ha/groups".into(), json!(self.groups));
        api.insert("/cluster/ha/rules".into(), json!(self.rules));
        api.insert("/cluster/backup".into(), json!(self.backups));
        api.insert("/cluster/replication".into(), json!(self.replication));
        api.insert("/storage".into(), json!(self.storage));
        api.insert("/cluster/options".into(), self.options.clone());
        for (node, lines) in &self.journals {
            let mut raw = vec!["s=first".to_string()];
            raw.extend(lines.iter().cloned());
            raw.push("s=last".into());
            api.insert(format!("/nodes/{node}/journal"), json!(raw));
        }
        let doc = json!({"format": "pveha-snapshot/1", "pve_version": self.version, "captured_at": "2025-11-10T09:30:00Z", "api": api});
        Snapshot::from_json(&doc.to_string()).unwrap_or_else(|e| panic!("test snapshot: {e}"))
    }

    /// Audits with default options.
    pub fn audit(&self) -> Report {
        self.audit_with(&Options::default())
    }

    /// Audits with the given options.
    pub fn audit_with(&self, options: &Options) -> Report {
        audit(&self.snapshot(), options).unwrap_or_else(|e| panic!("audit failed: {e}"))
    }
}

/// The findings with a code.
pub fn with_code<'r>(report: &'r Report, code: &str) -> Vec<&'r pveha_audit::Finding> {
    report.findings.iter().filter(|f| f.code == code).collect()
}

/// A finding's structured remediation as compact JSON, for `contains` checks.
pub fn actions(finding: &pveha_audit::Finding) -> String {
    serde_json::to_string(&finding.remediation_actions).unwrap_or_default()
}
