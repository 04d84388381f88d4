//! The `pveha-snapshot/1` document: a cluster as the API showed it at one moment. Each key of `api`
//! is a GET path under `/api2/json` and each value is exactly that path's `data`. `pveha snapshot`
//! writes it, the audit reads it and the simulator serves it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::records::*;
use crate::sid::GuestKind;

/// The value of the document's `format` field.
pub const SNAPSHOT_FORMAT: &str = "pveha-snapshot/1";

/// The cluster-wide GET paths a snapshot holds (per-node and per-guest paths come on top).
pub const CLUSTER_PATHS: &[&str] = &[
    "/version",
    "/cluster/status",
    "/cluster/resources",
    "/cluster/options",
    "/cluster/ha/groups",
    "/cluster/ha/resources",
    "/cluster/ha/rules",
    "/cluster/ha/status/current",
    "/cluster/ha/status/manager_status",
    "/cluster/backup",
    "/cluster/replication",
    "/storage",
];

/// Why a snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON, or not the document's shape.
    #[error("the snapshot is not a pveha-snapshot/1 document: {0}")]
    Syntax(#[from] serde_json::Error),
    /// The `format` field names another format.
    #[error("unsupported snapshot format '{0}' (expected '{SNAPSHOT_FORMAT}')")]
    Format(String),
    /// A required path is missing from `api`.
    #[error("the snapshot has no data for {0}")]
    Missing(&'static str),
    /// A path's data does not have the shape the API returns.
    #[error("the snapshot's data for {path} is malformed: {message}")]
    Malformed {
        /// The API path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Credentials a simulator loaded from this snapshot accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotAuth {
    /// `user@realm!tokenid` → secret.
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// `user@realm` → password.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
}

/// A whole `pveha-snapshot/1` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// pve-manager version of the cluster.
    pub pve_version: String,
    /// When it was captured (RFC 3339); time windows are measured from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<String>,
    /// GET path → the `data` the server returned.
    pub api: BTreeMap<String, serde_json::Value>,
    /// Credentials for the simulator; never written by `pveha snapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<SnapshotAuth>,
}

impl Snapshot {
    /// Parses and checks the format field.
    pub fn from_json(text: &str) -> Result<Snapshot, SnapshotError> {
        let snap: Snapshot = serde_json::from_str(text)?;
        if snap.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format(snap.format));
        }
        Ok(snap)
    }

    /// The placement model implied by `pve_version`.
    pub fn ha_model(&self) -> HaModel {
        SnapshotData::ha_model(self)
    }

    fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, SnapshotError> {
        Ok(self.read_path(path)?.unwrap_or_default())
    }

    /// `/cluster/resources`, required.
    pub fn resources(&self) -> Result<Vec<ClusterResource>, SnapshotError> {
        self.read_path("/cluster/resources")?
            .ok_or(SnapshotError::Missing("/cluster/resources"))
    }

    /// `/cluster/status` (empty when absent).
    pub fn cluster_status(&self) -> Result<Vec<ClusterStatusEntry>, SnapshotError> {
        self.list("/cluster/status")
    }

    /// `/cluster/ha/resources` (empty when absent).
    pub fn ha_resources(&self) -> Result<Vec<HaResource>, SnapshotError> {
        self.list("/cluster/ha/resources")
    }

    /// `/cluster/ha/groups` (empty when absent, and on PVE 9 where the path fails).
    pub fn ha_groups(&self) -> Result<Vec<HaGroup>, SnapshotError> {
        self.list("/cluster/ha/groups")
    }

    /// `/cluster/ha/rules` (empty when absent).
    pub fn ha_rules(&self) -> Result<Vec<HaRule>, SnapshotError> {
        self.list("/cluster/ha/rules")
    }

    /// `/cluster/ha/status/current` (empty when absent).
    pub fn ha_status(&self) -> Result<Vec<HaStatusEntry>, SnapshotError> {
        self.list("/cluster/ha/status/current")
    }

    /// `/cluster/backup` (empty when absent).
    pub fn backup_jobs(&self) -> Result<Vec<BackupJob>, SnapshotError> {
        self.list("/cluster/backup")
    }

    /// `/storage` (empty when absent).
    pub fn storage(&self) -> Result<Vec<StorageConfig>, SnapshotError> {
        self.list("/storage")
    }

    /// `/cluster/replication` (empty when absent).
    pub fn replication(&self) -> Result<Vec<ReplicationJob>, SnapshotError> {
        self.list("/cluster/replication")
    }

    /// `/cluster/options` as raw JSON (empty object when absent).
    pub fn cluster_options(&self) -> serde_json::Value {
        self.api
            .get("/cluster/options")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}))
    }

    /// A guest's config, if the snapshot holds it.
    pub fn guest_config(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u64,
    ) -> Result<Option<GuestConfig>, SnapshotError> {
        SnapshotData::guest_config(self, node, kind, vmid)
    }

    /// A node's journal lines without the leading and trailing cursors.
    pub fn journal(&self, node: &str) -> Result<Vec<String>, SnapshotError> {
        SnapshotData::journal(self, node)
    }
}

/// A list path read entry by entry, so that one odd entry costs only itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Entries<T> {
    /// The path is absent, or its data is null.
    Absent,
    /// The data is not a list.
    NotAList,
    /// The entries that parse, in order, and what became of the others.
    List {
        /// The entries read.
        items: Vec<T>,
        /// How many entries did not parse.
        bad: usize,
        /// The first of their errors.
        first_error: Option<String>,
    },
}

impl<T> Entries<T> {
    fn read<'v, V: 'v>(
        values: impl IntoIterator<Item = V>,
        parse: impl Fn(V) -> Result<T, String>,
    ) -> Entries<T> {
        let mut bad = 0usize;
        let mut first_error = None;
        let items = values
            .into_iter()
            .filter_map(|v| match parse(v) {
                Ok(t) => Some(t),
                Err(e) => {
                    bad += 1;
                    first_error.get_or_insert(e);
                    None
                }
            })
            .collect();
        Entries::List {
            items,
            bad,
            first_error,
        }
    }
}

/// Read access to a snapshot document's paths, whether it was parsed whole into values ([`Snapshot`]) or indexed
/// from its text ([`RawSnapshot`]). Both read the same document alike, errors included: only the cost differs.
pub trait SnapshotData {
    /// pve-manager version of the cluster.
    fn pve_version(&self) -> &str;

    /// When it was captured (RFC 3339), as written.
    fn captured_at(&self) -> Option<&str>;

    /// A path's data read as `T`; `None` when the path is absent or null.
    fn read_path<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, SnapshotError>;

    /// A list path's entries read as `T`, each on its own.
    fn read_entries<T: DeserializeOwned>(&self, path: &str) -> Entries<T>;

    /// Hands a path's data, as a JSON value, to `read` (for the small free-form paths).
    fn with_value<R>(&self, path: &str, read: impl FnOnce(Option<&serde_json::Value>) -> R) -> R;

    /// The placement model implied by `pve_version`.
    fn ha_model(&self) -> HaModel {
        VersionInfo {
            version: self.pve_version().to_string(),
            release: String::new(),
        }
        .ha_model()
    }

    /// A guest's config, if the snapshot holds it.
    fn guest_config(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u64,
    ) -> Result<Option<GuestConfig>, SnapshotError> {
        self.read_path(&guest_config_path(node, kind, vmid))
    }

    /// A node's journal lines without the leading and trailing cursors.
    fn journal(&self, node: &str) -> Result<Vec<String>, SnapshotError> {
        let raw: Vec<String> = self
            .read_path(&format!("/nodes/{node}/journal"))?
            .unwrap_or_default();
        Ok(journal_lines(raw))
    }
}

fn malformed(path: &str, message: String) -> SnapshotError {
    SnapshotError::Malformed {
        path: path.to_string(),
        message,
    }
}

impl SnapshotData for Snapshot {
    fn pve_version(&self) -> &str {
        &self.pve_version
    }

    fn captured_at(&self) -> Option<&str> {
        self.captured_at.as_deref()
    }

    fn read_path<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, SnapshotError> {
        match self.api.get(path) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => T::deserialize(v)
                .map(Some)
                .map_err(|e| malformed(path, e.to_string())),
        }
    }

    fn read_entries<T: DeserializeOwned>(&self, path: &str) -> Entries<T> {
        match self.api.get(path) {
            None | Some(serde_json::Value::Null) => Entries::Absent,
            Some(serde_json::Value::Array(items)) => {
                Entries::read(items, |v| T::deserialize(v).map_err(|e| e.to_string()))
            }
            Some(_) => Entries::NotAList,
        }
    }

    fn with_value<R>(&self, path: &str, read: impl FnOnce(Option<&serde_json::Value>) -> R) -> R {
        read(self.api.get(path))
    }
}

/// A `pveha-snapshot/1` document indexed from its text: the header is read and checked as [`Snapshot::from_json`]
/// does, and each path's data stays text until it is read, straight into the records asked for. The audit reads a
/// snapshot file this way, without building a `serde_json::Value` of every guest.
#[derive(Debug)]
pub struct RawSnapshot<'a> {
    /// Always [`SNAPSHOT_FORMAT`].
    pub format: String,
    /// pve-manager version of the cluster.
    pub pve_version: String,
    /// When it was captured (RFC 3339).
    pub captured_at: Option<String>,
    api: PathIndex<'a>,
}

/// A snapshot's paths → their data as text.
type PathIndex<'a> = HashMap<Cow<'a, str>, &'a RawValue, BuildHasherDefault<PathHasher>>;

/// FNV-1a: a path is a few dozen bytes and not chosen by an attacker who gains from collisions (the file is the
/// user's own), so SipHash's protection costs more than it buys for a hundred thousand of them.
#[derive(Default)]
struct PathHasher(u64);

impl Hasher for PathHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The document as [`Snapshot`] reads it, with `api` left as text.
#[derive(Deserialize)]
struct RawDocument<'a> {
    format: String,
    pve_version: String,
    #[serde(default)]
    captured_at: Option<String>,
    #[serde(borrow, deserialize_with = "raw_paths")]
    api: PathIndex<'a>,
    // Read only to refuse what `Snapshot::from_json` refuses.
    #[serde(default)]
    #[allow(dead_code)]
    auth: Option<SnapshotAuth>,
}

fn raw_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PathIndex<'de>, D::Error> {
    struct Paths;
    impl<'de> serde::de::Visitor<'de> for Paths {
        type Value = PathIndex<'de>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = PathIndex::default();
            while let Some(crate::wire::Key(key)) = map.next_key()? {
                let value: &'de RawValue = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Paths)
}

impl<'a> RawSnapshot<'a> {
    /// Indexes `text` and checks the format field; fails where [`Snapshot::from_json`] fails, with its error.
    pub fn from_json(text: &'a str) -> Result<RawSnapshot<'a>, SnapshotError> {
        let doc: RawDocument<'a> = serde_json::from_str(text)?;
        if doc.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format(doc.format));
        }
        Ok(RawSnapshot {
            format: doc.format,
            pve_version: doc.pve_version,
            captured_at: doc.captured_at,
            api: doc.api,
        })
    }

    /// A path's data as JSON text, unless absent or null.
    fn text(&self, path: &str) -> Option<&'a str> {
        self.api
            .get(path)
            .map(|raw| raw.get().trim())
            .filter(|t| *t != "null")
    }
}

/// A serde_json error without the position, which is the document's for [`Snapshot`] and the path data's here.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&at) {
        Some(m) if e.line() > 0 => m.to_string(),
        _ => text,
    }
}

impl SnapshotData for RawSnapshot<'_> {
    fn pve_version(&self) -> &str {
        &self.pve_version
    }

    fn captured_at(&self) -> Option<&str> {
        self.captured_at.as_deref()
    }

    fn read_path<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, SnapshotError> {
        match self.text(path) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| malformed(path, message(&e))),
        }
    }

    fn read_entries<T: DeserializeOwned>(&self, path: &str) -> Entries<T> {
        let Some(text) = self.text(path) else {
            return Entries::Absent;
        };
        if !text.starts_with('[') {
            return Entries::NotAList;
        }
        // Entries parse independently, so when the whole list parses, each entry alone would too: read it in one
        // pass, and split it into entries only when some entry is odd.
        if let Ok(items) = serde_json::from_str::<Vec<T>>(text) {
            return Entries::List {
                items,
                bad: 0,
                first_error: None,
            };
        }
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => Entries::read(items, |raw| {
                serde_json::from_str(raw.get()).map_err(|e| message(&e))
            }),
            // The index only holds valid JSON, so an array always splits into its entries.
            Err(_) => Entries::NotAList,
        }
    }

    fn with_value<R>(&self, path: &str, read: impl FnOnce(Option<&serde_json::Value>) -> R) -> R {
        let value = self
            .api
            .get(path)
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok());
        read(value.as_ref())
    }
}

/// The config path of a guest.
pub fn guest_config_path(node: &str, kind: GuestKind, vmid: u64) -> String {
    format!("/nodes/{node}/{}/{vmid}/config", kind.api_type())
}

/// Drops the journal cursors the API puts first and last around the lines.
pub fn journal_lines(mut raw: Vec<String>) -> Vec<String> {
    if raw.len() < 2 {
        return Vec::new();
    }
    raw.pop();
    raw.remove(0);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"{"format":"pveha-snapshot/1","pve_version":"9.0.10","api":{
        "/cluster/resources":[{"type":"lxc","id":"lxc/110","vmid":110,"name":"traefik","node":"proxmox","status":"running","tags":"critical;proxy","maxmem":536870912}],
        "/cluster/ha/resources":[{"sid":"ct:110","type":"ct","max_relocate":2,"digest":"x"}],
        "/nodes/proxmox/journal":["s=cursor1","Nov 10 08:36:35 proxmox kernel: EDAC igen6 MC0: HANDLING IBECC MEMORY ERROR","s=cursor2"],
        "/nodes/proxmox/lxc/110/config":{"onboot":1,"startup":"order=3,up=30","rootfs":"local-lvm:vm-110-disk-0,size=8G","mp0":"/srv/data,mp=/data","digest":"d"}
    }}"#;

    #[test]
    fn reads_the_typed_records() {
        let s = Snapshot::from_json(MINI).unwrap();
        assert_eq!(s.ha_model(), HaModel::Rules);
        let r = s.resources().unwrap();
        assert_eq!(r[0].sid().unwrap().to_string(), "ct:110");
        assert_eq!(r[0].tags, ["critical", "proxy"]);
        let ha = s.ha_resources().unwrap();
        assert_eq!(ha[0].max_relocate, Some(2));
        assert_eq!(
            ha[0].state, None,
            "absent keys stay absent; the caller applies the default"
        );
        let cfg = s
            .guest_config("proxmox", GuestKind::Ct, 110)
            .unwrap()
            .unwrap();
        assert_eq!(cfg.onboot, Some(true));
        assert_eq!(cfg.startup().unwrap().up, Some(30));
        assert_eq!(cfg.storages(), ["local-lvm"]);
        assert_eq!(s.journal("proxmox").unwrap().len(), 1, "cursors dropped");
        assert!(s.ha_groups().unwrap().is_empty());
    }

    #[test]
    fn a_document_indexed_from_its_text_reads_as_the_parsed_one() {
        let parsed = Snapshot::from_json(MINI).unwrap();
        let raw = RawSnapshot::from_json(MINI).unwrap();
        assert_eq!(
            raw.guest_config("proxmox", GuestKind::Ct, 110).unwrap(),
            parsed.guest_config("proxmox", GuestKind::Ct, 110).unwrap()
        );
        assert_eq!(
            raw.journal("proxmox").unwrap(),
            parsed.journal("proxmox").unwrap()
        );
        assert_eq!(
            raw.read_entries::<HaResource>("/cluster/ha/resources"),
            parsed.read_entries::<HaResource>("/cluster/ha/resources")
        );
        assert_eq!(
            raw.read_entries::<HaGroup>("/cluster/ha/groups"),
            Entries::Absent
        );
        let odd = r#"{"format":"pveha-snapshot/1","pve_version":"8.4.1","api":{"/storage":{"x":1},"/cluster/ha/resources":[{"sid":"110"},{"sid":"ct:1"}]}}"#;
        let (parsed, raw) = (
            Snapshot::from_json(odd).unwrap(),
            RawSnapshot::from_json(odd).unwrap(),
        );
        assert_eq!(
            raw.read_entries::<StorageConfig>("/storage"),
            Entries::NotAList
        );
        let (a, b) = (
            parsed.read_entries::<HaResource>("/cluster/ha/resources"),
            raw.read_entries::<HaResource>("/cluster/ha/resources"),
        );
        assert_eq!(a, b, "the error names no position in either form");
        assert!(matches!(b, Entries::List { bad: 1, .. }));
    }

    #[test]
    fn a_text_index_refuses_what_the_parse_refuses() {
        for doc in [
            r#"{"format":"x","pve_version":"8.4.1","api":{}}"#,
            r#"{"format":"pveha-snapshot/1","api":{}}"#,
            r#"{"format":"pveha-snapshot/1","pve_version":"8","api":{"/a":[1,}}"#,
            r#"{"format":"pveha-snapshot/1","pve_version":"8","api":{},"auth":{"tokens":3}}"#,
        ] {
            let parsed = Snapshot::from_json(doc).unwrap_err().to_string();
            let raw = RawSnapshot::from_json(doc).unwrap_err().to_string();
            assert_eq!(parsed, raw, "{doc}");
        }
    }

    #[test]
    fn wrong_format_and_malformed_paths_are_named() {
        let err =
            Snapshot::from_json(r#"{"format":"x","pve_version":"8.4.1","api":{}}"#).unwrap_err();
        assert!(err.to_string().contains("unsupported snapshot format 'x'"));
        let s = Snapshot::from_json(r#"{"format":"pveha-snapshot/1","pve_version":"8.4.1","api":{"/cluster/ha/resources":[{"sid":"110"}]}}"#).unwrap();
        let err = s.ha_resources().unwrap_err().to_string();
        assert!(
            err.contains("/cluster/ha/resources") && err.contains("bare VMID"),
            "{err}"
        );
        assert!(matches!(
            s.resources(),
            Err(SnapshotError::Missing("/cluster/resources"))
        ));
    }
}
