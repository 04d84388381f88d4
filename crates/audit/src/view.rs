//! The engine's typed view of a cluster, built once from a snapshot: nodes, guests, HA services with their CRM
//! state, groups, rules, backups, storage, journals and the datacenter's HA settings, indexed for the findings.
//! Building it is the only step of an audit that may fail, and only when `/cluster/resources` (the inventory) is
//! missing or not a list: every optional path, and every single entry of a list, that does not parse is left out
//! with a note.

use std::collections::BTreeMap;

use pveha_model::{
    BackupJob, ClusterResource, Entries, GuestConfig, HaGroup, HaModel, HaResource, HaRule,
    HaStatusEntry, ReplicationJob, Sid, SnapshotData, SnapshotError, StorageConfig,
};
use pveha_placement::fasthash::{FastMap, FastSet};
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use crate::settings::HaSettings;

/// One cluster node.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub name: String,
    pub online: bool,
    pub maxmem: u64,
    /// CPU count (0 when unknown).
    pub maxcpu: f64,
}

/// One guest of the inventory.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    pub sid: Sid,
    pub name: String,
    pub node: String,
    pub running: bool,
    pub tags: Vec<String>,
    pub maxmem: u64,
    pub pool: Option<String>,
    pub config: Option<GuestConfig>,
}

/// One HA resource with what the CRM reports about it.
#[derive(Debug, Clone)]
pub(crate) struct HaService {
    pub sid: Sid,
    /// Configured state, default applied (`enabled` read as `started`).
    pub request_state: String,
    /// The CRM state, when the snapshot shows one.
    pub crm_state: Option<String>,
    /// Where the CRM has it (falls back to the inventory's node).
    pub node: Option<String>,
    /// Migration target, if moving.
    pub target: Option<String>,
    pub group: Option<String>,
    pub failback: bool,
    pub errors: Option<serde_json::Value>,
}

/// The whole cluster as the findings read it.
#[derive(Debug, Clone)]
pub(crate) struct ClusterView {
    pub model: HaModel,
    pub pve_version: String,
    pub cluster_name: Option<String>,
    pub captured_at: Option<OffsetDateTime>,
    pub quorate: Option<bool>,
    /// Sorted by name.
    pub nodes: Vec<NodeInfo>,
    /// Sorted by sid (the HA manager's order).
    pub guests: Vec<Guest>,
    pub guest_index: FastMap<Sid, usize>,
    pub vmid_index: FastMap<u64, usize>,
    /// Ignored resources are left out: the CRM does not track them.
    pub ha: HaMap,
    pub groups: BTreeMap<String, HaGroup>,
    pub rules: Vec<HaRule>,
    pub backups: Vec<BackupJob>,
    pub storage: BTreeMap<String, StorageConfig>,
    /// VMIDs with an enabled replication job.
    pub replicated: FastSet<u64>,
    pub journals: BTreeMap<String, Vec<String>>,
    /// `datacenter.cfg`'s HA settings, defaults applied.
    pub settings: HaSettings,
    /// Things the engine could not read or judge.
    pub notes: Vec<String>,
}

impl ClusterView {
    /// Builds the view; fails only when the inventory (`/cluster/resources`) is missing or not a list.
    pub fn from_snapshot<S: SnapshotData>(snapshot: &S) -> Result<ClusterView, SnapshotError> {
        let mut notes = Vec::new();
        let resources: Vec<ClusterResource> = match snapshot.read_entries("/cluster/resources") {
            Entries::Absent => return Err(SnapshotError::Missing("/cluster/resources")),
            Entries::NotAList => {
                return Err(SnapshotError::Malformed {
                    path: "/cluster/resources".into(),
                    message: "not a list".into(),
                })
            }
            list => noted(list, "/cluster/resources", &mut notes),
        };
        let status: Vec<pveha_model::ClusterStatusEntry> =
            lenient(snapshot, "/cluster/status", &mut notes);

        let captured_at = match snapshot.captured_at() {
            None => {
                notes.push(
                    "the snapshot has no captured_at: the journal window is not applied"
                        .to_string(),
                );
                None
            }
            Some(text) => {
                match OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        notes.push(format!(
                        "captured_at '{text}' is not RFC 3339 ({e}): the journal window is not applied"
                    ));
                        None
                    }
                }
            }
        };

        let mut nodes: BTreeMap<String, NodeInfo> = BTreeMap::new();
        for r in resources.iter().filter(|r| r.kind == "node") {
            let Some(name) = r.node.clone() else { continue };
            let online = r.status.as_deref() == Some("online");
            nodes.insert(
                name.clone(),
                NodeInfo {
                    name,
                    online,
                    maxmem: r.maxmem.unwrap_or(0),
                    maxcpu: r
                        .maxcpu
                        .filter(|c| c.is_finite() && *c > 0.0)
                        .unwrap_or(0.0),
                },
            );
        }
        let mut cluster_name = None;
        let mut quorate = None;
        for entry in &status {
            match entry.kind.as_str() {
                "cluster" => {
                    cluster_name = Some(entry.name.clone()).filter(|n| !n.is_empty());
                    quorate = entry.quorate;
                }
                "node" if !entry.name.is_empty() => {
                    let node = nodes.entry(entry.name.clone()).or_insert_with(|| NodeInfo {
                        name: entry.name.clone(),
                        online: false,
                        maxmem: 0,
                        maxcpu: 0.0,
                    });
                    // Membership is the truth for "online"; RRD-based resource status can lag.
                    if let Some(online) = entry.online {
                        node.online = online;
                    }
                }
                _ => {}
            }
        }

        let mut guests: Vec<Guest> = Vec::new();
        let mut config_failures = 0usize;
        for r in &resources {
            let Some(sid) = r.sid() else { continue };
            if r.template == Some(true) {
                continue;
            }
            let Some(node) = r.node.clone() else {
                notes.push(format!(
                    "{sid} has no node in /cluster/resources and is left out"
                ));
                continue;
            };
            if !nodes.contains_key(&node) {
                nodes.insert(
                    node.clone(),
                    NodeInfo {
                        name: node.clone(),
                        online: false,
                        maxmem: 0,
                        maxcpu: 0.0,
                    },
                );
                notes.push(format!(
                    "node '{node}' of {sid} is not listed as a cluster node"
                ));
            }
            let config = match snapshot.guest_config(&node, sid.kind, u64::from(sid.vmid)) {
                Ok(c) => c,
                Err(_) => {
                    config_failures += 1;
                    None
                }
            };
            let mut tags = r.tags.clone();
            if let Some(cfg) = &config {
                tags.extend(cfg.tags.iter().cloned());
            }
            tags.sort();
            tags.dedup();
            guests.push(Guest {
                sid,
                name: r.name.clone().unwrap_or_else(|| sid.to_string()),
                node,
                running: r.status.as_deref() == Some("running"),
                tags,
                maxmem: r.maxmem.unwrap_or(0),
                pool: r.pool.clone(),
                config,
            });
        }
        if config_failures > 0 {
            notes.push(format!(
                "{config_failures} guest config(s) in the snapshot are malformed and were not read"
            ));
        }
        // Sid order is string order; one rendering per guest instead of two per comparison.
        guests.sort_by_cached_key(|g| g.sid.to_string());
        let guest_index: FastMap<Sid, usize> =
            guests.iter().enumerate().map(|(i, g)| (g.sid, i)).collect();
        let vmid_index = guests
            .iter()
            .enumerate()
            .map(|(i, g)| (u64::from(g.sid.vmid), i))
            .collect();

        let crm = crm_states(snapshot, &mut notes);
        let mut ha = Vec::new();
        for r in lenient::<HaResource>(snapshot, "/cluster/ha/resources", &mut notes) {
            let request_state = match r.state.as_deref() {
                None | Some("enabled") => "started".to_string(),
                Some(s) => s.to_string(),
            };
            if request_state == "ignored" {
                continue;
            }
            let key = r.sid.to_string();
            let (crm_state, crm_node, target) = crm.get(&key).cloned().unwrap_or_default();
            let inventory_node = guest_index
                .get(&r.sid)
                .and_then(|i| guests.get(*i))
                .map(|g| g.node.clone());
            ha.push(HaService {
                sid: r.sid,
                request_state,
                crm_state,
                node: crm_node.or(inventory_node),
                target,
                group: r.group.clone(),
                failback: r.failback.unwrap_or(true),
                errors: r.errors.clone().filter(|e| !is_empty_json(e)),
            });
        }
        let ha = HaMap::new(ha);

        let groups = lenient::<HaGroup>(snapshot, "/cluster/ha/groups", &mut notes)
            .into_iter()
            .map(|g| (g.group.clone(), g))
            .collect();
        let rules = lenient::<HaRule>(snapshot, "/cluster/ha/rules", &mut notes);
        let storage = lenient::<StorageConfig>(snapshot, "/storage", &mut notes)
            .into_iter()
            .map(|s| (s.storage.clone(), s))
            .collect();
        let backups = lenient::<BackupJob>(snapshot, "/cluster/backup", &mut notes);
        let replicated = lenient::<ReplicationJob>(snapshot, "/cluster/replication", &mut notes)
            .into_iter()
            .filter(|j| j.disable != Some(true))
            .filter_map(|j| j.guest.or_else(|| j.id.split('-').next()?.parse().ok()))
            .collect();

        let mut journals = BTreeMap::new();
        for name in nodes.keys() {
            match snapshot.journal(name) {
                Ok(lines) if !lines.is_empty() => {
                    journals.insert(name.clone(), lines);
                }
                Ok(_) => {}
                Err(e) => notes.push(format!("the journal of node '{name}' is not readable: {e}")),
            }
        }

        let settings = snapshot.with_value("/cluster/options", |options| {
            let empty = Value::Object(serde_json::Map::new());
            HaSettings::from_options(options.unwrap_or(&empty), &mut notes)
        });

        Ok(ClusterView {
            model: snapshot.ha_model(),
            pve_version: snapshot.pve_version().to_string(),
            cluster_name,
            captured_at,
            quorate,
            nodes: nodes.into_values().collect(),
            guests,
            guest_index,
            vmid_index,
            ha,
            groups,
            rules,
            backups,
            storage,
            replicated,
            journals,
            settings,
            notes,
        })
    }

    /// The guest behind a sid.
    pub fn guest(&self, sid: &Sid) -> Option<&Guest> {
        self.guest_index.get(sid).and_then(|i| self.guests.get(*i))
    }

    /// Online node names, sorted.
    pub fn online_nodes(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.as_str())
            .collect()
    }

    /// The node a guest runs on as far as HA knows, else the inventory's.
    pub fn node_of(&self, sid: &Sid) -> Option<&str> {
        self.ha
            .get(sid)
            .and_then(|h| h.node.as_deref())
            .or_else(|| self.guest(sid).map(|g| g.node.as_str()))
    }

    /// Whether the guest is HA-managed (and not `ignored`).
    pub fn is_ha(&self, sid: &Sid) -> bool {
        self.ha.contains_key(sid)
    }

    /// Enabled rules without server-reported errors, which the CRM applies.
    pub fn active_rules(&self) -> impl Iterator<Item = &HaRule> {
        self.rules
            .iter()
            .filter(|r| r.disable != Some(true) && r.errors.as_ref().is_none_or(|e| e.is_empty()))
    }
}

/// HA services in sid order with a hash index, so lookups do not render sids to compare them.
#[derive(Debug, Clone, Default)]
pub(crate) struct HaMap {
    list: Vec<HaService>,
    index: FastMap<Sid, usize>,
}

impl HaMap {
    fn new(mut list: Vec<HaService>) -> HaMap {
        list.sort_by_cached_key(|h| h.sid.to_string());
        list.dedup_by_key(|h| h.sid);
        let index = list.iter().enumerate().map(|(i, h)| (h.sid, i)).collect();
        HaMap { list, index }
    }

    /// The service with this sid.
    pub fn get(&self, sid: &Sid) -> Option<&HaService> {
        self.index.get(sid).and_then(|i| self.list.get(*i))
    }

    /// Whether the sid is HA-managed.
    pub fn contains_key(&self, sid: &Sid) -> bool {
        self.index.contains_key(sid)
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sids in order.
    pub fn keys(&self) -> impl Iterator<Item = &Sid> {
        self.list.iter().map(|h| &h.sid)
    }

    /// Services in sid order.
    pub fn values(&self) -> impl Iterator<Item = &HaService> {
        self.list.iter()
    }
}

impl<'a> IntoIterator for &'a HaMap {
    type Item = (&'a Sid, &'a HaService);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, HaService>,
        fn(&'a HaService) -> (&'a Sid, &'a HaService),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter().map(|h| (&h.sid, h))
    }
}

/// A list path read entry by entry: entries that do not parse are left out, and a value that is not a list is not
/// read; either way the report says so in a note instead of failing.
fn lenient<T: DeserializeOwned>(
    snapshot: &impl SnapshotData,
    path: &str,
    notes: &mut Vec<String>,
) -> Vec<T> {
    noted(snapshot.read_entries(path), path, notes)
}

/// The entries read, with a note for those left out.
fn noted<T>(entries: Entries<T>, path: &str, notes: &mut Vec<String>) -> Vec<T> {
    match entries {
        Entries::Absent => Vec::new(),
        Entries::List {
            items,
            bad,
            first_error,
        } => {
            if let Some(e) = first_error {
                notes.push(format!(
                    "{bad} entry(ies) of {path} in the snapshot are malformed and were left out (first: {e})"
                ));
            }
            items
        }
        Entries::NotAList => {
            notes.push(format!(
                "{path} in the snapshot is not a list and was not read"
            ));
            Vec::new()
        }
    }
}

fn is_empty_json(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::String(s) => s.is_empty(),
        _ => false,
    }
}

type CrmEntry = (Option<String>, Option<String>, Option<String>);

/// CRM state, node and target per sid: `manager_status` first (it has targets), else `status/current`.
fn crm_states<S: SnapshotData>(snapshot: &S, notes: &mut Vec<String>) -> FastMap<String, CrmEntry> {
    let mut out: FastMap<String, CrmEntry> = FastMap::default();
    let entries: Vec<HaStatusEntry> = lenient(snapshot, "/cluster/ha/status/current", notes);
    for e in entries.into_iter().filter(|e| e.kind == "service") {
        let sid = e
            .sid
            .clone()
            .or_else(|| e.id.strip_prefix("service:").map(str::to_string));
        if let Some(sid) = sid {
            out.insert(sid, (e.crm_state.clone(), e.node.clone(), None));
        }
    }
    snapshot.with_value("/cluster/ha/status/manager_status", |status| {
        let manager = status
            .and_then(|m| m.get("manager_status"))
            .and_then(|m| m.get("service_status"))
            .and_then(|s| s.as_object());
        for (sid, entry) in manager.into_iter().flatten() {
            let text = |key: &str| entry.get(key).and_then(|v| v.as_str()).map(str::to_string);
            out.insert(sid.clone(), (text("state"), text("node"), text("target")));
        }
    });
    out
}
