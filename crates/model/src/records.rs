//! The records the Proxmox VE API returns, as pveha reads them. Every optional key the server may
//! omit is an `Option` (absent means the server's default, which the caller applies), unknown keys
//! are ignored, and wire quirks are absorbed by `wire`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::property::{NodePriorities, Startup};
use crate::sid::{GuestKind, Sid};
use crate::wire;

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The full pve-manager version, e.g. `8.4.1`.
    #[serde(default)]
    pub version: String,
    /// The release, e.g. `8.4`.
    #[serde(default)]
    pub release: String,
}

/// Which HA placement model a cluster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HaModel {
    /// PVE 8: HA groups.
    Groups,
    /// PVE 9: HA rules.
    Rules,
}

/// The major version number of a pve-manager version string (`8.4.1` → 8).
pub fn major_version(version: &str) -> Option<u32> {
    version.split(['.', '-', '~']).next()?.parse().ok()
}

impl VersionInfo {
    /// The placement model: rules from PVE 9 on, groups before.
    pub fn ha_model(&self) -> HaModel {
        match major_version(&self.version) {
            Some(m) if m >= 9 => HaModel::Rules,
            _ => HaModel::Groups,
        }
    }
}

/// One entry of `GET /cluster/ha/groups`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HaGroup {
    /// Group id.
    pub group: String,
    /// Member nodes and priorities.
    #[serde(deserialize_with = "de_nodes")]
    pub nodes: NodePriorities,
    /// Services may run only on members (absent = false).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub restricted: Option<bool>,
    /// Do not move back to a higher-priority node (absent = false).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub nofailback: Option<bool>,
    /// Free-form comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Digest of `groups.cfg`, for optimistic locking.
    #[serde(default)]
    pub digest: Option<String>,
}

fn de_nodes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NodePriorities, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn de_opt_nodes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<NodePriorities>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// One entry of `GET /cluster/ha/resources`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HaResource {
    /// The service id.
    pub sid: Sid,
    /// Requested state (absent = `started`).
    #[serde(default)]
    pub state: Option<String>,
    /// PVE 8 group (absent on PVE 9).
    #[serde(default)]
    pub group: Option<String>,
    /// Restarts on the same node (absent = 1).
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub max_restart: Option<u64>,
    /// Relocations to other nodes (absent = 1).
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub max_relocate: Option<u64>,
    /// PVE 9: move back to a preferred node (absent = true).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub failback: Option<bool>,
    /// Free-form comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Digest of `resources.cfg`.
    #[serde(default)]
    pub digest: Option<String>,
    /// Configuration problems the server reports (e.g. a missing group).
    #[serde(default)]
    pub errors: Option<serde_json::Value>,
}

/// One entry of `GET /cluster/ha/rules` (PVE 9).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HaRule {
    /// Rule id.
    pub rule: String,
    /// `node-affinity` or `resource-affinity`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The services the rule applies to.
    #[serde(default, deserialize_with = "wire::list")]
    pub resources: Vec<String>,
    /// Node-affinity: nodes and priorities.
    #[serde(default, deserialize_with = "de_opt_nodes")]
    pub nodes: Option<NodePriorities>,
    /// Node-affinity: only the listed nodes (absent = false).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub strict: Option<bool>,
    /// Resource-affinity: `positive` or `negative`.
    #[serde(default)]
    pub affinity: Option<String>,
    /// Disabled (present at all means disabled on the server).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub disable: Option<bool>,
    /// Free-form comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Digest of `rules.cfg`.
    #[serde(default)]
    pub digest: Option<String>,
    /// Feasibility problems the server found, by parameter.
    #[serde(default)]
    pub errors: Option<BTreeMap<String, serde_json::Value>>,
}

/// One entry of `GET /cluster/ha/status/current`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HaStatusEntry {
    /// `quorum`, `master`, `lrm`, `service`, `fencing`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Entry id, e.g. `service:ct:110`.
    pub id: String,
    /// Node the entry is about.
    #[serde(default)]
    pub node: Option<String>,
    /// Service id (service entries).
    #[serde(default)]
    pub sid: Option<String>,
    /// Raw CRM state (service entries).
    #[serde(default)]
    pub crm_state: Option<String>,
    /// Verbose state (service entries).
    #[serde(default)]
    pub state: Option<String>,
    /// Requested state (service entries).
    #[serde(default)]
    pub request_state: Option<String>,
    /// Human status line.
    #[serde(default)]
    pub status: Option<String>,
    /// Quorum entry: 1 when quorate.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub quorate: Option<bool>,
}

/// One entry of `GET /cluster/resources`, any type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusterResource {
    /// `qemu`, `lxc`, `node`, `storage`, `sdn`, `pool`...
    #[serde(rename = "type")]
    pub kind: String,
    /// E.g. `lxc/110`, `node/proxmox`, `storage/proxmox/local`.
    #[serde(default)]
    pub id: String,
    /// Guest VMID.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub vmid: Option<u64>,
    /// Guest name.
    #[serde(default)]
    pub name: Option<String>,
    /// Node name (guests, nodes, storage).
    #[serde(default)]
    pub node: Option<String>,
    /// `running`/`stopped` for guests, `online`/`offline` for nodes, `available` for storage.
    #[serde(default)]
    pub status: Option<String>,
    /// Semicolon-separated tags.
    #[serde(default, deserialize_with = "wire::list")]
    pub tags: Vec<String>,
    /// Memory limit or node memory, bytes.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub maxmem: Option<u64>,
    /// Memory in use, bytes.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub mem: Option<u64>,
    /// CPU count.
    #[serde(default, deserialize_with = "wire::opt_f64")]
    pub maxcpu: Option<f64>,
    /// CPU use, 0..1 of maxcpu.
    #[serde(default, deserialize_with = "wire::opt_f64")]
    pub cpu: Option<f64>,
    /// HA state of a guest (absent for non-HA guests) or a node.
    #[serde(default)]
    pub hastate: Option<String>,
    /// Template flag.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub template: Option<bool>,
    /// Storage id (storage entries).
    #[serde(default)]
    pub storage: Option<String>,
    /// Storage shared flag (storage entries).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub shared: Option<bool>,
    /// Pool membership.
    #[serde(default)]
    pub pool: Option<String>,
    /// Guest lock (backup, migrate...).
    #[serde(default)]
    pub lock: Option<String>,
}

impl ClusterResource {
    /// The guest kind for `qemu` / `lxc` entries.
    pub fn guest_kind(&self) -> Option<GuestKind> {
        GuestKind::from_api_type(&self.kind)
    }

    /// The sid a guest entry would have as an HA resource.
    pub fn sid(&self) -> Option<Sid> {
        let vmid = u32::try_from(self.vmid?).ok()?;
        Some(Sid::new(self.guest_kind()?, vmid))
    }
}

/// One entry of `GET /cluster/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusterStatusEntry {
    /// `cluster` or `node`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Cluster or node name.
    #[serde(default)]
    pub name: String,
    /// Node address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Node online in the cluster membership.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub online: Option<bool>,
    /// Cluster entry: quorate.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub quorate: Option<bool>,
    /// Cluster entry: member count.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub nodes: Option<u64>,
    /// Node id in corosync.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub nodeid: Option<u64>,
}

/// A guest's configuration, as far as pveha reads it (`/nodes/{node}/{lxc|qemu}/{vmid}/config`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuestConfig {
    /// Start at boot (absent = false).
    pub onboot: Option<bool>,
    /// The raw `startup` property.
    pub startup: Option<String>,
    /// Config digest, for optimistic locking.
    pub digest: Option<String>,
    /// Memory in MiB.
    pub memory: Option<u64>,
    /// Guest name (`hostname` for LXC, `name` for QEMU).
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Every other key (disks, mount points, network...), verbatim.
    pub other: ConfigKeys,
}

/// A config's other keys, sorted by key, the last of a repeated key kept (as a map would). A config has a handful
/// of them: in a vector they cost a fifth of a map's nodes, which at 100,000 guests is over 100 MiB.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigKeys(Vec<(String, serde_json::Value)>);

impl ConfigKeys {
    /// Builds the keys from entries in any order; of a repeated key the last counts.
    pub fn from_entries(mut entries: Vec<(String, serde_json::Value)>) -> ConfigKeys {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // Stable sort: of equal keys the later entry comes later, so it is moved into the slot that stays.
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        entries.shrink_to_fit();
        ConfigKeys(entries)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Read key by key: `#[serde(flatten)]` would buffer every entry of every config before reading it again, which
/// is most of the cost of a snapshot's guests.
impl<'de> Deserialize<'de> for GuestConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<GuestConfig, D::Error> {
        d.deserialize_map(GuestConfigVisitor)
    }
}

struct GuestConfigVisitor;

/// A field read with one of the `wire` quirk readers.
macro_rules! wire_field {
    ($name:ident, $ty:ty, $read:path) => {
        struct $name($ty);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                $read(d).map($name)
            }
        }
    };
}
wire_field!(WireBool, Option<bool>, wire::opt_bool);
wire_field!(WireU64, Option<u64>, wire::opt_u64);
wire_field!(WireList, Vec<String>, wire::list);

impl<'de> serde::de::Visitor<'de> for GuestConfigVisitor {
    type Value = GuestConfig;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("struct GuestConfig")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<GuestConfig, A::Error> {
        use serde::de::Error;
        let mut c = GuestConfig::default();
        let mut other = Vec::new();
        let (mut onboot, mut startup, mut digest, mut memory, mut name, mut tags) =
            (false, false, false, false, false, false);
        let once = |seen: &mut bool, field: &'static str| {
            if std::mem::replace(seen, true) {
                Err(A::Error::duplicate_field(field))
            } else {
                Ok(())
            }
        };
        while let Some(wire::Key(key)) = map.next_key()? {
            match key.as_ref() {
                "onboot" => {
                    once(&mut onboot, "onboot")?;
                    c.onboot = map.next_value::<WireBool>()?.0;
                }
                "startup" => {
                    once(&mut startup, "startup")?;
                    c.startup = map.next_value()?;
                }
                "digest" => {
                    once(&mut digest, "digest")?;
                    c.digest = map.next_value()?;
                }
                "memory" => {
                    once(&mut memory, "memory")?;
                    c.memory = map.next_value::<WireU64>()?.0;
                }
                "name" | "hostname" => {
                    once(&mut name, "name")?;
                    c.name = map.next_value()?;
                }
                "tags" => {
                    once(&mut tags, "tags")?;
                    c.tags = map.next_value::<WireList>()?.0;
                }
                _ => {
                    let value = map.next_value()?;
                    other.push((key.into_owned(), value));
                }
            }
        }
        c.other = ConfigKeys::from_entries(other);
        Ok(c)
    }
}

impl GuestConfig {
    /// The parsed `startup` property; `None` when unset or unparsable.
    pub fn startup(&self) -> Option<Startup> {
        self.startup.as_deref().and_then(|s| s.parse().ok())
    }

    /// Storage ids referenced by disk-like keys (`rootfs`, `mpN`, `scsiN`, `virtioN`, `sataN`, `ideN`, `efidisk0`, `tpmstate0`).
    pub fn storages(&self) -> Vec<String> {
        let disk_key = |k: &str| {
            k == "rootfs"
                || [
                    "mp", "scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused",
                ]
                .iter()
                .any(|p| {
                    k.strip_prefix(p)
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
        };
        let mut out: Vec<String> = self
            .other
            .iter()
            .filter(|(k, _)| disk_key(k) && !k.starts_with("unused"))
            .filter_map(|(_, v)| v.as_str())
            .filter(|v| !v.contains("media=cdrom") && v != &"none")
            .filter_map(|v| {
                let volume = v.split(',').next()?;
                let (storage, _) = volume.split_once(':')?;
                // Bind mounts (`/srv/x`) have no storage.
                (!storage.starts_with('/')).then(|| storage.to_string())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// One entry of `GET /cluster/backup`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BackupJob {
    /// Job id.
    #[serde(default)]
    pub id: String,
    /// Enabled (absent = true).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub enabled: Option<bool>,
    /// Back up every guest (minus `exclude`).
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub all: Option<bool>,
    /// Explicit VMIDs.
    #[serde(default, deserialize_with = "wire::list")]
    pub vmid: Vec<String>,
    /// VMIDs left out of `all`.
    #[serde(default, deserialize_with = "wire::list")]
    pub exclude: Vec<String>,
    /// Pool whose members are backed up.
    #[serde(default)]
    pub pool: Option<String>,
    /// Only guests currently on this node.
    #[serde(default)]
    pub node: Option<String>,
    /// Schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Target storage.
    #[serde(default)]
    pub storage: Option<String>,
}

/// One entry of `GET /storage`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StorageConfig {
    /// Storage id.
    pub storage: String,
    /// Plugin type (`dir`, `lvmthin`, `zfspool`, `rbd`, `nfs`...).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Marked shared.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub shared: Option<bool>,
    /// Nodes the storage is limited to.
    #[serde(default, deserialize_with = "wire::list")]
    pub nodes: Vec<String>,
    /// Disabled.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub disable: Option<bool>,
}

impl StorageConfig {
    /// Whether every node sees the same data: marked shared, or a type that is shared by nature.
    pub fn is_shared(&self) -> bool {
        self.shared.unwrap_or(false)
            || matches!(
                self.kind.as_str(),
                "rbd" | "cephfs" | "nfs" | "cifs" | "pbs" | "glusterfs" | "iscsi" | "iscsidirect"
            )
    }
}

/// One entry of `GET /cluster/replication`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReplicationJob {
    /// Job id, `<vmid>-<n>`.
    #[serde(default)]
    pub id: String,
    /// Replicated guest.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub guest: Option<u64>,
    /// Target node.
    #[serde(default)]
    pub target: Option<String>,
    /// Disabled.
    #[serde(default, deserialize_with = "wire::opt_bool")]
    pub disable: Option<bool>,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeEntry {
    /// Node name.
    pub node: String,
    /// `online`, `offline` or `unknown`.
    #[serde(default)]
    pub status: Option<String>,
    /// CPU count.
    #[serde(default, deserialize_with = "wire::opt_f64")]
    pub maxcpu: Option<f64>,
    /// Memory size, bytes.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub maxmem: Option<u64>,
    /// Memory in use, bytes.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub mem: Option<u64>,
    /// Seconds since boot.
    #[serde(default, deserialize_with = "wire::opt_u64")]
    pub uptime: Option<u64>,
    /// SHA-256 fingerprint of the node's certificate (`AB:CD:...`).
    #[serde(default)]
    pub ssl_fingerprint: Option<String>,
}

impl NodeEntry {
    /// Whether the node reports itself online.
    pub fn is_online(&self) -> bool {
        self.status.as_deref() == Some("online")
    }
}
