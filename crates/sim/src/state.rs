//! The simulator's one consistent model of a cluster: nodes, guests, the HA section-config files, the HA
//! manager's status, logs and the simulated clock. Handlers and the HA manager mutate it; renderers in
//! `api/` turn it into GET answers. It knows nothing of HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::specs::Major;

/// A JSON object.
pub type Obj = Map<String, Value>;

/// One cluster node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Powered on (the control API can switch it off).
    pub powered: bool,
    /// Simulated time the node went off.
    pub off_since: Option<f64>,
    /// Its `/cluster/status` entry as loaded.
    pub status_entry: Obj,
    /// Its `/cluster/resources` entry as loaded.
    pub resource_entry: Obj,
}

/// Guest type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// QEMU VM (`vm:` sids).
    Qemu,
    /// LXC container (`ct:` sids).
    Lxc,
}

impl Kind {
    /// `qemu` / `lxc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Qemu => "qemu",
            Kind::Lxc => "lxc",
        }
    }
    /// `vm` / `ct`.
    pub fn ha_type(self) -> &'static str {
        match self {
            Kind::Qemu => "vm",
            Kind::Lxc => "ct",
        }
    }
    /// The config directory under `/etc/pve/nodes/<node>/`.
    pub fn conf_dir(self) -> &'static str {
        match self {
            Kind::Qemu => "qemu-server",
            Kind::Lxc => "lxc",
        }
    }
}

/// One guest.
#[derive(Debug, Clone)]
pub struct Guest {
    /// VMID.
    pub vmid: u64,
    /// Type.
    pub kind: Kind,
    /// The node it is on.
    pub node: String,
    /// Running or not.
    pub running: bool,
    /// Its `/cluster/resources` entry as loaded (node/status/hastate are rendered from the model).
    pub entry: Obj,
    /// Its config, keys in file order, `digest` not included.
    pub config: Obj,
    /// The digest given in the snapshot, kept until the config changes.
    pub digest_override: Option<String>,
}

impl Guest {
    /// `ct:110` / `vm:100`.
    pub fn sid(&self) -> String {
        format!("{}:{}", self.kind.ha_type(), self.vmid)
    }
    /// SHA1 of the config file text.
    pub fn digest(&self) -> String {
        if let Some(d) = &self.digest_override {
            return d.clone();
        }
        let mut text = String::new();
        for (k, v) in &self.config {
            text.push_str(&format!("{k}: {}\n", value_text(v)));
        }
        sha1_hex(&text)
    }
}

/// One section of a section-config file (`/etc/pve/ha/{groups,resources,rules}.cfg`).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Section type (`group`, `ct`, `vm`, `node-affinity`, ...).
    pub kind: String,
    /// Section id.
    pub id: String,
    /// Properties in file order.
    pub props: Obj,
    /// Rules only: the `order` ordinal.
    pub order: i64,
}

/// A section-config file.
#[derive(Debug, Clone, Default)]
pub struct SectionFile {
    /// Sections in file order.
    pub sections: Vec<Section>,
    /// The digest given in the snapshot, kept until the file changes.
    pub digest_override: Option<String>,
}

impl SectionFile {
    /// The file text as `PVE::SectionConfig` writes it.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.sections {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{}: {}\n", s.kind, s.id));
            for (k, v) in &s.props {
                out.push_str(&format!("\t{k} {}\n", value_text(v)));
            }
        }
        out
    }
    /// SHA1 of the file text.
    pub fn digest(&self) -> String {
        self.digest_override
            .clone()
            .unwrap_or_else(|| sha1_hex(&self.text()))
    }
    /// Find a section by id.
    pub fn get(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
    /// Find a section by id, mutably; the file is about to change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Section> {
        self.digest_override = None;
        self.sections.iter_mut().find(|s| s.id == id)
    }
    /// Mark the file changed.
    pub fn touch(&mut self) {
        self.digest_override = None;
    }
}

/// One service in the HA manager's `service_status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    /// CRM state (`started`, `fence`, `recovery`, `migrate`, ...).
    pub state: String,
    /// Node the service is on.
    pub node: String,
    /// Migration/relocation target.
    pub target: Option<String>,
    /// Random-ish id of the last state change.
    pub uid: String,
    /// Fields loaded from a snapshot that the model does not interpret, plus `maintenance_node`, which the
    /// lifecycle reads and writes here so that it loads and renders like any other `service_status` key.
    pub extra: Obj,
}

/// A queued CRM command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// `migrate` or `relocate`.
    pub verb: String,
    /// Service id.
    pub sid: String,
    /// Target node.
    pub node: String,
}

/// The HA manager's state.
#[derive(Debug, Clone, Default)]
pub struct Manager {
    /// Whether HA was ever used (manager_status is `{}` otherwise).
    pub active: bool,
    /// Current master.
    pub master: Option<String>,
    /// Time of the last round.
    pub timestamp: f64,
    /// `node_status`.
    pub node_status: BTreeMap<String, String>,
    /// `service_status`.
    pub services: BTreeMap<String, ServiceStatus>,
    /// Queued commands, applied on the next round.
    pub commands: Vec<Command>,
    /// Next round's time.
    pub next_round: f64,
    /// Counter for uids.
    pub uid_counter: u64,
    /// The CRM log (one line per decision), newest last.
    pub log: Vec<String>,
    /// LRM mode of nodes that are not `active`: `restart`, `shutdown` or `maintenance`.
    pub lrm_modes: BTreeMap<String, String>,
    /// Nodes with a manual maintenance request (`node_request.<node>.maintenance`).
    pub maintenance_requests: BTreeSet<String>,
    /// Planned power-offs waiting for the node's services to stop or move away.
    pub planned: BTreeMap<String, Planned>,
    /// When a rebooting node powers on again.
    pub boot_at: BTreeMap<String, f64>,
    /// Per service, every time its guest stopped or started running.
    pub timeline: BTreeMap<String, Vec<RunChange>>,
}

/// A planned reboot or shutdown that has not powered the node off yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// A reboot (the node comes back) rather than a shutdown.
    pub reboot: bool,
    /// Seconds a rebooting node stays down.
    pub down_seconds: f64,
}

/// One change of a service's guest between running and not running.
#[derive(Debug, Clone, PartialEq)]
pub struct RunChange {
    /// Simulated epoch seconds.
    pub at: f64,
    /// Running after the change.
    pub running: bool,
    /// The node the guest is on.
    pub node: String,
}

/// The simulated clock: a wall-clock anchor scaled by `time_scale`, plus explicit advances.
#[derive(Debug, Clone)]
pub struct Clock {
    anchor_sim: f64,
    anchor_wall: Instant,
    scale: f64,
}

impl Clock {
    /// A clock starting at `epoch` seconds.
    pub fn new(epoch: f64) -> Self {
        Clock {
            anchor_sim: epoch,
            anchor_wall: Instant::now(),
            scale: 0.0,
        }
    }
    /// Set how many simulated seconds pass per wall second (0 = only explicit advances).
    pub fn set_scale(&mut self, scale: f64) {
        self.anchor_sim = self.now();
        self.anchor_wall = Instant::now();
        self.scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
    }
    /// Simulated epoch seconds.
    pub fn now(&self) -> f64 {
        self.anchor_sim + self.anchor_wall.elapsed().as_secs_f64() * self.scale
    }
    /// Jump forward.
    pub fn advance(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 {
            self.anchor_sim += seconds;
        }
    }
}

/// Login data.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// `user@realm!tokenid` → secret.
    pub tokens: BTreeMap<String, String>,
    /// `user@realm` → password.
    pub users: BTreeMap<String, String>,
}

/// The whole simulated cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Which behaviour to simulate.
    pub major: Major,
    /// `pve_version` of the snapshot.
    pub pve_version: String,
    /// `captured_at` of the snapshot.
    pub captured_at: Option<String>,
    /// `/version` data.
    pub version: Value,
    /// The `cluster` entry of `/cluster/status`, if in a cluster.
    pub cluster_entry: Option<Obj>,
    /// Nodes in snapshot order.
    pub nodes: Vec<Node>,
    /// Guests in snapshot order.
    pub guests: Vec<Guest>,
    /// `/cluster/resources` entries that are neither guests nor nodes (storage, sdn), as loaded.
    pub other_resources: Vec<Value>,
    /// `/etc/pve/ha/groups.cfg`.
    pub groups: SectionFile,
    /// `/etc/pve/ha/resources.cfg`.
    pub resources: SectionFile,
    /// `/etc/pve/ha/rules.cfg`.
    pub rules: SectionFile,
    /// The HA manager.
    pub manager: Manager,
    /// `/nodes/{node}/journal` as loaded: first and last elements are cursors.
    pub journals: BTreeMap<String, Vec<String>>,
    /// `/nodes/{node}/syslog` as loaded (else derived from the journal).
    pub syslogs: BTreeMap<String, Value>,
    /// Paths served verbatim: `/cluster/options`, `/cluster/backup`, `/cluster/replication`, `/storage`, `/nodes`.
    pub verbatim: BTreeMap<String, Value>,
    /// Credentials.
    pub auth: Auth,
    /// The simulated clock.
    pub clock: Clock,
}

impl Cluster {
    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    /// Whether a node exists and is powered.
    pub fn node_online(&self, name: &str) -> bool {
        self.node(name).is_some_and(|n| n.powered)
    }
    /// A guest by VMID.
    pub fn guest(&self, vmid: u64) -> Option<&Guest> {
        self.guests.iter().find(|g| g.vmid == vmid)
    }
    /// A guest by VMID, mutably.
    pub fn guest_mut(&mut self, vmid: u64) -> Option<&mut Guest> {
        self.guests.iter_mut().find(|g| g.vmid == vmid)
    }
    /// The guest an HA sid names, if it exists with that type.
    pub fn guest_by_sid(&self, sid: &str) -> Option<&Guest> {
        let (ty, id) = sid.split_once(':')?;
        let vmid: u64 = id.parse().ok()?;
        self.guest(vmid).filter(|g| g.kind.ha_type() == ty)
    }
    /// The HA resource section for a sid.
    pub fn ha_resource(&self, sid: &str) -> Option<&Section> {
        let (ty, id) = sid.split_once(':')?;
        self.resources
            .sections
            .iter()
            .find(|s| s.kind == ty && s.id == id)
    }
    /// Whether PVE 9 considers groups migrated (no group left).
    pub fn groups_migrated(&self) -> bool {
        self.major == Major::Pve9 && self.groups.sections.is_empty()
    }
    /// A fresh uid for a service-status change.
    pub fn next_uid(&mut self) -> String {
        self.manager.uid_counter += 1;
        let digest = sha1_hex(&format!("uid-{}", self.manager.uid_counter));
        digest.chars().take(22).collect()
    }
}

/// A property value as it appears in a config file.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Hex SHA1 of a text.
pub fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// Deterministic "hash order" permutation of items, standing in for Perl's randomised hash order.
pub fn hash_order(mut items: Vec<String>, salt: &str) -> Vec<String> {
    items.sort_by_cached_key(|i| sha1_hex(&format!("{salt}/{i}")));
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_text_matches_section_config_layout() {
        let mut props = Obj::new();
        props.insert("state".into(), Value::from("started"));
        props.insert("max_relocate".into(), Value::from(2));
        let file = SectionFile {
            sections: vec![
                Section {
                    kind: "ct".into(),
                    id: "100".into(),
                    props: props.clone(),
                    order: 0,
                },
                Section {
                    kind: "vm".into(),
                    id: "101".into(),
                    props,
                    order: 0,
                },
            ],
            digest_override: None,
        };
        assert_eq!(
            file.text(),
            "ct: 100\n\tstate started\n\tmax_relocate 2\n\nvm: 101\n\tstate started\n\tmax_relocate 2\n"
        );
        assert_eq!(file.digest().len(), 40);
    }

    #[test]
    fn clock_advances_only_explicitly_at_scale_zero() {
        let mut c = Clock::new(1000.0);
        c.advance(25.0);
        assert_eq!(c.now(), 1025.0);
        c.advance(-5.0);
        assert_eq!(c.now(), 1025.0);
    }
}
