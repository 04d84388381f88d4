//! Captures a cluster into a `pveha-snapshot/1` document: every cluster-wide path, each guest's
//! config and each node's journal, reduced to what the audit reads ([`reduce`]) with secret-looking
//! values redacted, and stamped with the cluster's own clock. What the cluster's version lacks
//! (groups on PVE 9, rules on PVE 8) is left out; what an offline node cannot answer is left out
//! with a warning, so one dead node never spoils an audit of the rest.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use pveha_model::snapshot::{guest_config_path, CLUSTER_PATHS};
use pveha_model::{ClusterResource, HaModel, Snapshot, SNAPSHOT_FORMAT};
use serde_json::Value;

use crate::client::decode;
use crate::error::{Error, Result};
use crate::Client;

/// What to capture beyond the cluster-wide paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Journal entries to read per node (`lastentries`); 0 skips journals.
    pub journal_entries: u64,
    /// Read each guest's config.
    pub guest_configs: bool,
    /// Requests in flight at once for the per-guest and per-node paths.
    pub concurrency: usize,
}

impl Default for CaptureOptions {
    fn default() -> CaptureOptions {
        CaptureOptions {
            journal_entries: 5000,
            guest_configs: true,
            concurrency: 4,
        }
    }
}

/// A captured snapshot and the paths that could not be read.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The document.
    pub snapshot: Snapshot,
    /// One sentence per path left out, naming it and why.
    pub warnings: Vec<String>,
}

/// Paths without which a snapshot is useless: their failure fails the capture.
const REQUIRED: &[&str] = &["/version", "/cluster/resources"];

/// Fetches every path of the snapshot format.
pub async fn capture(client: &Client, options: &CaptureOptions) -> Result<Capture> {
    let version = client.version().await?;
    let model = version.ha_model();
    let mut api: BTreeMap<String, Value> = BTreeMap::new();
    let mut warnings = Vec::new();

    for path in CLUSTER_PATHS.iter().copied() {
        let lacking = match path {
            "/cluster/ha/groups" => model == HaModel::Rules,
            "/cluster/ha/rules" => model == HaModel::Groups,
            _ => false,
        };
        if lacking {
            continue;
        }
        match client.get_raw(path, &[]).await {
            Ok(data) => {
                api.insert(path.to_string(), data);
            }
            Err(e) if REQUIRED.contains(&path) => return Err(e),
            Err(e) => warnings.push(format!("{path} was not captured: {e}")),
        }
    }

    let inventory: Vec<ClusterResource> = match api.get("/cluster/resources") {
        Some(data) => decode("/cluster/resources", data.clone())?,
        None => Vec::new(),
    };
    // (path, lastentries): owned data only, so the capture future stays `Send`.
    let mut paths: Vec<(String, Option<String>)> = Vec::new();
    if options.guest_configs {
        for guest in &inventory {
            if let (Some(kind), Some(node), Some(vmid)) =
                (guest.guest_kind(), &guest.node, guest.vmid)
            {
                paths.push((guest_config_path(node, kind, vmid), None));
            }
        }
    }
    if options.journal_entries > 0 {
        for node in inventory.iter().filter(|r| r.kind == "node") {
            if let Some(name) = &node.node {
                paths.push((
                    format!("/nodes/{name}/journal"),
                    Some(options.journal_entries.to_string()),
                ));
            }
        }
    }
    let fetched: Vec<(String, Result<Value>)> = stream::iter(paths)
        .map(|(path, lastentries)| async move {
            let result = match &lastentries {
                Some(n) => client.get_raw(&path, &[("lastentries", n.as_str())]).await,
                None => client.get_raw(&path, &[]).await,
            };
            (path, result)
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    for (path, result) in fetched {
        match result {
            Ok(data) => {
                api.insert(path, data);
            }
            Err(e @ (Error::Unauthorized { .. } | Error::InvalidConfig { .. })) => return Err(e),
            Err(e) => warnings.push(format!("{path} was not captured: {e}")),
        }
    }

    reduce(&mut api);
    let captured_at = cluster_clock(&api).or_else(|| rfc3339(time::OffsetDateTime::now_utc()));
    Ok(Capture {
        snapshot: Snapshot {
            format: SNAPSHOT_FORMAT.to_string(),
            pve_version: version.version,
            captured_at,
            api,
            // Credentials belong to whoever loads the file into a simulator, never to an export.
            auth: None,
        },
        warnings,
    })
}

fn rfc3339(at: time::OffsetDateTime) -> Option<String> {
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The cluster's own clock: the newest HA manager or LRM timestamp in the captured HA status. The
/// audit's journal window is then "the last 24 hours" of the cluster's time (the wall clock on a
/// real cluster, the simulated clock on `pveha sim`).
pub fn cluster_clock(api: &BTreeMap<String, Value>) -> Option<String> {
    let newest = api
        .get("/cluster/ha/status/current")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            matches!(
                e.get("type").and_then(Value::as_str),
                Some("master" | "lrm")
            )
        })
        .filter_map(|e| e.get("timestamp").and_then(Value::as_i64))
        .max()?;
    rfc3339(time::OffsetDateTime::from_unix_timestamp(newest).ok()?)
}

/// Guest config keys the audit reads (start-up, identity, and the sizes static CRS weighs).
const GUEST_KEYS: &[&str] = &[
    "onboot", "startup", "digest", "name", "hostname", "tags", "template", "memory", "cores",
    "sockets", "vcpus", "cpulimit",
];
/// Prefixes of the numbered volume keys (`scsi0`, `mp1`, ...), whose storage the audit checks.
const VOLUME_PREFIXES: &[&str] = &[
    "mp", "scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused",
];
/// `/cluster/options` keys that bear on HA.
const OPTION_KEYS: &[&str] = &["ha", "crs", "fencing", "migration", "max_workers"];
/// Lower-case fragments of journal lines the audit's journal findings can match: memory errors,
/// filesystem and block errors, and the clean-shutdown markers. A superset of its patterns.
const JOURNAL_FRAGMENTS: &[&str] = &[
    "edac",
    "ibecc",
    "mce:",
    "hardware error",
    "machine check",
    "memory failure",
    "ext4-fs",
    "xfs (",
    "i/o error",
    "systemd-shutdown",
    "reached target",
    "journal stopped",
    "system is rebooting",
    "system is powering down",
    "reboot:",
];
/// Lower-case fragments of object keys whose values are treated as secrets wherever they appear.
const SECRET_KEYS: &[&str] = &["password", "passwd", "secret", "token", "key", "cred"];

fn is_volume_key(key: &str) -> bool {
    key == "rootfs"
        || VOLUME_PREFIXES.iter().any(|p| {
            key.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn is_guest_config(path: &str) -> bool {
    path.starts_with("/nodes/")
        && path.ends_with("/config")
        && (path.contains("/qemu/") || path.contains("/lxc/"))
}

/// Keeps only what the audit reads: guest configs to [`GUEST_KEYS`] and volume keys,
/// `/cluster/options` to [`OPTION_KEYS`], journals to the lines its findings can match plus the
/// lines around each boot (the unclean-shutdown finding quotes the line before a boot and dates it
/// by the line after); then redacts secret-looking keys and URL credentials everywhere.
pub fn reduce(api: &mut BTreeMap<String, Value>) {
    for (path, data) in api.iter_mut() {
        if is_guest_config(path) {
            retain_keys(data, |k| GUEST_KEYS.contains(&k) || is_volume_key(k));
        } else if path == "/cluster/options" {
            retain_keys(data, |k| OPTION_KEYS.contains(&k));
        } else if path.starts_with("/nodes/") && path.ends_with("/journal") {
            reduce_journal(data);
        }
        redact(data);
    }
}

fn retain_keys(data: &mut Value, keep: impl Fn(&str) -> bool) {
    if let Value::Object(map) = data {
        map.retain(|k, _| keep(k));
    }
}

fn is_boot(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("-- Reboot --") || t.starts_with("-- Boot ")
}

fn reduce_journal(data: &mut Value) {
    let Value::Array(lines) = data else {
        return;
    };
    let text = |i: usize| lines.get(i).and_then(Value::as_str);
    let last = lines.len().saturating_sub(1);
    let keep: Vec<bool> = (0..lines.len())
        .map(|i| {
            // The first and last entries are the server's cursors; the newest line stays too, so a
            // journal that was read never looks empty (the audit notes an empty one as missing).
            if i == 0 || i + 1 >= last {
                return true;
            }
            let Some(line) = text(i) else {
                return false;
            };
            let lower = line.to_ascii_lowercase();
            is_boot(line)
                || JOURNAL_FRAGMENTS.iter().any(|f| lower.contains(f))
                || text(i + 1).is_some_and(is_boot)
                || i.checked_sub(1).and_then(text).is_some_and(is_boot)
        })
        .collect();
    let mut flags = keep.into_iter();
    lines.retain(|_| flags.next().unwrap_or(false));
}

fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| lower.contains(s))
}

/// Replaces the values of secret-looking keys with `***`, and URL credentials (`http://u:p@h`) in
/// any string with `***`, at every depth.
fn redact(data: &mut Value) {
    match data {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) {
                    *v = Value::String("***".into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(s) if s.contains("://") && s.contains('@') => {
            *s = redact_urls(s);
        }
        _ => {}
    }
}

/// Every `scheme://user:pass@` in `text` becomes `scheme://***@`.
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == ',' || c == ';'
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_and_unread_keys_stay_out() {
        let mut api = BTreeMap::from([
            (
                "/cluster/options".to_string(),
                json!({"http_proxy": "http://u:pw@proxy:3128", "ha": "shutdown_policy=migrate",
                       "crs": "ha=static", "keyboard": "de", "email_from": "a@b"}),
            ),
            (
                "/nodes/p/qemu/100/config".to_string(),
                json!({"cipassword": "hunter2", "ciuser": "root", "onboot": 1, "cores": 4,
                       "scsi0": "local-lvm:vm-100-disk-0,size=8G", "args": "-x",
                       "description": "login root / hunter2"}),
            ),
            (
                "/storage".to_string(),
                json!([{"storage": "pbs", "password": "pbspw", "fingerprint": "AB",
                        "server": "https://user:pbspw@pbs.example"}]),
            ),
        ]);
        reduce(&mut api);
        let text = serde_json::to_string(&api).unwrap();
        for secret in ["pw@", "hunter2", "pbspw", "description", "keyboard"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(
            api["/cluster/options"],
            json!({"ha": "shutdown_policy=migrate", "crs": "ha=static"})
        );
        assert_eq!(
            api["/nodes/p/qemu/100/config"],
            json!({"onboot": 1, "cores": 4, "scsi0": "local-lvm:vm-100-disk-0,size=8G"})
        );
        assert_eq!(api["/storage"][0]["server"], "https://***@pbs.example");
    }

    #[test]
    fn journals_keep_what_the_findings_read() {
        let mut api = BTreeMap::from([(
            "/nodes/p/journal".to_string(),
            json!([
                "cursor-a",
                "Nov 10 08:00:00 p sshd[1]: Accepted password for root",
                "Nov 10 08:01:00 p kernel: EDAC MC0: 1 CE memory error",
                "Nov 10 08:02:00 p cron[2]: job ran",
                "Nov 10 08:03:00 p pvedaemon[3]: last words",
                "-- Reboot --",
                "Nov 10 08:05:00 p kernel: Linux version 6.8",
                "Nov 10 08:06:00 p kernel: EXT4-fs error (device dm-1): x",
                "Nov 10 08:07:00 p systemd[1]: Reached target System Reboot.",
                "cursor-b"
            ]),
        )]);
        reduce(&mut api);
        assert_eq!(
            api["/nodes/p/journal"],
            json!([
                "cursor-a",
                "Nov 10 08:01:00 p kernel: EDAC MC0: 1 CE memory error",
                "Nov 10 08:03:00 p pvedaemon[3]: last words",
                "-- Reboot --",
                "Nov 10 08:05:00 p kernel: Linux version 6.8",
                "Nov 10 08:06:00 p kernel: EXT4-fs error (device dm-1): x",
                "Nov 10 08:07:00 p systemd[1]: Reached target System Reboot.",
                "cursor-b"
            ])
        );
        let mut quiet = BTreeMap::from([(
            "/nodes/q/journal".to_string(),
            json!([
                "cursor-a",
                "Nov 10 08:00:00 q cron[2]: a",
                "Nov 10 08:01:00 q cron[2]: b",
                "cursor-b"
            ]),
        )]);
        reduce(&mut quiet);
        assert_eq!(
            quiet["/nodes/q/journal"],
            json!(["cursor-a", "Nov 10 08:01:00 q cron[2]: b", "cursor-b"]),
            "the newest line shows the journal was read"
        );
    }

    #[test]
    fn the_clock_is_the_clusters_when_the_ha_status_shows_it() {
        let mut api = BTreeMap::new();
        assert_eq!(cluster_clock(&api), None);
        api.insert(
            "/cluster/ha/status/current".to_string(),
            json!([{"type": "master", "id": "master", "timestamp": 1_762_767_006},
                   {"type": "lrm", "id": "lrm:p", "timestamp": 1_762_767_000}]),
        );
        assert_eq!(cluster_clock(&api).as_deref(), Some("2025-11-10T09:30:06Z"));
    }
}
